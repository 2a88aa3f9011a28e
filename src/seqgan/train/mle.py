"""Maximum-likelihood training of G (Algorithm 1, line 2; the MLE baseline).

Loss: mean token cross-entropy under teacher forcing, as the authors' ``pretrain_loss``; Adam with
global gradient-norm clipping (authors: lr 0.01, clip 5.0).

Distributed (``seqgan.distributed``): every process holds all of S and draws the same batch order;
each computes the loss of its rows of every batch, normalised by the whole batch's token count and
multiplied by the world size, so that DDP's mean of the gradients is the batch's gradient.
"""

from __future__ import annotations

import torch

from seqgan import distributed as dist
from seqgan.distributed import Replica, as_replica
from seqgan.models.generator import Generator
from seqgan.train.step import clipped_step, raise_if_skipped


def mle_weights(gen: Generator, batch: torch.Tensor) -> torch.Tensor:
    """(B, T) weights of the mean NLL per token of batch (B, T): 1 / (number of tokens that count) at
    each token that counts (all, or up to and including <eos> with variable-length data), else 0."""
    if gen.eos_token is None:
        return torch.full(batch.shape, 1.0 / batch.numel(), device=batch.device)
    mask = gen.valid_mask(batch)
    return mask / mask.sum().clamp(min=1)


def batches(num: int, batch_size: int, device: torch.device | str, shuffle: bool = True,
            generator: torch.Generator | None = None):
    """Index tensors of one epoch, shuffled with ``generator``; by default the global RNG, or in a
    distributed run the generator every process shares, so all processes see the same batches.
    The last, smaller batch is kept (the authors' loaders drop it; with their 9,984 = 156 x 64
    sequences there is none). Departure: every epoch is shuffled anew; the authors' G loader keeps S in
    file order every epoch, and their D loader shuffles once per d-step, not per epoch."""
    if generator is None:
        generator = dist.shared_generator()
    order = torch.randperm(num, device=device, generator=generator) if shuffle else torch.arange(num, device=device)
    return order.split(batch_size)


def mle_epoch(gen: Generator | Replica, opt: torch.optim.Optimizer, data: torch.Tensor, batch_size: int,
              grad_clip: float, generator: torch.Generator | None = None) -> float:
    """One epoch of MLE over data (N, T); returns the mean training loss (over all processes).
    ``generator``: the batch order's RNG (see :func:`batches`). One host sync per epoch."""
    g = as_replica(gen)
    model = g.model
    model.train()
    total = torch.zeros((), dtype=torch.float64, device=data.device)
    skipped = torch.zeros((), dtype=torch.bool, device=data.device)
    for idx in batches(data.shape[0], batch_size, data.device, generator=generator):
        batch = data[idx]                                          # (B, T): the whole batch
        rows, factor = dist.shard_batch(idx.numel())               # this process's rows of it
        weights = mle_weights(model, batch)[rows] * factor         # (b, T)
        loss = g(type(model).weighted_nll, batch[rows], weights)  # the LSTM's, or another generator's
        opt.zero_grad(set_to_none=True)
        loss.backward()
        skipped |= clipped_step(opt, model.parameters(), grad_clip)
        total += loss.detach().double() * idx.numel()
    raise_if_skipped(skipped, "G (MLE loss)")
    return dist.all_reduce_sum(total).item() / dist.world().size / data.shape[0]
