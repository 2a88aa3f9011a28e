"""Vocab: ids, ordering, encode/decode, checkpoint-safe dicts."""

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgan.data.vocab import SPECIALS, Vocab
from seqgan.errors import SeqGANError

CORPUS = [["b", "a", "c"], ["a", "b"], ["a", "d"], ["e"]]


def test_specials_then_frequency_then_token():
    v = Vocab.build(CORPUS)
    assert v.tokens[:3] == SPECIALS
    assert (v.pad_id, v.eos_id, v.unk_id) == (0, 1, 2)
    # a:3, b:2, then c, d, e once each in token order
    assert v.tokens[3:] == ("a", "b", "c", "d", "e")
    assert len(v) == 8
    assert Vocab.build(list(reversed(CORPUS))) == v


def test_min_count_and_max_size():
    assert Vocab.build(CORPUS, min_count=2).tokens[3:] == ("a", "b")
    assert Vocab.build(CORPUS, max_size=4).tokens[3:] == ("a",)
    with pytest.raises(SeqGANError, match="min_count"):
        Vocab.build(CORPUS, min_count=0)
    with pytest.raises(SeqGANError, match="max_size"):
        Vocab.build(CORPUS, max_size=3)
    with pytest.raises(SeqGANError, match="no token"):
        Vocab.build(CORPUS, min_count=10)
    with pytest.raises(SeqGANError, match="no token"):
        Vocab.build([])
    with pytest.raises(SeqGANError, match="tokenize the lines first"):
        Vocab.build(["a line of text"])


def test_literal_specials_are_not_corpus_tokens():
    v = Vocab.build([["<unk>", "x", "<eos>"]])
    assert v.tokens == SPECIALS + ("x",)
    assert v.encode(["<unk>", "x"]) == [2, 3]


def test_encode_decode():
    v = Vocab.build(CORPUS)
    assert v.encode(["a", "zzz", "e"]) == [3, 2, 7]
    assert v.decode([3, 0, 4, 1, 5]) == ["a", "b"]  # pad dropped, stops at eos
    assert v.decode(torch.tensor([4, 3, 0, 0])) == ["b", "a"]
    assert v.decode([v.unk_id]) == ["<unk>"]
    with pytest.raises(SeqGANError, match="outside"):
        v.decode([3, 99])
    with pytest.raises(SeqGANError, match="outside"):
        v.decode([-1])
    with pytest.raises(SeqGANError, match="not an integer"):
        v.decode([1.5])


def test_dict_round_trip_through_weights_only_checkpoint():
    v = Vocab.build(CORPUS)
    buf = io.BytesIO()
    torch.save({"vocab": v.to_dict(), "w": torch.zeros(2)}, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert Vocab.from_dict(loaded["vocab"]) == v
    assert hash(Vocab.from_dict(v.to_dict())) == hash(v)


def test_mismatch_describes_difference():
    a, b = Vocab.build(CORPUS), Vocab.build(CORPUS + [["b", "b"]])
    assert a.mismatch(a) is None
    assert a != b
    assert "first difference at id 3" in a.mismatch(b)
    assert a != "not a vocab"


@pytest.mark.parametrize(
    "bad, match",
    [
        ([], "must be a dict"),
        ({}, "format"),
        ({"format": "seqgan-vocab", "version": 2, "tokens": []}, "version"),
        ({"format": "seqgan-vocab", "version": True, "tokens": []}, "version"),
        ({"format": "seqgan-vocab", "version": 1, "tokens": "abc"}, "list of strings"),
        ({"format": "seqgan-vocab", "version": 1, "tokens": ["<pad>", "<eos>"]}, "first tokens"),
        ({"format": "seqgan-vocab", "version": 1, "tokens": list(SPECIALS)}, "no corpus tokens"),
        ({"format": "seqgan-vocab", "version": 1, "tokens": [*SPECIALS, "a", "a"]}, "unique"),
        ({"format": "seqgan-vocab", "version": 1, "tokens": [*SPECIALS, "a", "<unk>"]}, "unique"),
        ({"format": "seqgan-vocab", "version": 1, "tokens": [*SPECIALS, 5]}, "non-empty strings"),
        ({"format": "seqgan-vocab", "version": 1, "tokens": [*SPECIALS, ""]}, "non-empty strings"),
        ({"format": "seqgan-vocab", "version": 1, "tokens": [*SPECIALS, "a"], "x": 1}, "unexpected keys"),
    ],
)
def test_from_dict_rejects_malformed(bad, match):
    with pytest.raises(SeqGANError, match=match):
        Vocab.from_dict(bad)


_leaf = (
    # no subnormals: the commands flush them to zero (seqgan.precision.flush_denormals), which hypothesis refuses
    st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(max_size=8)
    | st.sampled_from(["seqgan-vocab", "<pad>", "<eos>", "<unk>", "format", "version", "tokens"])
)
_junk = st.recursive(
    _leaf,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(_leaf, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(
    st.one_of(
        _junk,
        st.fixed_dictionaries({"format": _junk, "version": _junk, "tokens": _junk}),
        st.fixed_dictionaries(
            {"format": st.just("seqgan-vocab"), "version": st.just(1),
             "tokens": st.lists(_junk, max_size=8).map(lambda t: ["<pad>", "<eos>", "<unk>", *t])}
        ),
    )
)
def test_from_dict_on_junk_raises_only_seqganerror(d):
    try:
        v = Vocab.from_dict(d)
    except SeqGANError:
        return
    assert Vocab.from_dict(v.to_dict()) == v


@given(st.lists(st.lists(st.text(min_size=1, max_size=3), max_size=8), min_size=1, max_size=10))
def test_encode_decode_round_trip(corpus):
    if not any(t for seq in corpus for t in seq if t not in SPECIALS):
        return
    v = Vocab.build(corpus)
    for seq in corpus:
        expected = []
        for t in seq:
            if t in ("<eos>",):
                break
            if t != "<pad>":
                expected.append(t)
        assert v.decode(v.encode(seq)) == expected
