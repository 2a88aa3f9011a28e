"""Algorithm 1 of the paper (Sequence Generative Adversarial Nets), in one function.

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

import functools
from typing import TYPE_CHECKING

import torch

from seqgan.rollout import mean_reward
from seqgan.train.algorithm import Algorithm, Hooks, Models, Position, pretrain
from seqgan.train.discriminator import d_step
from seqgan.train.policy_gradient import generator_update
from seqgan.train.value import estimated_update, value_models

if TYPE_CHECKING:
    from seqgan.config import Config

def seqgan(m: Models, real: torch.Tensor, config: "Config", hooks: Hooks, start: Position = Position(),
           estimator: str | None = None) -> None:
    """Algorithm 1. real: the training set S, (N, T) int64. ``estimator``: the reward estimator of lines
    9-11 (``seqgan.train.value``), ``train.reward_estimator`` unless a registry entry fixes it."""
    cfg = config.train
    estimator = estimator or cfg.reward_estimator
    pretrain(m, real, config, hooks, start)  # lines 1-5: MLE for G, beta <- theta, D on S against G

    # Line 6: repeat ... until SeqGAN converges (here: a fixed number of rounds).
    done = start.start_of("adversarial")
    if done >= 0:
        m.disc.eval()  # rewards are scored with dropout off
        for rnd in range(done, cfg.adv_rounds):
            metrics: dict[str, float] = {}
            for _ in range(cfg.g_steps):                                      # line 7
                # Lines 8-12: Y_{1:T} ~ G_theta; Q(y_t; Y_{1:t-1}) for every t by Eq. 4, with D fixed during
                # the g-steps (scored by tables); the policy-gradient update of Eq. 8.
                if estimator == "rollout":
                    loss, seqs, rewards = generator_update(m, cfg, m.disc.frozen_scorer)
                else:  # Q from the value network, or roll-outs minus its baseline; then V's fit
                    loss, seqs, rewards, value_metrics = estimated_update(m, config, m.disc.frozen_scorer, estimator)
                    metrics |= value_metrics
                # The mean Q over the actions taken (with variable-length data, not the <pad>s after <eos>).
                metrics["gen/pg_loss"], metrics["gen/mean_reward"] = loss, mean_reward(m.gen, seqs, rewards)
            # Line 18 (beta <- theta), moved before the d-steps as in the authors' code: the d-steps do
            # not change theta, so the order makes no difference to the result.
            m.rollout.update()
            for _ in range(cfg.d_steps):                                      # lines 14-17: Eq. 5
                metrics["disc/loss"] = d_step(m.gen_replica, m.disc_replica, m.opts["d"], real, cfg.d_epochs,
                                              cfg.batch_size)
            hooks.step_done("adversarial", rnd + 1, metrics)
        hooks.phase_done("adversarial")


SEQGAN = Algorithm("seqgan", "SeqGAN", ("adversarial",), seqgan,
                   extra_models=lambda cfg: value_models(cfg, cfg.train.reward_estimator))


def seqgan_with(estimator: str, label: str) -> Algorithm:
    """SeqGAN with its reward estimator fixed, as a row of Table 1 beside SeqGAN's own (a registry entry
    rather than a flag, so that one ``table1`` compares the estimators from one pre-training)."""
    return Algorithm(f"seqgan_{estimator}", label, ("adversarial",), functools.partial(seqgan, estimator=estimator),
                     extra_models=lambda cfg: value_models(cfg, estimator))


SEQGAN_VALUE = seqgan_with("value", "SeqGAN (value network)")
SEQGAN_ROLLOUT_BASELINE = seqgan_with("rollout_baseline", "SeqGAN (roll-outs - V baseline)")
