"""Training D (Eq. 5; Algorithm 1, lines 4 and 13-15).

One *d-step* samples fresh negatives from G, as many as there are real sequences, then trains D
for k epochs over positives and negatives shuffled together (authors' ``train_discriminator``).
Labels: real = class 1, generated = class 0.
"""

from __future__ import annotations

import torch

from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.train.mle import batches
from seqgan.train.step import NO_CLIP, clipped_step


def d_epochs(disc: Discriminator, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
             epochs: int, batch_size: int) -> float:
    """k epochs over real (N, T) and fake (M, T); returns the mean loss of the last epoch."""
    data = torch.cat([real, fake])
    labels = torch.cat([torch.ones(real.shape[0], dtype=torch.long, device=real.device),
                        torch.zeros(fake.shape[0], dtype=torch.long, device=real.device)])
    disc.train()  # dropout on while D trains
    last = 0.0
    for _ in range(epochs):
        total = 0.0
        for idx in batches(data.shape[0], batch_size, data.device):
            loss, _ = disc.loss(data[idx], labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clipped_step(opt, disc.parameters(), NO_CLIP, "D (Eq. 5 loss)")  # authors: no clipping for D
            total += loss.item() * idx.numel()
        last = total / data.shape[0]
    disc.eval()
    return last


def d_step(gen: Generator, disc: Discriminator, opt: torch.optim.Optimizer, real: torch.Tensor,
           epochs: int, batch_size: int) -> float:
    """Fresh negatives from G (as many as real sequences), then k epochs."""
    fake = gen.sample(real.shape[0])
    return d_epochs(disc, opt, real, fake, epochs, batch_size)


@torch.no_grad()
def d_accuracy(disc: Discriminator, real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
    """Fraction of real sequences D calls real and of generated ones it calls generated (dropout off)."""
    disc.eval()
    return ((disc.prob_real(real) > 0.5).float().mean().item(),
            (disc.prob_real(fake) <= 0.5).float().mean().item())
