"""The real entry point on the tiny preset, and one clear error for each kind of bad input."""

import json
import pickle
import subprocess
import sys

import pytest

from conftest import ORACLE_PKL, need
from seqgan.cli import main
from seqgan.config import resolve
from seqgan.errors import SeqGANError


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    assert main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 0
    return out


def test_oracle_prints_the_summary_table(tiny_run, capsys):
    """--resume on a finished run prints its table again, every value from summary.json."""
    assert main(["oracle", "--preset", "tiny", "--out", str(tiny_run), "--no-progress", "--resume"]) == 0
    summary = json.loads((tiny_run / "summary.json").read_text())
    out = capsys.readouterr().out
    assert "| model | NLL-oracle (nats/token) | NLL-test |" in out
    for name, label in (("random", "Random (untrained G)"), ("mle", "MLE"), ("seqgan", "SeqGAN")):
        assert f"| {label} | {summary['nll_oracle'][name]:.4f} | {summary['nll_test'][name]:.4f} |" in out


def test_oracle_command_writes_every_output(tiny_run):
    out = tiny_run
    for f in ("config.json", "metrics.jsonl", "summary.json", "nll_oracle.png", "samples/mle.txt",
              "samples/seqgan.txt", "data/train.txt", "checkpoints/latest.pt", "checkpoints/mle.pt"):
        assert (out / f).exists(), f
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["nll_oracle"]) == {"random", "mle", "seqgan"}
    assert summary["nll_oracle"]["mle"] < summary["nll_oracle"]["random"]
    assert set(summary["nll_test"]) == {"random", "mle", "seqgan"}
    assert all(v > summary["oracle_nll_of_training_data"] for v in summary["nll_test"].values())
    cfg = resolve("tiny")
    lines = (out / "samples" / "seqgan.txt").read_text().splitlines()
    assert len(lines) == cfg.eval.final_samples and all(len(l.split()) == cfg.model.seq_len for l in lines)
    records = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/nll_oracle" in r]
    assert {r["phase"] for r in evals} == {"mle", "adversarial"}
    assert all("disc/acc_real" in r and "disc/acc_fake" in r and "eval/nll_test" in r for r in evals)
    assert all(0 <= r["disc/acc_train"] <= 1 for r in evals)  # D on rows of S beside fresh oracle rows
    assert evals[-1]["eval/nll_test"] == summary["nll_test"]["seqgan"]  # the same G, the same held-out set
    assert any("gen/pg_loss" in r for r in records) and any("gen/mle_loss" in r for r in records)


def test_final_samples_are_the_ones_scored(tiny_run):
    """summary.json's NLL is exactly the oracle's NLL of samples/seqgan.txt."""
    import torch
    from seqgan.checkpoint import build_model, load_checkpoint
    from seqgan.metrics.nll import sequence_nll
    from seqgan.models.generator import Generator

    ckpt = load_checkpoint(tiny_run / "checkpoints" / "latest.pt")
    oracle = build_model(Generator, ckpt["oracle"], "oracle")
    seqs = torch.tensor([[int(x) for x in l.split()] for l in (tiny_run / "samples" / "seqgan.txt").read_text().splitlines()])
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert abs(sequence_nll(oracle, seqs).mean().item() - summary["nll_oracle"]["seqgan"]) < 1e-9


def test_checkpoint_rebuilds_generator_alone(tiny_run):
    from seqgan.checkpoint import build_model, load_checkpoint
    from seqgan.models.generator import Generator

    ckpt = load_checkpoint(tiny_run / "checkpoints" / "adversarial.pt")
    gen = build_model(Generator, ckpt["generator"], "generator")
    assert gen.sample(3).shape == (3, resolve("tiny").model.seq_len)
    assert ckpt["position"] == {"phase": "done", "step": 0} and ckpt["config"]["model"]["vocab_size"] == 64
    # a config whose start token lies outside the vocabulary loaded, then failed at the first sample
    bad = {**ckpt["generator"], "config": {**ckpt["generator"]["config"], "start_token": 64}}
    with pytest.raises(SeqGANError, match=r"generator does not match its own config: token ids must lie in "
                                          r"\[0, vocab_size=64\) .*start_token=64"):
        build_model(Generator, bad, "generator")


def test_existing_run_directory_is_refused(tiny_run, capsys):
    assert main(["oracle", "--preset", "tiny", "--out", str(tiny_run), "--no-progress"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    before = sorted(p.name for p in tiny_run.iterdir())
    assert main(["oracle", "--resume", "--overwrite", "--out", str(tiny_run), "--no-progress"]) == 2
    assert "give one of them" in capsys.readouterr().err  # both were accepted, and --overwrite ignored
    assert sorted(p.name for p in tiny_run.iterdir()) == before


def run_err(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("args, message", [
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--set", "train.rollout=3"], "unknown key train.rollout"),
    (["--set", "train.rollouts=many"], "train.rollouts must be an integer"),
    (["--set", "train.rollouts=0"], "train.rollouts must be at least 1"),
    (["--set", "train.rollout_policy=sometimes"], "rollout_policy must be 'live' or 'delayed'"),
    (["--oracle-params", "/nonexistent/params.pkl"], "does not exist"),
])
def test_bad_input_one_clear_error(tmp_path, capsys, args, message):
    err = run_err(["oracle", "--preset", "tiny", "--out", str(tmp_path / "x"), "--no-progress", *args], capsys)
    assert message in err


def test_bad_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nroll_outs = 3\n")
    assert "unknown key train.roll_outs" in run_err(
        ["oracle", "--preset", "tiny", "--config", str(cfg), "--out", str(tmp_path / "x")], capsys)
    cfg.write_text("[train\n")
    assert "not valid TOML" in run_err(
        ["oracle", "--preset", "tiny", "--config", str(cfg), "--out", str(tmp_path / "x")], capsys)


def test_hostile_oracle_pickle(tmp_path, capsys):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(print))
    assert "refusing to load" in run_err(
        ["oracle", "--preset", "tiny", "--oracle-params", str(evil), "--out", str(tmp_path / "x")], capsys)


def test_authors_oracle_needs_matching_shapes(tmp_path, capsys):
    need(ORACLE_PKL)
    assert "vocabulary 5000" in run_err(
        ["oracle", "--preset", "tiny", "--oracle-params", str(ORACLE_PKL), "--out", str(tmp_path / "x")], capsys)


def test_precedence_preset_file_set(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[train]\nrollouts = 7\nd_steps = 2\n")
    cfg = resolve("tiny", f, ["train.rollouts=9"], seed=3)
    assert (cfg.train.rollouts, cfg.train.d_steps, cfg.seed, cfg.model.vocab_size) == (9, 2, 3, 64)
    with pytest.raises(SeqGANError):
        resolve("tiny", None, ["rollouts"])


def test_exit_code_and_no_traceback_in_a_real_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "seqgan", "oracle", "--preset", "nope", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "unknown preset" in proc.stderr


def test_run_directory_in_use_by_another_process(tmp_path, capsys):
    import os
    import subprocess as sp

    out = tmp_path / "busy"
    out.mkdir()
    sleeper = sp.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (out / ".lock").write_text(str(sleeper.pid))
        err = run_err(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"], capsys)
        assert f"pid {sleeper.pid}" in err and "is using" in err
    finally:
        sleeper.kill()
        sleeper.wait()
    (out / ".lock").write_text("999999999")  # a process that is gone: the lock is stale and taken over
    from seqgan.experiments.run_dir import lock_run_dir
    lock_run_dir(out)
    assert (out / ".lock").read_text() == str(os.getpid())


def test_resume_takes_the_lock_and_removes_stale_temporaries(tmp_path, capsys):
    """--resume is refused while another process uses the directory (before, only new runs locked), and
    a resumed run deletes the half-written checkpoint temporaries a killed process left (a second
    Ctrl-C or kill -9 during a save), but nothing else."""
    import subprocess as sp

    out = tmp_path / "run"
    assert main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    (out / ".lock").unlink()  # as if the run had been made by a process that has exited
    stale = [out / "checkpoints" / ".latest.pt.k2j4_x.tmp", out / "checkpoints" / ".adversarial.pt.a1.tmp"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    mine = [out / "checkpoints" / "notes.tmp", out / "my.pt.tmp"]
    for p in mine:
        p.write_text("the user's")
    sleeper = sp.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (out / ".lock").write_text(str(sleeper.pid))
        err = run_err(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress", "--resume"], capsys)
        assert f"pid {sleeper.pid}" in err and "is using" in err
        assert all(p.exists() for p in stale)  # nothing touched while another process holds it
    finally:
        sleeper.kill()
        sleeper.wait()
    (out / ".lock").unlink()
    assert main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress", "--resume"]) == 0
    assert not any(p.exists() for p in stale)
    assert all(p.read_text() == "the user's" for p in mine)


@pytest.mark.parametrize("damage", ["num_records", "rng", "phase", "config", "oracle", "config.train"])
def test_a_damaged_checkpoint_field_is_one_clear_error(tiny_run, tmp_path, capsys, damage):
    """A checkpoint whose header reads but that lacks a field (or names a phase the algorithm does not have)
    ended in a KeyError or a bare ValueError from deep in the resume."""
    import shutil

    from seqgan.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns(".lock"))
    ckpt = load_checkpoint(run / "checkpoints" / "mle.pt")
    if damage == "phase":
        ckpt["position"] = {"phase": "bogus", "step": 1}
    elif damage == "config.train":
        ckpt["config"]["train"] = 3
    else:
        del ckpt[damage]
    save_checkpoint(run / "checkpoints" / "latest.pt", ckpt)
    assert main(["oracle", "--resume", "--out", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and "Traceback" not in err and err.count("\n") == 1, err


def test_resume_refuses_a_training_set_drawn_differently(tiny_run, tmp_path, capsys):
    """--resume draws S again from the oracle; another CPU type or device may draw other sequences, and the
    run went on with them silently. Here the file of S is changed instead."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns(".lock"))
    s = run / "data" / "train.txt"
    s.write_text(s.read_text().replace(" ", "  ", 1))
    assert main(["oracle", "--resume", "--out", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "sampled again from the oracle differs from" in err and "Traceback" not in err


def test_the_sample_count_is_num_samples_in_every_command():
    """sample -n, sweep --samples and paper-task --num-samples: one spelling works in all three."""
    from seqgan.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["sample", "--checkpoint", "c.pt", "--num-samples", "5"]).num == 5
    assert parser.parse_args(["sweep", "--run", "r", "--out", "o", "--num-samples", "7"]).samples == 7
    assert parser.parse_args(["paper-task", "poems", "--out", "o", "--num-samples", "9"]).num_samples == 9


def test_resume_at_another_thread_count_says_so(tiny_run, tmp_path, capsys):
    """The thread count is not part of the run's config; a resume under another one went on without a word,
    though parallel reductions may then round differently."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns(".lock"))
    shutil.copy(run / "checkpoints" / "mle.pt", run / "checkpoints" / "latest.pt")
    from seqgan.checkpoint import load_checkpoint

    saved = load_checkpoint(run / "checkpoints" / "mle.pt")["threads"]
    other = 1 if saved != 1 else 2
    assert main(["oracle", "--resume", "--out", str(run), "--no-progress", "--threads", str(other)]) == 0
    assert f"saved at {saved} thread(s), this process has {other}" in capsys.readouterr().err
