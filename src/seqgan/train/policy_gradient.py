"""The policy-gradient update of G (Eqs. 6-8; Algorithm 1, lines 7-10)."""

from __future__ import annotations

import torch

from seqgan import distributed as dist
from seqgan.distributed import Replica, as_replica
from seqgan.models.generator import Generator
from seqgan.train.step import clipped_step, raise_if_skipped


def pg_loss(log_probs: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Authors' ``g_loss``: -sum_{b,t} log G(y_bt | Y_{1:t-1}) * Q_bt.

    A plain sum over batch and time: no baseline, no discount, no normalisation (Eq. 6 with the
    expectation replaced by the sampled batch). log_probs, rewards: (B, T); rewards carry no gradient.
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
