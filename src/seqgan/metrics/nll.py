"""NLL-oracle (paper, Section 4.1): -(1/T) E_{Y~G}[log G_oracle(Y)], per token, in nats."""

from __future__ import annotations

import torch

from seqgan import distributed as dist
from seqgan.models.generator import Generator


@torch.no_grad()
def sequence_nll(model: Generator, seqs: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Per-sequence mean NLL per token of seqs (N, T) under model -> (N,) float64.
    With variable-length data, the mean runs over each sequence's tokens up to and including <eos>."""
    model.eval()
    out = []
    for i in range(0, seqs.shape[0], batch_size):
        chunk = seqs[i:i + batch_size]
        nll = -model.log_probs(chunk).double()
        if model.eos_token is None:
            out.append(nll.mean(dim=1))
        else:
            mask = model.valid_mask(chunk)
            out.append(torch.where(mask, nll, 0.0).sum(dim=1) / mask.sum(dim=1))
    if not out:  # no rows: e.g. a process's share of a held-out set smaller than the number of processes
        return torch.zeros(0, dtype=torch.float64, device=seqs.device)
    return torch.cat(out)


@torch.no_grad()
def nll_oracle(gen: Generator, oracle: Generator, num_samples: int, generator: torch.Generator | None = None
               ) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Sample num_samples sequences from G (with RNG ``generator``) and score them under the oracle.
    Returns (mean NLL per token, the samples (N, T), per-sequence NLL (N,)).

    Distributed: each process samples and scores its share with its own ``generator``; every process
    returns all samples and NLLs, in rank order."""
    samples = gen.sample(dist.share(num_samples), generator=generator)
    per_seq = sequence_nll(oracle, samples)
    samples, per_seq = dist.gather_rows(samples), dist.gather_rows(per_seq)
    return per_seq.mean().item(), samples, per_seq
