"""A run interrupted in any phase and resumed gives the same results, bit for bit, on CPU."""

import json

import pytest

from seqgan.cli import main
from seqgan.experiments import oracle as oracle_exp


def results(out):
    summary = json.loads((out / "summary.json").read_text())
    return (summary["nll_oracle"], (out / "samples" / "mle.txt").read_text(),
            (out / "samples" / "seqgan.txt").read_text())


def strip_time(path):
    return [{k: v for k, v in json.loads(l).items() if not k.startswith("time/")}
            for l in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.parametrize("phase, step", [("mle", 3), ("d_pretrain", 1), ("adversarial", 2)])
def test_interrupt_and_resume_is_exact(reference, tmp_path, monkeypatch, capsys, phase, step):
    original = oracle_exp.OracleRun.step_done

    def interrupting(self, ph, st, metrics):
        if (ph, st) == (phase, step):
            self.interrupt.requested = True  # as if Ctrl-C arrived during this step
        return original(self, ph, st, metrics)

    out = tmp_path / "run"
    monkeypatch.setattr(oracle_exp.OracleRun, "step_done", interrupting)
    assert main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 130
    assert "--resume" in capsys.readouterr().err
    assert not (out / "summary.json").exists()
    monkeypatch.setattr(oracle_exp.OracleRun, "step_done", original)
    assert main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress", "--resume"]) == 0
    assert results(out) == results(reference)
    assert strip_time(out / "metrics.jsonl") == strip_time(reference / "metrics.jsonl")


def test_resume_refuses_changed_flags(reference, capsys):
    assert main(["oracle", "--preset", "tiny", "--out", str(reference), "--resume",
                 "--set", "train.rollouts=5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "train.rollouts: run has 4, flags give 5" in err


def test_resume_of_empty_directory(tmp_path, capsys):
    assert main(["oracle", "--preset", "tiny", "--out", str(tmp_path), "--resume"]) == 2
    assert "holds no run to resume" in capsys.readouterr().err
