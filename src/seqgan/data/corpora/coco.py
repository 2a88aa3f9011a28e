"""The ``coco`` corpus: MS-COCO captions in the Texygen benchmark split, from a local directory.

``fetch("coco", source=DIR)`` reads ``DIR/train.txt`` and ``DIR/test.txt`` (one caption per
line, strictly: blank lines and non-UTF-8 bytes are errors), normalises each caption with
:func:`seqgan.data.corpora.english.normalize_words` (lowercase, punctuation as separate
tokens) and keeps the given split and line order: no deduplication, no reshuffling, so
results stay comparable with the benchmark. The split seed is therefore not used. The cache
entry is keyed by a hash of the two files' contents, so a changed source is picked up.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from seqgan.data.corpora.english import normalize_words
from seqgan.data.corpora.store import Built
from seqgan.data.text import load_lines
from seqgan.errors import SeqGANError

__all__ = ["normalize", "build", "content_key"]

OPTIONS = ("source",)  # accepted by fetch()
KEY_OPTIONS = ("source",)  # those that change the content (the cache key)
SPLIT_FILES = ("train.txt", "test.txt")


def normalize(options: dict[str, Any]) -> dict[str, Any]:
    """Check the coco options: ``source`` must be a directory holding train.txt and test.txt."""
    opts = {"source": None, **options}
    src = opts["source"]
    if src is None:
        raise SeqGANError(
            "coco: give source=DIR, a directory with the Texygen image_coco train.txt and test.txt"
        )
    if not isinstance(src, (str, os.PathLike)):
        raise SeqGANError(f"coco: source must be a directory path, got {src!r}")
    path = Path(src).expanduser().resolve()
    missing = [f for f in SPLIT_FILES if not (path / f).is_file()]
    if missing:
        raise SeqGANError(f"coco: {path} must contain {' and '.join(SPLIT_FILES)}; missing {', '.join(missing)}")
    opts["source"] = path
    return opts


def content_key(opts: dict[str, Any]) -> dict[str, Any]:
    """The cache key options: a hash of the source files' bytes instead of their path."""
    h = hashlib.sha256()
    for f in SPLIT_FILES:
        try:
            h.update((opts["source"] / f).read_bytes())
        except OSError as exc:  # not the cache's fault, as the cache's error would say
            raise SeqGANError(f"coco: cannot read {opts['source'] / f} ({exc.strerror or exc}); make it readable "
                              "by you, or give another --source") from None
        h.update(b"\0")
    return {"sha256": h.hexdigest()[:12]}


def build(downloads: Path, *, force: bool = False, source: Path) -> Built:
    """Read and normalise the two split files (``downloads`` and ``force`` are not used)."""
    splits = []
    for f in SPLIT_FILES:
        lines = load_lines(source / f)
        out = []
        for i, line in enumerate(lines, start=1):
            norm = normalize_words(line)
            if not norm:
                raise SeqGANError(f"coco: {source / f}, line {i} has no words: {line!r}")
            out.append(norm)
        splits.append(out)
    train, test = splits
    source_meta = {"registry": None, "package": "local directory", "path": str(source), "license": "CC BY 4.0"}
    stats = {"train": len(train), "test": len(test)}
    return Built(sequences=train + test, source=source_meta, stats=stats, presplit=(train, test))
