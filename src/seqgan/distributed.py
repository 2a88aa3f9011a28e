"""Several processes, one run: torchrun, ``torch.distributed`` and DistributedDataParallel (DDP).

:func:`init` reads torchrun's variables, joins the process group (``nccl`` for CUDA, ``gloo`` for the
CPU) and gives each process the GPU of its ``LOCAL_RANK``; without torchrun every function here is
the single-process identity, so the training code has one path. Each update equals one process's
with the same global batch (to float rounding): data-set batches are split by :func:`shard_batch`
(losses weighted so that DDP's mean is the batch's gradient), G's samples by :func:`share` and
gathered by :func:`gather_rows`, metrics reduced by :func:`all_reduce_sum` / :func:`mean`. Process r
draws from :func:`rank_seed` (the run's seed on rank 0); batch orders come from a generator all
share. Rank 0 alone writes; :func:`on_main` runs a step there and hands its result, or its error,
to every process. docs/scaling.md explains the split and shows the API.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.distributed as tdist
from torch import nn

from seqgan.errors import SeqGANError
from seqgan.precision import autocast
from seqgan.seeding import hash_seed


@dataclass(frozen=True)
class World:
    """This process's place in the run."""

    rank: int = 0
    """0 .. size-1 over all nodes; rank 0 writes the files."""
    size: int = 1
    """Number of processes (WORLD_SIZE)."""
    local_rank: int = 0
    """Index on this node (LOCAL_RANK): the GPU this process uses with --device cuda."""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_world: World | None = None
_shared: torch.Generator | None = None
_own_group = False  # whether init() created the process group (shutdown() destroys only that one)


def launched() -> bool:
    """Whether a launcher (torchrun) started this process as one of several (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise SeqGANError(f"environment variable {name}={os.environ[name]!r} is not an integer") from None


def _process_device(device: str, local_rank: int) -> torch.device:
    """--device for this process: 'cuda' under torchrun is the GPU of LOCAL_RANK."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise SeqGANError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise SeqGANError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if not torch.cuda.is_available():
        raise SeqGANError(f"--device {device}: CUDA is not available here; use --device cpu")
    if dev.index is None:
        dev = torch.device("cuda", local_rank if "LOCAL_RANK" in os.environ else torch.cuda.current_device())
    elif _env_int("LOCAL_WORLD_SIZE", 1) > 1:
        raise SeqGANError(f"--device {device} with several processes per node: give --device cuda, and each "
                          "process takes the GPU of its LOCAL_RANK (limit the GPUs with CUDA_VISIBLE_DEVICES)")
    if dev.index >= torch.cuda.device_count():
        raise SeqGANError(f"--device {dev}: only {torch.cuda.device_count()} GPU(s) are visible to this process"
                          + (f" (LOCAL_RANK {local_rank}: start at most that many processes per node)"
                             if "LOCAL_RANK" in os.environ else ""))
    torch.cuda.set_device(dev)
    return dev


def init(device: str = "cpu") -> torch.device:
    """Join the run and return this process's device for ``device`` ('cpu', 'cuda', 'cuda:N').

    Under torchrun (WORLD_SIZE > 1) the first call initialises the default process group from the
    environment (``env://``: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE), with ``nccl`` for a CUDA
    device and ``gloo`` for the CPU; later calls must name the same device. If the caller has
    initialised ``torch.distributed`` already, that group is used. In a single process each call just
    checks the device and makes it current (so one Python process may run several experiments)."""
    global _world, _own_group
    local = _env_int("LOCAL_RANK", 0)
    dev = _process_device(device, local)
    if _world is not None and _world.size > 1:
        if dev != _world.device:
            raise SeqGANError(f"this process joined the run on {_world.device}; it cannot move to {dev}")
        return dev
    if tdist.is_available() and tdist.is_initialized():
        rank, size = tdist.get_rank(), tdist.get_world_size()
    elif launched():
        if not tdist.is_available():
            raise SeqGANError("this PyTorch build has no torch.distributed; run one process")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        try:  # device_id (torch >= 2.3) binds the process to its GPU at once
            tdist.init_process_group(backend, **({"device_id": dev} if dev.type == "cuda" else {}))
        except TypeError:
            tdist.init_process_group(backend)
        _own_group = True
        rank, size = tdist.get_rank(), tdist.get_world_size()
    else:
        rank, size = 0, 1
    _world = World(rank, size, local, dev)
    return dev


def barrier() -> None:
    """Wait until every process gets here (nothing in one process). The commands call it at the end of
    a run before leaving the group: otherwise a process that finished could tear down its gloo
    connections while rank 0 still writes the results, and it aborted at exit ("terminate called
    without an active exception") in about one launch in six."""
    if _world is not None and _world.size > 1 and tdist.is_initialized():
        tdist.barrier()


def shutdown() -> None:
    """Leave the process group if :func:`init` created it (a group the caller made stays), and forget
    the world. Safe to call always."""
    global _world, _shared, _own_group
    if _own_group and tdist.is_initialized():
        # DDP's reducers hold the group: collect the (now unreachable) replicas first, so the gloo
        # group and its worker threads are torn down here and not during interpreter finalisation,
        # where releasing the tensors their work objects hold can abort the process (SIGABRT, seen here
        # about once in ten 2-process launches before this).
        gc.collect()
        tdist.destroy_process_group()
    _world, _shared, _own_group = None, None, False


def world() -> World:
    """This process's :class:`World`. Before :func:`init`: a single process, unless torchrun started
    this one, which is an error (every process must join before the first collective)."""
    if _world is not None:
        return _world
    if launched():
        raise RuntimeError("seqgan.distributed.init(device) must be called before the run's first step "
                           "in a process started by torchrun")
    return World()


def _rank() -> int:
    """This process's rank, also before :func:`init` (from torchrun's RANK)."""
    return _world.rank if _world is not None else _env_int("RANK", 0)


def is_main() -> bool:
    """Rank 0: the process that writes files and prints. Safe to ask before :func:`init`."""
    return _rank() == 0


def log_prefix() -> str:
    """'' on rank 0 and in a single process, '[rank r] ' elsewhere: for messages every process prints."""
    return "" if _rank() == 0 else f"[rank {_rank()}] "


# ------------------------------------------------------------------------------ random draws


def rank_seed(seed: int) -> int:
    """Seed of this process's own random draws: ``seed`` on rank 0, a hash of (seed, rank) elsewhere."""
    rank = world().rank
    # < 2**40, so that seeded streams (seed * 1000 + stream) stay valid 64-bit seeds
    return seed if rank == 0 else hash_seed("seqgan", seed, "rank", rank) >> 23


def seed_shared(seed: int, device: torch.device) -> None:
    """Seed the generator every process shares (batch orders); none in a single process, which keeps
    drawing its batch orders from the global RNG as it always has."""
    global _shared
    _shared = None
    if world().size > 1:
        _shared = torch.Generator(device=device)
        _shared.manual_seed(hash_seed("seqgan", seed, "shared"))


def shared_generator() -> torch.Generator | None:
    """The generator all processes draw the same numbers from (None: single process, global RNG)."""
    return _shared if world().size > 1 else None


# ---------------------------------------------------------------------------------- sharding


def sizes(n: int) -> list[int]:
    """How n rows split over the processes: the first n mod W processes take one more (tensor_split)."""
    w = world().size
    return [n // w + (r < n % w) for r in range(w)]


def share(n: int) -> int:
    """This process's part of n rows (e.g. of a batch it samples)."""
    return sizes(n)[world().rank]


def shard(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """This process's contiguous part of x along ``dim``, split as :func:`sizes` says (x when single)."""
    w = world()
    return x if w.size == 1 else x.tensor_split(w.size, dim=dim)[w.rank]


def shard_batch(n: int) -> tuple[slice, float]:
    """This process's rows of a batch of n, and the factor to multiply their loss weights by.

    The factor is the world size W: a loss whose weights are normalised by the whole batch (its mean)
    and multiplied by W has, after DDP's mean over the W processes, the gradient of the batch's loss.
    A process with no row (n < W, only in an epoch's last, short batch) gets row 0 and factor 0: it
    takes part in the backward pass, as DDP needs, and adds nothing."""
    w = world()
    if w.size == 1:
        return slice(0, n), 1.0
    parts = sizes(n)
    if parts[w.rank] == 0:
        return slice(0, 1), 0.0
    lo = sum(parts[:w.rank])
    return slice(lo, lo + parts[w.rank]), float(w.size)


# -------------------------------------------------------------------------------- collectives


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum of t over the processes, as a new tensor (t itself in a single process). No host sync."""
    if world().size == 1:
        return t
    out = t.clone()
    tdist.all_reduce(out, op=tdist.ReduceOp.SUM)
    return out


def mean(t: torch.Tensor) -> float:
    """The mean of all elements of every process's t (one host sync)."""
    if world().size == 1:
        return t.mean().item()
    stats = torch.stack([t.detach().double().sum(), torch.tensor(float(t.numel()), dtype=torch.float64,
                                                                  device=t.device)])
    total, count = all_reduce_sum(stats).tolist()
    return total / count


def any_true(flag: bool) -> bool:
    """Whether ``flag`` is True on any process (e.g. an interrupt that reached only some of them)."""
    w = world()
    if w.size == 1:
        return flag
    t = torch.tensor([int(flag)], dtype=torch.int32, device=w.device)
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return bool(t.item())


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Every process's x concatenated along dim 0 in rank order, on every process (x when single).
    The processes' row counts may differ; the other dimensions must agree."""
    w = world()
    if w.size == 1:
        return x
    counts = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(w.size)]
    tdist.all_gather(counts, torch.tensor([x.shape[0]], dtype=torch.long, device=x.device))
    counts = [int(c.item()) for c in counts]
    most = max(counts)
    padded = x if x.shape[0] == most else torch.cat([x, x.new_zeros((most - x.shape[0], *x.shape[1:]))])
    parts = [torch.empty_like(padded) for _ in range(w.size)]
    tdist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:c] for p, c in zip(parts, counts)])


def all_gather_object(obj: Any) -> list[Any]:
    """Every process's (picklable) obj, in rank order ([obj] in a single process)."""
    w = world()
    if w.size == 1:
        return [obj]
    out: list[Any] = [None] * w.size
    tdist.all_gather_object(out, obj)
    return out


def check_same(t: torch.Tensor, what: str) -> None:
    """Every process must hold the same ``t``: S and the held-out rows, which each process draws or reads itself.
    Machines of another CPU type or GPU may draw other sequences from one seed, and a node may hold another
    copy of a file; without this check each process would train on rows of its own data."""
    import hashlib

    digests = all_gather_object(hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest())
    odd = [r for r, d in enumerate(digests) if d != digests[0]]
    if odd:
        raise SeqGANError(f"{what} differs between processes: process {odd[0]} does not hold process 0's (machines "
                          "of different CPU or GPU types draw different sequences from one seed, and every machine "
                          "must read the same files); run on machines of one kind, with the same data")


class MainProcessError(SeqGANError):
    """The error rank 0 met in :func:`on_main`, raised on the other processes (the CLI prints it once)."""


def on_main(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` on rank 0 only; every process returns its (picklable) result.

    For steps only one process may do (create the run directory, take its lock) or that all would
    repeat (read a checkpoint: the file need not be visible to the other nodes). If fn raises, rank 0
    raises it and every other process raises :class:`MainProcessError` with the same message, instead
    of waiting for rank 0 at the next collective."""
    w = world()
    if w.size == 1:
        return fn(*args, **kwargs)
    box: list[Any] = [None]
    error: BaseException | None = None
    if w.is_main:
        try:
            box[0] = ("ok", fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 -- re-raised below, after the others are told
            error = exc
            box[0] = ("error", str(exc) if isinstance(exc, SeqGANError) else
                      f"process 0 failed in {getattr(fn, '__name__', 'a step')}: {type(exc).__name__}: {exc}")
    tdist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    kind, value = box[0]
    if kind == "error":
        raise MainProcessError(value)
    return value


# ------------------------------------------------------------------------------- the models


class _Call(nn.Module):
    """``forward(fn, *args)`` is ``fn(model, *args)``: lets DDP wrap any loss method of the model,
    not only its ``forward``, so that every training loss runs through DDP's forward."""

    def __init__(self, model: nn.Module, params: list[nn.Parameter] | None = None):
        super().__init__()
        if params is None:
            self.model = model
        else:  # only ``params`` are this replica's: the model is not a submodule, so DDP sees no other
            object.__setattr__(self, "model", model)
            self.own = nn.ParameterList(params)  # the same Parameter objects, not copies

    def forward(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.model, *args, **kwargs)


class Replica:
    """A model as training uses it: ``replica(fn, *args)`` computes ``fn(model, *args)`` (a loss) in the
    run's precision and, in a distributed run, through DistributedDataParallel, so that the backward
    pass averages the gradients of all processes (DDP overlaps the all-reduce with the backward pass).

    Build one per model, once, on every process, after the model is on its device: DDP then copies
    rank 0's weights to the others. ``model`` stays the plain module (sampling, evaluation, checkpoints).
    ``shared``: a module inside ``model`` that another replica trains (LeakGAN's G holds its D, whose
    features it reads): DDP here leaves its parameters to that replica. ``partial``: some losses reach only
    part of the parameters (RankGAN's ranker is D without its output layer); DDP then finds the unused ones
    at every step (a cost) and leaves their gradients unset, as one process does."""

    def __init__(self, model: nn.Module, precision: str = "fp32", shared: nn.Module | None = None,
                 partial: bool = False):
        self.model, self.precision = model, precision
        self.device_type = next(model.parameters()).device.type
        autocast(precision, self.device_type)  # refuses an unknown precision here, not at the first step
        self._ddp: nn.Module | None = None
        if world().size > 1:
            from torch.nn.parallel import DistributedDataParallel

            # device_ids=None: the module is on one device and its inputs are already there.
            theirs = {id(p) for p in shared.parameters()} if shared is not None else set()
            params = list(model.parameters())
            own = [p for p in params if id(p) not in theirs]
            self._ddp = DistributedDataParallel(_Call(model, own if len(own) < len(params) else None), device_ids=None,
                                                find_unused_parameters=partial)

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.autocast():
            if self._ddp is None:
                return fn(self.model, *args, **kwargs)
            return self._ddp(fn, *args, **kwargs)

    def autocast(self):
        """The precision's autocast context, for the model's work without gradients (sampling, scoring)."""
        return autocast(self.precision, self.device_type)


def as_replica(model: nn.Module | Replica) -> Replica:
    """``model`` as a :class:`Replica`: itself if it is one; in a single process a plain model is
    wrapped (fp32). In a distributed run a plain model is an error: its gradients would not be averaged."""
    if isinstance(model, Replica):
        return model
    if world().size > 1:
        raise RuntimeError(f"in a distributed run, train the {type(model).__name__} through a "
                           "seqgan.distributed.Replica built once on every process (Models.create does)")
    return Replica(model)
