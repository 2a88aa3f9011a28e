"""``seqgan eval``: BLEU, Self-BLEU and the music MSE of a file of generated sequences.

* **BLEU-n** as the text-GAN benchmarks define it (Texygen, TextGAN-PyTorch): NLTK's
  ``sentence_bleu`` of each generated line against *all* reference lines, uniform weights
  (1/n, ..., 1/n), ``SmoothingFunction().method1``, averaged over the generated lines
  (:mod:`seqgan.metrics.bleu`, NLTK-exact and fast; Texygen's default keeps only 500 references).
  Higher = closer to the references.
* **Self-BLEU-n**: each generated line against all the *other* generated lines (Texygen's
  ``get_bleu_parallel``; all lines, not only its first 500). Lower = more diverse.
* **MSE** (music): each generated melody's mean squared pitch difference to its nearest
  reference melody (:mod:`seqgan.metrics.music`, where the definition is spelled out).

Every metric is computed per sequence and the scores can be written out (``--per-sequence FILE``, CSV).
BLEU and MSE scores are independent given the references, so they get a standard error and, with
``--compare``, Welch's t-test. Self-BLEU gets neither: each sequence is scored against all the others,
so its scores are dependent and sd/sqrt(N) or a t-test on them would overstate significance
(:data:`SELF_BLEU_NOTE`; null in ``--json``, its mean alone and p-value ``n/a`` in the table).

Generated files may hold empty lines (a sequence that ended at once: it scores BLEU 0 and has no
MSE); a line of only spaces is refused. Reference files are read strictly (:func:`load_lines`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from seqgan.checkpoint import write_atomic
from seqgan.data.text import load_lines
from seqgan.data.tokenizers import TOKENIZERS, Tokenizer, get_tokenizer, tokenizer_from_checkpoint
from seqgan.data.vocab import UNK
from seqgan.errors import SeqGANError
from seqgan.experiments.common import json_safe
from seqgan.experiments.run_dir import check_new_file
from seqgan.metrics.bleu import BleuReference, self_bleu_scores
from seqgan.metrics.music import nearest_mse
from seqgan.metrics.stats import welch_ttest

Tokens = list[str]


# ----------------------------------------------------------------------------- reading


def read_samples(path: str | Path, spaces_are_tokens: bool = False, what: str = "samples file") -> list[str]:
    """Lines of a generated file: UTF-8, empty lines allowed (empty sequences), whitespace-only refused but
    where ``spaces_are_tokens`` (the char tokenizer, whose samples may be spaces alone). ``what``: its name
    in errors (the --compare file's is not the samples')."""
    p = Path(path)
    if not p.is_file():
        raise SeqGANError(f"{what} {p} does not exist or is not a file")
    data = p.read_bytes().removeprefix(b"\xef\xbb\xbf")
    if not data:
        raise SeqGANError(f"{what} {p} is empty; it needs one generated sequence per line")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_no = data.count(b"\n", 0, e.start) + 1
        raise SeqGANError(f"{what} {p} is not UTF-8 (line {line_no}, byte offset {e.start}); "
                          "re-save it as UTF-8") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines, start=1):
        if line and not line.strip() and not spaces_are_tokens:
            raise SeqGANError(f"{what} {p}, line {i} holds only whitespace; write an empty line for an "
                              "empty sequence, or remove it")
    return lines


def tokenize_lines(lines: Sequence[str], tokenizer: Tokenizer | str, where: str) -> list[Tokens]:
    """Lines -> token lists. Under ``ids`` a literal <unk> (a generated unknown token) is kept as a token."""
    tok = get_tokenizer(tokenizer)
    out = []
    for i, line in enumerate(lines, start=1):
        try:
            if tok.name == "ids":
                out.append([UNK if t == UNK else tok.tokenize(t)[0] for t in line.split()])
            else:
                out.append(tok.tokenize(line))
        except SeqGANError as exc:
            raise SeqGANError(f"{where}, line {i}: {exc}") from None
    return out


def pitches(tokens: Tokens) -> list[int | None]:
    """Music tokens -> pitches (MIDI - 21); <unk> -> None (held by the MSE)."""
    return [None if t == UNK else int(t) for t in tokens]


def parse_orders(text: str, flag: str) -> tuple[int, ...]:
    """'2,3,4' -> (2, 3, 4); 'none' or '' -> ()."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        orders = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise SeqGANError(f"{flag} {text!r}: give n-gram orders separated by commas, e.g. 2,3,4 (or none)") from None
    if any(n < 1 for n in orders):
        raise SeqGANError(f"{flag} {text!r}: every order must be at least 1")
    return tuple(sorted(set(orders)))


# ----------------------------------------------------------------------------- scoring


@dataclass
class Scorer:
    """Scores sets of generated sequences against one reference set, identically for every set."""

    references: list[Tokens] | None
    bleu: tuple[int, ...] = (2, 3, 4, 5)
    self_bleu: tuple[int, ...] = ()
    mse: bool = False
    _tables: dict[int, BleuReference] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if (self.bleu or self.mse) and not self.references:
            raise SeqGANError("BLEU and MSE need a reference file (--references FILE) with at least one line")
        self._tables = {n: BleuReference(self.references, n) for n in self.bleu}
        if self.mse:
            self._ref_pitches = [pitches(r) for r in self.references]

    def names(self) -> list[str]:
        return ([f"bleu{n}" for n in self.bleu] + [f"self_bleu{n}" for n in self.self_bleu]
                + (["mse"] if self.mse else []))

    def score(self, hyps: list[Tokens]) -> dict[str, np.ndarray]:
        """{metric: (H,) float64 per-sequence scores}; MSE is NaN for an empty sequence."""
        if not hyps:
            raise SeqGANError("no generated sequences to score")
        out = {f"bleu{n}": table.sentence_scores(hyps) for n, table in self._tables.items()}
        for n in self.self_bleu:
            out[f"self_bleu{n}"] = self_bleu_scores(hyps, n)
        if self.mse:
            out["mse"] = nearest_mse([pitches(h) for h in hyps], self._ref_pitches)
        return out


def order_warnings(orders: Sequence[int], hyps: list[Tokens], label: str, name: str = "BLEU") -> list[str]:
    """BLEU-n of sequences that all have fewer than n tokens is smoothing alone: say so for each such n."""
    longest = max((len(h) for h in hyps), default=0)
    return [f"warning: {name}-{n} of {label}: no sequence has {n} tokens (the longest has {longest}), so the score "
            f"comes from smoothing alone and says nothing; use orders up to {max(longest, 1)}"
            for n in orders if n > longest]


#: Why Self-BLEU has no standard error and no p-value (in --json, beside its null standard error).
SELF_BLEU_NOTE = ("Self-BLEU scores each sequence against all the others, so its per-sequence scores are not "
                  "independent: sd/sqrt(n) and Welch's t-test would overstate significance, so neither is given")


def independent(name: str) -> bool:
    """Whether a metric's per-sequence scores are independent (BLEU and MSE given the references; not
    Self-BLEU), which a standard error and Welch's t-test assume."""
    return not name.startswith("self_bleu")


def summarize(scores: dict[str, np.ndarray]) -> dict[str, dict[str, float | str]]:
    """Mean, standard error and count of each metric (NaNs, i.e. empty sequences for MSE, left out).
    The standard error is NaN where undefined: n < 2, or Self-BLEU (see :data:`SELF_BLEU_NOTE`)."""
    out = {}
    for name, values in scores.items():
        v = values[~np.isnan(values)]
        mean = float(v.mean()) if v.size else float("nan")
        stderr = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 and independent(name) else float("nan")
        out[name] = {"mean": mean, "stderr": stderr, "n": int(v.size)}
        if not independent(name):
            out[name]["note"] = SELF_BLEU_NOTE
    return out


def p_values(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Welch's t-test p-value per metric between two sets of per-sequence scores (NaN if undefined, and
    for Self-BLEU, whose scores are dependent: :data:`SELF_BLEU_NOTE`)."""
    out = {}
    for name in a:
        if not independent(name):
            out[name] = float("nan")
            continue
        x, y = a[name][~np.isnan(a[name])], b[name][~np.isnan(b[name])]
        try:
            out[name] = welch_ttest(x, y)[1]
        except SeqGANError:  # fewer than 2 values, or no variance in either: the test says nothing
            out[name] = float("nan")
    return out


def write_per_sequence(path: Path, sets: dict[str, dict[str, np.ndarray]]) -> None:
    """CSV: set, index, then one column per metric (empty where a metric is undefined)."""
    names = list(next(iter(sets.values())))
    fh = io.StringIO(newline="")
    w = csv.writer(fh)
    w.writerow(["set", "index", *names])
    for label, scores in sets.items():
        for i in range(len(scores[names[0]])):
            w.writerow([label, i, *("" if np.isnan(scores[n][i]) else repr(float(scores[n][i])) for n in names)])
    write_atomic(path, fh.getvalue().encode("utf-8"))  # an unwritable path or a full disk: one line


def fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def fmt_p(p: float) -> str:
    return "n/a" if p != p else (f"{p:.2e}" if p < 1e-3 else f"{p:.3f}")


# ------------------------------------------------------------------------------- CLI


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="BLEU / Self-BLEU / music MSE of generated sequences",
                       description="Score a file of generated sequences (one per line) against a reference file, "
                                   "the way the text-GAN benchmarks do; per-sequence scores allow t-tests.")
    p.add_argument("--samples", required=True, metavar="FILE", help="generated sequences, one per line")
    p.add_argument("--references", metavar="FILE", help="reference sequences, one per line (needed by BLEU and MSE)")
    p.add_argument("--compare", metavar="FILE",
                   help="a second generated file, scored the same way; prints Welch's t-test p-values "
                        "(BLEU and MSE; not Self-BLEU, whose per-sequence scores are dependent)")
    p.add_argument("--bleu", metavar="N,N",
                   help="BLEU orders (default 2,3,4,5 with --references, none without; 'none' for no BLEU)")
    p.add_argument("--self-bleu", default="none", metavar="N,N", help="Self-BLEU orders, e.g. 2,3,4 (default none)")
    p.add_argument("--mse", action="store_true", help="music: nearest-neighbour MSE on pitches (ids tokens)")
    p.add_argument("--tokenizer", choices=sorted(TOKENIZERS),
                   help="how lines are split into tokens for BLEU (default word, or that of --tokenizer-from; "
                        "char for Chinese poems)")
    p.add_argument("--tokenizer-from", metavar="CKPT",
                   help="split lines with the tokenizer of this seqgan train checkpoint (needed for bpe, unigram)")
    p.add_argument("--per-sequence", metavar="FILE", help="write every sequence's scores here (CSV)")
    p.add_argument("--overwrite", action="store_true", help="replace --per-sequence if it exists")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=main)


def eval_tokenizer(name: str | None, ckpt_path: str | None) -> Tokenizer:
    """--tokenizer NAME, or the tokenizer stored in --tokenizer-from CKPT (the run's own, trained pieces included)."""
    if ckpt_path is None:
        if name is None:  # char samples split into words score nothing like their run's (BLEU-2 0.09 for 0.92)
            print("eval: --tokenizer word (the default); give --tokenizer char|ids or --tokenizer-from CKPT for "
                  "another run's", file=sys.stderr)
        return get_tokenizer(name or "word")
    from seqgan.checkpoint import load_checkpoint

    tok = tokenizer_from_checkpoint(load_checkpoint(ckpt_path), f"--tokenizer-from {ckpt_path}")
    if name is not None and name != tok.name:
        raise SeqGANError(f"--tokenizer {name} but --tokenizer-from {ckpt_path} holds the {tok.name} tokenizer; "
                          "give only --tokenizer-from")
    return tok


def main(args: argparse.Namespace) -> int:
    if args.per_sequence:
        check_new_file(args.per_sequence, "--per-sequence", args.overwrite)
    tok = eval_tokenizer(args.tokenizer, getattr(args, "tokenizer_from", None))
    if args.mse and tok.name != "ids":
        raise SeqGANError("--mse scores pitches: use it with --tokenizer ids (the music corpus's format)")
    refs = None
    if args.references:
        refs = tokenize_lines(load_lines(args.references), tok, args.references)
    bleu = args.bleu if args.bleu is not None else ("2,3,4,5" if args.references else "none")  # Self-BLEU alone
    scorer = Scorer(refs, parse_orders(bleu, "--bleu"), parse_orders(args.self_bleu, "--self-bleu"), args.mse)
    if not scorer.names():
        raise SeqGANError("nothing to compute: give --bleu orders, --self-bleu orders or --mse")
    files = {"samples": args.samples} | ({"compare": args.compare} if args.compare else {})
    scores, result = {}, {}
    for label, path in files.items():
        lines = read_samples(path, spaces_are_tokens=tok.name == "char", what=f"--{label} file")
        hyps = tokenize_lines(lines, tok, path)
        scores[label] = scorer.score(hyps)
        for warning in (order_warnings(scorer.bleu, hyps, path) +
                        order_warnings(scorer.self_bleu, hyps, path, name="Self-BLEU")):
            print(warning, file=sys.stderr)
        result[label] = {"file": str(path), "sequences": len(lines), "empty": sum(1 for x in lines if not x),
                         "metrics": summarize(scores[label])}
    if args.compare:
        result["p_values"] = p_values(scores["samples"], scores["compare"])
    if args.per_sequence:
        write_per_sequence(Path(args.per_sequence), scores)
    if args.json:
        print(json.dumps(json_safe(result), indent=2, sort_keys=True, allow_nan=False))
        return 0
    head = "| metric | " + " | ".join(f"{label} ({result[label]['sequences']})" for label in files)
    print(head + (" | p-value (Welch) |" if args.compare else " |"))
    print("|---" * (len(files) + 1 + bool(args.compare)) + "|")
    for name in scorer.names():
        cells = [fmt(result[label]["metrics"][name]["mean"])
                 + (f" ± {fmt(result[label]['metrics'][name]['stderr'])}" if independent(name) else "")
                 for label in files]
        tail = f" | {fmt_p(result['p_values'][name])}" if args.compare else ""
        print(f"| {name} | " + " | ".join(cells) + tail + " |")
    if not all(map(independent, scorer.names())):
        print(f"\nno standard error or p-value for Self-BLEU: {SELF_BLEU_NOTE}", file=sys.stderr)
    empty = {label: result[label]["empty"] for label in files if result[label]["empty"]}
    if empty:
        print(f"\nempty sequences (BLEU 0, no MSE): {empty}", file=sys.stderr)
    return 0
