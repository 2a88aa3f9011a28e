"""BLEU of token-id batches against a fixed reference table, in torch (for PG-BLEU's roll-outs).

Same numbers and NLTK edge cases as :mod:`seqgan.metrics.bleu` (to rounding), on the
references' device, without a Python loop over sequences or tokens.
"""

from __future__ import annotations

import torch

from seqgan.errors import SeqGANError
from seqgan.metrics.bleu import SMOOTHING_EPSILON, _check_key_range, _check_max_n

__all__ = ["TensorBleu"]


class TensorBleu:
    """BLEU-max_n of batches of token-id sequences against a fixed reference table, in torch.

    For the PG-BLEU baseline: thousands of roll-outs per generator update, scored
    against the training set without a Python loop over sequences or tokens. Gives
    the same numbers as :meth:`BleuReference.sentence_scores` on the same sequences
    as lists (to rounding).

    Sequence ``b`` is the first ``lengths[b]`` ids of row ``b`` (all ``L`` by default);
    the padding after it is ignored, whatever its value. ``vocab_size``, if given, is
    only checked against (ids must lie in ``[0, vocab_size)``); tables are sized by
    the distinct reference n-grams, not by the vocabulary. Runs on the device of
    ``references``; hypotheses are moved there.

    Same scheme as :class:`BleuReference`: unigram ids are ranks among the distinct
    reference tokens, k-gram ids are ranks of ``prefix_id * G_1 + last_unigram_id``
    among the reference k-grams; a hypothesis k-gram is looked up with
    ``searchsorted``, and its within-row count is clipped by sorting each row.
    """

    def __init__(self, references: torch.Tensor, max_n: int, lengths: torch.Tensor | None = None,
                 vocab_size: int | None = None):
        """references: (N, L) int64 token ids; lengths: (N,) valid prefix lengths or None."""
        self.max_n = _check_max_n(max_n)
        if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int)
                                       or vocab_size < 1):
            raise SeqGANError(f"vocab_size must be a positive integer or None, got {vocab_size!r}")
        self.vocab_size = vocab_size
        refs, ref_len = _check_id_batch(references, lengths, "references", vocab_size)
        if refs.shape[0] == 0:
            raise SeqGANError("TensorBleu needs at least one reference sequence; references has 0 rows")
        self.device = refs.device
        # _keys[k-1]: (G_k,) sorted keys of the distinct reference k-grams; an id is an index into it.
        #   k = 1: the token ids themselves; k >= 2: prefix_id * G_1 + last_unigram_id.
        # _max_counts[k-1]: (G_k,) int64, max count of each k-gram over the references.
        self._keys: list[torch.Tensor] = [torch.unique(refs[_valid_starts(ref_len, refs.shape[1], 1)])]
        self._max_counts: list[torch.Tensor] = []
        unigram = self._lookup(refs, _valid_starts(ref_len, refs.shape[1], 1), 1)  # (N, L)
        gram = unigram
        for k in range(1, self.max_n + 1):
            if k > 1:
                gram = self._reference_gram_ids(unigram, ref_len, gram, k)  # (N, L-k+1)
            self._max_counts.append(_max_count_per_gram(gram, len(self._keys[k - 1])))
        self._lengths = torch.unique(ref_len)  # (U,) sorted distinct reference lengths

    def _reference_gram_ids(self, unigram: torch.Tensor, ref_len: torch.Tensor, prefix: torch.Tensor,
                            k: int) -> torch.Tensor:
        """(N, L-k+1) dense ids of the reference k-grams (-1 past the end); records their keys."""
        width = max(unigram.shape[1] - k + 1, 0)
        valid = _valid_starts(ref_len, width, k)
        pair = self._pair_keys(prefix[:, :width], unigram[:, k - 1:], k)
        uniq, inverse = torch.unique(pair[valid], return_inverse=True)
        self._keys.append(uniq)
        return torch.full(valid.shape, -1, dtype=torch.int64, device=self.device).masked_scatter_(valid, inverse)

    def _pair_keys(self, prefix: torch.Tensor, last: torch.Tensor, k: int) -> torch.Tensor:
        """Keys of k-grams from their (k-1)-gram prefix ids and last unigram ids (same shape)."""
        num_unigrams = len(self._keys[0])
        _check_key_range(len(self._keys[k - 2]), num_unigrams)
        return prefix * num_unigrams + last

    def _lookup(self, keys: torch.Tensor, valid: torch.Tensor, k: int) -> torch.Tensor:
        """Ids of k-gram ``keys`` (any shape) in the reference table; -1 where absent or not ``valid``."""
        table = self._keys[k - 1]
        if len(table) == 0:
            return torch.full(keys.shape, -1, dtype=torch.int64, device=self.device)
        slot = torch.searchsorted(table, keys.contiguous()).clamp_(max=len(table) - 1)
        return torch.where(valid & (table[slot] == keys), slot, -1)

    def __call__(self, hypotheses: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """hypotheses: (B, L) int64 ids; lengths: (B,) or None. Returns (B,) float64 BLEU-max_n."""
        if isinstance(hypotheses, torch.Tensor):
            hypotheses = hypotheses.to(self.device)
        if isinstance(lengths, torch.Tensor):
            lengths = lengths.to(self.device)
        hyps, hyp_len = _check_id_batch(hypotheses, lengths, "hypotheses", self.vocab_size)
        batch, width = hyps.shape
        unigram = self._lookup(hyps, _valid_starts(hyp_len, width, 1), 1)  # (B, L), -1 = unknown token
        gram = unigram
        matches = torch.zeros(batch, self.max_n, dtype=torch.int64, device=self.device)
        for k in range(1, self.max_n + 1):
            if k > 1:
                width = max(hyps.shape[1] - k + 1, 0)
                prefix, last = gram[:, :width], unigram[:, k - 1:]
                known = _valid_starts(hyp_len, width, k) & (prefix >= 0) & (last >= 0)
                gram = self._lookup(self._pair_keys(prefix, last, k), known, k)  # (B, L-k+1)
            matches[:, k - 1] = _clipped_matches_per_row(gram, self._max_counts[k - 1])
        return _torch_bleu_from_stats(matches, hyp_len, self._closest_lengths(hyp_len))

    def _closest_lengths(self, hyp_len: torch.Tensor) -> torch.Tensor:
        """(B,) closest reference length (ties to the shorter) for each hypothesis length (B,)."""
        lengths = self._lengths
        slot = torch.searchsorted(lengths, hyp_len)
        upper = lengths[slot.clamp(max=len(lengths) - 1)]
        lower = lengths[(slot - 1).clamp(min=0)]
        big = torch.iinfo(torch.int64).max
        d_upper = torch.where(slot < len(lengths), upper - hyp_len, big)
        d_lower = torch.where(slot > 0, hyp_len - lower, big)
        return torch.where(d_lower <= d_upper, lower, upper)


def _max_count_per_gram(gram: torch.Tensor, num_grams: int) -> torch.Tensor:
    """Max over rows of the occurrences of each n-gram id within a row.

    gram: (N, W) n-gram ids, -1 for none. Returns (num_grams,) int64.
    """
    table = torch.zeros(num_grams, dtype=torch.int64, device=gram.device)
    if num_grams == 0:
        return table
    _check_key_range(gram.shape[0], num_grams)
    rows = torch.arange(gram.shape[0], device=gram.device)[:, None]
    keep = gram >= 0
    pair, count = torch.unique((rows * num_grams + gram)[keep], return_counts=True)
    return table.scatter_reduce_(0, pair % num_grams, count, reduce="amax")


def _clipped_matches_per_row(gram: torch.Tensor, max_counts: torch.Tensor) -> torch.Tensor:
    """Clipped n-gram matches of each row.

    gram: (B, W) reference n-gram ids, -1 for none; max_counts: (G,) reference max counts.
    Returns (B,) int64: sum over distinct ids g of min(count of g in the row, max_counts[g]).

    Each row is sorted, and the r-th occurrence (0-based) of an id within its run
    counts as a match iff r < max_counts[id]; summing those is the clipped count.
    """
    batch, width = gram.shape
    if width == 0 or len(max_counts) == 0:
        return torch.zeros(batch, dtype=torch.int64, device=gram.device)
    ordered, _ = torch.sort(gram, dim=1)
    position = torch.arange(width, device=gram.device).expand(batch, width)
    run_starts = torch.ones_like(ordered, dtype=torch.bool)
    run_starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run_start = torch.cummax(torch.where(run_starts, position, 0), dim=1).values
    rank = position - run_start
    hit = (ordered >= 0) & (rank < max_counts[ordered.clamp(min=0)])
    return hit.sum(dim=1)


def _torch_bleu_from_stats(matches: torch.Tensor, hyp_len: torch.Tensor, ref_len: torch.Tensor) -> torch.Tensor:
    """Torch twin of :func:`_bleu_from_stats`: matches (B, n), lengths (B,) -> (B,) float64."""
    max_n = matches.shape[1]
    orders = torch.arange(1, max_n + 1, device=matches.device)
    candidates = (hyp_len[:, None] - orders[None, :] + 1).clamp(min=1).to(torch.float64)
    numerators = torch.where(matches > 0, matches.to(torch.float64),
                             torch.tensor(SMOOTHING_EPSILON, dtype=torch.float64, device=matches.device))
    log_mean = (torch.log(numerators / candidates) * (1.0 / max_n)).sum(dim=1)
    hyp_f = hyp_len.to(torch.float64)
    penalty = torch.where(hyp_len > ref_len, torch.ones_like(hyp_f),
                          torch.exp(1.0 - ref_len.to(torch.float64) / hyp_f.clamp(min=1.0)))
    return torch.where(matches[:, 0] > 0, penalty * torch.exp(log_mean), torch.zeros_like(hyp_f))


def _valid_starts(lengths: torch.Tensor, width: int, k: int) -> torch.Tensor:
    """(B, width) bool: a k-gram starts at column j of row b iff j + k <= lengths[b]."""
    columns = torch.arange(width, device=lengths.device)
    return columns[None, :] + k <= lengths[:, None]


def _check_id_batch(ids: torch.Tensor, lengths: torch.Tensor | None, what: str,
                    vocab_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a (B, L) id batch and its (B,) lengths; returns both as int64 on ids' device."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
        raise SeqGANError(f"{what} must be a 2-D LongTensor (sequences, tokens), got "
                          f"{type(ids).__name__} of shape {tuple(getattr(ids, 'shape', ()))}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise SeqGANError(f"{what} must hold integer token ids, got dtype {ids.dtype}; use .long()")
    ids = ids.to(torch.int64)
    if lengths is None:
        lengths = torch.full((ids.shape[0],), ids.shape[1], dtype=torch.int64, device=ids.device)
    else:
        lengths = torch.as_tensor(lengths, device=ids.device)
        if lengths.shape != (ids.shape[0],) or lengths.dtype.is_floating_point:
            raise SeqGANError(f"{what} lengths must be an integer tensor of shape ({ids.shape[0]},), "
                              f"got {lengths.dtype} {tuple(lengths.shape)}")
        lengths = lengths.to(device=ids.device, dtype=torch.int64)
        if bool(((lengths < 0) | (lengths > ids.shape[1])).any()):
            raise SeqGANError(f"{what} lengths must lie in [0, {ids.shape[1]}] (the number of columns)")
    valid = _valid_starts(lengths, ids.shape[1], 1)
    tokens = ids[valid]
    if tokens.numel() and int(tokens.min()) < 0:
        raise SeqGANError(f"{what} contain a negative token id within their lengths; pass lengths to mark padding")
    if vocab_size is not None and tokens.numel() and int(tokens.max()) >= vocab_size:
        raise SeqGANError(f"{what} contain token id {int(tokens.max())} >= vocab_size {vocab_size}; "
                          "pass the right vocab_size (or None to skip this check)")
    return ids, lengths
