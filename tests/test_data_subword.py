"""``--tokenizer bpe`` / ``unigram``: trained on the training split, deterministic, exact round trips, stored
in every checkpoint so that ``sample`` decodes and ``eval`` scores on the same pieces."""

from __future__ import annotations

import io
import json
import random

import pytest
import torch

from seqgan.checkpoint import load_checkpoint
from seqgan.data.subword import KINDS, SubwordTokenizer, train_subword
from seqgan.data.vocab import UNK
from seqgan.errors import SeqGANError
from test_realdata_train import WORDS, assert_same_run, cli, one_line_error, train_args, write_corpus


def lines(n: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 10))) for _ in range(n)]
    return out + ["床前明月光", "  two  spaces\tand a tab  "]


@pytest.mark.parametrize("kind", KINDS)
def test_training_is_deterministic_and_round_trips_exactly(kind):
    a, b = train_subword(lines(), kind, 80), train_subword(lines(), kind, 80)
    assert a == b and a.name == kind and len(a) <= 80 - 2
    for line in lines():
        pieces = a.tokenize(line)
        assert a.detokenize(pieces) == line and UNK not in pieces
    assert any(len(p.lstrip("\u2581")) > 1 for line in lines() for p in a.tokenize(line))  # real subwords


def test_unknown_characters_are_unk_and_written_as_the_replacement_character():
    tok = train_subword(lines(), "bpe", 60)
    assert tok.tokenize("the 猫") == ["\u2581the", "\u2581", UNK]
    assert tok.detokenize(["\u2581the", UNK]) == "the\ufffd"


def test_stored_through_a_safe_torch_load():
    tok = train_subword(lines(), "unigram", 70)
    buf = io.BytesIO()
    torch.save({"tokenizer_model": tok.to_dict()}, buf)
    buf.seek(0)
    again = SubwordTokenizer.from_dict(torch.load(buf, weights_only=True)["tokenizer_model"])
    assert again == tok and again.tokenize("the cat sat") == tok.tokenize("the cat sat")


def test_trains_on_what_rows_can_keep():
    long = " ".join(f"zz{i}" for i in range(5000))
    tok = train_subword(lines() + [long], "bpe", 200, room=5)  # 5 pieces of at most 16 characters
    assert train_subword(lines() + [long[:80]], "bpe", 200, room=5) == tok


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"vocab_size": None}, "give --vocab-size N"),
    ({"vocab_size": 10}, "--vocab-size 10 is too small for the bpe tokenizer: the training text has"),
    ({"vocab_size": 80, "kind": "wordpiece"}, "must be one of bpe, unigram"),
])
def test_training_errors(kwargs, message):
    args = {"kind": "bpe", **kwargs}
    with pytest.raises(SeqGANError, match=message):
        train_subword(lines(), **args)


@pytest.mark.parametrize("bad", [None, {}, {"format": "seqgan-subword", "version": 1, "kind": "bpe",
                                            "model": torch.zeros(5, dtype=torch.uint8)},
                                 {"format": "seqgan-subword", "version": 1, "kind": "bpe", "model": torch.zeros(3)},
                                 {"format": "seqgan-subword", "version": 2, "kind": "bpe", "model": None}])
def test_damaged_models_are_refused(bad):
    with pytest.raises(SeqGANError):
        SubwordTokenizer.from_dict(bad)


# ------------------------------------------------------------------ through train, sample, eval


@pytest.fixture(scope="module", params=KINDS)
def subword_run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    write_corpus(root / "train.txt", "word", 300, seed=1)
    write_corpus(root / "valid.txt", "word", 40, seed=2)
    extra = ["--vocab-size", "60"]
    assert cli(train_args(root / "train.txt", root / "run", kind=request.param, max_len=24,
                          valid=root / "valid.txt", extra=extra)) == 0
    return request.param, root


def test_train_stores_the_tokenizer_and_sample_decodes_with_it(subword_run, tmp_path):
    import sentencepiece as spm

    kind, root = subword_run
    ckpt = load_checkpoint(root / "run" / "checkpoints" / "adversarial.pt")
    assert ckpt["tokenizer"] == kind
    tok = SubwordTokenizer.from_dict(ckpt["tokenizer_model"])
    vocab = json.loads((root / "run" / "data" / "vocab.json").read_text())["tokens"]
    assert len(vocab) <= 60 and set(vocab[3:]) <= {tok._sp.id_to_piece(i) for i in range(len(tok))}
    sp = spm.SentencePieceProcessor(model_file=str(root / "run" / "data" / "tokenizer.model"))
    assert sp.serialized_model_proto() == tok.model
    assert cli(["sample", "--checkpoint", str(root / "run" / "checkpoints" / "mle.pt"), "-n", "30",
                "--out", str(tmp_path / "s.txt")]) == 0
    samples = (tmp_path / "s.txt").read_text(encoding="utf-8").splitlines()
    assert len(samples) == 30 and all("\u2581" not in s for s in samples)  # decoded to text, not pieces
    assert all(tok.detokenize(tok.tokenize(s)) == s for s in samples)
    assert any(set(s.split()) & set(WORDS) for s in samples)


def test_sample_refuses_a_damaged_tokenizer_model_before_drawing(subword_run, tmp_path, capsys, monkeypatch):
    """The stored tokenizer was read after the draws: minutes of --mcts search, then the error."""
    from seqgan.checkpoint import save_checkpoint
    from seqgan.experiments import sample

    kind, root = subword_run
    ckpt = load_checkpoint(root / "run" / "checkpoints" / "mle.pt")
    ckpt["tokenizer_model"] = {"format": "seqgan-subword", "version": 1, "kind": kind, "model": torch.zeros(3)}
    save_checkpoint(tmp_path / "bad.pt", ckpt)
    monkeypatch.setattr(sample, "generate", lambda *a, **k: pytest.fail("sampled before reading the tokenizer"))
    assert cli(["sample", "--checkpoint", str(tmp_path / "bad.pt"), "-n", "3", "--out", str(tmp_path / "s.txt")]) == 2
    one_line_error(capsys)
    assert not (tmp_path / "s.txt").exists()


def test_eval_scores_on_the_checkpoints_pieces(subword_run, tmp_path, capsys):
    from seqgan.metrics.bleu import BleuReference

    kind, root = subword_run
    ckpt = root / "run" / "checkpoints" / "mle.pt"
    tok = SubwordTokenizer.from_dict(load_checkpoint(ckpt)["tokenizer_model"])
    refs = (root / "train.txt").read_text().splitlines()
    hyps = (root / "valid.txt").read_text().splitlines()
    assert cli(["eval", "--samples", str(root / "valid.txt"), "--references", str(root / "train.txt"),
                "--bleu", "3", "--tokenizer-from", str(ckpt), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["samples"]["metrics"]["bleu3"]["mean"]
    expected = BleuReference([tok.tokenize(r) for r in refs], 3).sentence_scores([tok.tokenize(h) for h in hyps])
    assert got == pytest.approx(float(expected.mean()), rel=1e-12)
    assert cli(["eval", "--samples", str(root / "valid.txt"), "--references", str(root / "train.txt"),
                "--tokenizer", kind]) == 2
    assert "--tokenizer-from CKPT" in one_line_error(capsys)
    other = "char"
    assert cli(["eval", "--samples", str(root / "valid.txt"), "--references", str(root / "train.txt"),
                "--tokenizer", other, "--tokenizer-from", str(ckpt)]) == 2
    assert f"holds the {kind} tokenizer" in one_line_error(capsys)


def test_resume_and_init_from_check_the_learnt_tokenizer(subword_run, tmp_path, capsys):
    kind, root = subword_run
    base = ["--vocab-size", "60"]
    # a resumed run reads its tokenizer from its checkpoint (nothing left to do: the run is done)
    assert cli(train_args(root / "train.txt", root / "run", kind=kind, max_len=24, valid=root / "valid.txt",
                          extra=[*base, "--resume"])) == 0
    # another vocabulary size is another run: refused, not silently a different tokenizer
    assert cli(train_args(root / "train.txt", root / "run", kind=kind, max_len=24, valid=root / "valid.txt",
                          extra=["--vocab-size", "59", "--resume"])) == 2
    assert "data.max_vocab" in one_line_error(capsys)
    write_corpus(tmp_path / "other.txt", "word", 300, seed=9)
    assert cli(train_args(tmp_path / "other.txt", tmp_path / "r", kind=kind, max_len=24,
                          extra=["--vocab-size", "50", "--init-from", str(root / "run" / "checkpoints" / "mle.pt")])) == 2
    assert "vocabulary does not match" in one_line_error(capsys)


def test_resume_and_sweep_keep_the_runs_own_tokenizer(subword_run, tmp_path, monkeypatch):
    """A newer sentencepiece may learn other pieces from the same data: --resume used to learn the tokenizer
    again and refuse the run. It now reads the checkpoint's model, and the run ends as the uninterrupted one."""
    from seqgan.data import subword
    from seqgan.experiments import train

    class Killed(BaseException):
        pass

    def killed(self, phase, step, metrics):
        raise Killed

    kind, root = subword_run
    out = tmp_path / "run"
    args = train_args(root / "train.txt", out, kind=kind, max_len=24, valid=root / "valid.txt",
                      extra=["--vocab-size", "60"])
    with monkeypatch.context() as m:
        m.setattr(train.RealDataRun, "step_done", killed)
        with pytest.raises(Killed):
            cli(args)
    learn = subword.train_subword
    monkeypatch.setattr(subword, "train_subword", lambda lines, *a, **k: learn(lines[::2], *a, **k))
    assert subword.make_tokenizer(kind, str(root / "train.txt"), 60, 23) != SubwordTokenizer.from_dict(
        load_checkpoint(root / "run" / "checkpoints" / "mle.pt")["tokenizer_model"])  # it would learn others
    assert cli(args + ["--resume"]) == 0
    assert_same_run(out, root / "run")
    from seqgan.experiments.sweep import text_task
    from seqgan.experiments.sweep_runs import find_runs, load_generator
    from seqgan.metrics.lm import LMConfig

    (found,) = find_runs(out)
    cpu = torch.device("cpu")
    task = text_task(found, load_generator(found.methods[0].checkpoint, cpu), LMConfig(epochs=1), None, cpu)
    assert task.tokenizer == SubwordTokenizer.from_dict(load_checkpoint(out / "checkpoints" / "mle.pt")["tokenizer_model"])


def test_vocab_size_flag_rules(tmp_path, capsys):
    write_corpus(tmp_path / "train.txt", "word", 50, seed=1)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "r", kind="bpe")) == 2
    assert "--tokenizer bpe learns its pieces from the training data: give --vocab-size N" in one_line_error(capsys)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "r", extra=["--vocab-size", "50"])) == 2
    assert "cap them with --max-vocab instead" in one_line_error(capsys)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "r", kind="unigram",
                          extra=["--vocab-size", "50", "--max-vocab", "40"])) == 2
    assert "give that instead of --max-vocab" in one_line_error(capsys)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "r", kind="bpe", extra=["--vocab-size", "5"])) == 2
    assert "--vocab-size 5 is too small" in one_line_error(capsys)
    assert not (tmp_path / "r").exists()
