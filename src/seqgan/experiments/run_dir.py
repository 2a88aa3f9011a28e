"""Run directories: which hold a run, what --overwrite may remove (only what a run wrote), one process each."""

from __future__ import annotations

import atexit
import json
import os
import time
from pathlib import Path

from seqgan.checkpoint import NO_SPACE, remove_stale_temporaries
from seqgan.errors import SeqGANError

RUN_MARKERS = ("config.json", "metrics.jsonl", "summary.json", "checkpoints")
# What a run writes in its directory (globs): --overwrite removes these, and the checkpoints and samples that its
# algorithm names (:func:`run_files`), and nothing else, so that a user's files beside a run (its --data, notes,
# a samples/t07.txt of `seqgan sample`, a copied checkpoints/mle_backup.pt) survive every overwrite.
RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "nll_oracle.png", "nll.png", "checkpoints/.*.tmp",
             "tensorboard/events.out.tfevents.*", "data/vocab.json",
             "data/tokenizer.model")


def holds_run(out: str | Path) -> bool:
    """Whether ``out`` is a directory that holds a run (begun or finished)."""
    out = Path(out)
    return out.is_dir() and any((out / m).exists() for m in RUN_MARKERS)


def prepare_out_dir(out: str | Path, resume: bool = False, overwrite: bool = False,
                    writes: tuple[str, ...] = ()) -> Path:
    """Never overwrite another run unless told. A directory holding a run needs --resume or --overwrite.

    --overwrite removes the files the run there wrote (:func:`run_files`) and nothing else. ``writes``: files a
    new run writes beside its own kind (the synthetic task's ``data/train.txt``); one that a user's directory
    already holds is refused, not overwritten."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SeqGANError(f"--out {out} is a file; give a directory")
    held = holds_run(out)
    if resume:
        check_resumable(out)
        lock_run_dir(out)
        remove_stale_temporaries(out)  # ours alone now that the lock is held
        return out
    if held:
        if not overwrite:
            raise SeqGANError(
                f"{out} already holds a run; pass --resume to continue it, --overwrite to replace it, "
                "or choose another --out"
            )
        if (out / "config.json").exists() and seqgan_config(out / "config.json") is None:
            raise SeqGANError(f"--out {out}: its config.json is not a seqgan run's, and the run would overwrite it; "
                              "choose another --out")
        if seqgan_config(out / "config.json") is None:  # checkpoints/ or metrics.jsonl alone: maybe a user's own
            found = [m for m in RUN_MARKERS if (out / m).exists()]
            raise SeqGANError(f"--out {out} holds {', '.join(found)} but no seqgan config.json, so --overwrite cannot "
                              "tell the run's files from yours and removes none: move them, or choose another --out")
        lock_run_dir(out)  # before anything is removed: a run still writing here keeps its files
        for path in run_files(out):
            path.unlink()
        runs = sorted(out / "tensorboard" / n for n in written_names(seqgan_config(out / "config.json") or {})[2])
        for folder in [*runs, *(out / f for f in ("checkpoints", "tensorboard", "samples", "data"))]:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    elif not overwrite:
        refuse_foreign_dir(out)
    taken = [name for name in writes if (out / name).exists()]
    if taken:
        raise SeqGANError(f"--out {out} holds {', '.join(taken)}, which the run would overwrite; move it, or choose "
                          "another --out")
    make_run_dir(out)
    return out


def check_resumable(out: str | Path) -> None:
    """--resume of a directory that holds no run is one error, before the command reads any data."""
    out = Path(out)
    if not holds_run(out):
        seeds = sorted(int(p.name[4:]) for p in out.glob("seed*") if p.name[4:].isdigit() and holds_run(p))
        study = (f"; it holds a --seeds study (seeds {','.join(map(str, seeds))} begun): resume it with table1 or "
                 "strategy and the study's --seeds list") if seeds else ""
        raise SeqGANError(f"--resume: {out} holds no run to resume (no config.json or checkpoints){study}")


def seqgan_config(path: Path) -> dict | None:
    """The settings in ``path`` if it is a seqgan run's config.json (sections ``model`` and ``train``), else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("model"), dict) and isinstance(data.get("train"), dict)
    return data if ok else None


def run_files(out: Path) -> list[Path]:
    """The files of the run in ``out`` (:data:`RUN_FILES`, and the synthetic task's S), which --overwrite removes."""
    found = [p for pattern in RUN_FILES for p in out.glob(pattern) if p.is_file()]
    config = seqgan_config(out / "config.json")
    checkpoints, samples, tensorboard = written_names(config or {})
    found += [p for p in (out / "checkpoints" / f"{n}.pt" for n in sorted(checkpoints)) if p.is_file()]
    found += [p for p in (out / "samples" / f"{n}.txt" for n in sorted(samples)) if p.is_file()]
    found += [p for n in sorted(tensorboard) for p in out.glob(f"tensorboard/{n}/events.out.tfevents.*") if p.is_file()]
    if config is not None and not (config.get("data") or {}).get("train_path") and (out / "data" / "train.txt").is_file():
        found.append(out / "data" / "train.txt")  # S, sampled from the oracle (a real-data run's corpus is the user's)
    return found


def written_names(config: dict) -> tuple[set[str], set[str], set[str]]:
    """The checkpoint and sample names (no suffix) a run of config's algorithm writes: one per phase, and
    its final samples (every algorithm's, if config names none the registry knows); and its TensorBoard runs
    of the phases that train only D (:class:`~seqgan.logger.MetricsLogger`)."""
    from seqgan.train.registry import ALGORITHMS  # here: the registry imports the training code

    name = (config.get("train") or {}).get("algorithm", "seqgan")
    algorithms = [ALGORITHMS[name]] if name in ALGORITHMS else list(ALGORITHMS.values())
    checkpoints = {"latest", "init", "final"} | {p for a in algorithms for p in a.phases if p != "done"}
    return (checkpoints, {"mle"} | {a.final_sample_name or a.name for a in algorithms},
            {p for a in algorithms for p in a.d_only_phases})


def check_new_file(path: str | Path, flag: str, overwrite: bool) -> None:
    """An output file of a command (not a run directory): an existing one is replaced only with --overwrite,
    and this is checked before the work, not after it."""
    path = Path(path)
    if path.is_dir():
        raise SeqGANError(f"{flag} {path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise SeqGANError(f"{flag} {path} exists; pass --overwrite to replace it, or choose another file")


def refuse_foreign_dir(out: Path) -> None:
    """A non-empty directory that holds no run is someone's files: writing a run among them needs --overwrite
    (which then adds the run's files and removes none of theirs)."""
    theirs = sorted(p.name for p in out.iterdir() if p.name != ".lock") if out.is_dir() else []
    if theirs:
        raise SeqGANError(f"--out {out} is a directory with other files ({first_names(theirs)}) and no run; "
                          "choose a new or empty directory, or pass --overwrite to write the run among them "
                          "(none of them is removed)")


def first_names(names: list[str]) -> str:
    """The first three of a directory's entries, for an error that says what is in the way."""
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def make_run_dir(out: Path) -> None:
    """Create ``out`` and take its lock, or say in one line why it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock_run_dir(out)
    except OSError as exc:
        raise SeqGANError(f"--out {out}: cannot create or write the run directory ({exc.strerror or exc}); "
                          "choose a directory you can write") from None


def lock_run_dir(out: Path) -> None:
    """One process per run directory: ``DIR/.lock`` holds the owner's PID until it exits. A lock
    whose process is gone (a crash, kill -9) is taken over. A directory where the lock cannot be
    written (read-only, another user's, a full disk) is one line, on every path that locks."""
    lock = out / ".lock"
    try:
        _take_lock(out, lock)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise SeqGANError(f"{out} is out of space: its lock file {lock.name} could not be written; free space "
                              "there, or choose another --out") from None
        raise SeqGANError(f"--out {out}: cannot write its lock file {lock} ({exc.strerror or exc}); the run "
                          "directory must be writable by you: fix its permissions, or choose another --out") from None


def _take_lock(out: Path, lock: Path) -> None:
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            pid = _owner(lock, wait_s=1.0)
            if pid == os.getpid():
                return
            if pid > 0 and _alive(pid):
                raise SeqGANError(f"another seqgan process (pid {pid}) is using {out}; wait for it, stop it, or "
                                  f"choose another --out; if no seqgan process has pid {pid} (PIDs are reused, "
                                  f"e.g. after a reboot), delete {lock}") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        atexit.register(lambda: lock.unlink(missing_ok=True) if _owner(lock) == os.getpid() else None)
        return


def _owner(lock: Path, wait_s: float = 0.0) -> int:
    """The PID in ``lock``, 0 if none. An empty lock may be one just created whose PID is still being written
    (creating and writing are two steps): it is read again for up to ``wait_s`` before it counts as stale."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            text = lock.read_text().strip()
        except OSError:
            return 0
        if text or time.monotonic() >= deadline:
            return int(text) if text.isdigit() else 0
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
