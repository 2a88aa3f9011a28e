"""Corpus files: strict loading, the <eos>/<pad> layout, truncation, id files."""

from pathlib import Path

import pytest
import torch

from seqgan.data import EncodedCorpus, Vocab, encode_corpus, get_tokenizer, load_id_sequences, load_lines
from seqgan.errors import SeqGANError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def write(tmp_path: Path, data: bytes | str, name: str = "corpus.txt") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def words_fixture(n: int = 300) -> list[str]:
    """A few hundred lines of 1..12 words, deterministic."""
    words = "the cat dog sat on a mat and ran far away".split()
    return [" ".join(words[(i + j) % len(words)] for j in range(1 + i % 12)) for i in range(n)]


def test_load_lines_round_trip(tmp_path):
    lines = words_fixture()
    assert load_lines(write(tmp_path, "\n".join(lines) + "\n")) == lines
    assert load_lines(write(tmp_path, "\n".join(lines))) == lines  # no final newline
    assert load_lines(write(tmp_path, "\r\n".join(lines) + "\r\n")) == lines  # CRLF
    assert load_lines(write(tmp_path, b"\xef\xbb\xbf" + "秦川\n".encode())) == ["秦川"]  # BOM


def test_load_lines_errors(tmp_path):
    with pytest.raises(SeqGANError, match="does not exist"):
        load_lines(tmp_path / "missing.txt")
    with pytest.raises(SeqGANError, match="not a file"):
        load_lines(tmp_path)
    with pytest.raises(SeqGANError, match="empty"):
        load_lines(write(tmp_path, b""))
    with pytest.raises(SeqGANError, match=r"line 3, byte offset 8"):
        load_lines(write(tmp_path, b"ab\ncd\nef\xffgh\n"))
    with pytest.raises(SeqGANError, match=r"line 3, byte offset 11 "):  # counted in the file, BOM included
        load_lines(write(tmp_path, b"\xef\xbb\xbfab\ncd\nef\xffgh\n"))
    with pytest.raises(SeqGANError, match=r"line 1 holds a NUL byte: is the file UTF-16"):  # no BOM: "valid" UTF-8
        load_lines(write(tmp_path, "the cat sat\nthe dog ran\n".encode("utf-16-le")))
    with pytest.raises(SeqGANError, match=r"line 2 holds a NUL byte"):
        load_lines(write(tmp_path, b"ab\nc\x00d\n"))
    with pytest.raises(SeqGANError, match="line 2 is blank"):
        load_lines(write(tmp_path, "a\n\nb\n"))
    with pytest.raises(SeqGANError, match="line 3 is blank"):
        load_lines(write(tmp_path, "a\nb\n \t \n"))
    with pytest.raises(SeqGANError, match="line 1 is blank"):
        load_lines(write(tmp_path, "\n"))


def test_cr_only_line_ends_are_refused_not_read_as_one_line(tmp_path):
    lines = words_fixture(5)
    with pytest.raises(SeqGANError, match=r"line 1 holds a carriage return .*old Mac line ends"):
        load_lines(write(tmp_path, "\r".join(lines) + "\r"))  # old Mac: would be one line
    with pytest.raises(SeqGANError, match=r"line 2 holds a carriage return"):
        load_lines(write(tmp_path, "a b\r\nc\rd\r\ne\n"))  # a lone CR among CR LF
    assert load_lines(write(tmp_path, "a b\r\nc\r\n")) == ["a b", "c"]  # CR LF is still a line end


def test_eos_and_padding_layout():
    lines = ["a b c", "b", "c a"]
    v = Vocab.build(get_tokenizer("word").tokenize(ln) for ln in lines)
    enc = encode_corpus(lines, "word", v, max_len=6)
    assert isinstance(enc, EncodedCorpus) and len(enc) == 3
    assert enc.tokens.dtype == torch.long and enc.tokens.shape == (3, 6)
    a, b, c = (v.encode([t])[0] for t in "abc")
    assert enc.tokens[0].tolist() == [a, b, c, 1, 0, 0]
    assert enc.tokens[1].tolist() == [b, 1, 0, 0, 0, 0]
    assert enc.lengths.tolist() == [4, 2, 3]
    assert (enc.n_truncated, enc.n_skipped, enc.n_unk) == (0, 0, 0)
    for row, n in zip(enc.tokens, enc.lengths):
        assert v.decode(row) == v.decode(row[: int(n)])
        assert (row[int(n):] == v.pad_id).all() and row[int(n) - 1] == v.eos_id


def test_truncate_versus_skip():
    lines = words_fixture()
    tok = get_tokenizer("word")
    v = Vocab.build(tok.tokenize(ln) for ln in lines)
    max_len = 8  # 7 real tokens fit
    too_long = sum(len(tok.tokenize(ln)) > 7 for ln in lines)
    assert too_long > 0
    t = encode_corpus(lines, tok, v, max_len)
    assert (t.n_truncated, t.n_skipped, len(t)) == (too_long, 0, len(lines))
    assert t.lengths.max() == max_len and (t.tokens[:, -1][t.lengths == max_len] == v.eos_id).all()
    first_long = next(ln for ln in lines if len(tok.tokenize(ln)) > 7)
    row = t.tokens[lines.index(first_long)]
    assert v.decode(row) == tok.tokenize(first_long)[:7]
    s = encode_corpus(lines, tok, v, max_len, long_lines="skip")
    assert (s.n_truncated, s.n_skipped, len(s)) == (0, too_long, len(lines) - too_long)
    assert s.lengths.max() <= max_len


def test_encode_corpus_errors_and_unknowns():
    v = Vocab.build([["a", "b"]])
    enc = encode_corpus(["a z z"], "word", v, 5)
    assert enc.n_unk == 2 and enc.tokens[0].tolist() == [3, 2, 2, 1, 0]
    with pytest.raises(SeqGANError, match="max_len"):
        encode_corpus(["a"], "word", v, 1)
    with pytest.raises(SeqGANError, match="long_lines"):
        encode_corpus(["a"], "word", v, 5, long_lines="drop")
    with pytest.raises(SeqGANError, match="all 1 lines"):
        encode_corpus(["a b a b"], "word", v, 3, long_lines="skip")
    with pytest.raises(SeqGANError, match="line 2 has no tokens"):
        encode_corpus(["a", "   "], "word", v, 5)
    with pytest.raises(SeqGANError, match="reserved"):
        encode_corpus(["a <eos> b"], "word", v, 5)
    with pytest.raises(SeqGANError, match="no lines"):
        encode_corpus([], "word", v, 5)
    with pytest.raises(SeqGANError, match="unknown tokenizer"):
        encode_corpus(["a"], "wordpiece", v, 5)
    with pytest.raises(SeqGANError, match="learnt from a training file"):
        encode_corpus(["a"], "bpe", v, 5)  # a trained one is passed as an object (tests/test_data_subword.py)


def test_subword_unk_pieces_are_counted():
    pytest.importorskip("sentencepiece")
    from seqgan.data.subword import train_subword

    train = words_fixture()
    tok = train_subword(train, "bpe", 40)
    v = Vocab.build(tok.tokenize(ln) for ln in train)
    assert tok.tokenize("the猫 cat狗").count("<unk>") == 2  # characters the training text lacks
    enc = encode_corpus(["the猫 cat狗", "the cat"], tok, v, 20)
    assert enc.n_unk == 2 and int((enc.tokens == v.unk_id).sum()) == 2
    assert encode_corpus(["a <unk> b"], "word", Vocab.build([["a", "b"]]), 5).n_unk == 0  # the data's own <unk>


def test_char_corpus_from_file(tmp_path):
    poems = ["秦川雄帝宅函谷壯皇居綺殿千尋起離宮百雉餘", "巖廊罷機務崇文聊駐輦玉匣啓龍圖金繩披鳳篆"] * 100
    lines = load_lines(write(tmp_path, "\n".join(poems) + "\n"))
    v = Vocab.build(list(ln) for ln in lines)
    enc = encode_corpus(lines, "char", v, 21)
    assert enc.tokens.shape == (200, 21) and (enc.lengths == 21).all() and enc.n_truncated == 0
    assert "".join(v.decode(enc.tokens[1])) == poems[1]


def test_load_id_sequences(tmp_path):
    rows = [[i % 7, (3 * i) % 7, 6 - i % 7] for i in range(300)]
    p = write(tmp_path, "\n".join(" ".join(map(str, r)) for r in rows) + "\n")
    t = load_id_sequences(p, vocab_size=7, seq_len=3)
    assert t.dtype == torch.long and t.tolist() == rows
    assert load_id_sequences(p).shape == (300, 3)


def test_load_id_sequences_errors(tmp_path):
    with pytest.raises(SeqGANError, match="line 3 has 2 ids but line 1 has 3"):
        load_id_sequences(write(tmp_path, "1 2 3\n4 5 6\n7 8\n"))
    with pytest.raises(SeqGANError, match="required seq_len has 4"):
        load_id_sequences(write(tmp_path, "1 2 3\n"), seq_len=4)
    with pytest.raises(SeqGANError, match=r"line 2: '5\.0' is not a non-negative integer"):
        load_id_sequences(write(tmp_path, "1 2\n5.0 1\n"))
    with pytest.raises(SeqGANError, match="line 1: '-1'"):
        load_id_sequences(write(tmp_path, "-1 2\n"))
    with pytest.raises(SeqGANError, match="line 2: id 7 is out of range; ids must be below vocab_size=7"):
        load_id_sequences(write(tmp_path, "1 2\n7 0\n"), vocab_size=7)
    with pytest.raises(SeqGANError, match="below 2\\*\\*63"):
        load_id_sequences(write(tmp_path, "99999999999999999999 0\n"))
    with pytest.raises(SeqGANError, match=r"line 1: id 12345678901234567890\.\.\. \(5000 digits\) is out of range"):
        load_id_sequences(write(tmp_path, "1234567890" * 500 + "\n"))  # int() fails past 4,300 digits
    assert load_id_sequences(write(tmp_path, "0" * 5000 + "7 9223372036854775807\n")).tolist() == [[7, 2**63 - 1]]
    with pytest.raises(SeqGANError, match="line 2 is blank"):
        load_id_sequences(write(tmp_path, "1 2\n\n"))
    with pytest.raises(SeqGANError, match="vocab_size"):
        load_id_sequences(write(tmp_path, "1 2\n"), vocab_size=0)


def test_oracle_file_from_shared_data():
    path = SHARED / "seqgan_oracle_real_data.txt"
    if not path.exists():
        pytest.skip(f"shared oracle data not found at {path}")
    t = load_id_sequences(path, vocab_size=5000, seq_len=20)
    assert t.shape == (9984, 20) and int(t.min()) >= 0 and int(t.max()) < 5000
