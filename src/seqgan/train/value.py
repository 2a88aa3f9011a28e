"""Reward estimators of SeqGAN's generator update: Monte Carlo roll-outs (Eq. 4), a value network, or
roll-outs with the value network as baseline (``train.reward_estimator``).

SeqGAN's future work (Yu et al. 2017, Section 6) is a value network and Monte Carlo tree search as
in AlphaGo (Silver et al. 2016). The value network V_psi (``seqgan.models.value``) gives, in one
pass over a sequence Y (B, T), V(Y_{1:k}) for every prefix k = 0..T. With a deterministic transition
Q(Y_{1:t-1}, y_t) = V(Y_{1:t}), so:

* ``rollout`` (default): Q by Eq. 4, N = ``train.rollouts`` roll-outs per prefix; this module is
  not used, and no draw or operation of the run changes.
* ``value``: Q_t = V_psi(Y_{1:t}) for t < T, and Q_T = D(Y_{1:T}) exactly (Eq. 4's second case, one
  score per sequence); with variable-length data a row is complete at its <eos>, so Q is D(Y) from
  there on; no roll-out for the policy gradient. The rewards are V's predictions *before*
  it is fitted on this batch, so they are not the batch's own noisy targets read back.
* ``rollout_baseline``: the advantage A_t = Q_t - V_psi(Y_{1:t-1}), Q_t by Eq. 4 with
  ``train.rollouts`` roll-outs: the actor-critic form (Sutton et al. 2000; the value network as a
  baseline). The baseline is the value of the state *before* y_t, so it does not depend on the
  action and the gradient stays unbiased (E_{y_t ~ G}[grad log G(y_t|s) b(s)] = 0); the pre-fit
  prediction keeps it independent of this batch's y_t too.

V's training (the choice the issue leaves open, as AlphaGo's value network regresses onto game
outcomes, Silver et al. 2016, Eq. 3: Delta psi ~ (z - v_psi(s)) grad v_psi(s)): after every generator
update, ``value.steps`` Adam steps on the mean squared error of V on this batch against Monte Carlo
targets: for ``value``, Eq. 4 with ``train.value_rollouts`` roll-outs (a few, against 16), or with
``train.value_rollouts = 0`` D(Y) of the sampled sequence itself for every prefix (Y's own
continuation is one draw of G's roll-out: an unbiased one-sample target at no roll-out cost, but one
target per sequence, correlated over its prefixes, as AlphaGo warns); for ``rollout_baseline`` the
update's own Q (no extra roll-outs). V(Y_{1:0}), the empty prefix, learns D(Y). V starts
untrained at the first adversarial round (no warm-up phase); its first rewards are those of an
untrained network, as a critic's are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from seqgan import distributed as dist
from seqgan.distributed import Replica
from seqgan.errors import SeqGANError, require_ints
from seqgan.models.value import ValueNetwork
from seqgan.rollout import Scorer, mc_rewards, mean_reward
from seqgan.seeding import rng
from seqgan.train.policy_gradient import pg_step
from seqgan.train.step import clipped_step, raise_if_skipped

if TYPE_CHECKING:
    from seqgan.config import Config
    from seqgan.train.algorithm import Models

ESTIMATORS = ("rollout", "value", "rollout_baseline")
USES_VALUE = ("value", "rollout_baseline")


@dataclass
class ValueConfig:
    """The value network V_psi and its optimiser (config section ``value``); used when
    ``train.reward_estimator`` is 'value' or 'rollout_baseline'. G's sizes and rates by default."""

    emb_dim: int = 32
    """V's token embedding size (G's, 32)."""
    hidden_dim: int = 32
    """V's LSTM hidden size (G's, 32)."""
    lr: float = 0.01
    """Adam learning rate of V (G's, 0.01)."""
    steps: int = 1
    """Adam steps of V on each generator update's batch and targets (our choice, not a paper's: one step per
    fresh batch, as G takes one; more fits V to one batch's noisy targets). Its gradient norm is clipped at
    train.g_grad_clip, as G's."""

    def validate(self) -> "ValueConfig":
        require_ints("value", self, ("emb_dim", "hidden_dim", "steps"))
        if not self.lr > 0:
            raise SeqGANError(f"value.lr must be positive, got {self.lr}")
        return self


def validate_estimator(cfg: "Config") -> None:
    """The rules of ``train.reward_estimator`` and ``train.value_rollouts`` (called by Config.validate)."""
    t = cfg.train
    if t.reward_estimator not in ESTIMATORS:
        raise SeqGANError(f"train.reward_estimator must be one of {', '.join(ESTIMATORS)}, got {t.reward_estimator!r}")
    if t.reward_estimator != "rollout" and t.algorithm != "seqgan":
        raise SeqGANError(f"train.reward_estimator = {t.reward_estimator!r} applies to train.algorithm = 'seqgan' only, "
                          f"not to {t.algorithm!r}: unset it (table1's rows are seqgan_value, seqgan_rollout_baseline)")
    if isinstance(t.value_rollouts, bool) or not isinstance(t.value_rollouts, int) or t.value_rollouts < 0:
        raise SeqGANError(f"train.value_rollouts must be an integer >= 0 (0: D of the sampled sequence), "
                          f"got {t.value_rollouts!r}")
    cfg.value.validate()


def value_models(cfg: "Config", estimator: str) -> dict[str, tuple[nn.Module, float]]:
    """The models the estimator adds to G and D: {'value': (V_psi, value.lr)}, or none for 'rollout'.
    V is initialised from a stream of its own (``seqgan.seeding.rng``) and its construction leaves the
    global RNG as it was, so G, D and every later draw are those of the same run without V."""
    if estimator not in USES_VALUE:
        return {}
    m, v = cfg.model, cfg.value
    with torch.random.fork_rng(devices=[]):  # nn.LSTM's own init draws from the global CPU RNG
        net = ValueNetwork(m.vocab_size, v.emb_dim, v.hidden_dim, m.seq_len, m.start_token)
    net.reset_parameters(rng("cpu", "value_init", cfg.seed))
    return {"value": (net, v.lr)}


def value_targets(seqs_score: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Targets of V(Y_{1:k}), k = 0..T: D(Y) for the empty prefix, then Q_t (Q_T = D(Y)).
    seqs_score (B,) = D(Y), q (B, T) -> (B, T+1)."""
    return torch.cat([seqs_score.unsqueeze(1), q], dim=1)


def value_mask(gen, seqs: torch.Tensor) -> torch.Tensor | None:
    """(B, T+1) bool: the prefixes that count in V's loss (up to the first <eos>); None: all of them."""
    if gen.eos_token is None:
        return None
    return torch.cat([torch.ones_like(seqs[:, :1], dtype=torch.bool), gen.valid_mask(seqs)], dim=1)


def value_loss(value: ValueNetwork, seqs: torch.Tensor, targets: torch.Tensor,
               mask: torch.Tensor | None = None, count: float | None = None) -> torch.Tensor:
    """Mean squared error of V(Y_{1:k}) against targets (B, T+1) over the counted prefixes (Silver et
    al. 2016, Eq. 3's regression). seqs (B, T) int64 -> scalar. ``count``: the prefixes counted by all
    processes; the loss is then this process's squared errors over ``count`` times W, so that DDP's mean
    of the W gradients is the whole batch's (as ``distributed.shard_batch``'s losses)."""
    err = (value(seqs) - targets.detach().float()).square()
    if count is not None:
        return (err if mask is None else torch.where(mask, err, 0.0)).sum() * (dist.world().size / count)
    if mask is None:
        return err.mean()
    return torch.where(mask, err, 0.0).sum() / mask.sum().clamp(min=1)


def fit_value(value: Replica, opt: torch.optim.Optimizer, seqs: torch.Tensor, targets: torch.Tensor,
              mask: torch.Tensor | None, steps: int, grad_clip: float) -> float:
    """``steps`` Adam steps of V on one batch; returns the loss of the first, i.e. V's error on targets
    it has not been fitted to. Distributed: each process its share of the batch, each prefix weighted
    as in one process (the shares and their counted prefixes may differ); DDP averages V's gradients."""
    count = None
    if dist.world().size > 1:
        mine = mask.sum() if mask is not None else torch.tensor(targets.numel(), device=targets.device)
        count = max(dist.all_reduce_sum(mine.double()).item(), 1.0)
    value.model.train()
    first = None
    for _ in range(steps):
        loss = value(value_loss, seqs, targets, mask, count)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        raise_if_skipped(clipped_step(opt, value.model.parameters(), grad_clip), "V (value loss)")
        first = loss.detach() if first is None else first
    return dist.mean(first) if count is None else dist.all_reduce_sum(first.double()).item() / dist.world().size


def estimated_update(m: "Models", config: "Config", make_scorer: Callable[[], Scorer], estimator: str
                     ) -> tuple[float, torch.Tensor, torch.Tensor, dict[str, float]]:
    """One generator update (Algorithm 1, lines 8-12) with the value network's estimator, then V's fit.
    Returns (the policy-gradient loss, Y (b, T), the estimate of Q (b, T), metrics: V's, and for
    ``rollout_baseline`` the mean advantage, the weight of Eq. 8)."""
    cfg = config.train
    value = m.extra["value"]
    # The rewards, V's targets and its pre-fit predictions carry no gradient: no graph is built for them.
    with m.gen_replica.autocast(), torch.no_grad():  # in train.precision
        seqs = m.gen.sample(dist.share(cfg.batch_size))                            # line 8: Y_{1:T} ~ G_theta
        scorer = make_scorer()
        value.model.eval()
        v = value.model(seqs)                                                       # (b, T+1): V(Y_{1:k}), pre-fit
        if estimator == "rollout_baseline":
            q = mc_rewards(m.rollout.policy, seqs, scorer, cfg.rollouts)            # lines 9-11: Eq. 4
            weights = q - v[:, :-1]                                                 # A_t = Q_t - V(Y_{1:t-1})
        else:
            if cfg.value_rollouts > 0:
                q = mc_rewards(m.rollout.policy, seqs, scorer, cfg.value_rollouts)  # V's targets: Eq. 4, few N
            else:
                q = scorer(seqs).unsqueeze(1).expand_as(seqs)                       # D(Y): every prefix's target
            weights = torch.cat([v[:, 1:-1], q[:, -1:]], dim=1)                     # Q_t = V(Y_{1:t}); Q_T = D(Y)
            if m.gen.eos_token is not None:
                # Eq. 4's t = T case: at its <eos> (and on the <pad>s after it) a row is complete, so Q is
                # D(Y) itself, not V's estimate of it.
                weights = torch.where(m.gen.ended(seqs), q[:, -1:], weights)
    targets = value_targets(q[:, -1], q)
    metrics = {"value/loss": fit_value(value, m.opts["value"], seqs, targets, value_mask(m.gen, seqs),
                                       config.value.steps, cfg.g_grad_clip)}
    if estimator == "rollout_baseline":
        metrics["gen/mean_advantage"] = mean_reward(m.gen, seqs, weights)        # over the actions taken
    loss = pg_step(m.gen_replica, m.opts["pg"], seqs, weights, cfg.g_grad_clip)    # line 12: Eq. 8
    return loss, seqs, q if estimator == "rollout_baseline" else weights, metrics
