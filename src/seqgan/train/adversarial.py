"""Algorithm 1 of the paper, in one function.

Each phase is a plain loop that can start part-way (``start``), so that a run resumed from a
checkpoint continues exactly where it stopped. Everything outside the algorithm (evaluation,
metrics, checkpoints, progress, interruption) happens in ``hooks``, called after every unit of
work with the phase name and the number of units done.

Distributed (``torchrun``, ``seqgan.distributed``), every process runs this same function: the MLE
and D epochs split each batch over the processes, each process samples and rolls out its share of
the policy-gradient batch and of D's negatives, and DDP averages the gradients, so that the updates
are those of one process with the same global batch (see ``seqgan.train.mle``). The hooks are called
on every process with the same (reduced) metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from seqgan import distributed as dist
from seqgan.config import TrainConfig
from seqgan.distributed import Replica
from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.rollout import RolloutPolicy, mc_rewards
from seqgan.train.discriminator import d_step
from seqgan.train.mle import mle_epoch
from seqgan.train.policy_gradient import pg_step

PHASES = ("mle", "d_pretrain", "adversarial", "done")


@dataclass
class Models:
    """What Algorithm 1 updates. The policy-gradient phase has its own Adam, as the authors' code
    builds separate optimisers for pre-training and adversarial updates. ``gen_replica`` and
    ``disc_replica`` are G and D as training calls them: in ``train.precision`` and, with several
    processes, through DistributedDataParallel (``seqgan.distributed.Replica``)."""

    gen: Generator
    disc: Discriminator
    rollout: RolloutPolicy
    mle_opt: torch.optim.Optimizer
    pg_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    gen_replica: Replica
    disc_replica: Replica

    @classmethod
    def create(cls, gen: Generator, disc: Discriminator, cfg: TrainConfig) -> "Models":
        """G and D must be on their device. The replicas come first: with several processes DDP gives
        every process rank 0's initial weights, before the delayed roll-out copy is taken."""
        gen_replica, disc_replica = Replica(gen, cfg.precision), Replica(disc, cfg.precision)
        return cls(gen, disc, RolloutPolicy(gen, cfg.rollout_policy, cfg.rollout_update_rate),
                   adam(gen.parameters(), cfg.g_lr), adam(gen.parameters(), cfg.g_lr),
                   adam(disc.parameters(), cfg.d_lr), gen_replica, disc_replica)


def adam(params, lr: float) -> torch.optim.Optimizer:
    """Adam with the fused kernel (one kernel for all parameters: 0.6 ms against 2.7 ms per D step
    on 2 CPU cores); the same update rule as the default implementation."""
    return torch.optim.Adam(params, lr=lr, fused=True)


@dataclass
class Position:
    """Where a run stands: the current phase and the units of it already done."""

    phase: str = "mle"
    step: int = 0

    def start_of(self, phase: str) -> int:
        """Units of ``phase`` already done: all of an earlier phase, none of a later one."""
        here, there = PHASES.index(self.phase), PHASES.index(phase)
        return self.step if here == there else (0 if here < there else -1)


class Hooks(Protocol):
    def step_done(self, phase: str, step: int, metrics: dict[str, float]) -> None: ...
    def phase_done(self, phase: str) -> None: ...


def seqgan(m: Models, real: torch.Tensor, cfg: TrainConfig, hooks: Hooks, start: Position = Position()) -> None:
    """Algorithm 1 (Sequence Generative Adversarial Nets). real: the training set S, (N, T) int64.

    Line 1 (initialise G_theta, D_phi with random weights) is the caller's: it builds ``m``."""
    # Line 2: pre-train G_theta using MLE on S.
    done = start.start_of("mle")
    if done >= 0:
        for epoch in range(done, cfg.g_pretrain_epochs):
            loss = mle_epoch(m.gen_replica, m.mle_opt, real, cfg.batch_size, cfg.g_grad_clip)
            hooks.step_done("mle", epoch + 1, {"gen/mle_loss": loss})
        # Line 3: beta <- theta. With the live policy beta is theta already; a delayed copy starts equal.
        if m.rollout.copy is not None:
            m.rollout.copy.load_state_dict(m.gen.state_dict())
        hooks.phase_done("mle")

    # Lines 4-5: generate negatives using G_theta for training D_phi; pre-train D_phi via Eq. 5.
    done = start.start_of("d_pretrain")
    if done >= 0:
        for step in range(done, cfg.d_pretrain_steps):
            loss = d_step(m.gen_replica, m.disc_replica, m.d_opt, real, cfg.d_epochs, cfg.batch_size)
            hooks.step_done("d_pretrain", step + 1, {"disc/loss": loss})
        hooks.phase_done("d_pretrain")

    # Line 6: repeat ... until SeqGAN converges (here: a fixed number of rounds).
    done = start.start_of("adversarial")
    if done >= 0:
        m.disc.eval()  # rewards are scored with dropout off
        for rnd in range(done, cfg.adv_rounds):
            metrics: dict[str, float] = {}
            for _ in range(cfg.g_steps):                                      # line 7
                with m.gen_replica.autocast():  # in train.precision; each process its share of the batch
                    seqs = m.gen.sample(dist.share(cfg.batch_size))           # line 8: Y_{1:T} ~ G_theta
                    scorer = m.disc.frozen_scorer()  # D is fixed during the g-steps: score by tables
                    rewards = mc_rewards(m.rollout.policy, seqs, scorer, cfg.rollouts)  # lines 9-11: Eq. 4
                metrics["gen/pg_loss"] = pg_step(m.gen_replica, m.pg_opt, seqs, rewards, cfg.g_grad_clip)  # line 12: Eq. 8
                metrics["gen/mean_reward"] = dist.mean(rewards)
            # Line 18 (beta <- theta), moved before the d-steps as in the authors' code: the d-steps do
            # not change theta, so the order makes no difference to the result.
            m.rollout.update()
            for _ in range(cfg.d_steps):                                      # lines 14-17: Eq. 5
                metrics["disc/loss"] = d_step(m.gen_replica, m.disc_replica, m.d_opt, real, cfg.d_epochs,
                                              cfg.batch_size)
            hooks.step_done("adversarial", rnd + 1, metrics)
        hooks.phase_done("adversarial")
