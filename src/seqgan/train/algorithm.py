"""The algorithm contract: what every training algorithm (SeqGAN, its baselines and successors) is.

An :class:`Algorithm` is a name, its typed config section, its phases, the optimisers it builds and
one training function ``train(models, real, cfg, hooks, start)`` that a reader holds against its
paper. The run (``seqgan.experiments.run``) checkpoints whatever the algorithm built, every model
and optimiser by name, resumes it at its phases and evaluates it; it knows nothing else of it.

Every algorithm starts with the shared pre-training of Algorithm 1, lines 1-5 (:func:`pretrain`:
MLE for G, then D), so that ``seqgan table1`` runs it once and starts each method from its
checkpoint, as the paper compares its baselines. ``Algorithm.phases`` lists the phases in order;
the algorithm's own phases follow the shared ones.

Adding an algorithm: one file under ``train/`` with its config section (a dataclass with a
``validate()``), its training function and its :class:`Algorithm`; one line in
``seqgan.train.registry``; its tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

import torch
from torch import nn

from seqgan.distributed import Replica
from seqgan.errors import SeqGANError
from seqgan.models.generator import Generator
from seqgan.rollout import RolloutPolicy
from seqgan.train.discriminator import d_step
from seqgan.train.mle import mle_epoch

if TYPE_CHECKING:
    from seqgan.config import Config, TrainConfig

PRETRAIN_PHASES = ("mle", "d_pretrain")
# The optimisers of Algorithm 1, which every algorithm has since they share its pre-training: G's MLE
# Adam, G's policy-gradient Adam (the authors build separate optimisers for pre-training and
# adversarial updates) and D's Adam. An algorithm may add its own: name -> (model, learning-rate key).
OPTIMIZERS = {"mle": ("gen", "g_lr"), "pg": ("gen", "g_lr"), "d": ("disc", "d_lr")}


def adam(params, lr: float) -> torch.optim.Optimizer:
    """Adam with the fused kernel (one kernel for all parameters: 0.6 ms against 2.7 ms per D step
    on 2 CPU cores); the same update rule as the default implementation."""
    return torch.optim.Adam(params, lr=lr, fused=True)


@dataclass
class Models:
    """What an algorithm updates: G, D (or its stand-in, e.g. RankGAN's ranker), the roll-out policy
    G_beta and the optimisers by name. ``gen_replica`` and ``disc_replica`` are G and D as training
    calls them: in ``train.precision`` and, with several processes, through DistributedDataParallel
    (``seqgan.distributed.Replica``). ``extra``: models of the algorithm's own beyond G and D (SeqGAN's
    value network), by name, as replicas (``extra[name].model`` is the module); each has an optimiser
    of the same name, and the run checkpoints them by name."""

    gen: Generator
    disc: nn.Module
    rollout: RolloutPolicy
    opts: dict[str, torch.optim.Optimizer]
    gen_replica: Replica
    disc_replica: Replica
    extra: dict[str, Replica] = field(default_factory=dict)

    @classmethod
    def create(cls, gen: Generator, disc: nn.Module, cfg: "TrainConfig",
               optimizers: dict[str, tuple[str, str]] = OPTIMIZERS, config: "Config | None" = None,
               extra: dict[str, tuple[nn.Module, float]] | None = None, disc_partial: bool = False) -> "Models":
        """G and D (and the ``extra`` models: name -> (model, Adam's learning rate)) must be on their
        device. The replicas come first: with several processes DDP gives every process rank 0's
        initial weights, before the delayed roll-out copy is taken. A learning-rate key is a field of
        ``cfg`` (``g_lr``) or, with ``config``, of a section of it (``relgan.g_lr``). A model is
        ``gen``, ``disc`` or a submodule of one (``gen.worker``: LeakGAN's Worker has optimisers of its own).
        ``disc_partial``: see :attr:`Algorithm.disc_partial`."""
        # G may hold D (LeakGAN's reads D's features): D's replica alone then syncs D's parameters.
        gen_replica = Replica(gen, cfg.precision, shared=disc)
        disc_replica = Replica(disc, cfg.precision, partial=disc_partial)
        owners = {"gen": gen, "disc": disc}

        def rate(key: str) -> float:
            if "." not in key:
                return getattr(cfg, key)
            section, name = key.split(".")
            return getattr(getattr(config, section), name)

        def owner(model: str) -> nn.Module:  # "gen", "disc", or a submodule of one: "gen.worker"
            head, _, rest = model.partition(".")
            return owners[head].get_submodule(rest) if rest else owners[head]

        opts = {name: adam(owner(model).parameters(), rate(lr)) for name, (model, lr) in optimizers.items()}
        replicas = {name: Replica(model, cfg.precision) for name, (model, _) in (extra or {}).items()}
        opts |= {name: adam(model.parameters(), lr) for name, (model, lr) in (extra or {}).items()}
        return cls(gen, disc, RolloutPolicy(gen, cfg.rollout_policy, cfg.rollout_update_rate), opts,
                   gen_replica, disc_replica, replicas)


@dataclass
class Position:
    """Where a run stands: the current phase of ``phases`` and the units of it already done."""

    phase: str = "mle"
    step: int = 0
    phases: tuple[str, ...] = PRETRAIN_PHASES + ("adversarial", "done")

    def start_of(self, phase: str) -> int:
        """Units of ``phase`` already done: all of an earlier phase (-1), none of a later one."""
        here, there = self.phases.index(self.phase), self.phases.index(phase)
        return self.step if here == there else (0 if here < there else -1)

    def next_phase(self) -> str:
        return self.phases[self.phases.index(self.phase) + 1]


class Hooks(Protocol):
    def step_done(self, phase: str, step: int, metrics: dict[str, float]) -> None: ...
    def phase_done(self, phase: str) -> None: ...


TrainFn = Callable[[Models, torch.Tensor, "Config", Hooks, Position], None]
# The models an algorithm adds to G and D for a config: name -> (model on the CPU, its Adam's learning rate).
ExtraModels = Callable[["Config"], dict[str, tuple[nn.Module, float]]]


@dataclass(frozen=True)
class Algorithm:
    """One training algorithm. ``own_phases`` follow the shared pre-training; each has a length
    (``phase_steps(cfg, phase)``: epochs, steps or rounds), ``train.adv_rounds`` by default."""

    name: str
    label: str
    own_phases: tuple[str, ...]
    train: TrainFn
    section: str | None = None              # its config section's name in Config, if it has one
    optimizers: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(OPTIMIZERS))
    uses_disc: bool = True                  # False: D plays no part after pre-training (no D metrics)
    disc_phases: tuple[str, ...] = ()       # own phases that train only D (or its stand-in), not G
    final_sample_name: str | None = None    # the name of its final samples in ``seqgan oracle`` (default: name)
    phase_length: Callable[["Config", str], int] | None = None
    pretrains_disc: bool = True             # False: its d_pretrain phase has no step (RelGAN pre-trains no D; LeakGAN
                                            # pre-trains D inside its mle phase, between epochs)
    # A successor with its own G and D: (config, eos_token, pad_token) -> (G, D) with random weights, and
    # G's class (to rebuild it from a checkpoint). None: SeqGAN's LSTM and CNN. Such an algorithm does not
    # start from the LSTM's shared pre-training in ``seqgan table1``: it pre-trains its own G.
    models: Callable[["Config", int | None, int | None], tuple[nn.Module, nn.Module]] | None = None
    generator_class: type | None = None
    extra_models: ExtraModels | None = None  # models of its own beyond G and D (SeqGAN's value network)
    delayed_rollouts: bool = True           # False: its roll-outs always use the live G (LeakGAN's own)
    d_pretrain_length: Callable[["Config"], int] | None = None  # not pretrains_disc: its d_pretrain steps, if any
    disc_partial: bool = False              # some D losses skip some of D's parameters (RankGAN's ranker: D's
                                            # output layer), which DDP must be told of (Replica's ``partial``)
    check_config: Callable[["Config"], None] | None = None  # its own settings against the others (before a run)

    def check(self, cfg: "Config") -> None:
        """A setting this algorithm cannot honour is one clear error, not silently ignored."""
        if cfg.train.rollout_policy == "delayed" and not self.delayed_rollouts:
            raise SeqGANError(f"train.rollout_policy = 'delayed' does not apply to {self.label}: its roll-outs use "
                              "the live G, as its authors' code does; drop the setting (or leave it to other methods)")
        if self.check_config is not None:
            self.check_config(cfg)

    @property
    def phases(self) -> tuple[str, ...]:
        return PRETRAIN_PHASES + self.own_phases + ("done",)

    @property
    def d_only_phases(self) -> tuple[str, ...]:
        """The phases that leave G as it is (D pre-training and ``disc_phases``): no epoch of the curves."""
        return ("d_pretrain",) + self.disc_phases

    def phase_steps(self, cfg: "Config", phase: str) -> int:
        t = cfg.train
        if phase == "mle":
            return t.g_pretrain_epochs
        if phase == "d_pretrain":
            if self.pretrains_disc:
                return t.d_pretrain_steps
            return 0 if self.d_pretrain_length is None else self.d_pretrain_length(cfg)
        return t.adv_rounds if self.phase_length is None else self.phase_length(cfg, phase)

    def position(self, phase: str | None = None, step: int = 0) -> Position:
        """A position in this algorithm's phases (its first own phase by default)."""
        return Position(self.own_phases[0] if phase is None else phase, step, self.phases)

    def config(self, cfg: "Config") -> Any:
        return None if self.section is None else getattr(cfg, self.section)


def pretrain(m: Models, real: torch.Tensor, config: "Config", hooks: Hooks, start: Position,
             d_pretrain_steps: int | None = None) -> None:
    """Algorithm 1, lines 1-5, which every algorithm shares. real: the training set S, (N, T) int64.
    ``d_pretrain_steps``: D's pre-training steps (default ``train.d_pretrain_steps``; 0 for an algorithm
    that pre-trains no D, whose ``Algorithm.pretrains_disc`` is False).

    Line 1 (initialise G_theta, D_phi with random weights) is the caller's: it builds ``m``."""
    cfg = config.train
    d_steps = cfg.d_pretrain_steps if d_pretrain_steps is None else d_pretrain_steps
    # Line 2: pre-train G_theta using MLE on S.
    done = start.start_of("mle")
    if done >= 0:
        for epoch in range(done, cfg.g_pretrain_epochs):
            loss = mle_epoch(m.gen_replica, m.opts["mle"], real, cfg.batch_size, cfg.g_grad_clip)
            hooks.step_done("mle", epoch + 1, {"gen/mle_loss": loss})
        # Line 3: beta <- theta. With the live policy beta is theta already; a delayed copy starts equal.
        if m.rollout.copy is not None:
            m.rollout.copy.load_state_dict(m.gen.state_dict())
        hooks.phase_done("mle")

    # Lines 4-5: generate negatives using G_theta for training D_phi; pre-train D_phi via Eq. 5.
    done = start.start_of("d_pretrain")
    if done >= 0:
        for step in range(done, d_steps):
            loss = d_step(m.gen_replica, m.disc_replica, m.opts["d"], real, cfg.d_epochs, cfg.batch_size)
            hooks.step_done("d_pretrain", step + 1, {"disc/loss": loss})
        hooks.phase_done("d_pretrain")
