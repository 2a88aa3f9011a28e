"""``seqgan table1 --seeds 0,1,2`` (and ``strategy``): the whole table under several seeds, and what holds
across them.

Table 1's p-values (Welch's t-test on per-sequence NLL) measure only the evaluation's noise: how sure
``eval.final_samples`` samples (20,000 under ``fast``) make us of *this* run's NLL-oracle. Two runs that differ only in the seed, or only in
float rounding, differ by far more than that (about 0.04 nats under ``fast``, eight times the
evaluation's standard error). Whether SeqGAN beats MLE *as a method* is a question over seeds.

Each seed ``s`` is one ordinary ``table1`` run in ``DIR/seed<s>`` (its own oracle when none is given,
its own training set S, pre-training and draws), resumable on its own. Across them, for every method:

* the mean and standard deviation over seeds of the final NLL-oracle, and each seed's value;
* the paired t-test against SeqGAN over seeds (:func:`~seqgan.metrics.stats.paired_ttest`): a seed
  fixes the oracle, S and the pre-training for every method, so its method-to-method differences are
  paired, and the test sees the spread of those differences, not the (larger) spread of seeds;
* in how many seeds SeqGAN ends lower;
* the means of NLL-test, distinct and training time.

Written to ``DIR/table1_seeds.md/.json/.csv``; each seed's own table, figures and runs stay in its
directory. ``seqgan strategy --seeds`` does the same for its settings, with the paper's main setting
(1, 5, 3) as the reference when it is among them. Not in the paper, which reports one run.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seqgan import distributed as dist
from seqgan.errors import SeqGANError
from seqgan.experiments.args import saved_setting
from seqgan.experiments.run_dir import holds_run
from seqgan.experiments.tables import write_files
from seqgan.metrics.stats import paired_ttest

COLUMNS = ["method", "seeds", "nll_oracle_mean", "nll_oracle_sd", "p_value", "reference_lower_in",
           "nll_test_mean", "distinct_mean", "train_time_s_mean"]


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: at least two distinct non-negative integers."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SeqGANError(f"--seeds {text!r}: expected comma-separated integers, e.g. --seeds 0,1,2") from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise SeqGANError(f"--seeds {text!r}: give at least two distinct non-negative seeds (a spread over seeds "
                          "needs two); for one run use --seed")
    return seeds


def seed_dir(out: Path, seed: int) -> Path:
    return out / f"seed{seed}"


def check_flags(args: argparse.Namespace) -> list[int]:
    """The seeds of ``--seeds``, refusing the flags of a single run (before anything is written)."""
    seeds = parse_seeds(args.seeds)
    if args.seed is not None:
        raise SeqGANError("--seeds runs one table per seed; leave out --seed")
    if getattr(args, "pretrained", None):
        raise SeqGANError("--seeds pre-trains once per seed (pre-training depends on the seed); leave out --pretrained")
    return seeds


def study_device(args: argparse.Namespace, seeds: list[int], default: str) -> str:
    """The device of a --seeds study: --device, else on --resume its seeds' own (as --resume does for
    one run; the study has no config.json of its own), else ``default``. Every seed runs there."""
    if args.device is None and args.resume:
        for seed in seeds:
            found = saved_setting(argparse.Namespace(out=str(seed_dir(Path(args.out), seed))), "device", str)
            if found is not None:
                return found
    return args.device or default


def run_seeds(args: argparse.Namespace, run_one: Callable[[argparse.Namespace], int], stem: str,
              reference: str, labels: dict[str, str], device: str) -> int:
    """Run ``run_one`` (a command's single-seed main) once per seed of ``args.seeds`` into
    ``--out/seed<s>``, then write ``stem``.md/.json/.csv of the methods across seeds.

    ``--resume`` continues the seeds begun before and starts the others; ``--overwrite`` replaces each
    seed's run. Under torchrun every process runs every seed, and rank 0 writes the table."""
    seeds = check_flags(args)
    device = study_device(args, seeds, device)
    dist.init(device)  # under torchrun: join the run before rank 0 looks at the seeds' directories
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SeqGANError(f"--out {out} is a file; give a directory")
    begun = [s for s in seeds if args.resume and dist.on_main(holds_run, seed_dir(out, s))]
    for seed in sorted(seeds, key=lambda s: s not in begun):  # begun seeds first: they check the flags
        one = copy.copy(args)
        one.seeds, one.seed, one.out, one.device = None, seed, str(seed_dir(out, seed)), device
        # a seed added to a resumed study starts fresh, with the settings of the seeds begun before;
        # rank 0 decides, since only it may see the disk
        one.resume = seed in begun
        one.base_run = str(seed_dir(out, begun[0])) if begun and not one.resume else None
        one.resume_as = (out, f"--seeds {args.seeds} ")  # an interrupted seed names this command
        run_one(one)
    if not dist.is_main():
        return 0
    tables = {s: json.loads((seed_dir(out, s) / f"{stem}.json").read_text()) for s in seeds}
    rows = across_seeds({s: t["rows"] for s, t in tables.items()}, reference, labels)
    md = write_seed_table(out, f"{stem}_seeds", rows, seeds, labels.get(reference, "—"),
                          left_out({s: t["rows"] for s, t in tables.items()}, labels))
    print(f"\nacross seeds {', '.join(map(str, seeds))}:\n\n{md}\n\nresults in {out}")
    return 0


def left_out(tables: dict[int, list[dict[str, Any]]], labels: dict[str, str]) -> dict[str, list[int]]:
    """The methods some seeds' tables have and others' not: label -> the seeds that have it."""
    have = {s: {r["key"] for r in rows} for s, rows in tables.items()}
    return {labels[k]: [s for s in tables if k in have[s]] for k in labels
            if 0 < sum(k in have[s] for s in tables) < len(tables)}


def across_seeds(tables: dict[int, list[dict[str, Any]]], reference: str,
                 labels: dict[str, str]) -> list[dict[str, Any]]:
    """One row per method that every seed's table has (``tables``: seed -> that seed's rows, keyed by
    ``key``), in ``labels``' order: NLL-oracle over seeds and the paired t-test against ``reference``."""
    by_seed = {s: {r["key"]: r for r in rows} for s, rows in tables.items()}
    seeds = list(tables)
    keys = [k for k in labels if all(k in by_seed[s] for s in seeds)]
    for label, some in left_out(tables, labels).items():  # e.g. a method a resumed study has not finished everywhere
        print(f"across seeds: {label} left out: only seed(s) {', '.join(map(str, some))} have it", file=sys.stderr)
    values = {k: np.array([by_seed[s][k]["nll_oracle"] for s in seeds]) for k in keys}
    rows = []
    for key in keys:
        nll = values[key]
        t = p = lower = None
        if key != reference and reference in values:
            lower = int(np.sum(values[reference] < nll))
            try:
                t, p = paired_ttest(nll, values[reference])
            except SeqGANError:  # identical differences in every seed: no spread to test against
                pass

        def mean(field: str) -> float | None:
            got = [by_seed[s][key].get(field) for s in seeds]
            return None if any(v is None for v in got) else float(np.mean(got))

        rows.append({"method": labels[key], "key": key, "seeds": seeds, "nll_oracle": nll.tolist(),
                     "nll_oracle_mean": float(nll.mean()), "nll_oracle_sd": float(nll.std(ddof=1)),
                     "p_value": p, "t_statistic": t, "reference_lower_in": lower,
                     "nll_test_mean": mean("nll_test"), "distinct_mean": mean("distinct"),
                     "train_time_s_mean": mean("train_time_s")})
    return rows


def markdown(rows: list[dict[str, Any]], reference: str) -> str:
    n = len(rows[0]["seeds"]) if rows else 0
    lines = [f"| method | NLL-oracle, mean of {n} seeds | sd over seeds | each seed | paired p vs {reference} "
             f"| {reference} lower in | NLL-test, mean | distinct, mean | train time (s), mean |",
             "|" + "---|" * 9]
    fmt = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
    for r in rows:
        p = "—" if r["p_value"] is None else f"{r['p_value']:.3g}"
        lower = "—" if r["reference_lower_in"] is None else f"{r['reference_lower_in']} of {n}"
        cells = [r["method"], f"{r['nll_oracle_mean']:.4f}", f"{r['nll_oracle_sd']:.4f}",
                 " / ".join(f"{v:.4f}" for v in r["nll_oracle"]), p, lower, fmt(r["nll_test_mean"], ".4f"),
                 fmt(r["distinct_mean"], ".3f"), fmt(r["train_time_s_mean"], ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_seed_table(out: Path, stem: str, rows: list[dict[str, Any]], seeds: list[int], reference: str,
                     partial: dict[str, list[int]] | None = None) -> str:
    """``stem``.md/.json/.csv; returns the Markdown. ``partial``: the methods left out (label -> the seeds
    that have them), said under the table and in the JSON, not only on stderr."""
    md = markdown(rows, reference) + "".join(f"\n\n{label} is left out: only seed(s) {', '.join(map(str, some))} "
                                             "have it." for label, some in (partial or {}).items())
    write_files(out, stem, md, {
        "seeds": seeds, "rows": rows, "runs": {str(s): str(seed_dir(out, s)) for s in seeds},
        "left_out": {label: some for label, some in (partial or {}).items()},
        "units": "NLL-oracle: nats per token, each seed's final value (its table's); sd: over seeds (ddof 1); "
                 f"p_value: two-sided paired t-test over seeds against {reference} (n - 1 degrees of freedom); "
                 f"reference_lower_in: seeds in which {reference} ended lower"},
        COLUMNS, [[" ".join(map(str, r[c])) if isinstance(r[c], list) else ("" if r[c] is None else r[c])
                   for c in COLUMNS] for r in rows])
    return md
