"""What every experiment needs: run directories, devices, RNG states, interruption, numeric guards."""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from seqgan import distributed as dist
from seqgan.allocator import keep_freed_memory
from seqgan.checkpoint import write_atomic
from seqgan.config import Config
from seqgan.errors import SeqGANError
from seqgan.precision import flush_denormals, ieee_fp32
from seqgan.seeding import check_seed, hash_seed, seed_globals

# Keys that change when a run saves or where its files lie, not what it computes: --resume may set them anew (a
# long run that a session's end kills mid-interval loses less with checkpoints every round; a moved corpus is
# found again with --data, and its content is checked by sha256, experiments.corpus.check_same_data).
RESUME_MAY_CHANGE = frozenset({"train.checkpoint_every", "data.train_path", "data.valid_path"})


def check_resume_config(saved: dict, cfg: Config, out: Path, source: str = "config.json",
                        ignore: frozenset[str] = frozenset()) -> None:
    """--resume continues the saved run: any key the flags change is an error that names it, but those
    of ``RESUME_MAY_CHANGE`` and ``ignore``. ``source``: where ``saved`` comes from (config.json, or the checkpoint)."""
    now, default = cfg.to_dict(), Config().to_dict()
    bad = [s for s, v in now.items() if isinstance(v, dict) and not isinstance(saved.get(s, {}), dict)] \
        if isinstance(saved, dict) else []
    if not isinstance(saved, dict) or bad:
        raise SeqGANError(f"--resume {out}: the run's {source} is damaged (" + (f"its {bad[0]} is not a section"
                          if bad else "not a mapping") + "); restore it, or start a new run")
    diffs = []
    # A key missing from the saved config (written by an older seqgan) had its default value.
    for section, value in now.items():
        if isinstance(value, dict):
            for key, v in value.items():
                was = saved.get(section, {}).get(key, default[section][key])
                if was != v and f"{section}.{key}" not in RESUME_MAY_CHANGE | ignore:
                    diffs.append(f"{section}.{key}: run has {was!r}, flags give {v!r}")
        elif section not in ("device", "threads", "preset") and saved.get(section, default[section]) != value:
            diffs.append(f"{section}: run has {saved.get(section, default[section])!r}, flags give {value!r}")
    if diffs:
        raise SeqGANError(
            f"--resume {out}: the flags differ from the run's {source} in " + "; ".join(diffs)
            + f". Resume with `seqgan ... --resume --out {out}` alone (it takes the run's settings), or start a "
            "new run"
        )


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    """--threads of the commands without a run config (sample, sweep), as train's."""
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: one per core; 1 beside other work)")


def set_threads(threads: int | None) -> None:
    if threads is not None and threads < 0:
        raise SeqGANError(f"--threads must be 0 (one per core) or more, got {threads}")
    if threads:
        torch.set_num_threads(threads)


def setup_torch(cfg: Config) -> torch.device:
    """Threads, this process's device and its seeds; returns the device.

    Under torchrun this joins the run (:func:`seqgan.distributed.init`): with --device cuda each
    process takes the GPU of its LOCAL_RANK; its global RNGs get its own seed (the run's seed on
    rank 0, see :func:`seqgan.distributed.rank_seed`), and the batch orders come from a generator
    every process shares. Also keeps freed memory in the process (:mod:`seqgan.allocator`) and flushes
    denormal numbers to zero (:func:`seqgan.precision.flush_denormals`), and keeps a GPU's float32 from TF32
    (:func:`seqgan.precision.ieee_fp32`)."""
    check_seed(cfg.seed)  # before any work (config_from_args checks a command's flags sooner)
    flush_denormals()
    ieee_fp32()
    keep_freed_memory()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = dist.init(cfg.device)
    if cfg.train.precision == "bf16" and device.type == "cuda" and not _native_bf16():
        raise SeqGANError(f"--precision bf16: the GPU {torch.cuda.get_device_name(device)} has no bfloat16 "
                          "arithmetic (it needs compute capability 8.0 or later); use --precision fp32")
    if cfg.train.precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        raise SeqGANError(f"--precision bf16: this CPU has no bfloat16 arithmetic (it needs AVX-512 BF16 or AMX; it "
                          f"has {torch.backends.cpu.get_cpu_capability()}), so bf16 would only be emulated, slower "
                          "than fp32, and oneDNN's LSTM refuses it; use --precision fp32")
    check_world(cfg)
    seed_globals(dist.rank_seed(cfg.seed))
    dist.seed_shared(cfg.seed, device)
    return device


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 (oneDNN's test: AVX-512 BF16 or AMX)."""
    from seqgan.precision import bf16_is_native

    return bf16_is_native("cpu")


def _native_bf16() -> bool:
    """Whether the current GPU computes in bfloat16 (not merely emulates it, as newer torch counts)."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.3
        return torch.cuda.is_bf16_supported()


def check_world(cfg: Config) -> None:
    """With W processes every process needs at least one row of each batch it samples: B >= W, etc."""
    w = dist.world().size
    if w == 1:
        return
    sizes = {"train.batch_size": cfg.train.batch_size, "data.num_train": cfg.data.num_train,
             "eval.num_samples": cfg.eval.num_samples, "eval.final_samples": cfg.eval.final_samples,
             "eval.d_samples": cfg.eval.d_samples}
    for key, value in sizes.items():
        if value < w:
            raise SeqGANError(f"{key} = {value} is smaller than the number of processes ({w}): each process "
                              f"draws its share of it; raise {key} or start fewer processes")


def rng_state(device: torch.device | None = None) -> dict:
    """This process's global RNG states (and the CUDA generator of ``device``, and the generator all
    processes share in a distributed run)."""
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
             "python_version": random.getstate()[0], "python_gauss": random.getstate()[2],
             "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
             "numpy_pos": int(np.random.get_state()[2])}
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)  # only this process's GPU: no context on the others
    shared = dist.shared_generator()
    if shared is not None:
        state["shared"] = shared.get_state()
    return state


def set_rng_state(state: dict, device: torch.device | None = None) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    cuda = state.get("cuda")
    if cuda is not None and device is not None and device.type == "cuda":
        if isinstance(cuda, (list, tuple)):  # older checkpoints: every visible GPU's state
            cuda = cuda[device.index or 0] if (device.index or 0) < len(cuda) else None
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, device)


def gather_rng_states(eval_rng: torch.Generator, device: torch.device) -> dict:
    """The checkpoint entries of every process's RNG states (a collective: every process calls it).
    ``rng``: rank 0's (a single process's, as always); ``rng_by_rank``: all of them, with several."""
    everyone = dist.all_gather_object({**rng_state(device), "eval": eval_rng.get_state()})
    return {"rng": everyone[0]} | ({"rng_by_rank": everyone} if len(everyone) > 1 else {})


def restore_rng_states(ckpt: dict, eval_rng: torch.Generator, device: torch.device, seed: int) -> None:
    """Put back this process's RNG states from a checkpoint of :func:`gather_rng_states`.

    Resumed with the number of processes that wrote it, every process continues its own streams, so
    the run continues exactly. With another number, rank 0 takes the saved streams of rank 0 (a single
    process's), the others start fresh ones derived from (seed, rank, the checkpoint's position): the
    run continues correctly but not draw for draw. The shared generator comes from the checkpoint in
    every case (all processes must agree on it)."""
    w = dist.world()
    by_rank = ckpt["rng"] if w.size == 1 else None
    saved = ckpt.get("rng_by_rank")
    if saved is not None and len(saved) == w.size:
        by_rank = saved[w.rank]
    elif w.rank == 0:
        by_rank = ckpt["rng"]
    if by_rank is not None:
        set_rng_state(by_rank, device)
        eval_rng.set_state(by_rank["eval"])
    else:
        fresh = dist.rank_seed(hash_seed(seed, "resume", ckpt["position"]["phase"], ckpt["position"]["step"]))
        seed_globals(fresh)
        eval_rng.manual_seed(fresh + 2)
    shared = dist.shared_generator()
    if shared is not None and "shared" in ckpt["rng"]:
        shared.set_state(ckpt["rng"]["shared"])
    if dist.is_main() and w.size != len(saved or [ckpt["rng"]]):
        print(f"--resume: the checkpoint was written by {len(saved or [ckpt['rng']])} process(es), this run has "
              f"{w.size}; the run continues, but its random draws differ from an uninterrupted run's",
              file=sys.stderr, flush=True)


NAN_ADVICE = ("--resume continues the run with its own settings, so start a new run with a lower learning rate "
              "(--set train.g_lr=... / train.d_lr=...) and --overwrite, or with another --out")
"""What to do after a NaN or infinity: --resume refuses a changed learning rate (check_resume_config)."""


def check_finite(values: dict[str, float], phase: str, step: int) -> None:
    """A NaN or infinity stops the run, naming where; the last good checkpoint is kept."""
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise SeqGANError(f"{key} became {value} in phase '{phase}' at step {step}; stopping. The last good "
                              f"checkpoint is kept. {NAN_ADVICE}")


class Interrupt:
    """Ctrl-C / SIGTERM: the first asks the run to stop after the current step (with a checkpoint);
    the second exits at once, which is safe because checkpoints are written atomically.

    Under torchrun a Ctrl-C reaches each process twice (from the terminal, then relayed by torchrun,
    which kills the processes 30 s later): signals within ``RELAY_WINDOW_S`` of the first count as one.
    The processes agree on stopping at the same step (``seqgan.distributed.any_true``)."""

    RELAY_WINDOW_S = 2.0
    carried = False
    """A request that no step saw (it came during a run's final evaluation, or in Random, which has no
    steps): the command's next run stops before it begins. Class-wide, as a process has one Ctrl-C."""

    @classmethod
    def take_carried(cls) -> bool:
        carried, cls.carried = cls.carried, False
        return carried

    def __init__(self) -> None:
        self.requested = False
        self._first = 0.0

    def _handler(self, signum, frame) -> None:
        now = time.monotonic()
        if self.requested:
            if dist.launched() and now - self._first < self.RELAY_WINDOW_S:
                return  # torchrun relaying the same Ctrl-C
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.requested, self._first = True, now
        if dist.is_main():
            print("\ninterrupt: finishing the current step and writing a checkpoint "
                  "(press Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    @contextmanager
    def installed(self) -> Iterator["Interrupt"]:
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for s in old:
                signal.signal(s, self._handler)
        except ValueError:  # not the main thread (e.g. in a notebook worker): leave signals alone
            yield self
            return
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


class Interrupted(Exception):
    """Raised after the checkpoint of an interrupted run is written."""


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float as None: bare ``NaN`` is not JSON, and strict readers
    (jq, JavaScript, many JSON libraries) refuse the whole file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, data: dict) -> None:
    """``data`` as indented JSON, written atomically; undefined numbers (NaN, infinity) as ``null``."""
    text = json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False)
    write_atomic(path, (text + "\n").encode("utf-8"))


def sequences_text(seqs: torch.Tensor) -> str:
    """One sequence per line as space-separated token ids (the authors' format)."""
    return "".join(" ".join(map(str, row)) + "\n" for row in seqs.tolist())


def write_sequences(path: Path, seqs: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(sequences_text(seqs), encoding="ascii")
    tmp.replace(path)


def check_same_sequences(path: Path, seqs: torch.Tensor) -> None:
    """S, drawn again from the oracle when a run continues, must be the S the run began with (``path``): on
    another CPU type or device the sampler's rounding may draw other sequences, and training would go on,
    silently, on another training set."""
    if path.is_file() and path.read_bytes() != sequences_text(seqs).encode("ascii"):
        raise SeqGANError(f"the training set S sampled again from the oracle differs from {path}, which this run "
                          "began with: this machine draws other sequences (another CPU type or device?); continue "
                          "the run on the kind of machine that began it, or start a new run")
