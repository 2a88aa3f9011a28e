"""A run interrupted in any phase and resumed gives the same results, bit for bit, on CPU."""

import json

import pytest

from seqgan.cli import main
from seqgan.experiments import oracle as oracle_exp
from run_helpers import assert_same_checkpoint, strip_time


def results(out):
    summary = json.loads((out / "summary.json").read_text())
    return (summary["nll_oracle"], (out / "samples" / "mle.txt").read_text(),
            (out / "samples" / "seqgan.txt").read_text())


def assert_resumed_exactly(out, reference, skip=()):
    """Results, metrics and the final checkpoint whole (weights, optimisers, RNG states) equal the reference's."""
    assert results(out) == results(reference)
    assert strip_time(out / "metrics.jsonl") == strip_time(reference / "metrics.jsonl")
    assert_same_checkpoint(out / "checkpoints" / "latest.pt", reference / "checkpoints" / "latest.pt", skip)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 0
    return out


def run_interrupted(out, monkeypatch, phase, step):
    """The tiny oracle run, stopped as if Ctrl-C arrived during ``step`` of ``phase``."""
    original = oracle_exp.OracleRun.step_done

    def interrupting(self, ph, st, metrics):
        if (ph, st) == (phase, step):
            self.interrupt.requested = True
        return original(self, ph, st, metrics)

    with monkeypatch.context() as m:
        m.setattr(oracle_exp.OracleRun, "step_done", interrupting)
        return main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"])


@pytest.mark.parametrize("phase, step", [("mle", 3), ("d_pretrain", 1), ("adversarial", 2)])
def test_interrupt_and_resume_is_exact(reference, tmp_path, monkeypatch, capsys, phase, step):
    out = tmp_path / "run"
    assert run_interrupted(out, monkeypatch, phase, step) == 130
    assert f"Resume with: seqgan oracle --resume --out {out}\n" in capsys.readouterr().err
    assert not (out / "summary.json").exists()
    # the run alone: its config.json gives the preset and every setting
    assert main(["oracle", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert_resumed_exactly(out, reference)


class Killed(BaseException):
    """A hard kill (kill -9, out of memory): the process ends at once, writing nothing more."""


def test_hard_kill_before_the_first_periodic_checkpoint_resumes_exactly(reference, tmp_path, monkeypatch):
    """Killed in MLE's first epoch, before train.checkpoint_every's first save: --resume continues from the
    checkpoint written after epoch 0's evaluation (there was none: the run could only be overwritten)."""
    out = tmp_path / "run"

    def killed(self, phase, step, metrics):
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(oracle_exp.OracleRun, "step_done", killed)
        with pytest.raises(Killed):
            main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"])
    assert main(["oracle", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert_resumed_exactly(out, reference)


def test_ctrl_c_in_a_phase_end_evaluation_stops_at_the_phase_boundary(reference, tmp_path, monkeypatch, capsys):
    """A Ctrl-C during the evaluation that ends MLE pre-training stops the run there, before D pre-training's
    first step (a minute and a half at the paper's shapes), with the phase's checkpoint; resumed, it is exact."""
    import os
    import signal

    from seqgan.checkpoint import load_checkpoint

    out = tmp_path / "run"
    original = oracle_exp.OracleRun.final_evaluation

    def ctrl_c(self, name):
        os.kill(os.getpid(), signal.SIGINT)
        return original(self, name)

    with monkeypatch.context() as m:
        m.setattr(oracle_exp.OracleRun, "final_evaluation", ctrl_c)
        assert main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 130
    assert "interrupted at the end of phase 'mle'; checkpoint written" in capsys.readouterr().err
    assert load_checkpoint(out / "checkpoints" / "latest.pt")["position"] == {"phase": "d_pretrain", "step": 0}
    assert main(["oracle", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert_resumed_exactly(out, reference)


def test_resume_may_change_how_often_it_checkpoints(reference, tmp_path, monkeypatch):
    """train.checkpoint_every only says when the run saves: --resume accepts a new value, keeps it in
    config.json for the next resume, and the results stay those of the uninterrupted run."""
    out = tmp_path / "run"
    assert run_interrupted(out, monkeypatch, "adversarial", 1) == 130
    assert json.loads((out / "config.json").read_text())["train"]["checkpoint_every"] == 2
    assert main(["oracle", "--resume", "--out", str(out), "--no-progress", "--set", "train.checkpoint_every=1"]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["checkpoint_every"] == 1
    assert_resumed_exactly(out, reference, skip=("config",))  # checkpoint_every: 1 now, 2 in the reference


def test_resume_refuses_changed_flags(reference, capsys):
    for flags in (["--preset", "tiny", "--set", "train.rollouts=5"], ["--set", "train.rollouts=5"]):
        assert main(["oracle", *flags, "--out", str(reference), "--resume", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "differ from the run's checkpoint in train.rollouts: run has 4, flags give 5" in err, err
        assert "model." not in err  # only the key the flags change, not the preset's others
    assert main(["oracle", "--preset", "fast", "--out", str(reference), "--resume", "--no-progress"]) == 2
    assert "train.g_pretrain_epochs: run has 4, flags give 50" in capsys.readouterr().err


def test_resume_of_empty_directory(tmp_path, capsys):
    assert main(["oracle", "--preset", "tiny", "--out", str(tmp_path), "--resume"]) == 2
    assert "holds no run to resume" in capsys.readouterr().err


def test_second_interrupt_raises_at_once():
    import os
    import signal

    from seqgan.experiments.common import Interrupt

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when pytest runs in a background job
    with Interrupt().installed() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested  # the first asks the run to stop after the current step
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_double_ctrl_c_exits_at_once_and_keeps_the_checkpoint(tmp_path):
    """A real process, interrupted twice during a long D pre-training step (1,000 epochs): the first
    Ctrl-C asks it to stop after the step, the second stops it at once, exit code 130 and no
    traceback; the checkpoint written after MLE pre-training is intact."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from seqgan.checkpoint import load_checkpoint

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "seqgan", "oracle", "--preset", "tiny", "--out", str(out), "--no-progress",
           "--threads", "1", "--set", "train.d_epochs=1000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    ckpt = out / "checkpoints" / "d_pretrain.pt"
    mle_ckpt = out / "checkpoints" / "mle.pt"
    deadline = time.monotonic() + 120
    while not mle_ckpt.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # inside the first D pre-training step, which takes many seconds
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)  # the handler has run: the run now waits for the end of the step
    assert proc.poll() is None
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.monotonic() - sent < 10  # at once, not after the step's 1,000 epochs
    assert proc.returncode == 130, err
    assert "press Ctrl-C again" in err and "Traceback" not in err
    assert not ckpt.exists()
    saved = load_checkpoint(out / "checkpoints" / "latest.pt")
    assert saved["position"] == {"phase": "d_pretrain", "step": 0}


def test_resume_refuses_a_checkpoint_of_another_shape(reference, tmp_path, capsys):
    """A checkpoint from a run with another G (hidden size 8) dropped into a run directory."""
    import shutil

    other = tmp_path / "other"
    assert main(["oracle", "--preset", "tiny", "--out", str(other), "--no-progress",
                 "--set", "model.g_hidden_dim=8", "--set", "train.adv_rounds=0"]) == 0
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    (run / "checkpoints" / "latest.pt").write_bytes((other / "checkpoints" / "mle.pt").read_bytes())
    capsys.readouterr()
    assert main(["oracle", "--preset", "tiny", "--out", str(run), "--no-progress", "--resume"]) == 2
    assert "model.g_hidden_dim: run has 8, flags give 16" in capsys.readouterr().err


def test_resume_takes_the_runs_device_and_refuses_another(reference, tmp_path, capsys):
    """A run begun on CUDA (its config and checkpoint say so), resumed here without a GPU: `--resume --out`
    alone asks for CUDA (the run's device, not cpu: before, it took cpu and crashed in set_state), and
    --device cpu is one line, since the random streams are device-specific."""
    import shutil

    import torch

    from seqgan.checkpoint import load_checkpoint, save_checkpoint
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    run = tmp_path / "run"
    shutil.copytree(reference, run, ignore=shutil.ignore_patterns(".lock"))
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "device": "cuda"}))
    ckpt = load_checkpoint(run / "checkpoints" / "latest.pt")
    ckpt["config"]["device"] = "cuda"
    save_checkpoint(run / "checkpoints" / "latest.pt", ckpt)
    capsys.readouterr()
    assert main(["oracle", "--resume", "--out", str(run), "--no-progress"]) == 2
    assert "--device cuda: CUDA is not available here" in capsys.readouterr().err
    assert main(["oracle", "--resume", "--out", str(run), "--no-progress", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "the run began on cuda" in err and "Traceback" not in err


def test_checkpoint_of_another_format_version_is_refused(tmp_path):
    import torch

    from seqgan.checkpoint import load_checkpoint, save_checkpoint
    from seqgan.errors import SeqGANError

    path = save_checkpoint(tmp_path / "c.pt", {"x": 1})
    data = torch.load(path, weights_only=True)
    torch.save({**data, "format_version": 99, "seqgan_version": "9.0"}, path)
    with pytest.raises(SeqGANError, match="format version 99.*reads version 1.*9.0"):
        load_checkpoint(path)


def test_a_section_the_run_never_had_comes_from_its_preset(tmp_path, capsys):
    """A run's config.json from a seqgan without an algorithm's section (say relgan) resumes with that
    section from the run's preset, not the library defaults, which for RelGAN are the authors' far larger
    shapes; where the file names no preset, the command says so and --preset NAME supplies it."""
    from seqgan.cli import build_parser
    from seqgan.config import Config, resolve
    from seqgan.experiments.args import config_from_args, run_config
    from seqgan.experiments.common import check_resume_config

    started = resolve("tiny")
    assert started.preset == "tiny" and started.to_dict()["preset"] == "tiny"
    saved = started.to_dict()
    del saved["relgan"]
    (tmp_path / "config.json").write_text(json.dumps(saved))

    def resumed(*flags):
        args = build_parser().parse_args(["table1", "--resume", "--out", str(tmp_path), *flags])
        return config_from_args(args)

    cfg = resumed()
    assert cfg.relgan == started.relgan and cfg.relgan.head_size != Config().relgan.head_size
    assert cfg.preset == "tiny" and "no relgan section" not in capsys.readouterr().err
    del saved["preset"]  # older still: the run names no preset
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert resumed().relgan == Config().relgan
    assert "config.json has no relgan section" in capsys.readouterr().err
    cfg = resumed("--preset", "tiny")
    assert cfg.relgan == started.relgan and "no relgan section" not in capsys.readouterr().err
    args = build_parser().parse_args(["table1", "--resume", "--out", str(tmp_path), "--preset", "tiny"])
    check_resume_config(run_config(args), cfg, tmp_path)  # the run's other settings are unchanged: accepted


def test_a_torn_metrics_line_resumes_exactly_and_a_damaged_kept_one_is_named(reference, tmp_path, monkeypatch,
                                                                              capsys):
    """A kill or a full disk mid-write leaves half a line at the end of metrics.jsonl: --resume drops it with
    the records after the checkpoint (it was a JSONDecodeError traceback on every --resume). A damaged line
    among the records the checkpoint keeps is one error naming the file and the line."""
    out = tmp_path / "run"
    assert run_interrupted(out, monkeypatch, "d_pretrain", 1) == 130
    metrics = out / "metrics.jsonl"
    good = metrics.read_bytes()
    lines = good.split(b"\n")
    metrics.write_bytes(b"\n".join([lines[0], lines[1][:17], *lines[2:]]))
    capsys.readouterr()
    assert main(["oracle", "--resume", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{metrics}, line 2, is damaged" in err and err.count("\n") == 1 and "Traceback" not in err
    metrics.write_bytes(good + b'{"disc/loss": 0.69, "epo')
    assert main(["oracle", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert_resumed_exactly(out, reference)
