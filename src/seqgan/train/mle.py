"""Maximum-likelihood training of G (Algorithm 1, line 2; the MLE baseline).

Loss: mean token cross-entropy under teacher forcing, as the authors' ``pretrain_loss``; Adam with
global gradient-norm clipping (authors: lr 0.01, clip 5.0).
"""

from __future__ import annotations

import torch
from seqgan.models.generator import Generator
from seqgan.train.step import clipped_step


def mle_loss(gen: Generator, batch: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean negative log-likelihood per token. batch (B, T) int64; mask (B, T) bool of positions that count."""
    if mask is None:
        weights = torch.full(batch.shape, 1.0 / batch.numel(), device=batch.device)
    else:
        weights = mask / mask.sum().clamp(min=1)
    return gen.weighted_nll(batch, weights)


def batches(num: int, batch_size: int, device: torch.device | str, shuffle: bool = True):
    """Index tensors of one epoch, shuffled with the global RNG. The last, smaller batch is kept
    (the authors' loaders drop it; with their 9,984 = 156 x 64 sequences there is none)."""
    order = torch.randperm(num, device=device) if shuffle else torch.arange(num, device=device)
    return order.split(batch_size)


def mle_epoch(gen: Generator, opt: torch.optim.Optimizer, data: torch.Tensor, batch_size: int,
              grad_clip: float) -> float:
    """One epoch of MLE over data (N, T); returns the mean training loss."""
    gen.train()
    total, count = 0.0, 0
    for idx in batches(data.shape[0], batch_size, data.device):
        batch = data[idx]
        loss = mle_loss(gen, batch, gen.valid_mask(batch) if gen.eos_token is not None else None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clipped_step(opt, gen.parameters(), grad_clip, "G (MLE loss)")
        total += loss.item() * idx.numel()
        count += idx.numel()
    return total / count
