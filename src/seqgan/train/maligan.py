"""MaliGAN (Che et al., 2017, "Maximum-Likelihood Augmented Discrete Generative Adversarial Networks").

D is SeqGAN's, trained by the same cross-entropy (Eq. 5 of Yu et al.). At D's optimum
D = p_data / (p_data + p_G), so r_D(Y) = D(Y) / (1 - D(Y)) estimates p_data(Y) / p_G(Y), and
r_D(Y) p_G(Y) / Z is a target distribution closer to the data than G. G follows it: the gradient
of KL(target || G) over a batch Y_1..Y_m drawn from G is the importance-weighted likelihood gradient

    grad ~ sum_i ( r_D(Y_i) / sum_j r_D(Y_j) - b ) grad log G(Y_i),

the weights normalised over the batch and b a baseline that reduces the variance (Che et al.,
Section 2, the normalised importance-sampling estimator). For sequences the paper reduces the
variance further by Monte Carlo search: the weight of position t uses roll-outs from the prefix
Y_{1:t}, as SeqGAN's Eq. 4, here of r_D instead of D (``maligan.rollouts``; Section 3 of Che et
al.). Departures, each a choice where the paper leaves one:

* the weights are normalised over the batch at each position t (the paper normalises over the m
  samples; with roll-outs each position has its own estimate, so each is normalised on its own);
* b = 1 / m, the mean of the normalised weights, so each position's weights sum to zero (what
  TextGAN-PyTorch's ``get_mali_reward`` does; the paper names a baseline but leaves its form open);
* D(Y) is clipped to [1e-30, 1 - 1e-6] so that r_D stays finite and a batch of D(Y) = 0 keeps its
  weights (neither paper nor ports say);
* the paper's "mixed MLE" curriculum (teacher forcing on a shrinking prefix) is not implemented:
  every method here starts from the same MLE-pre-trained G, as in Table 1.

Hyperparameters: SeqGAN's schedule (``train.*``: g-steps, d-steps, k, roll-outs, Adam 0.01 for G
and 1e-4 for D, batch 64), the same for every method of Table 1. The public ports share only the
learning rates and the batch (TextGAN-PyTorch's run_maligan.py: G Adam 0.01, D Adam 1e-4, batch 64);
their schedules differ (there: 50 G steps and 1 D step of 3 epochs a round, D pre-training 4 steps
of 2 epochs, 80 MLE epochs, and its ``rollout_num`` re-scores the sequence with D rather than
completing prefixes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from seqgan import distributed as dist
from seqgan.errors import SeqGANError
from seqgan.rollout import Scorer
from seqgan.train.algorithm import Algorithm, Hooks, Models, Position, pretrain
from seqgan.train.discriminator import d_step
from seqgan.train.policy_gradient import generator_update

if TYPE_CHECKING:
    from seqgan.config import Config

MAX_PROB = 1.0 - 1e-6  # D(Y) is clipped here so that r_D = D / (1 - D) stays finite
MIN_PROB = 1e-30       # and here, so that a batch D calls fake to the last bit (D = 0.0) has weights, not 0 / 0


@dataclass
class MaliGANConfig:
    """MaliGAN's settings (config section ``maligan``); the schedule is ``train.*``, as SeqGAN's."""

    rollouts: bool = True
    """True: the weight of each position comes from ``train.rollouts`` Monte Carlo completions of its
    prefix (Che et al.'s variance reduction for sequences, "MaliGAN-full" without mixed MLE). False:
    MaliGAN-basic, one weight per sequence from r_D of the sequence itself, on every position (what
    Texygen and TextGAN-PyTorch implement)."""
    baseline: bool = True
    """Subtract b = 1/m, the mean normalised weight, from every weight (Che et al.'s baseline;
    TextGAN-PyTorch subtracts the batch mean, the same). False: the plain normalised weights."""

    def validate(self) -> "MaliGANConfig":
        for key in ("rollouts", "baseline"):
            if not isinstance(getattr(self, key), bool):
                raise SeqGANError(f"maligan.{key} must be true or false, got {getattr(self, key)!r}")
        return self


def ratio_scorer(prob_real: Scorer) -> Scorer:
    """r_D(Y) = D(Y) / (1 - D(Y)) of complete sequences (R, T) -> (R,), from D's P(real)."""
    def score(seqs: torch.Tensor) -> torch.Tensor:
        d = prob_real(seqs).double().clamp(min=MIN_PROB, max=MAX_PROB)
        return d / (1.0 - d)
    return score


def normalised_weights(ratios: torch.Tensor, baseline: bool) -> torch.Tensor:
    """The MaliGAN weights of a batch: ratios (b, T) of r_D estimates -> (b, T) float32,
    r_bt / sum_b' r_b't - b. Distributed, the sums and m run over every process's rows."""
    total = dist.all_reduce_sum(ratios.sum(dim=0))                          # (T,): over the whole batch
    m = dist.all_reduce_sum(torch.tensor(float(ratios.shape[0]), dtype=torch.float64, device=ratios.device))
    weights = ratios / total
    if baseline:
        weights = weights - 1.0 / m
    return weights.to(torch.float32)


def maligan(m: Models, real: torch.Tensor, config: "Config", hooks: Hooks, start: Position) -> None:
    """Pre-training, then rounds of MaliGAN's generator updates and SeqGAN's d-steps."""
    t, c = config.train, config.maligan
    pretrain(m, real, config, hooks, start)
    done = start.start_of("maligan")
    if done >= 0:
        m.disc.eval()  # r_D is scored with dropout off

        def weigh(seqs: torch.Tensor, ratios: torch.Tensor) -> torch.Tensor:
            if not c.rollouts:  # MaliGAN-basic: the sequence's own r_D on every position
                ratios = ratios[:, -1:].expand_as(ratios)
            return normalised_weights(ratios, c.baseline)

        schedule = t if c.rollouts else dataclasses.replace(t, rollouts=0)  # basic: r_D of Y itself, no roll-outs
        for rnd in range(done, t.adv_rounds):
            metrics: dict[str, float] = {}
            for _ in range(t.g_steps):                                       # Che et al.'s estimator
                loss, _, ratios = generator_update(m, schedule, lambda: ratio_scorer(m.disc.frozen_scorer()), weigh)
                metrics["gen/pg_loss"] = loss
                metrics["gen/mean_ratio"] = dist.mean(ratios[:, -1])  # r_D of the sampled sequences
            m.rollout.update()
            for _ in range(t.d_steps):                                       # D as SeqGAN's: Eq. 5
                metrics["disc/loss"] = d_step(m.gen_replica, m.disc_replica, m.opts["d"], real, t.d_epochs,
                                              t.batch_size)
            hooks.step_done("maligan", rnd + 1, metrics)
        hooks.phase_done("maligan")


MALIGAN = Algorithm("maligan", "MaliGAN", ("maligan",), maligan, section="maligan")
