"""The music task's MSE on pitches (SeqGAN, Table 4), defined precisely here.

The paper reports an "MSE" for Nottingham melodies (MLE 22.38, SeqGAN 20.62) without saying what
it is computed between. seqgan uses a nearest-neighbour definition:

    MSE(g) = min over references r of (1/L) * sum_{t=1..L} (g_t - r_t)^2

in squared semitones, for each generated sequence g, averaged over the generated sequences
(lower is better: every generated melody lies close to some real one). Pitches are the music
corpus's tokens (MIDI number - 21; a constant shift, so differences are semitones). Sequences are
compared position by position over L = the longest reference length (32 for the music corpus);
a shorter sequence is extended by holding its last pitch, as the corpus holds the previous pitch
through rests, and a longer one is cut. An ``<unk>`` (None here) also holds the previous pitch
(the next one at the start). An empty sequence has no pitch to hold: it gets NaN and callers
report how many there were.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqgan.errors import SeqGANError

__all__ = ["pitch_matrix", "nearest_mse"]

Pitches = Sequence["int | None"]


def pitch_matrix(sequences: Sequence[Pitches], length: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, length) float64 pitches after holding (an <unk> and the tail hold the previous pitch, a leading
    <unk> the first), and (S,) bool: rows that had at least one pitch (the others are zeros)."""
    raw = np.full((len(sequences), length), np.nan)
    for i, seq in enumerate(sequences):  # ragged Python lists: one row each, the holding below is vectorised
        row = [np.nan if p is None else float(p) for p in seq[:length]]
        raw[i, :len(row)] = row
    known = ~np.isnan(raw)
    ok = known.any(axis=1)
    if length == 0:  # no position at all (every reference empty): no row has a pitch
        return raw, ok
    held = np.maximum.accumulate(np.where(known, np.arange(length), 0), axis=1)  # the last known position
    rows = np.arange(len(sequences))[:, None]
    first = known.argmax(axis=1)[:, None]
    filled = np.where(np.arange(length) < first, raw[rows, first], raw[rows, held])
    return np.where(ok[:, None], filled, 0.0), ok


def nearest_mse(generated: Sequence[Pitches], references: Sequence[Pitches], chunk: int = 1024) -> np.ndarray:
    """(G,) float64: each generated sequence's MSE to its nearest reference (NaN for an empty one).

    ``||g - r||^2 = |g|^2 + |r|^2 - 2 g.r`` over all pairs, in chunks of generated rows; pitches are
    small integers, so the float64 sums are exact."""
    if not references:
        raise SeqGANError("the music MSE needs at least one reference sequence")
    length = max(len(r) for r in references)
    refs, ref_ok = pitch_matrix(references, length)
    if not ref_ok.any():
        raise SeqGANError("the music MSE needs references with at least one pitch")
    refs = refs[ref_ok]                                   # (R, L)
    gen, gen_ok = pitch_matrix(generated, length)          # (G, L)
    ref_sq = (refs ** 2).sum(axis=1)                       # (R,)
    out = np.full(len(generated), np.nan)
    for lo in range(0, len(generated), chunk):
        g = gen[lo:lo + chunk]                             # (c, L)
        d2 = (g ** 2).sum(axis=1, keepdims=True) + ref_sq[None, :] - 2.0 * g @ refs.T  # (c, R)
        out[lo:lo + chunk] = d2.min(axis=1) / length
    out[~gen_ok] = np.nan
    return out
