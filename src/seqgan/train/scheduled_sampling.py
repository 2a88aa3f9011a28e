"""Scheduled Sampling (Bengio et al., NeurIPS 2015), the Table 1 baseline.

MLE in which the token fed at each position after the first is, with probability p, the model's own
sample from its prediction at the previous position instead of the true previous token. p rises
from epoch to epoch on a schedule (:func:`ss_probability`). The targets stay the true tokens, and no
gradient flows through the choice or the sample (as in Bengio et al.). In Table 1 it trains
``train.adv_rounds`` epochs from the shared pre-training, continuing pre-training's optimiser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from seqgan import distributed as dist
from seqgan.distributed import Replica, as_replica
from seqgan.errors import SeqGANError
from seqgan.models.generator import Generator, token_nll
from seqgan.sampling import sample_categorical
from seqgan.seeding import rng
from seqgan.train.algorithm import Algorithm, Hooks, Models, Position, pretrain
from seqgan.train.mle import batches, mle_weights
from seqgan.train.step import clipped_step, raise_if_skipped

if TYPE_CHECKING:
    from seqgan.config import Config

SS_SCHEDULES = ("linear", "exponential", "inverse_sigmoid")


@dataclass
class SSConfig:
    """Scheduled Sampling's settings (config section ``ss``; table1's --ss-* flags set them)."""

    schedule: str = "inverse_sigmoid"
    """Shape of the rise of the sampling probability over the Scheduled Sampling epochs: 'linear',
    'exponential' or 'inverse_sigmoid' (Bengio et al.'s three decays of the true-token probability).
    Default 'inverse_sigmoid': Bengio et al. used it for image captioning and parsing; it stays close
    to teacher forcing for the first epochs and never jumps, and it is smooth at both ends."""
    max_prob: float = 0.25
    """Probability of feeding the model's own sample in the last epoch. Bengio et al. report that
    always sampling (1.0) trains badly; 0.25 keeps three true tokens in four at the end. Measured on
    the paper's oracle: every value hurts NLL-oracle relative to plain MLE, in proportion to it (5
    epochs from a 10-epoch MLE G: MLE 9.088, SS 0.05 / 0.1 / 0.25: 9.149 / 9.202 / 9.347; the fast
    preset, 40 epochs: MLE 9.051, SS 0.25: 9.348). Training on its own samples while the targets stay
    the data's tokens is the inconsistency Huszar (2015) points out, and this oracle's next token
    depends sharply on the previous one. The value is not tuned down: a smaller one is only closer to MLE."""
    steepness: float = 8.0
    """s of the 'exponential' and 'inverse_sigmoid' shapes (see :func:`ss_probability`); unused by 'linear'.
    Our choice: Bengio et al.'s k counts mini-batches of their tasks, so no value of theirs carries over to
    this rescaled axis. With s = 8 the inverse sigmoid gives 7% of max_prob after a fifth of the epochs
    and 93% after four fifths: a slow start, a rise through the middle, a flat end."""

    def validate(self) -> "SSConfig":
        if self.schedule not in SS_SCHEDULES:
            raise SeqGANError(f"ss.schedule must be one of {', '.join(SS_SCHEDULES)}, got {self.schedule!r}")
        if not 0.0 <= self.max_prob <= 1.0:
            raise SeqGANError(f"ss.max_prob must be in [0, 1], got {self.max_prob}")
        if not self.steepness > 0:
            raise SeqGANError(f"ss.steepness must be positive, got {self.steepness}")
        return self


def ss_probability(schedule: str, epoch: int, total: int, max_prob: float, steepness: float = 8.0) -> float:
    """Probability of feeding the model's own token in Scheduled Sampling epoch ``epoch`` (1-based) of ``total``.

    Bengio et al. decay the true-token probability eps_i with the mini-batch count i: linear
    (eps = k - c*i), exponential (eps = k^i) or inverse sigmoid (eps = k / (k + exp(i/k))). Here the
    sampling probability 1 - eps rises on the same three shapes, written on the phase's own time
    axis x = epoch / total in (0, 1] and scaled so that it is 0 at x = 0 and ``max_prob`` at x = 1,
    so that one setting means the same thing for a 3-epoch test run and a 200-epoch paper run:

    * linear:          p = max_prob * x
    * exponential:     p = max_prob * (1 - exp(-s x)) / (1 - exp(-s))           (1 - k^i, rescaled)
    * inverse_sigmoid: p = max_prob * (sig(s (x - 1/2)) - sig(-s/2)) / (sig(s/2) - sig(-s/2))
                                                  (1 - k/(k + e^{i/k}) is a logistic in i, rescaled)
    """
    if total < 1 or not 1 <= epoch <= total:
        raise SeqGANError(f"Scheduled Sampling epoch must be in [1, {total}], got {epoch}")
    x = epoch / total
    if schedule == "linear":
        frac = x
    elif schedule == "exponential":
        frac = -math.expm1(-steepness * x) / -math.expm1(-steepness)
    elif schedule == "inverse_sigmoid":
        sig = lambda z: 1.0 / (1.0 + math.exp(-z))  # noqa: E731
        lo, hi = sig(-steepness / 2), sig(steepness / 2)
        frac = (sig(steepness * (x - 0.5)) - lo) / (hi - lo)
    else:
        raise SeqGANError(f"unknown Scheduled Sampling schedule {schedule!r}; choose one of {', '.join(SS_SCHEDULES)}")
    return max_prob * min(max(frac, 0.0), 1.0)


def scheduled_sampling_forward(gen: Generator, batch: torch.Tensor, prob: float,
                               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """G's logits under Scheduled Sampling. batch (B, T) int64 true tokens ->
    (logits (B, T, V), inputs (B, T) int64: the token fed at each position, the start token first).

    At position t >= 1 each row independently feeds its own sample of G(. | its fed prefix) with
    probability ``prob`` and the true y_{t-1} otherwise. All rows step together: the loop is over the
    T positions only, since each position's input depends on the previous one's prediction. The
    decisions and samples draw from ``generator`` (the global RNG if None); ``prob`` 0 draws nothing
    and is teacher forcing (MLE); ``prob`` 1 draws only the samples and is free running."""
    B, T = batch.shape
    ctx = gen.step_context()                                    # differentiable (the input table)
    state = gen.initial_state(B, batch.device)
    fed = torch.full((B,), gen.start_token, dtype=torch.long, device=batch.device)
    logits, inputs = [], []
    for t in range(T):
        inputs.append(fed)
        state = gen.step(fed, state, ctx)
        step_logits = gen.next_logits(state, ctx)               # (B, V): scores y_t
        logits.append(step_logits)
        if t + 1 == T:
            break
        truth = batch[:, t]
        if prob <= 0.0:
            fed = truth
            continue
        own = sample_categorical(step_logits.detach(), generator=generator)  # (B,), no gradient
        if prob >= 1.0:
            fed = own
        else:
            use_own = torch.rand(B, generator=generator, device=batch.device) < prob
            fed = torch.where(use_own, own, truth)
    return torch.stack(logits, dim=1), torch.stack(inputs, dim=1)


def scheduled_sampling_loss(gen: Generator, batch: torch.Tensor, weights: torch.Tensor | None, prob: float,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """sum_{b,t} weights_bt * -log G(y_bt | fed prefix) under Scheduled Sampling; batch, weights (B, T).
    ``weights`` None: the mean over the batch's tokens that count, as MLE's (:func:`mle_weights`): all of
    them, or with variable-length data those up to and including each row's first <eos>."""
    logits, _ = scheduled_sampling_forward(gen, batch, prob, generator)
    nll = token_nll(logits, batch)
    if gen.eos_token is None:
        return nll.mean() if weights is None else (nll * weights).sum()
    # The <pad>s after <eos> have NLL +inf (G's <pad> logit is -inf): select them out, never multiply
    # (inf * 0 = nan), so they count in neither the loss nor its gradient, as in MLE.
    nll = torch.where(gen.valid_mask(batch), nll, 0.0)
    return (nll * (mle_weights(gen, batch) if weights is None else weights)).sum()


def ss_epoch(gen: Generator | Replica, opt: torch.optim.Optimizer, data: torch.Tensor, batch_size: int,
             grad_clip: float, prob: float, generator: torch.Generator | None = None) -> float:
    """One epoch of Scheduled Sampling over data (N, T); returns the mean training loss per token.

    The loss (mean over the batch's tokens; with variable-length data those up to and including each
    row's <eos>), optimiser step, clipping and batch order are those of
    :func:`seqgan.train.mle.mle_epoch`, so with ``prob`` 0 and a separate ``generator`` this is the MLE
    epoch (to float rounding: a step-by-step LSTM instead of the fused one). Distributed, as MLE:
    each process its rows of every batch (and its own ``generator`` for the draws)."""
    g = as_replica(gen)
    model = g.model
    model.train()
    total = torch.zeros((), dtype=torch.float64, device=data.device)
    skipped = torch.zeros((), dtype=torch.bool, device=data.device)
    for idx in batches(data.shape[0], batch_size, data.device):
        rows, factor = dist.shard_batch(idx.numel())
        batch = data[idx[rows]]                                               # this process's rows
        weights = None  # one process: the mean over the batch's tokens; several: its rows' part of it
        if dist.world().size > 1:
            if model.eos_token is None:
                weights = torch.full(batch.shape, factor / (idx.numel() * data.shape[1]), device=data.device)
            else:  # normalised by the whole batch's count of tokens up to <eos>, as MLE's
                weights = mle_weights(model, data[idx])[rows] * factor
        loss = g(scheduled_sampling_loss, batch, weights, prob, generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        skipped |= clipped_step(opt, model.parameters(), grad_clip)
        total += loss.detach().double() * idx.numel()
    raise_if_skipped(skipped, "G (Scheduled Sampling loss)")
    return dist.all_reduce_sum(total).item() / dist.world().size / data.shape[0]


def scheduled_sampling(m: Models, real: torch.Tensor, config: "Config", hooks: Hooks, start: Position) -> None:
    """Pre-training, then ``train.adv_rounds`` epochs of Scheduled Sampling on S (N, T)."""
    t, s = config.train, config.ss
    pretrain(m, real, config, hooks, start)
    done = start.start_of("scheduled_sampling")
    if done >= 0:
        for epoch in range(done, t.adv_rounds):
            p = ss_probability(s.schedule, epoch + 1, t.adv_rounds, s.max_prob, s.steepness)
            # The draws of epoch e have a stream of their own (each process its own), so a resumed run
            # draws what an uninterrupted one does.
            g = rng(real.device, "ss", dist.rank_seed(config.seed), epoch + 1)
            loss = ss_epoch(m.gen_replica, m.opts["mle"], real, t.batch_size, t.g_grad_clip, p, g)
            hooks.step_done("scheduled_sampling", epoch + 1, {"gen/ss_loss": loss, "gen/ss_prob": p})
        hooks.phase_done("scheduled_sampling")


SCHEDULED_SAMPLING = Algorithm("ss", "Scheduled Sampling", ("scheduled_sampling",), scheduled_sampling,
                               section="ss", uses_disc=False)
