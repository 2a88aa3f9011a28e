"""Hostile inputs, fuzzed: every failure is a SeqGANError with a message, never another exception."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ORACLE_PKL
from seqgan.checkpoint import load_checkpoint, save_checkpoint
from seqgan.config import Config, apply_dict, load_toml, parse_set, resolve
from seqgan.errors import SeqGANError
from seqgan.models.oracle import load_authors_params

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "good.pt"
    save_checkpoint(path, {"config": Config().to_dict(), "weights": torch.arange(50.0)})
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_checkpoint_loader_on_random_and_truncated_bytes(tmp_path, good_checkpoint, data):
    kind = data.draw(st.sampled_from(["random", "truncated", "flipped"]))
    if kind == "random":
        raw = data.draw(st.binary(max_size=2000))
    elif kind == "truncated":
        raw = good_checkpoint[: data.draw(st.integers(0, len(good_checkpoint) - 1))]
    else:
        pos = data.draw(st.integers(0, len(good_checkpoint) - 1))
        raw = good_checkpoint[:pos] + bytes([good_checkpoint[pos] ^ 0xFF]) + good_checkpoint[pos + 1:]
    path = tmp_path / "fuzz.pt"
    path.write_bytes(raw)
    try:
        ckpt = load_checkpoint(path)
    except SeqGANError as exc:
        assert str(exc)
    else:  # a flipped byte inside tensor data can still load; it must then be a whole checkpoint
        assert ckpt["format"] == "seqgan-checkpoint"


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("open('/tmp/seqgan_ckpt_pwned', 'w').close()",))

    import os
    path = tmp_path / "evil.pt"
    torch.save({"format": "seqgan-checkpoint", "x": Evil()}, path)
    with pytest.raises(SeqGANError, match="cannot be read safely"):
        load_checkpoint(path)
    assert not os.path.exists("/tmp/seqgan_ckpt_pwned")


@FUZZ
@given(data=st.data())
def test_oracle_loader_on_random_and_truncated_bytes(tmp_path, data):
    if ORACLE_PKL.exists() and data.draw(st.booleans()):
        good = ORACLE_PKL.read_bytes()
        raw = good[: data.draw(st.integers(0, len(good) - 1))]
    else:
        raw = data.draw(st.binary(max_size=500))
    path = tmp_path / "fuzz.pkl"
    path.write_bytes(raw)
    with pytest.raises(SeqGANError):
        load_authors_params(path)


@FUZZ
@given(st.text(max_size=80))
def test_set_parser_never_crashes(item):
    try:
        resolve("tiny", overrides=[item])
    except SeqGANError as exc:
        assert str(exc)


@FUZZ
@given(st.text(max_size=300))
def test_toml_config_file_never_crashes(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    try:
        cfg = Config()
        apply_dict(cfg, load_toml(path), source=str(path))
        cfg.validate()
    except SeqGANError as exc:
        assert str(exc)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(max_size=10),
                       lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children,
                                                                                          max_size=4), max_leaves=12)


@FUZZ
@given(st.dictionaries(st.sampled_from(["seed", "model", "train", "eval", "data", "bogus"]), JSONISH, max_size=4))
def test_config_dicts_never_crash(data):
    try:
        Config.from_dict(data)
    except SeqGANError as exc:
        assert str(exc)


def test_set_of_known_key_with_wrong_type_names_it():
    with pytest.raises(SeqGANError, match="model.d_filter_sizes must be a list of integers"):
        resolve("tiny", overrides=["model.d_filter_sizes=3"])
    assert parse_set("train.rollout_policy=delayed") == {"train": {"rollout_policy": "delayed"}}


# ---------------------------------------------------------------- data files, tokenizers, vocabularies

@FUZZ
@given(raw=st.binary(max_size=400), tokenizer=st.sampled_from(["char", "word", "ids"]),
       max_len=st.integers(1, 12), long_lines=st.sampled_from(["truncate", "skip"]))
def test_corpus_loaders_on_random_bytes(tmp_path, raw, tokenizer, max_len, long_lines):
    """Random bytes as a corpus file: load, tokenize, build a vocabulary, encode. Either it is a
    well-formed corpus or the project's error says what is wrong; nothing else escapes."""
    from seqgan.data.text import encode_corpus, load_lines
    from seqgan.data.tokenizers import get_tokenizer
    from seqgan.data.vocab import Vocab

    path = tmp_path / "corpus.txt"
    path.write_bytes(raw)
    try:
        lines = load_lines(path)
        tok = get_tokenizer(tokenizer)
        vocab = Vocab.build([tok.tokenize(line) for line in lines])
        enc = encode_corpus(lines, tok, vocab, max_len, long_lines)
    except SeqGANError as exc:
        assert str(exc)
        return
    assert all(line.strip() for line in lines)
    ids = enc.tokens
    assert ids.dtype == torch.long and ids.shape[1] == max_len
    if len(enc):
        assert int(ids.min()) >= 0 and int(ids.max()) < len(vocab)
        assert bool((enc.lengths >= 1).all()) and bool((enc.lengths <= max_len).all())


@FUZZ
@given(raw=st.binary(max_size=300), vocab_size=st.one_of(st.none(), st.integers(1, 50)),
       seq_len=st.one_of(st.none(), st.integers(1, 6)))
def test_id_sequence_loader_on_random_bytes(tmp_path, raw, vocab_size, seq_len):
    from seqgan.data.text import load_id_sequences

    path = tmp_path / "ids.txt"
    path.write_bytes(raw)
    try:
        seqs = load_id_sequences(path, vocab_size=vocab_size, seq_len=seq_len)
    except SeqGANError as exc:
        assert str(exc)
        return
    assert seqs.dtype == torch.long and seqs.dim() == 2 and int(seqs.min()) >= 0
    if vocab_size is not None:
        assert int(seqs.max()) < vocab_size
    if seq_len is not None:
        assert seqs.shape[1] == seq_len


@FUZZ
@given(line=st.text(max_size=60))
def test_ids_tokenizer_on_any_text(line):
    from seqgan.data.tokenizers import get_tokenizer

    try:
        tokens = get_tokenizer("ids").tokenize(line)
    except SeqGANError as exc:
        assert str(exc)
    else:
        assert all(t.isdigit() for t in tokens)


JSONISH_VOCAB = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                             lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                             max_leaves=12)


@FUZZ
@given(d=st.one_of(JSONISH_VOCAB, st.fixed_dictionaries(
    {"format": st.sampled_from(["seqgan-vocab", "x"]), "version": st.integers(0, 2),
     "tokens": st.lists(st.text(max_size=4), max_size=6)})))
def test_vocab_from_checkpoint_dict_never_crashes(d):
    from seqgan.data.vocab import Vocab

    try:
        vocab = Vocab.from_dict(d)
    except SeqGANError as exc:
        assert str(exc)
    else:
        assert Vocab.from_dict(vocab.to_dict()) == vocab


# ---------------------------------------------------------------- full disks, unwritable paths, NaN weights, runaway lengths

@FUZZ
@given(data=st.binary(max_size=3000), budget=st.integers(0, 3000))
def test_atomic_write_on_a_disk_that_fills_up(tmp_path, monkeypatch, data, budget):
    """A write that runs out of space after ``budget`` bytes: one SeqGANError naming the directory, the
    previous file untouched, no temporary left; a write within the budget lands whole."""
    import errno

    from seqgan import checkpoint

    target = tmp_path / "out" / "file.bin"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"previous")

    def write(fh, chunk):
        fh.write(bytes(chunk[:budget]))
        if len(chunk) > budget:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "_write", write)
    try:
        checkpoint.write_atomic(target, data)
    except SeqGANError as exc:
        assert len(data) > budget and f"{target.parent} is out of space" in str(exc)
        assert target.read_bytes() == b"previous"
    else:
        assert len(data) <= budget and target.read_bytes() == data
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


HOSTILE_PATHS = st.sampled_from([".", "..", "/", "", "/proc/sys/x", "/proc/sys/x/y.txt", "afile/x", "afile/x/y",
                                 "adir", "adir/", "/dev/null/x", "\x00bad"]) | st.text(min_size=1, max_size=12)


@FUZZ
@given(name=HOSTILE_PATHS)
def test_unwritable_output_paths_give_one_error(tmp_path, monkeypatch, name):
    from seqgan.checkpoint import write_atomic
    from seqgan.experiments.run_dir import prepare_out_dir

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir(exist_ok=True)
    for write in (lambda p: write_atomic(p, b"data"), lambda p: prepare_out_dir(p)):
        try:
            write(name)
        except SeqGANError as exc:
            assert str(exc)
        except ValueError as exc:  # only a NUL byte, which no path can hold, is the OS's ValueError
            assert "\x00" in name and "null" in str(exc)


@FUZZ
@given(where=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10_000),
                                st.sampled_from([float("nan"), float("inf"), float("-inf")])), min_size=1, max_size=4))
def test_generator_with_non_finite_weights_is_refused(where):
    from seqgan.checkpoint import check_finite_weights
    from seqgan.models.generator import Generator

    gen = Generator(20, 8, 8, 6, 0, 0.1)
    names = list(gen.state_dict())
    with torch.no_grad():
        for i, pos, value in where:
            t = gen.state_dict()[names[i % len(names)]]
            t.view(-1)[pos % t.numel()] = value
    with pytest.raises(SeqGANError, match="weights hold NaN or infinity"):
        check_finite_weights(gen, "x.pt", "generator")


@FUZZ
@given(lengths=st.lists(st.integers(1, 3000), min_size=1, max_size=20), max_len=st.integers(-5, 10**12),
       fixed=st.booleans())
def test_runaway_lengths_are_refused_quickly(lengths, max_len, fixed):
    """Any length against any line lengths: accepted only when a line can use it and memory holds it."""
    from seqgan.data.text import UNUSED_LENGTH_LIMIT, check_length

    lines = [["x"] * n for n in lengths]
    try:
        check_length(lines, max_len, eos=not fixed)
    except SeqGANError as exc:
        assert str(exc)
    else:
        assert 2 <= max_len <= max(UNUSED_LENGTH_LIMIT, max(lengths) + (not fixed))


@FUZZ
@given(raw=st.binary(max_size=300), kind=st.sampled_from(["bpe", "unigram", "word", None]))
def test_subword_model_from_checkpoint_never_crashes(raw, kind):
    from seqgan.data.subword import SubwordTokenizer

    d = {"format": "seqgan-subword", "version": 1, "kind": kind,
         "model": torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.zeros(0, dtype=torch.uint8)}
    try:
        tok = SubwordTokenizer.from_dict(d)
    except SeqGANError as exc:
        assert str(exc)
    else:
        tok.tokenize("a b")
