"""Self-describing checkpoints, written atomically and loaded without unpickling code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts: the resolved config,
each model's constructor arguments and weights, the optimisers, the roll-out copy, the position
in Algorithm 1 and the RNG states. It is written to a temporary file in the same directory and
renamed over the old one, so a crash at any moment leaves the last good checkpoint intact, and it
is read with ``torch.load(weights_only=True)``, which refuses to run code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from seqgan import __version__
from seqgan.errors import SeqGANError

FORMAT = "seqgan-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the format header) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "seqgan_version": __version__, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the half-written temporaries that :func:`save_checkpoint` leaves when the process is
    killed mid-write (a second Ctrl-C, ``kill -9``), anywhere below ``directory``; return them.

    Only call it while holding the run directory's lock: then no other process is writing there.
    Only names of the temporaries' own form (``.NAME.pt.XXXX.tmp``) are touched."""
    stale = [p for p in Path(directory).rglob(".*.pt.*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; refuse anything else with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise SeqGANError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated files, foreign pickles and non-zip bytes raise many types
        first_line = (str(exc).splitlines() or ["(no message)"])[0][:200]
        raise SeqGANError(
            f"checkpoint {path} cannot be read safely ({type(exc).__name__}: {first_line}); "
            "it is corrupt, truncated, or not a seqgan checkpoint"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SeqGANError(f"{path} is not a seqgan checkpoint (no '{FORMAT}' header)")
    if data.get("format_version") != FORMAT_VERSION:
        raise SeqGANError(
            f"checkpoint {path} has format version {data.get('format_version')!r}, but this seqgan "
            f"({__version__}) reads version {FORMAT_VERSION}; use the seqgan version that wrote it "
            f"({data.get('seqgan_version', 'unknown')})"
        )
    return data


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
