"""Run directories under stress: a torn metrics.jsonl, a full disk in any command, a lock that cannot be
written, the modes of written files, the advice after a NaN, and seeds out of range."""

import errno
import json
import os
import re
import stat

import pytest

from seqgan.cli import main
from seqgan.errors import SeqGANError
from seqgan.logger import MetricsLogger


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def tiny(out, *extra):
    return ["oracle", "--preset", "tiny", "--out", str(out), "--no-progress", *extra]


# ------------------------------------------------------------------ metrics.jsonl on resume


def write_metrics(path, lines):
    path.write_bytes(b"".join(lines))


def record(step):
    return (json.dumps({"epoch": step, "phase": "mle", "step": step}, sort_keys=True) + "\n").encode()


def test_a_torn_line_after_the_checkpoints_records_is_dropped(tmp_path):
    """A crash or a full disk mid-write leaves a torn last line: resume keeps the checkpoint's records and
    drops it (it was a JSONDecodeError traceback on every --resume)."""
    path = tmp_path / "metrics.jsonl"
    write_metrics(path, [record(0), record(1), record(2), b'{"epoch": 3, "pha'])
    logger = MetricsLogger(tmp_path, tensorboard=False, resume=True)
    logger.truncate_after(3)
    logger.log({"epoch": 3, "phase": "mle", "step": 3})
    logger.close()
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [0, 1, 2, 3]
    elsewhere = MetricsLogger(None, resume=True)  # a distributed run's other processes: nothing read or written
    elsewhere.truncate_after(3)
    assert elsewhere.records == []


@pytest.mark.parametrize("bad", [b'{"epoch": 1, "pha', b"\x00\x00\x00\x00", b"\xff\xfe garbage", b"[1, 2]"])
def test_a_damaged_line_among_the_kept_records_is_one_error_naming_file_and_line(tmp_path, bad):
    path = tmp_path / "metrics.jsonl"
    write_metrics(path, [record(0), bad + b"\n", record(2), record(3)])
    before = path.read_bytes()
    logger = MetricsLogger(tmp_path, tensorboard=False, resume=True)
    with pytest.raises(SeqGANError, match=rf"^{re.escape(str(path))}, line 2, is damaged .* restore the file, or "
                                          "start a new run$"):
        logger.truncate_after(3)
    logger.close()
    assert path.read_bytes() == before  # nothing rewritten
    logger = MetricsLogger(tmp_path, tensorboard=False, resume=True)
    logger.truncate_after(1)  # a checkpoint from before the damage: the damaged line goes with the rest
    logger.close()
    assert path.read_bytes() == record(0)


def test_truncate_after_rewrites_the_log_atomically(tmp_path, monkeypatch):
    """A full disk while resume rewrites metrics.jsonl leaves the old file whole (write_text truncated it first)."""
    from seqgan import checkpoint

    path = tmp_path / "metrics.jsonl"
    write_metrics(path, [record(0), record(1), record(2)])
    before = path.read_bytes()
    logger = MetricsLogger(tmp_path, tensorboard=False, resume=True)

    def full(fh, data):
        fh.write(bytes(data[:5]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "_write", full)
    with pytest.raises(SeqGANError, match="is out of space"):
        logger.truncate_after(2)
    logger.close()
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]


# ------------------------------------------------------------------ a full disk in any command


def test_a_full_disk_in_oracle_is_one_line_that_says_to_free_space_and_resume(tmp_path, capsys, monkeypatch):
    """Only `seqgan train` wrapped its run in out_of_space; the CLI now does it for every command."""
    original, calls = MetricsLogger.log, []

    def full(self, rec):
        calls.append(1)
        if len(calls) > 2:  # a write to the open metrics.jsonl: the OSError has no file name
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, rec)

    monkeypatch.setattr(MetricsLogger, "log", full)
    out = tmp_path / "run"
    assert main(tiny(out)) == 2
    err = one_line_error(capsys)
    assert err.startswith(f"seqgan oracle: error: {out} is out of space (writing output); free space there and "
                          "--resume, or choose another --out; the last checkpoint is kept"), err


def test_a_full_disk_naming_its_file_names_it(tmp_path, capsys, monkeypatch):
    from seqgan.experiments import oracle

    out = tmp_path / "run"

    def full(path, seqs):
        raise OSError(errno.EDQUOT, "Disk quota exceeded", str(path))

    monkeypatch.setattr(oracle, "write_sequences", full)
    assert main(tiny(out)) == 2
    assert f"{out / 'data'} is out of space (writing train.txt); free space there and --resume" in \
        one_line_error(capsys)


def test_other_os_errors_are_not_called_a_full_disk(tmp_path, monkeypatch):
    from seqgan.experiments import oracle

    def refused(path, seqs):
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(oracle, "write_sequences", refused)
    with pytest.raises(OSError, match="Input/output error"):
        main(tiny(tmp_path / "run"))


def test_out_of_space_without_resume_says_to_run_again():
    from seqgan.checkpoint import no_space_error

    msg = str(no_space_error(OSError(errno.ENOSPC, "No space left on device"), "/x/sweep", resumable=False))
    assert msg == ("/x/sweep is out of space (writing output); free space there and run the command again, or "
                   "write to another directory")


# ------------------------------------------------------------------ the run directory's lock


@pytest.fixture
def lock_refused(monkeypatch):
    """os.open of a .lock fails as in a read-only directory or another user's (root ignores chmod)."""
    real = os.open

    def fake(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake)


@pytest.mark.parametrize("flags", [{"resume": True}, {"overwrite": True}])
def test_a_lock_that_cannot_be_written_is_one_error(tmp_path, lock_refused, flags):
    from seqgan.experiments.run_dir import prepare_out_dir

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text('{"model": {}, "train": {}}')  # a run's
    lock = re.escape(str(out / ".lock"))
    with pytest.raises(SeqGANError, match=rf"^--out {re.escape(str(out))}: cannot write its lock file {lock} "
                                          r"\(Permission denied\); the run directory must be writable by you"):
        prepare_out_dir(out, **flags)
    assert (out / "config.json").exists()  # --overwrite removed nothing


def test_a_lock_that_cannot_be_written_through_the_cli(tmp_path, capsys, lock_refused):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text('{"model": {}, "train": {}}')  # a run's
    assert main(tiny(out, "--overwrite")) == 2
    assert "cannot write its lock file" in one_line_error(capsys)


def test_a_live_lock_says_how_to_clear_one_left_by_a_reused_pid(tmp_path):
    from seqgan.experiments.run_dir import lock_run_dir

    pid = os.getppid()  # a live process, not this one
    (tmp_path / ".lock").write_text(str(pid))
    with pytest.raises(SeqGANError, match=rf"^another seqgan process \(pid {pid}\) is using .*; if no seqgan process "
                                          rf"has pid {pid} \(PIDs are reused, e\.g\. after a reboot\), delete "
                                          rf"{re.escape(str(tmp_path / '.lock'))}$"):
        lock_run_dir(tmp_path)


def test_a_lock_still_being_written_is_not_taken_over(tmp_path):
    """The lock is created, then its PID written: a second process that read it in between saw no PID, took
    it for stale, removed it, and both ran in one directory."""
    import threading

    from seqgan.experiments.run_dir import lock_run_dir

    lock = tmp_path / ".lock"
    lock.write_text("")
    writer = threading.Timer(0.2, lambda: lock.write_text(str(os.getppid())))  # a live process, not this one
    writer.start()
    with pytest.raises(SeqGANError, match=rf"another seqgan process \(pid {os.getppid()}\)"):
        lock_run_dir(tmp_path)
    writer.join()
    lock.write_text("")  # one that stays empty (a crash between the two steps) is stale
    lock_run_dir(tmp_path)
    assert lock.read_text() == str(os.getpid())


# ------------------------------------------------------------------ modes of written files


MASKS = pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027], ids=oct)


@MASKS
def test_atomic_writes_get_the_mode_of_a_plain_open(tmp_path, mask):
    """mkstemp made every checkpoint, config.json and summary.json 0600 whatever the umask."""
    from seqgan.checkpoint import write_atomic

    old = os.umask(mask)
    try:
        write_atomic(tmp_path / "new.json", b"{}")
        (tmp_path / "old.json").write_bytes(b"")
        write_atomic(tmp_path / "old.json", b"{}")
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(old)
    plain = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert plain == 0o666 & ~mask
    for name in ("new.json", "old.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == plain, name


@MASKS
def test_the_umask_is_read_without_changing_it(mask):
    from seqgan.checkpoint import umask

    old = os.umask(mask)
    try:
        assert umask() == mask and umask() == mask
    finally:
        os.umask(old)


# ------------------------------------------------------------------ the advice after a NaN


def test_nan_advice_is_a_new_run_since_resume_refuses_a_new_rate(tmp_path, capsys, monkeypatch):
    """It said to lower the rate and --resume, which check_resume_config refuses."""
    from seqgan.experiments.common import check_finite
    from seqgan.train import algorithm
    from seqgan.train.step import NonFiniteError

    def diverged(*args, **kwargs):
        raise NonFiniteError("the gradient of G (MLE loss) is nan")

    monkeypatch.setattr(algorithm, "mle_epoch", diverged)
    out = tmp_path / "run"
    assert main(tiny(out)) == 2
    err = one_line_error(capsys)
    with pytest.raises(SeqGANError) as exc:
        check_finite({"gen/mean_reward": float("nan")}, "adversarial", 2)
    for msg in (err, str(exc.value)):
        assert "and --resume" not in msg and "start a new run with a lower learning rate (--set train.g_lr=... / " \
            "train.d_lr=...) and --overwrite, or with another --out" in msg, msg
    assert "--resume continues the run with its own settings" in err


# ------------------------------------------------------------------ seeds


@pytest.mark.parametrize("how", [["--seed", "20000000000000000"], ["--set", "seed=-20000000000000000"]])
def test_a_seed_out_of_range_is_one_error_before_the_run_directory(tmp_path, capsys, how):
    out = tmp_path / "run"
    assert main(tiny(out, *how)) == 2
    err = one_line_error(capsys)
    assert "is out of range: give --seed an integer from -9007199254740992 to 9007199254740991" in err
    assert not out.exists()


def test_sample_refuses_a_seed_out_of_range_before_reading_the_checkpoint(tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(tmp_path / "missing.pt"), "--seed", "20000000000000000"]) == 2
    assert "is out of range" in one_line_error(capsys)


def test_a_torn_metrics_line_leaves_the_figures_the_curve_so_far(tmp_path):
    from seqgan.experiments.tables import curve

    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0, "eval/nll_oracle": 9.5}\n{"epoch": 1, "eval/nll_oracle": 9.2}\n'
                                           '{"epoch": 2, "eval/nl')
    assert curve(tmp_path) == [(0, 9.5), (1, 9.2)]


def test_the_seed_range_is_what_the_streams_can_use():
    from seqgan.config import Config
    from seqgan.experiments.common import setup_torch
    from seqgan.seeding import SEED_LIMIT, check_seed, seeded_generator

    for seed in (-SEED_LIMIT, 0, SEED_LIMIT - 1):
        check_seed(seed)
        seeded_generator(seed, 999, "cpu")
    for seed in (-SEED_LIMIT - 1, SEED_LIMIT, 10**20):
        with pytest.raises(SeqGANError, match="out of range"):
            check_seed(seed)
    with pytest.raises(SeqGANError, match="out of range"):  # the API's runs too, before any work
        setup_torch(Config(seed=SEED_LIMIT))


def test_json_files_write_undefined_numbers_as_null(tmp_path):
    """Bare NaN (paper-task's Self-BLEU p-value) is not JSON: strict readers refused the whole file."""
    from seqgan.experiments.common import write_json

    write_json(tmp_path / "r.json", {"p": float("nan"), "rows": [{"x": float("inf"), "y": 1.5}], "n": (2, -float("inf"))})
    text = (tmp_path / "r.json").read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c}")) == {
        "p": None, "rows": [{"x": None, "y": 1.5}], "n": [2, None]}


def test_a_figure_draws_every_curve_past_twenty(tmp_path, monkeypatch):
    """Colours came from zip() with tab20's 20: a 22-line strategy figure dropped two settings silently."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.axes import Axes

    from seqgan.plots import plot_curves

    drawn, plot = [], Axes.plot
    monkeypatch.setattr(Axes, "plot", lambda self, *a, **kw: drawn.append(kw["label"]) or plot(self, *a, **kw))
    curves = {f"setting {i}": [(0, 1.0 + i), (1, 0.5 + i)] for i in range(22)}
    plot_curves(tmp_path / "f.png", curves, pretrain_end=0.5)
    assert drawn == list(curves) and (tmp_path / "f.png").stat().st_size > 0


def test_a_tradeoff_figure_of_many_methods_gives_each_its_colour_and_the_legend_room(tmp_path, monkeypatch):
    """The sweep's figure cycled the default 10 colours (an 11th method repeated the first), and both figures'
    legends of every algorithm covered the lines: beside the axes from 7 lines on."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.axes import Axes

    from seqgan.plots import plot_curves, plot_tradeoff

    colours, legends, plot, legend = {}, [], Axes.plot, Axes.legend
    monkeypatch.setattr(Axes, "plot", lambda self, *a, **kw: colours.setdefault(kw.get("label"), kw.get("color"))
                        and None or plot(self, *a, **kw))
    monkeypatch.setattr(Axes, "legend", lambda self, *a, **kw: legends.append(kw) or legend(self, *a, **kw))
    curves = {f"method {i}": [(1.0 + i, 2.0, 1.0, 0.01, 0.01), (1.5 + i, 1.5, 0.5, 0.01, 0.01)] for i in range(12)}
    plot_tradeoff(tmp_path / "t.png", curves, "x", "y", "title", mark=1.0)
    assert len({colours[label] for label in curves}) == 12
    plot_curves(tmp_path / "f.png", {k: [(0, 1.0), (1, 2.0)] for k in list(curves)[:3]}, pretrain_end=0.5)
    assert "bbox_to_anchor" in legends[0] and "bbox_to_anchor" not in legends[1]


def test_resume_makes_tensorboard_forget_the_points_after_the_checkpoint(tmp_path):
    """truncate_after rewrote metrics.jsonl, but TensorBoard kept the old events file: a run killed after its
    checkpoint showed the redone rounds twice. The dropped records here share the kept one's epoch (2),
    as records without a phase (or of phases that share an epoch) may."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from seqgan.logger import MetricsLogger

    first = [{"epoch": e, "gen/loss": float(e)} for e in range(3)] + [{"epoch": 2, "disc/loss": 0.5},
                                                                       {"epoch": 3, "gen/loss": 3.0}]
    log = MetricsLogger(tmp_path)
    for record in first:
        log.log(record)
    log.close()
    for f in (tmp_path / "tensorboard").iterdir():  # written by an earlier process: TensorBoard orders files by
        parts = f.name.split(".")                   # name, whose per-process counter sorts "10" before "9"
        parts[3] = f"{int(parts[3]) - 60:010d}"
        f.rename(f.with_name(".".join(parts)))
    log = MetricsLogger(tmp_path, resume=True)
    log.truncate_after(3)
    for record in ({"epoch": 2, "disc/loss": 0.25}, {"epoch": 3, "gen/loss": 13.0}):
        log.log(record)
    log.close()
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [(s.step, s.value) for s in acc.Scalars("gen/loss")] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 13.0)]
    assert [(s.step, s.value) for s in acc.Scalars("disc/loss")] == [(2, 0.25)]


def test_tensorboard_draws_d_only_phases_against_their_step_and_resume_purges_each_run(tmp_path):
    """D pre-training's records share one epoch, so TensorBoard drew all its steps at one x; they go to a
    run of their own against their step, and a resume forgets each run's dropped points."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from seqgan.logger import MetricsLogger

    mle = [{"phase": "mle", "step": e, "epoch": e, "gen/loss": float(e)} for e in range(3)]
    d = [{"phase": "d_pretrain", "step": s, "epoch": 2, "disc/loss": 1.0 / s} for s in (1, 2, 3)]
    log = MetricsLogger(tmp_path)
    for record in mle + d + [{"phase": "adversarial", "step": 1, "epoch": 3, "gen/loss": 3.0}]:
        log.log(record)
    log.close()

    def points(run, tag):
        acc = EventAccumulator(str(tmp_path / "tensorboard" / run))
        acc.Reload()
        return [(s.step, s.value) for s in acc.Scalars(tag)]

    assert points("d_pretrain", "disc/loss") == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    assert points("", "gen/loss") == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]
    for f in (tmp_path / "tensorboard").rglob("events.*"):  # an earlier process's files sort first (see above)
        parts = f.name.split(".")
        parts[3] = f"{int(parts[3]) - 60:010d}"
        f.rename(f.with_name(".".join(parts)))
    log = MetricsLogger(tmp_path, resume=True)
    log.truncate_after(4)  # the checkpoint after D's first step: its steps 2, 3 and the round go again
    for record in ({"phase": "d_pretrain", "step": 2, "epoch": 2, "disc/loss": 0.25},
                   {"phase": "d_pretrain", "step": 3, "epoch": 2, "disc/loss": 0.125},
                   {"phase": "adversarial", "step": 1, "epoch": 3, "gen/loss": 13.0}):
        log.log(record)
    log.close()
    assert points("d_pretrain", "disc/loss") == [(1, 1.0), (2, 0.25), (3, 0.125)]
    assert points("", "gen/loss") == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 13.0)]


def test_overwrite_removes_the_runs_files_only_and_never_clobbers_a_users_s(tmp_path):
    """--overwrite removed whole folders (data/, samples/, checkpoints/), a user's files in them too; the
    synthetic task writes data/train.txt, which a user's folder may already hold."""
    from seqgan.experiments.run_dir import prepare_out_dir

    out = tmp_path / "run"
    for name in ("checkpoints/latest.pt", "checkpoints/adversarial.pt", "samples/mle.txt", "samples/seqgan.txt",
                 "data/train.txt", "tensorboard/events.out.tfevents.1.h.2.0",
                 "tensorboard/d_pretrain/events.out.tfevents.1.h.2.1", "metrics.jsonl", "data/mine.csv",
                 "samples/notes.md", "samples/t07.txt", "checkpoints/mle_backup.pt",
                 "tensorboard/baseline/events.out.tfevents.9.h.2.0"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    (out / "config.json").write_text(json.dumps({"model": {}, "train": {}, "data": {"train_path": None}}))
    prepare_out_dir(out, overwrite=True, writes=("data/train.txt",))
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != ".lock")
    # the run's S went with it; the user's files stayed: a `seqgan sample --out` and a copied checkpoint too
    assert left == ["checkpoints/mle_backup.pt", "data/mine.csv", "samples/notes.md", "samples/t07.txt",
                    "tensorboard/baseline/events.out.tfevents.9.h.2.0"]  # another run's events, copied in to compare
    assert not (out / "tensorboard" / "d_pretrain").exists()
    other = tmp_path / "maligan"  # each algorithm names its phase checkpoints and final samples after itself
    for name in ("checkpoints/maligan.pt", "checkpoints/d_pretrain.pt", "samples/maligan.txt", "samples/seqgan.txt"):
        (other / name).parent.mkdir(parents=True, exist_ok=True)
        (other / name).write_text("x")
    (other / "config.json").write_text(json.dumps({"model": {}, "train": {"algorithm": "maligan"}, "data": {}}))
    prepare_out_dir(other, overwrite=True)
    assert sorted(str(p.relative_to(other)) for p in other.rglob("*") if p.is_file() and p.name != ".lock") == [
        "samples/seqgan.txt"]  # not a MaliGAN run's: a file of the user's
    theirs = tmp_path / "theirs"  # no run, but the file the oracle command would write as S
    (theirs / "data").mkdir(parents=True)
    (theirs / "data" / "train.txt").write_text("my corpus")
    with pytest.raises(SeqGANError, match="holds data/train.txt, which the run would overwrite"):
        prepare_out_dir(theirs, overwrite=True, writes=("data/train.txt",))
    assert (theirs / "data" / "train.txt").read_text() == "my corpus"
