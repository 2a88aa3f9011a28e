"""What --overwrite, --resume and --pretrained may touch in the directory of a multi-run command
(table1, strategy) and of a single run: never a user's files, never a live run's."""

import argparse
import json
import subprocess
import sys

import pytest

from seqgan.config import resolve
from seqgan.errors import SeqGANError
from seqgan.experiments.run_dir import prepare_out_dir
from seqgan.experiments.strategy import keep_settings
from seqgan.experiments.study_dir import PRETRAINED_FILE, open_run, pretrained_of

OWN = ("random", "mle", "seqgan", "pretrain", "table1.md")


def args(out, **kw):
    return argparse.Namespace(**{"out": str(out), "resume": False, "overwrite": False, "pretrained": None,
                                 "settings": None, **kw})


def a_run(out):
    """A table1 directory as a run leaves it: config.json, a pretrain/ and a method folder."""
    (out / "pretrain" / "checkpoints").mkdir(parents=True)
    (out / "seqgan").mkdir()
    (out / "config.json").write_text(json.dumps(resolve("tiny").to_dict()))
    return out


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_overwrite_never_removes_a_users_folder_that_shares_a_methods_name(tmp_path):
    work = tmp_path / "work"
    (work / "seqgan").mkdir(parents=True)  # say, the user's clone of this repository
    (work / "seqgan" / "notes.txt").write_text("mine")
    with pytest.raises(SeqGANError, match="holds no run but has seqgan, which this command writes"):
        open_run(args(work, overwrite=True), resolve("tiny"), OWN)
    assert (work / "seqgan" / "notes.txt").read_text() == "mine"
    (work / "other.txt").write_text("mine too")  # other files: the run goes among them, none removed
    (work / "seqgan" / "notes.txt").unlink()
    (work / "seqgan").rmdir()
    assert open_run(args(work, overwrite=True), resolve("tiny"), OWN) == work
    assert (work / "other.txt").read_text() == "mine too" and (work / "config.json").exists()


def test_overwrite_replaces_a_finished_run_of_the_command(tmp_path):
    out = a_run(tmp_path / "run")
    (out / PRETRAINED_FILE).write_text("/somewhere\n")
    open_run(args(out, overwrite=True), resolve("tiny"), OWN)
    assert not (out / "pretrain").exists() and not (out / "seqgan").exists() and not (out / PRETRAINED_FILE).exists()


def test_overwrite_of_a_live_run_removes_nothing(tmp_path, live_pid):
    out = a_run(tmp_path / "run")
    (out / ".lock").write_text(str(live_pid))
    with pytest.raises(SeqGANError, match=f"another seqgan process \\(pid {live_pid}\\)"):
        open_run(args(out, overwrite=True), resolve("tiny"), OWN)
    assert (out / "pretrain" / "checkpoints").is_dir() and (out / "seqgan").is_dir() and (out / "config.json").exists()
    single = tmp_path / "oracle_run"  # the same for a single run (seqgan oracle / train --overwrite)
    (single / "checkpoints").mkdir(parents=True)
    (single / "checkpoints" / "latest.pt").write_bytes(b"x")
    (single / "config.json").write_text('{"model": {}, "train": {}}')  # a run's (without one, nothing is removed)
    (single / ".lock").write_text(str(live_pid))
    with pytest.raises(SeqGANError, match="another seqgan process"):
        prepare_out_dir(single, overwrite=True)
    assert (single / "checkpoints" / "latest.pt").read_bytes() == b"x"


def test_pretrained_is_kept_with_the_run_and_a_switch_on_resume_refused(tmp_path):
    out, pre, other = tmp_path / "run", tmp_path / "pre", tmp_path / "other"
    out.mkdir()
    assert pretrained_of(args(out, pretrained=str(pre)), out) == str(pre.resolve())
    assert pretrained_of(args(out, resume=True), out) == str(pre.resolve())  # --resume --out DIR alone
    assert pretrained_of(args(out, resume=True, pretrained=str(pre)), out) == str(pre.resolve())
    with pytest.raises(SeqGANError, match="begun from --pretrained .*pre, not --pretrained .*other"):
        pretrained_of(args(out, resume=True, pretrained=str(other)), out)
    own = a_run(tmp_path / "own")  # pre-trained itself
    assert pretrained_of(args(own), own) is None and pretrained_of(args(own, resume=True), own) is None
    with pytest.raises(SeqGANError, match="begun from its own pre-training"):
        pretrained_of(args(own, resume=True, pretrained=str(pre)), own)


def test_a_strategy_study_keeps_its_settings_until_overwritten(tmp_path):
    out = tmp_path / "study"
    keep_settings(out, args(out, settings="1,5,3;1,1,10"))
    with pytest.raises(SeqGANError, match='study of --settings "1,5,3;1,1,10", not "100,1,10"'):
        keep_settings(out, args(out, settings="100,1,10"))  # the command retyped without --resume
    assert (out / "settings.txt").read_text() == "1,5,3;1,1,10\n"
    keep_settings(out, args(out, settings="1,5,3;1,1,10"))  # the same settings: fine
    keep_settings(out, args(out, settings="100,1,10", overwrite=True))
    assert (out / "settings.txt").read_text() == "100,1,10\n"
