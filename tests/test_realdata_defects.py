"""Issue 20's defects in ``train``, ``sample`` and ``eval``: each a clear one-line error (or a warning)
where there was a traceback, a hang or a silent surprise."""

from __future__ import annotations

import json

import pytest

from seqgan.data.text import UNUSED_LENGTH_LIMIT, check_length, kept_tokens
from seqgan.errors import SeqGANError
from test_realdata_train import cli, one_line_error, train_args, write_corpus


def long_line_corpus(path, words: int = 200_000) -> None:
    """50 lines of at most 11 words and one line of ``words`` distinct words."""
    write_corpus(path, "word", 50, seed=3, max_tokens=11)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(" ".join(f"w{i}" for i in range(words)) + "\n")


# ------------------------------------------------------------------ vocabulary from what is kept


def test_vocabulary_counts_only_the_tokens_rows_keep(tmp_path):
    long_line_corpus(tmp_path / "train.txt")
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=12)) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    vocab = json.loads((tmp_path / "run" / "data" / "vocab.json").read_text())["tokens"]
    # 3 special tokens, at most the 15 corpus words, and the 11 words the long line keeps
    assert summary["data"]["vocab_size"] == len(vocab) <= 3 + 15 + 11
    assert "w10" in vocab and "w11" not in vocab and summary["data"]["train"]["truncated"] == 1


def test_kept_tokens_truncates_or_skips():
    lines = [["a", "b", "c"], ["d"]]
    assert kept_tokens(lines, 2) == [["a", "b"], ["d"]]
    assert kept_tokens(lines, 2, "skip") == [["d"]]
    with pytest.raises(SeqGANError, match="all 2 lines are longer than 0 tokens"):
        kept_tokens(lines, 0, "skip")


# ------------------------------------------------------------------ runaway --max-len


def test_max_len_far_past_every_line_is_refused_at_once(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 50, seed=3, max_tokens=12)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=100_000_000)) == 2
    msg = one_line_error(capsys)
    assert "--max-len 100000000 is longer than any line can use" in msg and "--max-len 13" in msg
    assert "model.seq_len" not in msg and not (tmp_path / "run").exists()


def test_check_length_allows_a_margin_and_refuses_what_memory_cannot_hold(monkeypatch):
    lines = [["x"] * 5] * 3
    check_length(lines, UNUSED_LENGTH_LIMIT)  # a margin past the longest line is fine
    check_length([["x"] * 2000], 2001)  # a long line may ask for a long length
    with pytest.raises(SeqGANError, match="longer than any line can use"):
        check_length(lines, UNUSED_LENGTH_LIMIT + 1)
    monkeypatch.setattr("seqgan.data.text._memory_bytes", lambda: 2**20)
    with pytest.raises(SeqGANError, match=r"GiB of memory; give a smaller length"):
        check_length([["x"] * 2000] * 100, 2001)


def test_max_len_errors_speak_of_the_flag(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 50, seed=3)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=5)) == 2  # tiny's D: width 10
    msg = one_line_error(capsys)
    assert "--max-len 5" in msg and "model.seq_len" not in msg
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=1)) == 2
    msg = one_line_error(capsys)
    assert "--max-len must be at least 2" in msg and "model.seq_len" not in msg
