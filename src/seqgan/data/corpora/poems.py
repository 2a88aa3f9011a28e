"""The ``poems`` corpus: five-character quatrains from the npm package chinese-poetry 2.0.1.

Layout of that tarball (checked for 2.0.1): ``package/dist/quantangshi/poet.tang.<n>.json``
(Tang, about 57,600 poems) and ``poet.song.<n>.json`` (Song, about 254,000), each a JSON
list of ``{"author", "title", "paragraphs": [...], "id"}`` in traditional characters, where a
paragraph is usually a couplet such as ``"秦川雄帝宅，函谷壯皇居。"``. The ``error/``
subdirectory (poems flagged as damaged) and the other collections are not used.

A poem is kept when its text, split at the punctuation marks ，。、；：？！ (and their ASCII
forms), gives exactly 4 lines of exactly 5 characters each, and every character is a CJK
ideograph: any □ (lost character), ○/● placeholders, brackets, digits or notes reject the
poem. Kept poems are written as their 20 characters, deduplicated across both dynasties
(first occurrence in file order wins). With ``simplified=True`` the characters are
converted with OpenCC ``t2s`` (PyPI ``opencc``) and deduplicated again.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

from seqgan.data.corpora.clients import cached_download
from seqgan.data.corpora.store import Built
from seqgan.errors import SeqGANError

__all__ = ["PACKAGE", "VERSION", "normalize", "build", "quatrain"]

PACKAGE, VERSION = "chinese-poetry", "2.0.1"
OPTIONS = ("simplified", "npm")  # accepted by fetch()
KEY_OPTIONS = ("simplified",)  # those that change the content (the cache key)

_MEMBER = re.compile(r"package/dist/quantangshi/poet\.(tang|song)\.(\d+)\.json")
_SEPARATORS = re.compile(r"[，。、；：？！,.;:?!]")
_IDEOGRAPH = re.compile(
    "[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f\U00030000-\U0003134f]"
)


def normalize(options: dict[str, Any]) -> dict[str, Any]:
    """Check the poems options and fill in defaults."""
    opts = {"simplified": False, "npm": None, **options}
    if not isinstance(opts["simplified"], bool):
        raise SeqGANError(f"poems: simplified must be True or False, got {opts['simplified']!r}")
    if opts["npm"] is not None and not isinstance(opts["npm"], str):
        raise SeqGANError(f"poems: npm must be the path of an npm executable, got {opts['npm']!r}")
    return opts


def quatrain(paragraphs: list[str]) -> str | None:
    """The 20 characters of a five-character quatrain, or None if the poem is not one."""
    lines = [ln for ln in _SEPARATORS.split("".join(paragraphs)) if ln]
    if len(lines) != 4 or any(len(ln) != 5 for ln in lines):
        return None
    text = "".join(lines)
    if not all(_IDEOGRAPH.fullmatch(c) for c in text):
        return None
    return text


def _quatrains_by_file(archive: Path) -> list[tuple[str, int, list[str | None]]]:
    """For every Tang/Song file: (dynasty, file number, quatrain-or-None per poem), Tang first.

    The gzip stream is read once, in archive order (seeking backwards in a .tgz means
    decompressing again from the start); the results are sorted afterwards.
    """
    files: list[tuple[str, int, list[str | None]]] = []
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for info in tar:
                m = _MEMBER.fullmatch(info.name)
                if not (m and info.isfile()):
                    continue
                f = tar.extractfile(info)
                assert f is not None
                results = []
                for poem in json.load(f):
                    paragraphs = poem.get("paragraphs") if isinstance(poem, dict) else None
                    ok = isinstance(paragraphs, list) and all(isinstance(p, str) for p in paragraphs)
                    results.append(quatrain(paragraphs) if ok else None)
                files.append((m.group(1), int(m.group(2)), results))
    except (tarfile.TarError, OSError, ValueError, EOFError) as e:
        raise SeqGANError(f"cannot read {archive}: {e}; delete it or fetch again with force=True") from None
    if not files:
        raise SeqGANError(
            f"{archive} has no package/dist/quantangshi/poet.(tang|song).*.json files; "
            f"is it {PACKAGE} {VERSION}?"
        )
    files.sort(key=lambda t: (t[0] != "tang", t[1]))
    return files


def _to_simplified(poems: list[str]) -> list[str]:
    try:
        import opencc
    except ImportError:
        raise SeqGANError("poems: simplified=True needs OpenCC: pip install opencc") from None
    converter = opencc.OpenCC("t2s")
    out, seen = [], set()
    for p in poems:
        s = converter.convert(p)
        if len(s) == len(p) and s not in seen:
            seen.add(s)
            out.append(s)
    return out


def build(downloads: Path, *, force: bool = False, simplified: bool = False, npm: str | None = None) -> Built:
    """Download (or reuse) the package tarball and extract the unique quatrains."""
    if simplified:  # fail before a long download if OpenCC is missing
        try:
            import opencc  # noqa: F401
        except ImportError:
            raise SeqGANError("poems: simplified=True needs OpenCC: pip install opencc") from None
    archive = cached_download(downloads, "npm", f"{PACKAGE}@{VERSION}", npm, force)
    seen: set[str] = set()
    kept: list[str] = []
    scanned = {"tang": 0, "song": 0}
    kept_by = {"tang": 0, "song": 0}
    for dynasty, _, results in _quatrains_by_file(archive):
        scanned[dynasty] += len(results)
        for text in results:
            if text is not None and text not in seen:
                seen.add(text)
                kept.append(text)
                kept_by[dynasty] += 1
    stats: dict[str, Any] = {"poems_scanned": scanned, "unique_quatrains": kept_by}
    if simplified:
        kept = _to_simplified(kept)
        stats["unique_after_simplification"] = len(kept)
    source = {
        "registry": "npm", "package": PACKAGE, "version": VERSION, "license": "MIT",
        "files": "package/dist/quantangshi/poet.{tang,song}.*.json",
        "script": "simplified (OpenCC t2s)" if simplified else "traditional",
    }
    return Built(sequences=kept, source=source, stats=stats)
