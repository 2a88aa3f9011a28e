"""The policy-gradient update of G (Eqs. 6-8; Algorithm 1, lines 8-12), shared by every algorithm
that trains G by REINFORCE on roll-out rewards (SeqGAN, PG-BLEU, MaliGAN, RankGAN): only the reward
(the scorer of complete sequences) and the weighting of the rewards differ."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch

from seqgan import distributed as dist
from seqgan.distributed import Replica, as_replica
from seqgan.models.generator import Generator
from seqgan.rollout import Scorer, mc_rewards
from seqgan.train.step import clipped_step, raise_if_skipped

if TYPE_CHECKING:
    from seqgan.config import TrainConfig
    from seqgan.train.algorithm import Models


def pg_loss(log_probs: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Authors' ``g_loss``: -sum_{b,t} log G(y_bt | Y_{1:t-1}) * Q_bt.

    A plain sum over batch and time: no baseline, no discount, no normalisation (Eq. 7's likelihood-ratio
    form, its expectation replaced by the sampled batch and without its 1/T). log_probs, rewards: (B, T); rewards carry no gradient.
    ``mask`` (B, T) bool drops the positions after a sequence's <eos> (variable-length data)."""
    terms = log_probs * rewards.detach()
    if mask is not None:
        terms = torch.where(mask, terms, 0.0)  # not a product: log G(<pad>) = -inf after <eos>
    return -terms.sum()


def pg_step(gen: Generator | Replica, opt: torch.optim.Optimizer, seqs: torch.Tensor, rewards: torch.Tensor,
            grad_clip: float) -> float:
    """theta <- theta + alpha * grad J (Eq. 8), via Adam on the loss above with global-norm clipping.
    Returns the loss of the whole batch.

    Distributed: seqs, rewards (b, T) are this process's share of the batch. The loss is a sum over the
    whole batch, so each process's sum is multiplied by the world size W: DDP's mean of the W gradients
    is then the gradient of the sum over all processes' sequences."""
    g = as_replica(gen)
    model = g.model
    model.train()
    weights = rewards.detach()
    if model.eos_token is not None:
        weights = torch.where(model.valid_mask(seqs), weights, 0.0)
    world = dist.world().size
    # = pg_loss(gen.log_probs(seqs), rewards, mask), fused and chunked
    loss = g(Generator.weighted_nll, seqs, weights * world if world > 1 else weights)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    raise_if_skipped(clipped_step(opt, model.parameters(), grad_clip), "G (policy-gradient loss)")
    return dist.all_reduce_sum(loss.detach()).item() / world


def generator_update(m: "Models", cfg: "TrainConfig", make_scorer: Callable[[], Scorer],
                     weigh: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
                     ) -> tuple[float, torch.Tensor, torch.Tensor]:
    """One generator update by policy gradient (Algorithm 1, lines 8-12) with any reward.

    Samples Y (b, T) from G (each process its share of ``train.batch_size``), scores every prefix by
    Eq. 4 with the scorer that ``make_scorer()`` returns (built under the training precision, e.g. D's
    frozen tables) and the roll-out policy, then takes the step of Eq. 8 with weights Q, or with
    ``weigh(seqs, Q)`` where an algorithm weighs its rewards otherwise (MaliGAN). ``cfg.rollouts`` 0
    (MaliGAN-basic): no roll-outs, every prefix has the score of Y itself. Returns (the loss, Y, Q (b, T))."""
    with m.gen_replica.autocast():  # in train.precision
        seqs = m.gen.sample(dist.share(cfg.batch_size))                           # line 8: Y_{1:T} ~ G_theta
        if cfg.rollouts == 0:
            with torch.no_grad():
                rewards = make_scorer()(seqs).unsqueeze(1).expand(-1, seqs.shape[1])
        else:
            rewards = mc_rewards(m.rollout.policy, seqs, make_scorer(), cfg.rollouts)  # lines 9-11: Eq. 4
    weights = rewards if weigh is None else weigh(seqs, rewards)
    loss = pg_step(m.gen_replica, m.opts["pg"], seqs, weights, cfg.g_grad_clip)   # line 12: Eq. 8
    return loss, seqs, rewards
