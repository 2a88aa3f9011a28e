"""BLEU / Self-BLEU / TensorBleu agree with NLTK's sentence_bleu (method1 smoothing) to 1e-9."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgan.errors import SeqGANError
from seqgan.metrics import bleu as bleu_module
from seqgan.metrics.bleu import BleuReference, bleu, bleu_scores, self_bleu, self_bleu_scores
from seqgan.metrics.tensor_bleu import TensorBleu

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")

TOL = 1e-9
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
COCO_TEST = DATA_DIR / "image_coco" / "test.txt"


def nltk_sentence_bleu(references, hypothesis, max_n: int) -> float:
    """The benchmark definition (Texygen / TextGAN): NLTK sentence BLEU, uniform weights, method1."""
    return nltk_bleu.sentence_bleu(
        references,
        hypothesis,
        weights=(1.0 / max_n,) * max_n,
        smoothing_function=nltk_bleu.SmoothingFunction().method1,
    )


def nltk_scores(hypotheses, references, max_n: int) -> np.ndarray:
    return np.array([nltk_sentence_bleu(references, h, max_n) for h in hypotheses], dtype=np.float64)


def nltk_self_scores(sequences, max_n: int) -> np.ndarray:
    """Each sequence against all the others, excluded by index (duplicates stay)."""
    return np.array(
        [nltk_sentence_bleu(sequences[:i] + sequences[i + 1:], s, max_n) for i, s in enumerate(sequences)],
        dtype=np.float64,
    )


def random_corpus(rng: random.Random, vocab: list, count: int, max_len: int) -> list[list]:
    """Short sequences over a tiny vocabulary: lengths 0..max_len, many repeated n-grams."""
    return [[rng.choice(vocab) for _ in range(rng.randint(0, max_len))] for _ in range(count)]


# ----------------------------------------------------------------------------- BLEU


@pytest.mark.parametrize("max_n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("seed", range(4))
def test_bleu_matches_nltk_int_tokens(max_n: int, seed: int) -> None:
    rng = random.Random(1000 * max_n + seed)
    vocab = list(range(rng.randint(1, 5)))
    references = random_corpus(rng, vocab, rng.randint(1, 8), 10)
    hypotheses = random_corpus(rng, vocab + [99], 25, 10)  # 99 never occurs in a reference
    got = bleu_scores(hypotheses, references, max_n)
    assert got.shape == (len(hypotheses),) and got.dtype == np.float64
    np.testing.assert_allclose(got, nltk_scores(hypotheses, references, max_n), rtol=0, atol=TOL)


@pytest.mark.parametrize("max_n", [1, 2, 3, 4, 5])
def test_bleu_matches_nltk_string_tokens(max_n: int) -> None:
    rng = random.Random(max_n)
    vocab = ["a", "dog", "the", "on", "bed"]
    references = random_corpus(rng, vocab, 6, 12)
    hypotheses = random_corpus(rng, vocab + ["cat"], 30, 12)
    np.testing.assert_allclose(
        bleu_scores(hypotheses, references, max_n), nltk_scores(hypotheses, references, max_n), rtol=0, atol=TOL
    )
    assert bleu(hypotheses, references, max_n) == pytest.approx(nltk_scores(hypotheses, references, max_n).mean(),
                                                                abs=TOL)


@pytest.mark.parametrize(
    ("hypothesis", "references"),
    [
        ([], [[1, 2, 3]]),  # empty hypothesis: 0
        ([1], [[1, 2, 3]]),  # shorter than n: higher orders are 0/1 -> epsilon 0.1
        ([1, 2], [[1, 2]]),  # shorter than n, exact match
        ([7, 8, 9, 7], [[1, 2, 3]]),  # no unigram match: exactly 0
        ([1, 1, 1, 1, 1], [[1, 1, 2], [1, 3, 1, 1]]),  # clipping by the max count over references
        ([1, 2, 1, 2, 1], [[1, 2, 1, 2], [2, 1]]),  # repeated bigrams
        ([1, 2, 3, 4, 5], [[1, 2, 3, 4], [1, 2, 3, 4, 5, 6]]),  # length tie 4 vs 6: the shorter wins
        ([1, 2, 3], [[], [1]]),  # empty reference and one shorter than n
        ([1, 2, 3], [[]]),  # only an empty reference
        ([1, 2, 3, 4, 5, 6], [[1, 2, 3]]),  # longer than every reference: no brevity penalty
    ],
)
@pytest.mark.parametrize("max_n", [1, 2, 4, 5])
def test_bleu_nltk_edge_cases(hypothesis: list, references: list, max_n: int) -> None:
    got = BleuReference(references, max_n).sentence_scores([hypothesis])
    assert got[0] == pytest.approx(nltk_sentence_bleu(references, hypothesis, max_n), abs=TOL)


def test_empty_hypothesis_and_no_unigram_match_score_exactly_zero() -> None:
    scores = bleu_scores([[], ["x", "y"]], [["a", "b"]], 4)
    assert scores.tolist() == [0.0, 0.0]


def test_reference_table_is_reusable_and_order_independent() -> None:
    rng = random.Random(7)
    references = random_corpus(rng, [0, 1, 2], 10, 8)
    hypotheses = random_corpus(rng, [0, 1, 2], 12, 8)
    table = BleuReference(references, 3)
    first = table.sentence_scores(hypotheses)
    np.testing.assert_array_equal(table.sentence_scores(hypotheses), first)
    np.testing.assert_allclose(table.sentence_scores(hypotheses[::-1]), first[::-1], rtol=0, atol=0)
    np.testing.assert_allclose(bleu_scores(hypotheses, references[::-1], 3), first, rtol=0, atol=TOL)
    assert table.sentence_scores([]).shape == (0,)


def test_tensor_and_array_inputs_are_read_as_token_ids() -> None:
    references = [[1, 2, 3, 4], [2, 3, 4, 5]]
    hypotheses = [[1, 2, 3, 5], [4, 5, 1, 2]]
    expected = nltk_scores(hypotheses, references, 2)
    np.testing.assert_allclose(bleu_scores(torch.tensor(hypotheses), np.array(references), 2), expected, rtol=0, atol=TOL)
    np.testing.assert_allclose(bleu_scores([torch.tensor(h) for h in hypotheses], references, 2), expected, rtol=0, atol=TOL)


token_lists = st.lists(st.lists(st.integers(0, 3), max_size=9), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(references=token_lists, hypotheses=token_lists, max_n=st.integers(1, 5))
def test_bleu_property_matches_nltk(references: list, hypotheses: list, max_n: int) -> None:
    np.testing.assert_allclose(
        bleu_scores(hypotheses, references, max_n), nltk_scores(hypotheses, references, max_n), rtol=0, atol=TOL
    )


def load_captions(path: Path, count: int, offset: int = 0) -> list[list[str]]:
    if not path.is_file():
        pytest.skip(f"caption sample {path} is absent (the shared data folder is not checked out here)")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split() for line in lines[offset:offset + count]]


@pytest.mark.parametrize("max_n", [2, 4])
def test_bleu_matches_nltk_on_coco_captions(max_n: int) -> None:
    references = load_captions(COCO_TEST, 500)
    hypotheses = load_captions(COCO_TEST, 50, offset=1000)
    hypotheses.append(references[3])  # an exact copy of a reference
    np.testing.assert_allclose(
        bleu_scores(hypotheses, references, max_n), nltk_scores(hypotheses, references, max_n), rtol=0, atol=TOL
    )


# ------------------------------------------------------------------------- Self-BLEU


SELF_SET = [
    [1, 2, 3, 4, 5],
    [1, 2, 3, 4, 5],  # duplicate: a valid reference for the one above
    [1, 2, 3, 9],
    [2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3],  # the only sequence of length 11
    [5, 5, 5, 5],  # a repeated n-gram held by this sequence alone
    [5, 5, 1],
    [7],
    [],
    [1, 2],
]


@pytest.mark.parametrize("max_n", [1, 2, 3, 4, 5])
def test_self_bleu_matches_nltk_excluding_itself(max_n: int) -> None:
    got = self_bleu_scores(SELF_SET, max_n)
    np.testing.assert_allclose(got, nltk_self_scores(SELF_SET, max_n), rtol=0, atol=TOL)
    assert self_bleu(SELF_SET, max_n) == pytest.approx(got.mean(), abs=1e-15)


def test_self_bleu_of_a_duplicated_pair_is_one() -> None:
    assert self_bleu_scores([["a", "b", "c", "d"], ["a", "b", "c", "d"]], 4).tolist() == pytest.approx([1.0, 1.0])


def test_self_bleu_unique_length_uses_the_closest_other_length() -> None:
    # The length-6 sequence must fall back to 5 (ties with 7 go to the shorter).
    sequences = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7], [9, 9, 9, 9, 9, 9, 9]]
    np.testing.assert_allclose(self_bleu_scores(sequences, 4), nltk_self_scores(sequences, 4), rtol=0, atol=TOL)


@settings(max_examples=40, deadline=None)
@given(sequences=st.lists(st.lists(st.sampled_from("abc"), max_size=8), min_size=2, max_size=7),
       max_n=st.integers(1, 5))
def test_self_bleu_property_matches_nltk(sequences: list, max_n: int) -> None:
    np.testing.assert_allclose(self_bleu_scores(sequences, max_n), nltk_self_scores(sequences, max_n),
                               rtol=0, atol=TOL)


def test_self_bleu_matches_nltk_on_coco_captions() -> None:
    sequences = load_captions(COCO_TEST, 60)
    sequences.append(list(sequences[5]))
    np.testing.assert_allclose(self_bleu_scores(sequences, 4), nltk_self_scores(sequences, 4), rtol=0, atol=TOL)


# ------------------------------------------------------------------------ TensorBleu


def rows_as_lists(ids: torch.Tensor, lengths: torch.Tensor | None) -> list[list[int]]:
    if lengths is None:
        return ids.tolist()
    return [row[: int(n)].tolist() for row, n in zip(ids, lengths)]


@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("max_n", [1, 2, 3, 4, 5])
def test_tensor_bleu_matches_bleu_reference(max_n: int, with_lengths: bool) -> None:
    gen = torch.Generator().manual_seed(max_n * 10 + with_lengths)
    for _ in range(8):
        vocab = int(torch.randint(1, 6, (1,), generator=gen))
        num_refs, batch, width = (int(torch.randint(1, 9, (1,), generator=gen)),
                                  int(torch.randint(0, 40, (1,), generator=gen)),
                                  int(torch.randint(0, 10, (1,), generator=gen)))
        refs = torch.randint(0, vocab, (num_refs, width), generator=gen)
        hyps = torch.randint(0, vocab + 2, (batch, width), generator=gen)  # ids >= vocab are unseen
        ref_len = hyp_len = None
        if with_lengths:
            ref_len = torch.randint(0, width + 1, (num_refs,), generator=gen)
            hyp_len = torch.randint(0, width + 1, (batch,), generator=gen)
            # garbage padding past the lengths must be ignored
            refs[torch.arange(width)[None, :] >= ref_len[:, None]] = -1
            hyps[torch.arange(width)[None, :] >= hyp_len[:, None]] = 12345
        got = TensorBleu(refs, max_n, lengths=ref_len)(hyps, hyp_len)
        expected = BleuReference(rows_as_lists(refs, ref_len), max_n).sentence_scores(rows_as_lists(hyps, hyp_len))
        assert got.dtype == torch.float64 and got.shape == (batch,)
        np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL)


def test_tensor_bleu_on_coco_ids_with_vocab_size() -> None:
    captions = load_captions(COCO_TEST, 300)
    vocab = {w: i for i, w in enumerate(sorted({w for c in captions for w in c}))}
    width = max(map(len, captions))
    ids = torch.zeros(len(captions), width, dtype=torch.long)
    lengths = torch.tensor([len(c) for c in captions])
    for row, caption in enumerate(captions):
        ids[row, : len(caption)] = torch.tensor([vocab[w] for w in caption])
    scorer = TensorBleu(ids[:250], 4, lengths=lengths[:250], vocab_size=len(vocab))
    got = scorer(ids[250:], lengths[250:])
    expected = nltk_scores(captions[250:], captions[:250], 4)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("max_n", [0, -1, 1.5, True, "4"])
def test_bad_max_n_is_refused(max_n) -> None:
    with pytest.raises(SeqGANError, match="max_n"):
        BleuReference([[1, 2]], max_n)
    with pytest.raises(SeqGANError, match="max_n"):
        self_bleu_scores([[1], [2]], max_n)
    with pytest.raises(SeqGANError, match="max_n"):
        TensorBleu(torch.tensor([[1, 2]]), max_n)


def test_bad_sets_are_refused() -> None:
    with pytest.raises(SeqGANError, match="reference set is empty"):
        bleu_scores([[1]], [], 4)
    with pytest.raises(SeqGANError, match="at least one hypothesis"):
        bleu([], [[1]], 4)
    with pytest.raises(SeqGANError, match="at least 2 sequences"):
        self_bleu_scores([[1, 2]], 2)
    with pytest.raises(SeqGANError, match="split"):
        bleu_scores(["a dog on a bed"], [["a", "dog"]], 2)
    with pytest.raises(SeqGANError, match="single string"):
        bleu_scores([["a"]], "a dog", 2)


def test_tensor_bleu_bad_input_is_refused() -> None:
    refs = torch.tensor([[1, 2, 3], [2, 3, 4]])
    with pytest.raises(SeqGANError, match="at least one reference"):
        TensorBleu(refs[:0], 2)
    with pytest.raises(SeqGANError, match="2-D"):
        TensorBleu(refs[0], 2)
    with pytest.raises(SeqGANError, match="integer token ids"):
        TensorBleu(refs.float(), 2)
    with pytest.raises(SeqGANError, match="vocab_size"):
        TensorBleu(refs, 2, vocab_size=4)
    with pytest.raises(SeqGANError, match="vocab_size must be"):
        TensorBleu(refs, 2, vocab_size=0)
    with pytest.raises(SeqGANError, match="negative token"):
        TensorBleu(torch.tensor([[1, -1]]), 2)
    with pytest.raises(SeqGANError, match="lengths must lie"):
        TensorBleu(refs, 2, lengths=torch.tensor([1, 4]))
    with pytest.raises(SeqGANError, match="shape"):
        TensorBleu(refs, 2, lengths=torch.tensor([1]))
    scorer = TensorBleu(refs, 2, vocab_size=5)
    with pytest.raises(SeqGANError, match="vocab_size 5"):
        scorer(torch.tensor([[1, 5]]))
    with pytest.raises(SeqGANError, match="2-D"):
        scorer(torch.tensor([1, 2]))
    # padding is allowed to be anything once lengths exclude it
    assert scorer(torch.tensor([[1, 2, -7]]), torch.tensor([2])).shape == (1,)


def test_key_overflow_is_refused() -> None:
    with pytest.raises(SeqGANError, match="overflow"):
        bleu_module._check_key_range(2**40, 2**30)
