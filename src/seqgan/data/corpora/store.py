"""The corpus cache on disk: where it lives, how entries are named, written and split.

Layout under the cache directory (``$SEQGAN_CACHE`` or ``~/.cache/seqgan``)::

    _downloads/chinese-poetry-2.0.1.tgz      registry archives, kept so a new split needs no network
    _built/<key>.json                        every unique sequence of a corpus, before splitting
    <key>-seed<seed>/train.txt test.txt meta.json   what fetch() returns

Every entry is written under a temporary name in the same directory and renamed into place
once complete (a file with :func:`os.replace`, a directory with :func:`os.rename`), so an
entry that exists is complete: a failed or interrupted fetch leaves only a hidden
``.tmp-*`` leftover, never a directory that looks like a finished corpus. An entry (and a
``_built`` file) records :data:`META_FORMAT`; one of another format is stale and built again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from seqgan.errors import SeqGANError

__all__ = [
    "Built", "default_cache_dir", "entry_key", "split_sequences", "is_complete",
    "write_entry", "save_built", "load_built", "CORPUS_FILES", "META_FORMAT",
]

CORPUS_FILES = ("train.txt", "test.txt", "meta.json")
TEST_FRACTION = 0.1
#: Bump it when fetching, parsing or splitting changes what an entry holds: entries of another format
#: are then rebuilt (from the kept downloads) instead of being returned as they are.
META_FORMAT = 1


@dataclass
class Built:
    """A corpus ready to split: its unique sequences (one line each) and where they came from.

    ``presplit`` holds a (train, test) pair for corpora that come with their own split; then
    ``sequences`` is ignored for splitting.
    """

    sequences: list[str]
    source: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)
    presplit: tuple[list[str], list[str]] | None = None


def default_cache_dir() -> Path:
    """``$SEQGAN_CACHE`` if set, else ``~/.cache/seqgan``."""
    env = os.environ.get("SEQGAN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "seqgan"


def entry_key(name: str, key_options: Mapping[str, Any]) -> str:
    """A file-name-safe key for a corpus and the options that change its content."""
    parts = [name]
    for k in sorted(key_options):
        v = key_options[k]
        text = str(v).lower() if not isinstance(v, bool) else ("1" if v else "0")
        if len(text) > 24 or not re.fullmatch(r"[A-Za-z0-9._]+", text):
            text = hashlib.sha256(str(v).encode()).hexdigest()[:12]
        parts.append(f"{k}={text}")
    return "-".join(parts)


def split_sequences(sequences: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """Shuffle with ``random.Random(seed)`` and cut 90/10 into (train, test).

    Python's own generator is used so that a seed gives the same split on every platform
    and torch version.
    """
    if len(sequences) < 2:
        raise SeqGANError(f"the corpus has only {len(sequences)} sequence(s); a train/test split needs at least 2")
    order = list(sequences)
    random.Random(seed).shuffle(order)
    n_test = max(1, round(len(order) * TEST_FRACTION))
    return order[n_test:], order[:n_test]


def is_complete(entry: Path) -> bool:
    """True when ``entry`` is a corpus directory holding every file fetch() writes, in this format.

    A meta.json of another format, with none, or unreadable marks an entry built by other code: stale.
    """
    if not (entry.is_dir() and all((entry / f).is_file() for f in CORPUS_FILES)):
        return False
    try:
        meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return _current_format(meta.get("format") if isinstance(meta, dict) else None)


def _current_format(value: Any) -> bool:
    return type(value) is int and value == META_FORMAT


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def write_entry(entry: Path, train: Sequence[str], test: Sequence[str], meta: Mapping[str, Any]) -> None:
    """Write train.txt, test.txt and meta.json into ``entry`` atomically, replacing an old one."""
    for i, line in enumerate(list(train) + list(test)):
        if not line.strip() or "\n" in line or "\r" in line or "\x00" in line:
            raise SeqGANError(f"internal: corpus line {i} is blank or spans lines: {line[:40]!r}")
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=entry.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a cache entry is ordinary readable data
        _write_lines(tmp / "train.txt", train)
        _write_lines(tmp / "test.txt", test)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _move_into_place(tmp, entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _move_into_place(tmp: Path, entry: Path) -> None:
    """Rename ``tmp`` to ``entry``; an existing ``entry`` is first moved aside, then deleted (put back if the
    rename fails, so that a failed replacement leaves the old entry, not none)."""
    old = None
    if entry.exists():
        old = Path(tempfile.mkdtemp(prefix=f".old-{entry.name}-", dir=entry.parent))
        os.rename(entry, old / "entry")
    try:
        os.rename(tmp, entry)
    except OSError:
        if not is_complete(entry):  # nobody else finished it concurrently: a real failure
            if old is not None and not entry.exists():
                try:
                    os.rename(old / "entry", entry)
                except OSError:
                    old = None  # keep it where it is (.old-*) rather than delete the only copy
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def save_built(path: Path, built: Built) -> None:
    """Store ``built`` as one JSON file, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": META_FORMAT, "sequences": built.sequences, "source": built.source, "stats": built.stats,
        "presplit": list(built.presplit) if built.presplit is not None else None,
    }
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, ensure_ascii=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_built(path: Path) -> Built | None:
    """Read a :class:`Built` saved by :func:`save_built`; None when absent, unreadable or of another format.

    A file without a format is format 1's (they were saved before the format was recorded).
    """
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if not _current_format(payload.get("format", 1)):
            return None
        pre = payload["presplit"]
        for rows in [payload["sequences"], *(pre or [])]:  # a damaged line is a rebuild, not a traceback later
            if not all(isinstance(x, str) and x.strip() and not {"\n", "\r", "\x00"} & set(x) for x in rows):
                return None
        return Built(
            sequences=list(payload["sequences"]), source=dict(payload["source"]), stats=dict(payload["stats"]),
            presplit=(list(pre[0]), list(pre[1])) if pre is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
