"""Drawing tokens from categorical distributions, fast on a CPU.

``torch.multinomial`` is the main cost of the public ports' roll-outs (``../shared/PERFORMANCE.md``).
Here a draw is an inverse-CDF lookup: ``exp(logits - max)``, a running sum, and one
``searchsorted`` of ``u * total`` with ``u ~ U[0, 1)``. That is exact sampling from
``softmax(logits)``; given the same uniforms it is deterministic, which is what lets the tests
compare the batched roll-outs with a plain loop.

On a CPU the work runs in chunks of a few hundred rows so that each chunk's (rows, V) block is
computed, exponentiated, summed and searched while it is in cache; :func:`sample_from_hidden`
also computes the chunk's logits there, so the (R, V) logits of all rows never exist at once.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

CPU_CHUNK_ROWS = 256  # measured best of 128..1024 on a 2-core Zen 5 for V = 5000


def _chunk_rows(device: torch.device, rows: int) -> int:
    return CPU_CHUNK_ROWS if device.type == "cpu" else max(rows, 1)


def _draw(block: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw, one per row, overwriting ``block`` (r, V) float; u (r,) in [0, 1) -> (r,) int64."""
    cdf = block.sub_(block.amax(dim=1, keepdim=True)).exp_().cumsum_(dim=1)  # unnormalised running sum
    target = u.to(cdf.dtype).unsqueeze(1) * cdf[:, -1:]
    # right=True: the first index whose running sum exceeds the target, so zero-probability tokens
    # (flat steps of the running sum) are never drawn; the clamp guards u * total rounding up.
    return torch.searchsorted(cdf, target, right=True).squeeze(1).clamp_(max=block.shape[1] - 1)


def _uniforms(rows: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(rows, generator=generator, device=like.device, dtype=torch.float64)


def sample_categorical(logits: torch.Tensor, generator: torch.Generator | None = None,
                       uniforms: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row of softmax(logits). logits (R, V) -> (R,) int64.

    ``uniforms`` (R,) in [0, 1) fixes the draw; by default they come from ``generator`` (or the global RNG)."""
    rows = logits.shape[0]
    u = _uniforms(rows, logits, generator) if uniforms is None else uniforms
    out = torch.empty(rows, dtype=torch.long, device=logits.device)
    chunk = _chunk_rows(logits.device, rows)
    wide = torch.promote_types(logits.dtype, torch.float32)
    for lo in range(0, rows, chunk):
        out[lo:lo + chunk] = _draw(logits[lo:lo + chunk].to(wide, copy=True), u[lo:lo + chunk])
    return out


def sample_from_hidden(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                       generator: torch.Generator | None = None,
                       uniforms: torch.Tensor | None = None) -> torch.Tensor:
    """Draw from softmax(h W^T + b) without materialising all logits: h (R, H), weight (V, H),
    bias (V,) -> (R,) int64. Same draws as ``sample_categorical(F.linear(h, weight, bias), ...)``."""
    rows = h.shape[0]
    u = _uniforms(rows, h, generator) if uniforms is None else uniforms
    out = torch.empty(rows, dtype=torch.long, device=h.device)
    chunk = _chunk_rows(h.device, rows)
    wide = torch.promote_types(h.dtype, torch.float32)  # under bf16 autocast: bf16 logits, float32 running sum
    for lo in range(0, rows, chunk):
        out[lo:lo + chunk] = _draw(F.linear(h[lo:lo + chunk], weight, bias).to(wide), u[lo:lo + chunk])
    return out
