"""Self-describing checkpoints, written atomically and loaded without unpickling code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts: the resolved config,
each model's constructor arguments and weights, the optimisers, the roll-out copy, the position
in Algorithm 1 and the RNG states. It is written to a temporary file in the same directory and
renamed over the old one, so a crash at any moment leaves the last good checkpoint intact, and it
is read with ``torch.load(weights_only=True)``, which refuses to run code.

:func:`write_atomic` is that write for any output file: on a full disk or an unwritable path it
removes its temporary, keeps the previous file and raises one :class:`SeqGANError` naming the
directory.
"""

from __future__ import annotations

import errno
import io
import os
import re
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterator

import torch

from seqgan import __version__
from seqgan.errors import SeqGANError

FORMAT = "seqgan-checkpoint"
FORMAT_VERSION = 1


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def write_error(exc: OSError, path: str | Path) -> SeqGANError:
    """One line for a failed write of ``path``: out of space (naming the directory), or why it failed."""
    path = Path(path)
    where = path.parent if str(path.parent) else Path(".")
    if exc.errno in NO_SPACE:
        return SeqGANError(f"{where} is out of space: {path.name} could not be written (any previous {path.name} "
                           "is kept); free space there, or write to another directory")
    return SeqGANError(f"cannot write {path}: {exc.strerror or exc}; check that {where} is a directory you can "
                       "write, or choose another path")


def _write(fh, data: bytes) -> None:
    """The one place bytes reach the disk (the full-disk tests patch it)."""
    fh.write(data)


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary beside it (``.NAME.XXXX.tmp``), fsynced, then renamed
    over ``path``: a crash, a full disk or a refused write leaves the previous file as it was. The file gets the
    mode a plain ``open`` gives a new file (0666 less the umask), not mkstemp's owner-only 0600."""
    path = Path(path)
    if path.is_dir() or not path.name or path.name in (".", ".."):
        raise SeqGANError(f"{path} is a directory; give a file name, e.g. {path / 'samples.txt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(exc, path) from None
    try:
        with suppress(OSError):  # mkstemp's 0600 would hide shared results from the group; some mounts refuse chmod
            os.chmod(tmp, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as fh:
            _write(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(exc, path) from None
        raise
    return path


def umask() -> int:
    """The process's umask, read without setting it (``os.umask`` sets it, racing other threads' new files)."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc (not Linux): the usual way
    os.umask(mask)
    return mask


def no_space_error(exc: OSError, out: str | Path | None, resumable: bool = True) -> SeqGANError:
    """One line for a write that ran out of space (metrics, plots, TensorBoard, samples): the directory, the
    file, and how to go on. ``out``: the directory to name when the error has no file name (a failed write to
    an open file); ``resumable``: the command takes --resume."""
    filename = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes, os.PathLike)) else None
    where = Path(filename).parent if filename else Path(out) if out is not None else None
    what = f"{where} is out of space" if where is not None else "the disk is out of space"
    how = ("free space there and --resume, or choose another --out; the last checkpoint is kept" if resumable
           else "free space there and run the command again, or write to another directory")
    return SeqGANError(f"{what} (writing {Path(filename).name if filename else 'output'}); {how}")


@contextmanager
def out_of_space(out: str | Path) -> Iterator[None]:
    """Any write that runs out of space inside (metrics, plots, TensorBoard) becomes one line naming the directory.
    The CLI does the same for every command (``seqgan.cli.main``)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        raise no_space_error(exc, out) from None


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the format header) to ``path`` atomically (:func:`write_atomic`)."""
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "seqgan_version": __version__, **payload}
    buf = io.BytesIO()  # serialised first, so that a failed write is the OSError of a plain write, not torch's
    torch.save(data, buf)
    return write_atomic(path, buf.getbuffer())


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the half-written temporaries that :func:`save_checkpoint` leaves when the process is
    killed mid-write (a second Ctrl-C, ``kill -9``), anywhere below ``directory``; return them.

    Only call it while holding the run directory's lock: then no other process is writing there.
    Only names of the temporaries' own form (``.NAME.pt.XXXX.tmp``) are touched."""
    stale = [p for p in Path(directory).rglob(".*.pt.*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", need: tuple[str, ...] = ()
                    ) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; refuse anything else with a clear error.
    ``need``: fields the caller reads, each a mapping (a damaged or hand-edited file: one line, not a KeyError)."""
    path = Path(path)
    if path.is_dir():
        inside = path / "checkpoints" / "latest.pt"
        hint = f"e.g. {inside}" if inside.is_file() else "a .pt file"
        raise SeqGANError(f"checkpoint {path} is a directory, not a checkpoint file; give {hint}")
    if not path.is_file():
        raise SeqGANError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated files, foreign pickles and non-zip bytes raise many types
        raise _unreadable(path, exc) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SeqGANError(f"{path} is not a seqgan checkpoint (no '{FORMAT}' header)")
    if data.get("format_version") != FORMAT_VERSION:
        raise SeqGANError(
            f"checkpoint {path} has format version {data.get('format_version')!r}, but this seqgan "
            f"({__version__}) reads version {FORMAT_VERSION}; use the seqgan version that wrote it "
            f"({data.get('seqgan_version', 'unknown')})"
        )
    for key in need:
        if not isinstance(data.get(key), dict):
            raise SeqGANError(f"checkpoint {path} is damaged or not a run's: its '{key}' is missing or not a mapping; "
                              "resume from an earlier checkpoint, or start a new run")
    return data


def _unreadable(path: Path, exc: Exception) -> SeqGANError:
    """Why a checkpoint cannot be loaded, without torch's advice to load it unsafely."""
    text = str(exc)
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:  # unreadable (permissions, removed meanwhile): torch's own message below says so
        head = b""
    # neither torch.save's zip nor a pickle (a text file, say): pickle reads its letters as opcodes
    foreign = bool(head) and head != b"PK" and head[:1] != b"\x80"
    if not foreign and ("Weights only load failed" in text or "Unsupported global" in text):
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        what = f" (it names {found.group(1)})" if found else ""
        return SeqGANError(f"checkpoint {path} cannot be read safely: it holds objects other than tensors and plain "
                           f"data{what}, and must not be loaded unsafely, which could run code in it; use a "
                           "checkpoint that seqgan wrote")
    first_line = re.split(r"(?<=[^.])\.(\s|$)", (text.splitlines() or ["(no message)"])[0])[0][:200]  # its first sentence
    siblings = ""
    if path.name == "latest.pt":
        # each algorithm names its phase checkpoints after its phases (maligan.pt, ranker_pretrain.pt, ...);
        # newest by the position each holds, not by file time (a user's copy of mle.pt is no later phase)
        found = [(p.name, _position(p)) for p in sorted(path.parent.glob("*.pt")) if p.name != path.name]
        intact = [name for name, at in sorted((f for f in found if f[1] is not None), key=lambda f: f[1],
                                              reverse=True)]
        if intact:
            siblings = (f"; the phase checkpoints beside it load ({', '.join(intact)}): to resume from the end of "
                        f"the newest, copy {path.parent / intact[0]} over {path}")
    if foreign:
        return SeqGANError(f"{path} is not a seqgan checkpoint: torch.save did not write it (a text file?); give a "
                           f".pt file of a run's checkpoints/{siblings}")
    return SeqGANError(f"checkpoint {path} cannot be read safely ({type(exc).__name__}: {first_line}); "
                       f"it is corrupt, truncated, or not a seqgan checkpoint{siblings}")


def _position(path: Path) -> tuple[int, int] | None:
    """How far the checkpoint at ``path`` had come ((phase index, step); (-1, 0) if it does not say), or
    None if it does not load."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    if not isinstance(data, dict):
        return None
    from seqgan.train.registry import ALGORITHMS  # here: the registry imports the training code, which imports this

    found = ALGORITHMS.get(data.get("algorithm")) if isinstance(data.get("algorithm"), str) else None
    phases = found.phases if found is not None else ("mle", "d_pretrain", "adversarial", "done")
    at = data.get("position")
    try:
        return phases.index(at["phase"]), int(at["step"])
    except (TypeError, ValueError, KeyError, AttributeError):
        return -1, 0


def check_finite_weights(model: torch.nn.Module, path: str | Path, what: str) -> None:
    """A model with NaN or infinite weights cannot sample or score: say so, naming the tensors."""
    bad = [name for name, t in model.state_dict().items()
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise SeqGANError(f"checkpoint {path}: the {what}'s weights hold NaN or infinity ({', '.join(bad[:3])}"
                          f"{', ...' if len(bad) > 3 else ''}); the run diverged before it was written. Use an "
                          "earlier checkpoint (e.g. mle.pt) or retrain with a lower learning rate")


def model_entry(model: torch.nn.Module) -> dict[str, Any]:
    """Constructor arguments and weights: enough to rebuild the model from the file alone."""
    return {"config": model.config(), "state": model.state_dict()}


def build_model(cls: type, entry: dict[str, Any], what: str) -> torch.nn.Module:
    """Rebuild a model saved by :func:`model_entry`, naming the mismatch if the file is inconsistent."""
    try:
        model = cls(**entry["config"])
        model.load_state_dict(entry["state"])
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SeqGANError(f"checkpoint's {what} does not match its own config: {first_line}") from None
    return model
