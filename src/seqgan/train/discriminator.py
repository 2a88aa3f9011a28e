"""Training D (Eq. 5; Algorithm 1, lines 4-5 and 14-17).

One *d-step* samples fresh negatives from G, as many as there are real sequences, then trains D
for k epochs over positives and negatives shuffled together (authors' ``train_discriminator``).
Labels: real = class 1, generated = class 0.

Distributed: each process samples its share of the negatives and all processes then hold all of them;
the epochs are split like MLE's (``seqgan.train.mle``): same batches everywhere, each process the loss
of its rows, DDP averaging the gradients.
"""

from __future__ import annotations

import torch

from seqgan import distributed as dist
from seqgan.distributed import Replica, as_replica
from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.train.mle import batches
from seqgan.train.step import NO_CLIP, clipped_step, raise_if_skipped


def d_epochs(disc: Discriminator | Replica, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
             epochs: int, batch_size: int, generator: torch.Generator | None = None) -> float:
    """k epochs over real (N, T) and fake (M, T); returns the mean loss of the last epoch (over all
    processes). ``generator``: the batch order's RNG (see :func:`seqgan.train.mle.batches`)."""
    d = as_replica(disc)
    model = d.model
    data = torch.cat([real, fake])
    labels = torch.cat([torch.ones(real.shape[0], dtype=torch.long, device=real.device),
                        torch.zeros(fake.shape[0], dtype=torch.long, device=real.device)])
    model.train()  # dropout on while D trains
    skipped = torch.zeros((), dtype=torch.bool, device=real.device)
    total = torch.zeros((), dtype=torch.float64, device=real.device)
    for _ in range(epochs):
        total = torch.zeros((), dtype=torch.float64, device=real.device)
        for idx in batches(data.shape[0], batch_size, data.device, generator=generator):
            rows, factor = dist.shard_batch(idx.numel())
            mine = idx[rows]
            weights = None  # one process: Eq. 5's mean over the batch; several: its rows' part of that mean
            if dist.world().size > 1:
                weights = torch.full((mine.numel(),), factor / idx.numel(), device=real.device)
            loss, _ = d(Discriminator.loss, data[mine], labels[mine], weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            skipped |= clipped_step(opt, model.parameters(), NO_CLIP)  # authors: no clipping for D
            total += loss.detach().double() * idx.numel()
    raise_if_skipped(skipped, "D (Eq. 5 loss)")
    model.eval()
    return dist.all_reduce_sum(total).item() / dist.world().size / data.shape[0]


def d_step(gen: Generator | Replica, disc: Discriminator | Replica, opt: torch.optim.Optimizer, real: torch.Tensor,
           epochs: int, batch_size: int) -> float:
    """Fresh negatives from G (as many as real sequences; each process samples its share, in the
    training precision), then k epochs."""
    g = as_replica(gen)
    with g.autocast():
        fake = dist.gather_rows(g.model.sample(dist.share(real.shape[0])))  # (N, T), rank order
    return d_epochs(disc, opt, real, fake, epochs, batch_size)


@torch.no_grad()
def d_accuracy(disc: Discriminator, real: torch.Tensor, fake: torch.Tensor,
               seen: torch.Tensor | None = None) -> tuple[float, ...]:
    """Fraction of real sequences D calls real and of generated ones it calls generated (dropout off),
    and, given ``seen`` (real rows D trained on), the fraction of those it calls real: far above the
    first, D has learnt its training rows rather than the real distribution.
    Distributed: each set is this process's share; the fractions are over all processes'."""
    disc.eval()
    sets = [(real, True), (fake, False)] + ([(seen, True)] if seen is not None else [])
    counts = torch.stack([((disc.prob_real(x) > 0.5) == is_real).sum() for x, is_real in sets]).double()
    sizes = torch.tensor([x.shape[0] for x, _ in sets], dtype=torch.float64, device=counts.device)
    totals = dist.all_reduce_sum(torch.cat([counts, sizes])).tolist()
    return tuple(right / n for right, n in zip(totals[:len(sets)], totals[len(sets):]))
