"""``seqgan train`` on small corpora the tests write: every tokenizer, <eos> handling, the vocabulary
through a checkpoint, resume and --init-from, and one clear error for each kind of bad input."""

from __future__ import annotations

import argparse
import json
import random

import pytest
import torch

from seqgan.checkpoint import load_checkpoint
from seqgan.data.tokenizers import get_tokenizer
from seqgan.data.vocab import Vocab
from seqgan.errors import SeqGANError
from seqgan.experiments import data_cmd, evaluate, paper_task, sample, train
from run_helpers import assert_same_checkpoint, strip_time

# A few seconds per run: the tiny preset, shortened further.
FAST = ["--preset", "tiny", "--threads", "1", "--no-progress",
        "--set", "train.g_pretrain_epochs=2", "--set", "train.d_pretrain_steps=1", "--set", "train.adv_rounds=2",
        "--set", "eval.final_samples=64", "--set", "eval.num_samples=64", "--set", "eval.d_samples=32"]
WORDS = "the a cat dog sat on mat red blue big small runs jumps over under".split()
CHARS = list("山水月花風雲天人") + list("abc")


def cli(argv: list[str]) -> int:
    """What seqgan.cli.main does for a command: parse, run, SeqGANError -> one line on stderr and 2."""
    parser = argparse.ArgumentParser(prog="seqgan")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (train, sample, evaluate, data_cmd, paper_task):
        module.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SeqGANError as exc:
        import sys

        print(f"seqgan {args.command}: error: {exc}", file=sys.stderr)
        return 2


def write_corpus(path, kind: str, n: int, seed: int, max_tokens: int = 12) -> list[str]:
    """n random lines for a tokenizer: words, characters (no spaces) or integer ids."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        k = rng.randint(2, max_tokens)
        if kind == "word":
            lines.append(" ".join(rng.choice(WORDS) for _ in range(k)))
        elif kind == "char":
            lines.append("".join(rng.choice(CHARS) for _ in range(k)))
        else:
            lines.append(" ".join(str(rng.randint(0, 20)) for _ in range(k)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def train_args(data, out, kind="word", max_len=12, valid=None, extra=()):
    args = ["train", "--data", str(data), "--tokenizer", kind, "--max-len", str(max_len), "--out", str(out), *FAST]
    return args + (["--valid", str(valid)] if valid else []) + list(extra)


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("word")
    write_corpus(root / "train.txt", "word", 300, seed=1)
    write_corpus(root / "valid.txt", "word", 60, seed=2)
    assert cli(train_args(root / "train.txt", root / "run", valid=root / "valid.txt")) == 0
    return root


def assert_same_run(out, ref) -> None:
    """A resumed run equals the uninterrupted one: its final checkpoint whole, its metrics, summary and samples."""
    assert_same_checkpoint(out / "checkpoints" / "adversarial.pt", ref / "checkpoints" / "adversarial.pt")
    assert strip_time(out / "metrics.jsonl") == strip_time(ref / "metrics.jsonl")
    untimed = lambda d: {k: v for k, v in json.loads((d / "summary.json").read_text()).items()  # noqa: E731
                         if not k.startswith("timings") and not k.endswith("time_s")}
    assert untimed(out) == untimed(ref)
    for name in ("mle.txt", "seqgan.txt"):
        assert (out / "samples" / name).read_text() == (ref / "samples" / name).read_text()


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("seqgan ")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------------------- outputs


def test_run_writes_the_oracle_outputs_with_nll_test(word_run):
    out = word_run / "run"
    for f in ("config.json", "metrics.jsonl", "summary.json", "nll.png", "data/vocab.json", "samples/mle.txt",
              "samples/seqgan.txt", "checkpoints/latest.pt", "checkpoints/mle.pt", "checkpoints/adversarial.pt"):
        assert (out / f).exists(), f
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/nll_test" in r]
    assert {r["phase"] for r in evals} == {"mle", "adversarial"}
    assert all("eval/nll_train" in r and "disc/acc_real" in r and "eval/sample_len" in r for r in evals)
    assert all(0 <= r["disc/acc_train"] <= 1 for r in evals)  # D on training lines beside held-out ones
    assert not any("eval/nll_oracle" in r for r in records)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["nll_test"]) == {"random", "mle", "seqgan"}
    assert summary["nll_test"]["mle"] < summary["nll_test"]["random"]  # MLE learned something
    assert summary["data"]["train"]["lines"] == 300 and summary["data"]["valid"]["lines"] == 60
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["start_token"] == 1 and cfg["model"]["vocab_size"] == len(WORDS) + 3
    assert len((out / "samples" / "seqgan.txt").read_text(encoding="utf-8").split("\n")) == 64 + 1


def test_nll_test_is_per_token_over_the_validation_file(word_run):
    """summary.json's NLL-test = total -log G over every token and <eos> of valid.txt / their count."""
    from seqgan.experiments.sample import load_sampler

    gen, vocab, _, _ = load_sampler(word_run / "run" / "checkpoints" / "mle.pt")
    lines = (word_run / "valid.txt").read_text().splitlines()
    total, count = 0.0, 0
    for line in lines:
        ids = vocab.encode(line.split()[:11]) + [vocab.eos_id]
        row = torch.tensor([ids + [0] * (12 - len(ids))])
        total -= gen.log_probs(row)[0, :len(ids)].double().sum().item()
        count += len(ids)
    summary = json.loads((word_run / "run" / "summary.json").read_text())
    assert abs(total / count - summary["nll_test"]["mle"]) < 1e-5


def test_an_empty_share_of_the_held_out_rows_scores_nothing(word_run):
    """Under torchrun a process whose share of --valid is empty (fewer rows than processes) crashed in torch.cat."""
    from seqgan.experiments.sample import load_sampler
    from seqgan.metrics.nll import sequence_nll

    gen, _, _, _ = load_sampler(word_run / "run" / "checkpoints" / "mle.pt")
    none = sequence_nll(gen, torch.zeros(0, 12, dtype=torch.long))
    assert none.dtype == torch.float64 and none.shape == (0,)


def test_checkpoint_vocabulary_round_trip(word_run):
    ckpt = load_checkpoint(word_run / "run" / "checkpoints" / "adversarial.pt")
    tok = get_tokenizer("word")
    built = Vocab.build([tok.tokenize(x) for x in (word_run / "train.txt").read_text().splitlines()])
    assert Vocab.from_dict(ckpt["vocab"]) == built and ckpt["tokenizer"] == "word"
    assert ckpt["generator"]["config"]["eos_token"] == 1 and ckpt["generator"]["config"]["pad_token"] == 0
    assert ckpt["discriminator"]["config"]["pad_token"] == 0
    on_disk = json.loads((word_run / "run" / "data" / "vocab.json").read_text())
    assert Vocab.from_dict(on_disk) == built


def test_samples_stop_at_eos_and_pad_after_it(word_run):
    from seqgan.experiments.sample import load_sampler

    gen, vocab, _, _ = load_sampler(word_run / "run" / "checkpoints" / "adversarial.pt")
    rows = gen.sample(500, generator=torch.Generator().manual_seed(0))
    ended = (rows == vocab.eos_id).cumsum(dim=1) > 0
    after = torch.cat([torch.zeros_like(ended[:, :1]), ended[:, :-1]], dim=1)  # strictly after the first <eos>
    assert (rows[after] == vocab.pad_id).all()
    assert (rows[~after] != vocab.pad_id).all()  # <pad> is never sampled
    assert ended[:, -1].float().mean() > 0.5  # most sequences end (the data's lines are short)


# ---------------------------------------------------------------------------- tokenizers


@pytest.mark.parametrize("kind", ["char", "ids"])
def test_every_tokenizer_trains_and_samples_decode(tmp_path, kind):
    lines = write_corpus(tmp_path / "train.txt", kind, 200, seed=3)
    out = tmp_path / "run"
    assert cli(train_args(tmp_path / "train.txt", out, kind=kind, max_len=10,
                          extra=["--set", "train.adv_rounds=1"])) == 0
    samples = (out / "samples" / "seqgan.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(samples) == 64
    tok = get_tokenizer(kind)
    alphabet = {t for x in lines for t in tok.tokenize(x)}
    unk = {"char": "\ufffd", "ids": "<unk>"}[kind]  # how a sampled <unk> is written
    for s in samples:
        tokens = s.split() if kind == "ids" else tok.tokenize(s)
        assert len(tokens) <= 10 and set(tokens) <= alphabet | {unk}  # T = 10: a sequence may have no <eos>
        assert " ".join(tokens) == s if kind == "ids" else tok.detokenize(tokens) == s  # the tokenizer's rule


def test_fixed_length_sequences_have_no_eos(tmp_path, capsys):
    """--fixed-length (the paper's poems and music): rows of exactly T tokens, G and D without <eos>/<pad>."""
    rng = random.Random(6)
    lines = ["".join(rng.choice(CHARS) for _ in range(rng.choice((10, 10, 10, 12)))) for _ in range(200)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    assert cli(train_args(tmp_path / "train.txt", out, kind="char", max_len=10,
                          extra=["--fixed-length", "--set", "train.adv_rounds=1"])) == 0
    assert "exactly 10 tokens, no <eos>" in capsys.readouterr().err
    ckpt = load_checkpoint(out / "checkpoints" / "adversarial.pt")
    assert ckpt["generator"]["config"]["eos_token"] is None and ckpt["discriminator"]["config"]["pad_token"] is None
    stats = json.loads((out / "summary.json").read_text())["data"]["train"]
    assert stats["truncated"] == sum(len(x) > 10 for x in lines) and stats["tokens"] == 200 * 10
    samples = (out / "samples" / "seqgan.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert all(len(x) <= 10 for x in samples) and sum(len(x) == 10 for x in samples) > len(samples) / 2
    (tmp_path / "short.txt").write_text("山水月花風雲天人山水\n山水月\n", encoding="utf-8")
    assert cli(train_args(tmp_path / "short.txt", tmp_path / "r2", kind="char", max_len=10,
                          extra=["--fixed-length"])) == 2
    assert "line 2 has 3 tokens, but data.fixed_length needs" in one_line_error(capsys)


def test_long_lines_truncated_or_skipped_and_counted(tmp_path, capsys):
    lines = write_corpus(tmp_path / "train.txt", "word", 200, seed=4, max_tokens=14)
    too_long = sum(len(x.split()) > 9 for x in lines)
    assert too_long > 0
    for mode in ("truncate", "skip"):
        out = tmp_path / mode
        assert cli(train_args(tmp_path / "train.txt", out, max_len=10,
                              extra=["--long-lines", mode, "--set", "train.adv_rounds=0"])) == 0
        stats = json.loads((out / "summary.json").read_text())["data"]["train"]
        assert stats[{"truncate": "truncated", "skip": "skipped"}[mode]] == too_long
        assert stats["kept"] == 200 - (too_long if mode == "skip" else 0)
        assert f"{too_long} {mode.replace('truncate', 'truncated').replace('skip', 'skipped')}" in capsys.readouterr().err


# ---------------------------------------------------------------------------- resume, init-from


def test_interrupted_run_resumes_to_the_same_weights(word_run, tmp_path, monkeypatch, capsys):
    """Stop after MLE epoch 1 (as Ctrl-C would): exit 130 with the resume command, as documented (it was
    2, an error, before). --resume: the final G equals the uninterrupted run's."""
    from seqgan.cli import main

    out = tmp_path / "run"
    original = train.RealDataRun.step_done

    def stop_once(self, phase, step, metrics):
        if phase == "mle" and step == 1 and not getattr(self.interrupt, "seen", False):
            self.interrupt.requested = self.interrupt.seen = True
        original(self, phase, step, metrics)

    monkeypatch.setattr(train.RealDataRun, "step_done", stop_once)
    args = train_args(word_run / "train.txt", out, valid=word_run / "valid.txt")
    assert main(args) == 130
    err = capsys.readouterr().err
    assert f"Resume with: seqgan train --resume --out {out}" in err and "error" not in err
    monkeypatch.setattr(train.RealDataRun, "step_done", original)
    assert cli(["train", "--resume", "--out", str(out), "--no-progress", "--threads", "1"]) == 0  # the run alone
    assert_same_run(out, word_run / "run")


def test_hard_kill_in_the_first_epoch_resumes_to_the_same_weights(word_run, tmp_path, monkeypatch):
    """Killed (kill -9) in MLE's first epoch, before any periodic checkpoint: --resume continues from the
    checkpoint written after epoch 0's evaluation, to the uninterrupted run's G."""
    class Killed(BaseException):
        pass

    def killed(self, phase, step, metrics):
        raise Killed

    out = tmp_path / "run"
    args = train_args(word_run / "train.txt", out, valid=word_run / "valid.txt")
    with monkeypatch.context() as m:
        m.setattr(train.RealDataRun, "step_done", killed)
        with pytest.raises(Killed):
            cli(args)
    assert cli(args + ["--resume"]) == 0
    assert_same_run(out, word_run / "run")


def test_resume_refuses_a_data_file_that_changed(word_run, tmp_path, capsys):
    import shutil
    run, valid = tmp_path / "run", word_run / "valid.txt"
    shutil.copytree(word_run / "run", run, ignore=shutil.ignore_patterns(".lock"))
    original = valid.read_text(encoding="utf-8")
    lines = original.splitlines()
    args = train_args(word_run / "train.txt", run, valid=valid) + ["--resume"]
    try:  # the same words and counts, two lines swapped: only the content tells
        valid.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n", encoding="utf-8")
        assert cli(args) == 2
        assert "the valid file changed since the run began (sha256:" in one_line_error(capsys)
    finally:
        valid.write_text(original, encoding="utf-8")
    assert cli(args) == 0


def test_nan_names_phase_and_step_and_keeps_the_checkpoint(word_run, tmp_path, monkeypatch, capsys):
    """As for seqgan oracle (tests/test_train.py): before, train let the bare error through, without
    where it happened or that the last good checkpoint is kept."""
    from seqgan.cli import main
    from seqgan.train import policy_gradient

    real_pg_step = policy_gradient.pg_step
    monkeypatch.setattr(policy_gradient, "pg_step", lambda gen, opt, seqs, rewards, clip:
                        real_pg_step(gen, opt, seqs, rewards * float("nan"), clip))
    out = tmp_path / "run"
    assert main(train_args(word_run / "train.txt", out, valid=word_run / "valid.txt")) == 2
    err = one_line_error(capsys)
    assert "phase 'adversarial' at step 1" in err and "last good checkpoint" in err
    assert load_checkpoint(out / "checkpoints" / "latest.pt")["position"] == {"phase": "adversarial", "step": 0}


def test_init_from_starts_at_the_source_generator(word_run, tmp_path):
    out = tmp_path / "init"
    assert cli(train_args(word_run / "train.txt", out, valid=word_run / "valid.txt",
                          extra=["--init-from", str(word_run / "run" / "checkpoints" / "mle.pt"),
                                 "--set", "train.adv_rounds=0"])) == 0
    new = json.loads((out / "summary.json").read_text())
    old = json.loads((word_run / "run" / "summary.json").read_text())
    assert abs(new["nll_test"]["init"] - old["nll_test"]["mle"]) < 1e-9
    assert new["init_from"]["loaded"] == "generator and discriminator"


# ---------------------------------------------------------------------------- bad input


def test_init_from_inside_the_run_it_would_overwrite_is_refused(word_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(word_run / "run", run, ignore=shutil.ignore_patterns(".lock"))
    args = train_args(word_run / "train.txt", run, extra=["--init-from", str(run / "checkpoints" / "mle.pt"), "--overwrite"])
    assert cli(args) == 2
    assert "which --overwrite empties" in one_line_error(capsys) and (run / "checkpoints" / "mle.pt").exists()


def test_init_from_a_relgan_generator_is_one_clear_error(word_run, tmp_path, capsys):
    from seqgan.checkpoint import load_checkpoint, model_entry, save_checkpoint
    from seqgan.models.relational import RelationalGenerator
    ckpt = load_checkpoint(word_run / "run" / "checkpoints" / "mle.pt")
    g = ckpt["generator"]["config"]
    ckpt["generator"] = model_entry(RelationalGenerator(g["vocab_size"], 8, g["seq_len"], head_size=8))
    save_checkpoint(tmp_path / "relgan.pt", ckpt)
    assert cli(train_args(word_run / "train.txt", tmp_path / "new", extra=["--init-from", str(tmp_path / "relgan.pt")])) == 2
    assert "its generator is not an LSTM" in one_line_error(capsys)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("damage", ["generator", "generator.config", "emb_dim"])
def test_init_from_a_damaged_checkpoint_is_one_clear_error(word_run, tmp_path, capsys, damage):
    """A checkpoint without its generator (or the generator's config) was a KeyError traceback."""
    from seqgan.checkpoint import load_checkpoint, save_checkpoint
    ckpt = load_checkpoint(word_run / "run" / "checkpoints" / "mle.pt")
    if damage == "generator":
        del ckpt["generator"]
    elif damage == "generator.config":
        del ckpt["generator"]["config"]
    else:
        del ckpt["generator"]["config"]["emb_dim"]
    save_checkpoint(tmp_path / "bad.pt", ckpt)
    assert cli(train_args(word_run / "train.txt", tmp_path / "new", extra=["--init-from", str(tmp_path / "bad.pt")])) == 2
    assert "damaged" in one_line_error(capsys)
    assert not (tmp_path / "new").exists()


def test_resume_or_init_from_with_another_vocabulary_is_refused(word_run, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text((word_run / "train.txt").read_text() + "zebra giraffe\n", encoding="utf-8")
    resumed = train_args(other, word_run / "run", valid=word_run / "valid.txt") + ["--resume"]
    assert cli(resumed) == 2
    msg = one_line_error(capsys)
    assert "vocabulary does not match" in msg and msg.endswith("edited since the run began gives another vocabulary "
                                                               "too: restore it")
    init = train_args(other, tmp_path / "new", extra=["--init-from", str(word_run / "run" / "checkpoints" / "mle.pt")])
    assert cli(init) == 2
    msg = one_line_error(capsys)
    assert "vocabulary does not match" in msg and "--init-from" in msg and "--max-len, --long-lines" in msg
    assert msg.endswith("or start without it")
    assert not (tmp_path / "new").exists()  # refused before a run directory was made


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"the cat\n\xff\xfe dog\n", "not UTF-8: line 2"),
    (b"the cat\n   \nthe dog\n", "line 2 is blank"),
    (b"the cat\nsat <eos> on\n", "reserved"),
])
def test_bad_data_one_clear_error_and_no_run_directory(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    assert cli(train_args(bad, tmp_path / "run")) == 2
    msg = one_line_error(capsys)
    assert message in msg and str(bad) in msg
    assert not (tmp_path / "run").exists()


def test_bad_ids_and_flags(tmp_path, capsys):
    data = tmp_path / "ids.txt"
    data.write_text("1 2 3\n4 five 6\n", encoding="utf-8")
    assert cli(train_args(data, tmp_path / "run", kind="ids")) == 2
    assert "line 2" in one_line_error(capsys)
    write_corpus(data, "word", 50, seed=5)
    assert cli(train_args(data, tmp_path / "run", max_len=5)) == 2  # tiny's D has a window of 10
    assert "D window width" in (msg := one_line_error(capsys))
    assert "give --max-len 10 or more, or narrower model.d_filter_sizes (with model.d_num_filters" in msg
    assert cli(train_args(data, tmp_path / "run", extra=["--set", "data.min_count=0"])) == 2
    assert "data.min_count must be at least 1" in one_line_error(capsys)
    assert cli(train_args(data, tmp_path / "run", extra=["--resume", "--init-from", "x.pt"])) == 2
    assert "give only one of them" in one_line_error(capsys)


def test_resume_data_check_ignores_the_unk_count_whose_rule_changed(tmp_path):
    """Subword <unk> pieces are counted since a later commit: a run begun before reads N <unk> now where
    its checkpoint says 0; the rows' sha256 decides, not that count."""
    from seqgan.experiments.corpus import check_same_data

    was = {"train": {"kept": 9, "unk_tokens": 0, "sha256": "ab"}, "valid": {"kept": 3, "unk_tokens": 0, "sha256": "cd"}}
    now = {"train": {"kept": 9, "unk_tokens": 2, "sha256": "ab"}, "valid": {"kept": 3, "unk_tokens": 1, "sha256": "cd"}}
    check_same_data(was, now, tmp_path)
    now["valid"]["sha256"] = "ef"
    with pytest.raises(SeqGANError, match=r"the valid file changed since the run began \(sha256: cd then, ef now\)"):
        check_same_data(was, now, tmp_path)


def test_resume_names_a_changed_flag_and_keeps_the_runs_threads(word_run, tmp_path, capsys):
    """A changed --max-len was reported as a changed train file (the rows change with it); and --threads,
    dropped from the run's settings, fell back to one thread per core on resume."""
    import shutil

    from seqgan.cli import build_parser
    from seqgan.experiments.args import config_from_args

    run = tmp_path / "run"
    shutil.copytree(word_run / "run", run, ignore=shutil.ignore_patterns(".lock"))
    assert cli(train_args(word_run / "train.txt", run, max_len=14, valid=word_run / "valid.txt") + ["--resume"]) == 2
    err = one_line_error(capsys)
    assert "differ from the run's checkpoint in --max-len: run has 12, flags give 14" in err
    resumed = build_parser().parse_args(["train", "--resume", "--out", str(run)])
    assert config_from_args(resumed).threads == 1  # the run's --threads 1
    resumed = build_parser().parse_args(["train", "--resume", "--threads", "2", "--out", str(run)])
    assert config_from_args(resumed).threads == 2  # a flag still decides


def test_a_moved_corpus_resumes_with_its_new_path(word_run, tmp_path):
    """The paths were compared as strings, so a corpus moved elsewhere could not be resumed at all; its content
    is what matters, and the sha256 check still refuses another file (test above)."""
    import shutil

    run, moved = tmp_path / "run", tmp_path / "moved"
    shutil.copytree(word_run / "run", run, ignore=shutil.ignore_patterns(".lock"))
    moved.mkdir()
    for name in ("train.txt", "valid.txt"):
        shutil.copy(word_run / name, moved / name)
    assert cli(train_args(moved / "train.txt", run, valid=moved / "valid.txt") + ["--resume"]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["train_path"] == str((moved / "train.txt").resolve())


def test_a_run_resumed_by_the_other_tasks_command_names_the_right_one(word_run, tmp_path, capsys):
    """train --resume on an oracle run said 'give --data FILE'; oracle --resume on a real-data run failed on a
    missing oracle after rewriting the run's config.json."""
    import shutil

    from seqgan.cli import main as seqgan
    from seqgan.config import resolve

    run = tmp_path / "text"
    shutil.copytree(word_run / "run", run, ignore=shutil.ignore_patterns(".lock"))
    before = (run / "config.json").read_bytes()
    assert seqgan(["oracle", "--resume", "--out", str(run), "--no-progress"]) == 2
    assert f"is a real-data run (data.train_path {(word_run / 'train.txt').resolve()}): resume it with seqgan train" \
        in one_line_error(capsys)
    assert (run / "config.json").read_bytes() == before
    oracle_run = tmp_path / "oracle"
    oracle_run.mkdir()
    (oracle_run / "config.json").write_text(json.dumps(resolve("tiny").to_dict()))
    assert seqgan(["train", "--resume", "--out", str(oracle_run), "--no-progress"]) == 2
    assert "is a run of the synthetic task (it has no data.train_path): resume it with seqgan oracle" \
        in one_line_error(capsys)


@pytest.mark.parametrize("item, decided_by", [("model.vocab_size=99", "comes from the data's vocabulary"),
                                              ("model.start_token=3", "is <eos> (id 1) with real data")])
def test_set_of_a_key_the_data_decides_is_refused(word_run, tmp_path, capsys, item, decided_by):
    """--set model.vocab_size=... was silently replaced by the vocabulary's size."""
    assert cli(train_args(word_run / "train.txt", tmp_path / "run", extra=["--set", item])) == 2
    assert f"--set {item}: {item.split('=')[0]} {decided_by}, so this command sets it" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_a_resumed_run_names_the_phase_where_it_diverged(word_run, tmp_path, capsys, monkeypatch):
    """train --resume did not set the run's position, so a NaN in D's pre-training after resuming from
    mle.pt was reported "in phase 'mle' at step 1"."""
    import shutil

    from seqgan.train import algorithm
    from seqgan.train.step import NonFiniteError

    def diverged(*args, **kwargs):
        raise NonFiniteError("the gradient of D is nan")

    run = tmp_path / "run"
    shutil.copytree(word_run / "run", run, ignore=shutil.ignore_patterns(".lock"))
    shutil.copy(run / "checkpoints" / "mle.pt", run / "checkpoints" / "latest.pt")
    monkeypatch.setattr(algorithm, "d_step", diverged)
    assert cli(train_args(word_run / "train.txt", run, valid=word_run / "valid.txt", extra=["--resume"])) == 2
    assert "in phase 'd_pretrain' at step 1" in one_line_error(capsys)


def test_preset_fast_means_the_text_preset(tmp_path, monkeypatch):
    """train --preset fast loaded the synthetic task's preset (the paper's 1,720-filter D, 20,000 final
    samples) on a real corpus, while paper-task --preset fast meant text_fast."""
    from seqgan.experiments import train

    class Stop(Exception):
        pass

    seen = {}

    def capture(cfg, out, **kw):
        seen["preset"] = cfg.preset
        raise Stop

    monkeypatch.setattr(train, "run", capture)
    write_corpus(tmp_path / "train.txt", "word", 30, seed=8)
    with pytest.raises(Stop):
        cli(train_args(tmp_path / "train.txt", tmp_path / "run", max_len=24, extra=["--preset", "fast"]))
    assert seen["preset"] == "text_fast"


def test_real_data_baseline_logs_no_accuracy_of_the_d_it_leaves_alone(tmp_path):
    """train --algorithm mle: its own phase logs sample lengths but no disc/acc_* of the D it never trains."""
    write_corpus(tmp_path / "train.txt", "word", 200, seed=3)
    assert cli(train_args(tmp_path / "train.txt", tmp_path / "run", extra=["--algorithm", "mle"])) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    own = [r for r in records if r["phase"] not in ("mle", "d_pretrain") and "eval/sample_len" in r]
    assert own and not any(k.startswith("disc/acc") for r in own for k in r)
    assert any("disc/acc_real" in r for r in records if r["phase"] == "d_pretrain")


def test_the_text_preset_scales_relgan_and_leakgan_down_as_the_synthetic_one():
    """train --algorithm relgan under text_fast took the authors' RelGAN: 150 rounds of 20 iterations."""
    from seqgan.config import resolve

    text, fast = resolve("text_fast"), resolve("fast")
    assert text.relgan == fast.relgan and (text.leakgan.rounds, text.leakgan.mle_every) == (15, 15)
