"""``seqgan data`` (offline: coco from a local directory, a missing or failing npm) and
``seqgan paper-task`` on a small COCO-like corpus; the full corpora only in slow tests."""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import shlex
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ttest_ind

from seqgan.cli import build_parser
from seqgan.data.corpora import store
from seqgan.experiments.data_cmd import add_fetch_args
from seqgan.experiments.paper_task import HINT_FLAGS, resume_hint
from seqgan.metrics.bleu import bleu_scores
from test_realdata_train import WORDS, cli, one_line_error

SHARED_COCO = Path(__file__).resolve().parents[2] / "shared" / "data" / "image_coco"


def captions(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + " ." for _ in range(n)]


@pytest.fixture()
def coco_source(tmp_path):
    src = tmp_path / "coco_src"
    src.mkdir()
    (src / "train.txt").write_text("\n".join(captions(300, 1)) + "\n", encoding="utf-8")
    (src / "test.txt").write_text("\n".join(captions(60, 2)) + "\n", encoding="utf-8")
    return src


def complete_entries(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if store.is_complete(p)] if cache.exists() else []


# ------------------------------------------------------------------------------- data


def test_data_coco_prints_where_and_counts(tmp_path, coco_source, capsys):
    cache = tmp_path / "cache"
    assert cli(["data", "coco", "--source", str(coco_source), "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    [entry] = complete_entries(cache)
    assert f"{entry}/train.txt  300 sequences" in out and f"{entry}/test.txt   60 sequences" in out
    assert "--tokenizer word --max-len 38" in out
    assert (entry / "train.txt").read_text().splitlines()[0] == captions(1, 1)[0]


def test_data_flags_that_do_not_apply(tmp_path, coco_source, capsys):
    assert cli(["data", "coco", "--cache", str(tmp_path / "c")]) == 2
    assert "needs --source DIR" in one_line_error(capsys)
    assert cli(["data", "coco", "--source", str(coco_source), "--simplified", "--cache", str(tmp_path / "c")]) == 2
    assert "--simplified does not apply to the coco corpus; its options: --source" in one_line_error(capsys)
    assert cli(["data", "coco", "--source", str(coco_source), "--split-seed", "3", "--cache", str(tmp_path / "c")]) == 2
    assert "--split-seed does not apply to the coco corpus" in one_line_error(capsys)  # it was silently ignored
    assert not complete_entries(tmp_path / "c")


def test_an_unreadable_coco_source_is_named_not_the_cache(tmp_path, coco_source, capsys, monkeypatch):
    """A --source file that cannot be read was reported as "cannot write the coco corpus cache"."""
    import errno

    real = Path.read_bytes

    def refused(self):
        if self == coco_source.resolve() / "train.txt":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refused)  # as chmod 000 would (root ignores chmod)
    assert cli(["data", "coco", "--source", str(coco_source), "--cache", str(tmp_path / "c")]) == 2
    msg = one_line_error(capsys)
    assert "cannot read" in msg and "train.txt" in msg and "cache" not in msg


def test_data_without_npm_or_network_is_one_clear_error_and_no_cache(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    assert cli(["data", "poems", "--cache", str(cache), "--npm", str(tmp_path / "no" / "npm")]) == 2
    msg = one_line_error(capsys)
    assert "cannot run" in msg and "install Node.js with npm" in msg
    failing = tmp_path / "npm"
    failing.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('ERR! network ENOTFOUND\\n')\nsys.exit(1)\n")
    failing.chmod(failing.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("SEQGAN_NPM", str(failing))
    assert cli(["data", "poems", "--cache", str(cache)]) == 2
    msg = one_line_error(capsys)
    assert "ENOTFOUND" in msg and "registry is reachable" in msg
    assert not complete_entries(cache)
    assert not [p for p in cache.rglob("*") if p.is_file()]  # no partial download or entry left behind


# -------------------------------------------------------------------------- paper-task


def test_paper_task_refuses_a_set_of_what_the_task_fixes(tmp_path, coco_source, capsys):
    """--set model.seq_len=... was silently replaced by the corpus's length."""
    for item in ("model.seq_len=10", "data.tokenizer=char", "model.vocab_size=50"):
        assert cli(["paper-task", "coco", "--source", str(coco_source), "--cache", str(tmp_path / "cache"),
                    "--preset", "tiny", "--no-progress", "--out", str(tmp_path / "pt"), "--set", item]) == 2
        assert f"--set {item}: {item.split('=')[0]} " in one_line_error(capsys)
    assert not (tmp_path / "pt").exists() and not (tmp_path / "cache").exists()


def test_paper_task_overwrite_keeps_a_folder_that_only_has_a_run_subfolder(tmp_path, coco_source, capsys):
    """Any run/ folder made --out count as a paper-task's, and --overwrite then removed its samples/."""
    proj = tmp_path / "proj"
    (proj / "run").mkdir(parents=True)
    (proj / "samples").mkdir()
    (proj / "run" / "notes.txt").write_text("mine")
    (proj / "samples" / "x.txt").write_text("mine too")
    assert cli(["paper-task", "coco", "--source", str(coco_source), "--cache", str(tmp_path / "cache"),
                "--preset", "tiny", "--no-progress", "--out", str(proj), "--overwrite"]) == 2
    assert "no paper-task run" in one_line_error(capsys)
    assert (proj / "samples" / "x.txt").read_text() == "mine too" and (proj / "run" / "notes.txt").exists()


def test_paper_task_table_rows_scored_the_same_way(tmp_path, coco_source, capsys, monkeypatch):
    out = tmp_path / "pt"
    import seqgan.experiments.paper_task as paper_task
    seeds, real_sample_lines = {}, paper_task.sample_lines

    def recording(path, num, seed=0, **kw):
        seeds[Path(path).name] = seed
        return real_sample_lines(path, num, seed=seed, **kw)

    monkeypatch.setattr(paper_task, "sample_lines", recording)
    args = ["paper-task", "coco", "--source", str(coco_source), "--cache", str(tmp_path / "cache"),
            "--preset", "tiny", "--threads", "1", "--no-progress", "--out", str(out),
            "--set", "train.g_pretrain_epochs=2", "--set", "train.d_pretrain_steps=1", "--set", "train.adv_rounds=1",
            "--set", "eval.final_samples=32", "--set", "eval.num_samples=64", "--set", "eval.d_samples=32"]
    assert cli(args) == 0
    printed = capsys.readouterr().out
    for row in ("| MLE |", "| SeqGAN |", "| real data |", "| p-value (SeqGAN vs MLE, Welch) |", "BLEU-5"):
        assert row in printed
    res = json.loads((out / "results.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert res["rows"]["MLE"]["sequences"] == res["rows"]["SeqGAN"]["sequences"] == 60
    [entry] = complete_entries(tmp_path / "cache")
    train = [x.split() for x in (entry / "train.txt").read_text().splitlines()]
    test = [x.split() for x in (entry / "test.txt").read_text().splitlines()]
    # "real data" = held-out test lines against the training references, as the models are scored
    assert math.isclose(res["rows"]["real data"]["metrics"]["bleu2"]["mean"], bleu_scores(test, train, 2).mean(),
                        rel_tol=1e-12)
    rows = list(csv.DictReader((out / "per_sequence.csv").open()))
    for n in (2, 3, 4, 5):
        x = [float(r[f"bleu{n}"]) for r in rows if r["set"] == "SeqGAN"]
        y = [float(r[f"bleu{n}"]) for r in rows if r["set"] == "MLE"]
        assert math.isclose(res["p_values"][f"bleu{n}"], ttest_ind(x, y, equal_var=False).pvalue, rel_tol=1e-12)
    # Welch's test assumes independent sets: one stream for both made sample i of each share its uniforms
    assert set(seeds) == {"mle.pt", "adversarial.pt"} and seeds["mle.pt"] != seeds["adversarial.pt"]
    mle_samples = (out / "samples" / "mle.txt").read_text().split("\n")[:-1]
    assert len(mle_samples) == 60 and (out / "table.md").read_text().startswith("| model | BLEU-2 |")
    assert np.isfinite(res["rows"]["SeqGAN"]["nll_test"])
    base = ["paper-task", "coco", "--source", str(coco_source), "--cache", str(tmp_path / "cache"), "--threads", "1",
            "--no-progress"]
    assert cli(base + ["--resume", "--out", str(out)]) == 0  # the run's own settings: no --preset or --set needed
    again = json.loads((out / "results.json").read_text())
    assert again["rows"] == res["rows"] and again["preset"] == "tiny"
    assert cli(base + ["--out", str(tmp_path / "m"), "--preset", "tiny", "--set", "train.algorithm=maligan"]) == 2
    assert "paper-task compares MLE with SeqGAN" in capsys.readouterr().err and not (tmp_path / "m" / "run").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.json").write_text("my results")
    assert cli(base + ["--out", str(mine), "--preset", "tiny"]) == 2
    assert "holds other files (results.json) and no paper-task run" in capsys.readouterr().err
    assert (mine / "results.json").read_text() == "my results"


def test_paper_task_variable_length_only_for_fixed_length_corpora(tmp_path, coco_source, capsys):
    """--variable-length on speech or coco (already <eos>-terminated) was accepted and did nothing."""
    assert cli(["paper-task", "coco", "--source", str(coco_source), "--cache", str(tmp_path / "cache"),
                "--preset", "tiny", "--no-progress", "--variable-length", "--out", str(tmp_path / "pt")]) == 2
    assert "--variable-length is for poems and music" in one_line_error(capsys)
    assert not (tmp_path / "pt").exists() and not (tmp_path / "cache").exists()


def test_paper_task_resume_hint_is_the_same_command(tmp_path):
    """The hint an interrupted paper-task prints, parsed again, chooses the same data and scoring, with --resume."""
    out = tmp_path / "an out dir"
    argv = ["paper-task", "speech", "--president", "Obama", "--since", "2009", "--unit", "paragraph",
            "--min-tokens", "4", "--split-seed", "3", "--num-samples", "20", "--variable-length",
            "--cache", str(tmp_path / "my cache"), "--preset", "tiny", "--out", str(out)]
    parser = build_parser()
    args = parser.parse_args(argv)
    hint = resume_hint("speech", out, args)
    words = shlex.split(hint)
    assert words[0] == "seqgan"
    again = parser.parse_args(words[1:])
    assert again.resume and again.corpus == "speech" and again.out == str(out)
    for dest in HINT_FLAGS:
        assert getattr(again, dest) == getattr(args, dest), dest
    fetch = argparse.ArgumentParser()
    add_fetch_args(fetch)
    how_to_fetch = {"npm", "python"}  # which executables fetch the corpus: the cached data does not depend on them
    assert {a.dest for a in fetch._actions} - {"help"} - how_to_fetch <= set(HINT_FLAGS)  # a new data flag is kept
    defaults = parser.parse_args(["paper-task", "speech", "--out", str(out)])
    assert shlex.split(resume_hint("speech", out, defaults)) == ["seqgan", "paper-task", "speech", "--resume",
                                                                "--out", str(out)]


# ------------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_paper_task_on_the_full_coco_benchmark(tmp_path, capsys):
    if not (SHARED_COCO / "train.txt").exists():
        pytest.skip(f"{SHARED_COCO} is not present (the Texygen COCO split lives in ../shared/data)")
    out = tmp_path / "coco"
    assert cli(["paper-task", "coco", "--source", str(SHARED_COCO), "--cache", str(tmp_path / "cache"),
                "--preset", "tiny", "--threads", "1", "--no-progress", "--out", str(out), "--num-samples", "2000",
                "--set", "eval.final_samples=256"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["rows"]["real data"]["sequences"] == 10_000
    real, mle = res["rows"]["real data"]["metrics"]["bleu2"]["mean"], res["rows"]["MLE"]["metrics"]["bleu2"]["mean"]
    assert real > mle > 0  # held-out captions are closer to the training captions than a tiny model's


@pytest.mark.slow
def test_data_poems_with_the_real_npm(tmp_path, capsys):
    assert cli(["data", "poems", "--cache", str(tmp_path / "cache")]) == 0
    [entry] = complete_entries(tmp_path / "cache")
    lines = (entry / "train.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) > 10_000 and all(len(x) == 20 for x in lines[:100])
