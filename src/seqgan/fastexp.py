"""``exp(x - max x)`` along rows, in place, computed as ``2 ** ((x - max x) log2 e)``.

On CPU, torch's ``exp2`` is about 3x faster than its ``exp`` (AVX-512, float32: 0.13 against 0.40 ns
per element on 2 cores; measured 2026-11 on the development machine), and as accurate up to
the float32 rounding of ``(x - max) * log2 e``: at most ~1e-6 relative for arguments above -20, the
probabilities that matter. Sampling (``seqgan.sampling``) and the fused cross-entropy
(``seqgan.models.linear_ce``) spend most of their time in this exponential, once per logit.
"""

from __future__ import annotations

import math

import torch

LOG2E = 1.0 / math.log(2.0)


def exp_shifted_(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Overwrite ``x`` with ``exp(x - max(x, dim))``; returns the max (keepdim). Entries of -inf become 0;
    a row that is all -inf becomes NaN, as ``x - max`` is then undefined."""
    top = x.amax(dim=dim, keepdim=True)
    x.sub_(top).mul_(LOG2E).exp2_()
    return top
