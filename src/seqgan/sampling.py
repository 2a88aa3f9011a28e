"""Drawing tokens from categorical distributions, fast on a CPU.

``torch.multinomial`` is the main cost of the public ports' roll-outs (``../shared/PERFORMANCE.md``).
Here a draw is an inverse-CDF lookup on ``exp(logits - max)`` with one ``u ~ U[0, 1)`` per row,
done in two levels so that no running sum over the whole vocabulary is needed: the V tokens are
laid out as about sqrt(V) blocks of about sqrt(V) (the last block padded with zero-probability
entries); a running sum of the block sums picks the block holding ``u * total``, and a running sum
inside that block picks the token. That is exact sampling from ``softmax(logits)`` (to float
rounding of the sums), never draws a zero-probability token, and given the same uniforms is
deterministic, which is what lets the tests compare the batched roll-outs with a plain loop.

Why two levels: ``cumsum`` along a row of 5,000 is a sequential scan, ~0.6 ms for a chunk of
256 rows on 2 cores -- a third of a draw -- while block sums are vectorised reductions; the
two-level search takes ~0.13 ms for the same chunk (``benchmarks/run.py``'s ``g_rollouts_s``
measures the whole roll-out). The exponential, then the largest part, is computed through ``exp2``
(:mod:`seqgan.fastexp`, ~3x faster on CPU).

On a CPU the work runs in chunks of a few hundred rows so that each chunk's (rows, V) block is
computed, exponentiated, summed and searched while it is in cache; :func:`sample_from_hidden`
also computes the chunk's logits there, so the (R, V) logits of all rows never exist at once.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from seqgan.errors import SeqGANError
from seqgan.fastexp import exp_shifted_

CPU_CHUNK_ROWS = 256  # measured best of 128..1024 on a 2-core Zen 5 for V = 5000


def _chunk_rows(device: torch.device, rows: int) -> int:
    return CPU_CHUNK_ROWS if device.type == "cpu" else max(rows, 1)


def layout(vocab: int) -> tuple[int, int]:
    """(blocks, block size) of the two-level draw for a vocabulary of ``vocab``: about sqrt(V) each."""
    blocks = max(1, math.isqrt(vocab))
    return blocks, -(-vocab // blocks)


def _search(cdf: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """First index whose running sum exceeds ``target`` (r, 1) in ``cdf`` (r, n) -> (r, 1).

    ``right=True`` skips zero-probability entries (flat steps of the running sum). A target at or past
    the total (``u * total`` rounding up, or sums in another order) takes the last entry with positive
    probability: the first index where the running sum reaches its total."""
    idx = torch.searchsorted(cdf, target, right=True)
    last = torch.searchsorted(cdf, cdf[:, -1:].contiguous(), right=False)
    return torch.where(idx < cdf.shape[1], idx, last)


def _draw(block: torch.Tensor, u: torch.Tensor, blocks: int, size: int) -> torch.Tensor:
    """Inverse-CDF draw, one per row, overwriting ``block`` (r, blocks * size) float (padding entries
    -inf); u (r,) in [0, 1) -> (r,) int64."""
    rows = block.shape[0]
    exp_shifted_(block)  # exp(logits - max) through exp2 (seqgan.fastexp), unnormalised
    e = block.view(rows, blocks, size)
    running = e.sum(dim=2).cumsum_(dim=1)                                     # (r, blocks)
    if running.device.type == "cpu" and not bool(torch.isfinite(running[:, -1]).all()):  # free on a CPU; a GPU
        raise SeqGANError(                                                   # would wait for it at every token
            f"cannot sample: {int((~torch.isfinite(running[:, -1])).sum())} row(s) of logits hold NaN or +inf, "
            "or are all -inf, so softmax(logits) is undefined (a diverged model, or a temperature so small that "
            "logits / temperature overflows)")
    target = u.to(running.dtype).unsqueeze(1) * running[:, -1:]
    k = _search(running, target)                                              # the block, (r, 1)
    before = running.gather(1, (k - 1).clamp_(min=0)).masked_fill_(k == 0, 0.0)
    inside = e.gather(1, k.unsqueeze(2).expand(rows, 1, size)).squeeze(1).cumsum_(dim=1)
    # target - before >= 0: searchsorted put ``before`` at or below the target.
    return (k * size + _search(inside, target - before)).squeeze(1)


def _uniforms(rows: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(rows, generator=generator, device=like.device, dtype=torch.float64)


def sample_categorical(logits: torch.Tensor, generator: torch.Generator | None = None,
                       uniforms: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row of softmax(logits). logits (R, V) -> (R,) int64.

    ``uniforms`` (R,) in [0, 1) fixes the draw; by default they come from ``generator`` (or the global RNG)."""
    rows, vocab = logits.shape
    u = _uniforms(rows, logits, generator) if uniforms is None else uniforms
    out = torch.empty(rows, dtype=torch.long, device=logits.device)
    chunk = _chunk_rows(logits.device, rows)
    wide = torch.promote_types(logits.dtype, torch.float32)
    blocks, size = layout(vocab)
    for lo in range(0, rows, chunk):
        part = logits[lo:lo + chunk]
        block = part.new_full((part.shape[0], blocks * size), float("-inf"), dtype=wide)
        block[:, :vocab] = part
        out[lo:lo + chunk] = _draw(block, u[lo:lo + chunk], blocks, size)
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
    blocks, size = layout(weight.shape[0])
    pad = blocks * size - weight.shape[0]
    if pad:  # padding tokens: zero weights, bias -inf, so probability 0
        weight = torch.cat([weight, weight.new_zeros(pad, weight.shape[1])])
        bias = torch.cat([bias, bias.new_full((pad,), float("-inf"))])
    for lo in range(0, rows, chunk):
        out[lo:lo + chunk] = _draw(F.linear(h[lo:lo + chunk], weight, bias).to(wide), u[lo:lo + chunk], blocks, size)
    return out
