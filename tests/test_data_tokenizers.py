"""Tokenizers: round trips, canonical ids, and clear errors."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqgan.data.tokenizers import TOKENIZERS, get_tokenizer
from seqgan.errors import SeqGANError


def test_get_tokenizer_names_the_choices():
    assert set(TOKENIZERS) == {"char", "word", "ids", "bpe", "unigram"}
    for name in ("char", "word", "ids"):
        assert get_tokenizer(name).name == name
        assert get_tokenizer(get_tokenizer(name)).name == name  # an object passes through
    with pytest.raises(SeqGANError, match="char, word, ids, bpe, unigram"):
        get_tokenizer("sentencepiece")
    with pytest.raises(SeqGANError, match="the bpe tokenizer is learnt from a training file"):
        get_tokenizer("bpe")  # seqgan.data.subword trains it; tests/test_data_subword.py
    with pytest.raises(SeqGANError):
        get_tokenizer(None)  # type: ignore[arg-type]


def test_char_keeps_spaces_and_poems_without_separators():
    tok = get_tokenizer("char")
    assert tok.tokenize("秦川雄帝宅") == list("秦川雄帝宅")
    assert tok.tokenize("a b") == ["a", " ", "b"]
    assert tok.detokenize(["a", " ", "b"]) == "a b"
    with pytest.raises(SeqGANError, match="single character"):
        tok.detokenize(["ab"])


def test_word_normalises_spacing():
    tok = get_tokenizer("word")
    assert tok.tokenize("  the  cat\tsat ") == ["the", "cat", "sat"]
    assert tok.detokenize(["the", "cat"]) == "the cat"
    with pytest.raises(SeqGANError, match="whitespace"):
        tok.detokenize(["the cat"])
    with pytest.raises(SeqGANError):
        tok.detokenize([""])


def test_ids_canonical_and_strict():
    tok = get_tokenizer("ids")
    assert tok.tokenize("007 12 0") == ["7", "12", "0"]
    assert tok.detokenize(["7", "12", "0"]) == "7 12 0"
    for bad in ("1 -2", "1 2.5", "x", "1 \u00b2"):  # negative, float, word, superscript digit
        with pytest.raises(SeqGANError, match="non-negative integer"):
            tok.tokenize(bad)
    with pytest.raises(SeqGANError):
        tok.detokenize(["a"])


def test_ids_past_int64_are_one_clear_error():
    tok = get_tokenizer("ids")
    assert tok.tokenize("0" * 5000 + "7 9223372036854775807") == ["7", "9223372036854775807"]
    no_spaces = "6062646567" * 500  # an ids file written without separators: int() refuses 4,300+ digits
    for call, arg in ((tok.tokenize, f"1 {no_spaces}"), (tok.detokenize, ["1", no_spaces]),
                      (tok.tokenize, "9223372036854775808")):
        with pytest.raises(SeqGANError, match=r"too large for a token id; .*numbers below 2\*\*63"):
            call(arg)


@given(st.text(alphabet=st.characters(blacklist_characters="\n\r")))
def test_char_round_trip_is_identity(line):
    tok = get_tokenizer("char")
    assert tok.detokenize(tok.tokenize(line)) == line


_word = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Zs", "Zl", "Zp", "Cs")), min_size=1).filter(
    lambda w: w.split() == [w]
)


@given(st.lists(_word, max_size=20))
def test_word_round_trip(tokens):
    tok = get_tokenizer("word")
    assert tok.tokenize(tok.detokenize(tokens)) == tokens


@given(st.lists(st.integers(min_value=0, max_value=10**12), max_size=30))
def test_ids_round_trip(values):
    tok = get_tokenizer("ids")
    line = " ".join(map(str, values))
    tokens = tok.tokenize(line)
    assert tokens == [str(v) for v in values]
    assert tok.detokenize(tokens) == line
