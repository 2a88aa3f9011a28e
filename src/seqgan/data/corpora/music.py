"""The ``music`` corpus: folk-tune melodies from music21 10.5.1's bundled ABC collections.

The music21 wheel (downloaded with pip, read with :mod:`zipfile`) carries
``music21/corpus/{airdsAirs,oneills1850,ryansMammoth}/*.abc``: about 4,250 Scottish and
Irish tunes. Each file may hold several tunes; we cut it at its ``X:`` lines (keeping any
file header before the first one) and parse every tune on its own with the installed
music21's ``converter.parseData(..., format="abc")``, so progress can be shown and ``limit``
can stop early. Parsing all of them takes a few minutes; the result is cached.

Melody extraction, analogous to the paper's piano-roll sampling every 0.4 s:

* the melody is part 0 of the tune (all voices of that part); at each time step the sounding
  note with the highest pitch is taken (the top note of a chord); grace notes (no duration)
  are ignored; repeats are not expanded;
* the pitch is sampled every eighth note (``STEP_QL = 0.5`` quarter lengths) from offset 0
  to the end of the part;
* during a rest the previous pitch is held, so the vocabulary is pitches only; steps before
  the first note are dropped;
* token = MIDI number - 21, i.e. 0..87 for the 88 piano keys; a tune with a pitch outside
  that range is dropped;
* each tune's tokens are cut into non-overlapping windows of 32 (the remainder is dropped);
  identical windows (O'Neill's has tunes in two overlapping files) are kept once.
"""

from __future__ import annotations

import re
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterator

from seqgan.data.corpora.clients import cached_download
from seqgan.data.corpora.store import Built
from seqgan.errors import SeqGANError

__all__ = ["PACKAGE", "VERSION", "STEP_QL", "WINDOW", "normalize", "build", "split_tunes", "melody_tokens"]

PACKAGE, VERSION = "music21", "10.5.1"
OPTIONS = ("limit", "progress", "python")  # accepted by fetch()
KEY_OPTIONS = ("limit",)  # those that change the content (the cache key)
COLLECTIONS = ("airdsAirs", "oneills1850", "ryansMammoth")
STEP_QL = 0.5
WINDOW = 32
LOWEST_MIDI, N_PITCHES = 21, 88

_ABC = re.compile(r"music21/corpus/(" + "|".join(COLLECTIONS) + r")/[^/]+\.abc")
_INSTALL = f"pip install music21=={VERSION} (or seqgan's extra: pip install -e '.[music]')"


def normalize(options: dict[str, Any]) -> dict[str, Any]:
    """Check the music options and fill in defaults."""
    opts = {"limit": None, "progress": True, "python": None, **options}
    lim = opts["limit"]
    if lim is not None and (isinstance(lim, bool) or not isinstance(lim, int) or lim < 1):
        raise SeqGANError(f"music: limit must be a positive number of tunes or None, got {lim!r}")
    if not isinstance(opts["progress"], bool):
        raise SeqGANError(f"music: progress must be True or False, got {opts['progress']!r}")
    if opts["python"] is not None and not isinstance(opts["python"], str):
        raise SeqGANError(f"music: python must be the path of a Python executable, got {opts['python']!r}")
    return opts


def _require_music21() -> Any:
    try:
        import music21
    except ImportError:
        raise SeqGANError(f"the music corpus needs music21 to parse its ABC tunes: {_INSTALL}") from None
    return music21


def split_tunes(abc_text: str) -> list[str]:
    """Cut a multi-tune ABC file at its ``X:`` lines; the file header is put before each tune."""
    lines = abc_text.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("X:")]
    if not starts:
        return []
    header = [ln for ln in lines[: starts[0]] if not ln.startswith("%")]
    bounds = starts + [len(lines)]
    return ["\n".join(header + lines[a:b]) + "\n" for a, b in zip(bounds, bounds[1:])]


def _tunes(wheel: Path) -> Iterator[tuple[str, str]]:
    """(collection/file#index, abc text) for every tune in the wheel, in sorted file order."""
    try:
        with zipfile.ZipFile(wheel) as z:
            names = sorted(n for n in z.namelist() if _ABC.fullmatch(n))
            if not names:
                raise SeqGANError(f"{wheel} has no music21/corpus/<collection>/*.abc files; is it {PACKAGE} {VERSION}?")
            files = [(n, z.read(n).decode("utf-8", errors="replace")) for n in names]
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as e:  # zlib: damaged compressed data
        raise SeqGANError(f"cannot read {wheel}: {e}; delete it or fetch again with force=True") from None
    for name, text in files:
        short = name.removeprefix("music21/corpus/")
        for i, tune in enumerate(split_tunes(text)):
            yield f"{short}#{i}", tune


def melody_tokens(score: Any) -> list[int] | None:
    """Sample a parsed music21 stream's melody (see the module docstring); None if out of range."""
    parts = getattr(score, "parts", None)
    part = parts[0] if parts is not None and len(parts) else score
    events = []  # (start, end, top midi)
    for n in part.flatten().notes:
        ql = float(n.quarterLength)
        if ql <= 0:
            continue
        pitches = getattr(n, "pitches", ())
        if not pitches:
            continue
        start = float(n.offset)
        events.append((start, start + ql, max(int(round(p.ps)) for p in pitches)))
    if not events:
        return []
    end = max(e[1] for e in events)
    events.sort()
    tokens: list[int] = []
    current: int | None = None
    j = 0
    active: list[tuple[float, int]] = []  # (end, midi) of notes begun so far
    step = 0
    while step * STEP_QL < end - 1e-9:
        t = step * STEP_QL
        while j < len(events) and events[j][0] <= t + 1e-9:
            active.append((events[j][1], events[j][2]))
            j += 1
        active = [a for a in active if a[0] > t + 1e-9]
        if active:
            current = max(m for _, m in active)
        if current is not None:
            token = current - LOWEST_MIDI
            if not 0 <= token < N_PITCHES:
                return None
            tokens.append(token)
        step += 1
    return tokens


def build(
    downloads: Path, *, force: bool = False, limit: int | None = None, progress: bool = True,
    python: str | None = None,
) -> Built:
    """Download (or reuse) the music21 wheel, parse its tunes and cut melodies into windows."""
    music21 = _require_music21()
    from tqdm import tqdm

    wheel = cached_download(downloads, "pip", f"{PACKAGE}=={VERSION}", python, force)
    tunes = list(_tunes(wheel))
    if limit is not None:
        tunes = tunes[:limit]
    seen: set[str] = set()
    windows: list[str] = []
    failed = out_of_range = parsed = 0
    for _, abc in tqdm(tunes, desc="parsing music21 ABC tunes", unit="tune", disable=not progress):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = music21.converter.parseData(abc, format="abc")
            tokens = melody_tokens(score)
        except Exception:  # noqa: BLE001 - a third-party parser on old hand-typed ABC: count and go on
            failed += 1
            continue
        if tokens is None:
            out_of_range += 1
            continue
        parsed += 1
        for a in range(0, len(tokens) - WINDOW + 1, WINDOW):
            line = " ".join(map(str, tokens[a:a + WINDOW]))
            if line not in seen:
                seen.add(line)
                windows.append(line)
    if not windows:
        raise SeqGANError(f"music: no {WINDOW}-step window came out of {len(tunes)} tune(s); raise limit")
    stats = {
        "tunes": len(tunes), "parsed": parsed, "parse_failures": failed, "out_of_range": out_of_range,
        "unique_windows": len(windows), "step_quarter_lengths": STEP_QL, "window": WINDOW,
        "parser": f"music21 {getattr(music21, '__version__', '?')}",
    }
    source = {
        "registry": "PyPI", "package": PACKAGE, "version": VERSION, "license": "BSD-3-Clause",
        "files": "music21/corpus/{" + ",".join(COLLECTIONS) + "}/*.abc",
    }
    return Built(sequences=windows, source=source, stats=stats)
