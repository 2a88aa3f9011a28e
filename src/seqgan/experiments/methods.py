"""The methods of ``seqgan table1``: their keys in the table's order, ``--methods``, and ``methods.txt``,
where a run keeps the methods it was begun with (``--resume`` continues those)."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqgan.errors import SeqGANError
from seqgan.train.registry import ALGORITHMS

METHODS = {"random": "Random", **{key: a.label for key, a in ALGORITHMS.items()}}  # the table's order
PAPER_METHODS = ("random", "mle", "ss", "pg_bleu", "seqgan")  # the paper's Table 1: --methods' default


def parse_methods(text: str) -> list[str]:
    keys = list(METHODS) if text.strip() == "all" else [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in keys if k not in METHODS]
    if bad or not keys:
        raise SeqGANError(f"--methods {text!r}: expected 'all' or a comma-separated subset of {', '.join(METHODS)}")
    return [k for k in METHODS if k in keys]  # the table's order


METHODS_FILE = "methods.txt"


def saved_methods(run: Path) -> list[str]:
    """The methods a run was begun (and resumed) with; before methods.txt: the paper's and those begun."""
    path = run / METHODS_FILE
    if path.is_file():
        try:
            return parse_methods(path.read_text(encoding="utf-8").strip())
        except (SeqGANError, UnicodeDecodeError):
            raise SeqGANError(f"{path} is damaged (it should list the run's methods, e.g. mle,seqgan); write the "
                              "methods there, or delete it and give --methods") from None
    return [k for k in METHODS if k in PAPER_METHODS or (run / k).is_dir()]


def methods_of(args: argparse.Namespace) -> list[str]:
    """--methods as given; without it, on --resume (or for a seed added to a resumed study) the run's own."""
    if args.methods is not None:
        return parse_methods(args.methods)
    run = args.out if args.resume else getattr(args, "base_run", None)
    return saved_methods(Path(run)) if run else list(PAPER_METHODS)
