"""BLEU and Self-BLEU as the text-GAN benchmarks compute them, exactly and fast.

The field's benchmarks (Texygen, TextGAN-PyTorch) score a hypothesis with NLTK's
``sentence_bleu(references, hypothesis, weights=(1/n,) * n,
smoothing_function=SmoothingFunction().method1)`` and report the mean over hypotheses;
here ``references`` is the whole reference set (Texygen's ``get_bleu``; its default fast
path keeps the first 500 references, and TextGAN-PyTorch scores the first 200
hypotheses). NLTK recounts every reference for every hypothesis, which takes hours for
10,000 x 10,000 sentences. The numbers
depend on the references only through

* the maximum count of each n-gram over the references (for clipping), and
* the set of reference lengths (for the brevity penalty),

so both are computed once and each hypothesis is scored against them. Every edge
case follows NLTK (``nltk/translate/bleu_score.py``, 3.8 - 3.10):

* order ``k`` has ``max(1, len(hyp) - k + 1)`` candidates, so a hypothesis shorter
  than ``k`` gets precision ``0 / 1``;
* a precision with no match becomes ``0.1 / candidates`` (method1's epsilon);
* no unigram match at all (an empty hypothesis included) scores exactly 0;
* the brevity penalty uses the reference length closest to the hypothesis length,
  ties going to the shorter one, and is 1 when the hypothesis is strictly longer.

N-grams are identified by dense integer ids built order by order: the id of a
k-gram is the rank of the pair (id of its (k-1)-gram prefix, id of its last token)
among the reference k-grams. Ids never overflow, whatever the vocabulary size, and
an n-gram whose prefix is absent from the references is absent itself.

NLTK is not imported here; the tests compare against it.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqgan.errors import SeqGANError

__all__ = [
    "BleuReference",
    "bleu",
    "bleu_scores",
    "self_bleu",
    "self_bleu_scores",
]

#: NLTK's ``SmoothingFunction().method1`` epsilon: the numerator given to an order with no match.
SMOOTHING_EPSILON = 0.1

_INT64_LIMIT = 2**63 - 1

Tokens = Sequence[Hashable]


# --------------------------------------------------------------------------- checks


def _check_max_n(max_n: int) -> int:
    if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)) or max_n < 1:
        raise SeqGANError(f"BLEU max_n must be an integer >= 1 (e.g. 4 for BLEU-4), got {max_n!r}")
    return int(max_n)


def _as_token_lists(sequences: Sequence[Tokens], what: str) -> list[Sequence[Hashable]]:
    """Sequences as a list of token sequences; tensors and arrays become lists of ints.

    A torch tensor hashes by identity, not value, so its rows are converted with
    ``tolist()`` first. A bare string is refused: it is almost always an unsplit
    sentence, which NLTK would silently score character by character.
    """
    if isinstance(sequences, (torch.Tensor, np.ndarray)):
        if sequences.ndim != 2:
            raise SeqGANError(
                f"{what} as a tensor/array must be 2-D (sequences, tokens), got shape {tuple(sequences.shape)}"
            )
        return sequences.tolist()
    if isinstance(sequences, (str, bytes)):
        raise SeqGANError(f"{what} must be a list of token lists, got a single string; split it into tokens first")
    out = []
    for seq in sequences:
        if isinstance(seq, (torch.Tensor, np.ndarray)):
            seq = seq.tolist()
        elif isinstance(seq, (str, bytes)):
            raise SeqGANError(
                f"{what} must be token lists, got the string {seq[:40]!r}; split each sentence into tokens "
                "(e.g. line.split())"
            )
        out.append(seq)
    return out


# ------------------------------------------------------------------ flat token layout


@dataclass(frozen=True)
class _Flat:
    """Sequences concatenated into one id array.

    ids:     (T,) int64  token id per position; -1 for a token unknown to the vocabulary
    seq:     (T,) int64  index of the sequence each position belongs to
    rem:     (T,) int64  tokens left in the sequence from this position on, itself included
    lengths: (S,) int64  length of each sequence
    """

    ids: np.ndarray
    seq: np.ndarray
    rem: np.ndarray
    lengths: np.ndarray


def _flatten(sequences: list[Sequence[Hashable]], vocab: dict[Hashable, int], grow: bool) -> _Flat:
    """Concatenate ``sequences`` and map tokens to ids, adding new tokens to ``vocab`` if ``grow``."""
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    total = int(lengths.sum())
    tokens = itertools.chain.from_iterable(sequences)
    if grow:
        for token in dict.fromkeys(itertools.chain.from_iterable(sequences)):
            if token not in vocab:
                vocab[token] = len(vocab)
        ids = np.fromiter(map(vocab.__getitem__, tokens), dtype=np.int64, count=total)
    else:
        ids = np.fromiter(map(vocab.get, tokens, itertools.repeat(-1)), dtype=np.int64, count=total)
    seq = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    ends = np.cumsum(lengths)
    rem = ends[seq] - np.arange(total, dtype=np.int64)
    return _Flat(ids=ids, seq=seq, rem=rem, lengths=lengths)


def _build_gram_ids(flat: _Flat, vocab_size: int, max_n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Dense n-gram ids of a reference corpus, orders 1..max_n.

    Returns ``(ids, keys)``: ``ids[k-1]`` is (T,) int64, the id of the k-gram starting
    at each position (-1 where fewer than k tokens remain); ``keys[k-1]`` is (G_k,)
    int64, the sorted pair keys ``prefix_id * vocab_size + last_token`` of the distinct
    k-grams (the id of a k-gram is its index in ``keys[k-1]``). For k = 1 the id is the
    token id and ``keys[0]`` is ``arange(vocab_size)``.
    """
    ids = [flat.ids.copy()]
    keys = [np.arange(vocab_size, dtype=np.int64)]
    for k in range(2, max_n + 1):
        starts = np.flatnonzero(flat.rem >= k)
        _check_key_range(len(keys[-1]), vocab_size)
        pair = ids[-1][starts] * vocab_size + flat.ids[starts + k - 1]
        uniq, inverse = np.unique(pair, return_inverse=True)
        gram = np.full(len(flat.ids), -1, dtype=np.int64)
        gram[starts] = inverse.reshape(-1)
        ids.append(gram)
        keys.append(uniq)
    return ids, keys


def _lookup_gram_ids(flat: _Flat, keys: list[np.ndarray], vocab_size: int) -> list[np.ndarray]:
    """N-gram ids of hypotheses in a reference id space; -1 where the n-gram is not a reference n-gram.

    Returns a list of (T,) int64 arrays, one per order 1..len(keys).
    """
    ids = [flat.ids]
    for k in range(2, len(keys) + 1):
        starts = np.flatnonzero(flat.rem >= k)
        prefix = ids[-1][starts]
        last = flat.ids[starts + k - 1]
        known = (prefix >= 0) & (last >= 0)
        starts, pair = starts[known], prefix[known] * vocab_size + last[known]
        table = keys[k - 1]
        slot = np.minimum(np.searchsorted(table, pair), len(table) - 1)
        found = table[slot] == pair if len(table) else np.zeros(len(pair), dtype=bool)
        gram = np.full(len(flat.ids), -1, dtype=np.int64)
        gram[starts[found]] = slot[found]
        ids.append(gram)
    return ids


def _check_key_range(num_prefixes: int, vocab_size: int) -> None:
    if num_prefixes * vocab_size + vocab_size > _INT64_LIMIT:
        raise SeqGANError(
            f"n-gram keys would overflow int64 ({num_prefixes} prefixes x vocabulary {vocab_size}); "
            "use a smaller vocabulary or fewer/shorter reference sequences"
        )


def _counts_per_sequence(seq: np.ndarray, gram: np.ndarray, num_grams: int) -> tuple[np.ndarray, ...]:
    """Occurrences of each n-gram within each sequence.

    seq, gram: (T,) int64, the sequence and n-gram id of each position (gram -1 = skip).
    Returns ``(s, g, c)``, each (E,) int64: sequence s holds n-gram g exactly c >= 1 times.
    """
    keep = gram >= 0
    pair, count = np.unique(seq[keep] * num_grams + gram[keep], return_counts=True)
    return pair // num_grams, pair % num_grams, count.astype(np.int64)


# --------------------------------------------------------------------- BLEU formula


def _closest_length(hyp_len: np.ndarray, lower: np.ndarray, has_lower: np.ndarray,
                    upper: np.ndarray, has_upper: np.ndarray) -> np.ndarray:
    """NLTK's closest reference length: nearest of the two candidates, ties to the shorter.

    All arguments (H,): the hypothesis length, the nearest reference length below
    (``lower``) and at or above (``upper``) it, and whether each candidate exists.
    """
    d_lower = np.where(has_lower, hyp_len - lower, np.iinfo(np.int64).max)
    d_upper = np.where(has_upper, upper - hyp_len, np.iinfo(np.int64).max)
    return np.where(d_lower <= d_upper, lower, upper)


def _bleu_from_stats(matches: np.ndarray, hyp_len: np.ndarray, ref_len: np.ndarray) -> np.ndarray:
    """Sentence BLEU with NLTK's method1 smoothing, from clipped match counts.

    matches: (H, n) clipped n-gram matches of orders 1..n
    hyp_len: (H,) hypothesis lengths;  ref_len: (H,) closest reference lengths
    Returns (H,) float64.
    """
    max_n = matches.shape[1]
    orders = np.arange(1, max_n + 1)
    candidates = np.maximum(1, hyp_len[:, None] - orders[None, :] + 1)
    precision = np.where(matches > 0, matches, SMOOTHING_EPSILON) / candidates
    log_mean = (np.log(precision) * (1.0 / max_n)).sum(axis=1)
    safe_len = np.maximum(hyp_len, 1)
    penalty = np.where(hyp_len > ref_len, 1.0, np.exp(1.0 - ref_len / safe_len))
    return np.where(matches[:, 0] > 0, penalty * np.exp(log_mean), 0.0)


# ------------------------------------------------------------------------ public API


class BleuReference:
    """Max n-gram counts over a reference set, built once.

    ``BleuReference(refs, 4).sentence_scores(hyps)[i]`` equals NLTK's
    ``sentence_bleu(refs, hyps[i], weights=(0.25,) * 4,
    smoothing_function=SmoothingFunction().method1)`` to rounding (about 1e-15),
    at a cost independent of the number of references.

    Tokens may be any hashable (words, ids); equal tokens must compare equal, as
    in NLTK. References are kept only as count tables, not as sequences.
    """

    def __init__(self, references: Sequence[Sequence[Hashable]], max_n: int):
        self.max_n = _check_max_n(max_n)
        refs = _as_token_lists(references, "references")
        if not refs:
            raise SeqGANError("BLEU needs at least one reference sequence; the reference set is empty")
        self.num_references = len(refs)
        self._vocab: dict[Hashable, int] = {}
        flat = _flatten(refs, self._vocab, grow=True)
        self._vocab_size = max(len(self._vocab), 1)
        ids, self._keys = _build_gram_ids(flat, self._vocab_size, self.max_n)
        # _max_counts[k-1]: (G_k,) int64, max count of each k-gram over the references
        self._max_counts = []
        for k in range(1, self.max_n + 1):
            num_grams = len(self._keys[k - 1])
            _, gram, count = _counts_per_sequence(flat.seq, ids[k - 1], num_grams)
            table = np.zeros(num_grams, dtype=np.int64)
            np.maximum.at(table, gram, count)
            self._max_counts.append(table)
        # (U,) int64, sorted distinct reference lengths
        self._lengths = np.unique(flat.lengths)

    def sentence_scores(self, hypotheses: Sequence[Sequence[Hashable]]) -> np.ndarray:
        """NLTK-exact sentence BLEU-max_n of each hypothesis against all references: (H,) float64."""
        hyps = _as_token_lists(hypotheses, "hypotheses")
        flat = _flatten(hyps, self._vocab, grow=False)
        grams = _lookup_gram_ids(flat, self._keys, self._vocab_size)
        matches = np.zeros((len(hyps), self.max_n), dtype=np.int64)
        for k in range(1, self.max_n + 1):
            table = self._max_counts[k - 1]
            seq, gram, count = _counts_per_sequence(flat.seq, grams[k - 1], len(table))
            np.add.at(matches[:, k - 1], seq, np.minimum(count, table[gram]))
        return _bleu_from_stats(matches, flat.lengths, self._closest_lengths(flat.lengths))

    def _closest_lengths(self, hyp_len: np.ndarray) -> np.ndarray:
        """(H,) closest reference length for each hypothesis length (H,)."""
        lengths = self._lengths
        slot = np.searchsorted(lengths, hyp_len)
        has_upper = slot < len(lengths)
        has_lower = slot > 0
        upper = lengths[np.minimum(slot, len(lengths) - 1)]
        lower = lengths[np.maximum(slot - 1, 0)]
        return _closest_length(hyp_len, lower, has_lower, upper, has_upper)


def bleu_scores(hypotheses: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]],
                max_n: int) -> np.ndarray:
    """Sentence BLEU-max_n of each hypothesis against the whole reference set: (H,) float64."""
    return BleuReference(references, max_n).sentence_scores(hypotheses)


def bleu(hypotheses: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]], max_n: int) -> float:
    """Mean sentence BLEU-max_n of the hypotheses against the reference set (the Texygen BLEU)."""
    scores = bleu_scores(hypotheses, references, max_n)
    if len(scores) == 0:
        raise SeqGANError("BLEU needs at least one hypothesis; the hypothesis list is empty")
    return float(scores.mean())


def self_bleu_scores(sequences: Sequence[Sequence[Hashable]], max_n: int) -> np.ndarray:
    """Self-BLEU-max_n of each sequence against all the others: (S,) float64.

    Sequence ``i`` is scored with NLTK's sentence BLEU against
    ``sequences[:i] + sequences[i+1:]``; a duplicate of ``i`` elsewhere in the list
    is another entry and stays a reference. This is what Texygen's
    ``SelfBleu.get_bleu_parallel`` computes. Texygen's other path,
    ``SelfBleu.get_bleu`` (``is_fast=False``), has a well-known bug: it keeps the
    hypothesis in its own reference list, so every sentence matches itself and the
    score is trivially about 1. Texygen's fast path also scores only the first 500
    sentences; pass a slice for that.

    Cost is that of one BLEU pass: "max count over all sequences but i" is the global
    max unless ``i`` is the only sequence attaining it, in which case it is the
    second-largest count; likewise for the closest length.
    """
    max_n = _check_max_n(max_n)
    seqs = _as_token_lists(sequences, "sequences")
    if len(seqs) < 2:
        raise SeqGANError(f"Self-BLEU needs at least 2 sequences (each is scored against the others), got {len(seqs)}")
    vocab: dict[Hashable, int] = {}
    flat = _flatten(seqs, vocab, grow=True)
    vocab_size = max(len(vocab), 1)
    ids, keys = _build_gram_ids(flat, vocab_size, max_n)
    matches = np.zeros((len(seqs), max_n), dtype=np.int64)
    for k in range(1, max_n + 1):
        num_grams = len(keys[k - 1])
        seq, gram, count = _counts_per_sequence(flat.seq, ids[k - 1], num_grams)
        matches[:, k - 1] = _clipped_matches_excluding_self(seq, gram, count, num_grams, len(seqs))
    return _bleu_from_stats(matches, flat.lengths, _closest_lengths_excluding_self(flat.lengths))


def _clipped_matches_excluding_self(seq: np.ndarray, gram: np.ndarray, count: np.ndarray,
                                    num_grams: int, num_seqs: int) -> np.ndarray:
    """Clipped matches of each sequence against all other sequences, for one order.

    seq, gram, count: (E,) sequence ``seq`` holds n-gram ``gram`` ``count`` times.
    Returns (S,) int64.
    """
    best = np.zeros(num_grams, dtype=np.int64)
    np.maximum.at(best, gram, count)
    at_best = count == best[gram]
    num_at_best = np.bincount(gram[at_best], minlength=num_grams)
    runner_up = np.zeros(num_grams, dtype=np.int64)  # largest count below the max (0 if none)
    np.maximum.at(runner_up, gram[~at_best], count[~at_best])
    sole_holder = at_best & (num_at_best[gram] == 1)
    others_max = np.where(sole_holder, runner_up[gram], best[gram])
    matches = np.zeros(num_seqs, dtype=np.int64)
    np.add.at(matches, seq, np.minimum(count, others_max))
    return matches


def _closest_lengths_excluding_self(lengths: np.ndarray) -> np.ndarray:
    """(S,) closest length among the other sequences, for each sequence length (S,)."""
    distinct, multiplicity = np.unique(lengths, return_counts=True)
    slot = np.searchsorted(distinct, lengths)  # distinct[slot] == lengths
    shared = multiplicity[slot] >= 2  # another sequence has the same length: distance 0
    has_lower = slot > 0
    has_upper = slot + 1 < len(distinct)
    lower = distinct[np.maximum(slot - 1, 0)]
    upper = distinct[np.minimum(slot + 1, len(distinct) - 1)]
    closest = _closest_length(lengths, lower, has_lower, upper, has_upper)
    return np.where(shared, lengths, closest)


def self_bleu(sequences: Sequence[Sequence[Hashable]], max_n: int) -> float:
    """Mean Self-BLEU-max_n over the sequences (lower = more diverse); see :func:`self_bleu_scores`."""
    return float(self_bleu_scores(sequences, max_n).mean())
