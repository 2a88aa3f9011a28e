"""The tables and figures of ``seqgan table1`` and ``strategy``, built from their run directories.

One row per finished method (its ``result.json``, ``per_seq_nll.npy``, ``samples/final.txt`` and
``checkpoints/final.pt``): NLL-oracle with its standard error, Welch's t-test against the reference,
NLL-test, the share of distinct samples and the training time; the figures draw each method's periodic
evaluations after the shared pre-training.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from seqgan import distributed as dist
from seqgan.checkpoint import build_model, load_checkpoint, write_atomic
from seqgan.config import Config
from seqgan.experiments.common import write_json
from seqgan.experiments.oracle import held_out_set
from seqgan.logger import read_records
from seqgan.metrics.nll import sequence_nll
from seqgan.metrics.stats import welch_ttest
from seqgan.models.generator import Generator
from seqgan.plots import plot_curves
from seqgan.train.registry import ALGORITHMS, generator_class

PAPER = {"random": 10.310, "mle": 9.038, "ss": 8.985, "pg_bleu": 8.946, "seqgan": 8.736}  # Table 1


def curve(out: Path, epoch_from: int = 0, metric: str = "eval/nll_oracle") -> list[tuple[float, float]]:
    """(epoch, value) points of ``metric``'s periodic evaluations in out/metrics.jsonl."""
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    records, _ = read_records(path)  # up to a torn last line (a crash mid-write): the curve so far
    return [(r["epoch"], r[metric]) for r in records if metric in r and r["epoch"] >= epoch_from]


def method_curves(pre_dir: Path, runs: dict[str, Path], labels: dict[str, str], cfg: Config,
                  metric: str = "eval/nll_oracle", random_value: float | None = None) -> dict[str, list]:
    """Figure 2's lines: pre-training once, then each method continuing from its last point; a method
    with a generator of its own (RelGAN, LeakGAN) draws its own pre-training from epoch 0 on the same axis;
    Random is a flat line at its final value (``random_value``, else result.json's NLL-oracle)."""
    pre = curve(pre_dir, metric=metric)
    end = [p for p in pre if p[0] == cfg.train.g_pretrain_epochs][-1:]
    curves = {"MLE pre-training (shared)": pre}
    for key, out in runs.items():
        if key == "random":
            curves[labels[key]] = []  # drawn below, across every other line (RelGAN's rounds may outrun adv_rounds)
        elif key in ALGORITHMS and ALGORITHMS[key].models is not None:
            curves[f"{labels[key]} (its own pre-training, then rounds)"] = curve(out, metric=metric)
        else:
            curves[labels[key]] = end + curve(out, epoch_from=cfg.train.g_pretrain_epochs + 1, metric=metric)
    if "random" in runs:
        value = json.loads((runs["random"] / "result.json").read_text())["nll_oracle"] if random_value is None \
            else random_value
        last = max((x for points in curves.values() for x, _ in points),
                   default=cfg.train.g_pretrain_epochs + cfg.train.adv_rounds)
        curves[labels["random"]] = [(0, value), (max(last, cfg.train.g_pretrain_epochs + cfg.train.adv_rounds), value)]
    return curves


def plot_figures(out: Path, stem: str, pre_dir: Path, runs: dict[str, Path], labels: dict[str, str], cfg: Config,
                 title: str, rows: list[dict[str, Any]]) -> None:
    """``stem``.png (NLL-oracle, the paper's figure) and ``stem``_nll_test.png, the same lines for NLL-test
    (when the runs logged ``eval/nll_test``: older ones did not)."""
    plot_curves(out / f"{stem}.png", method_curves(pre_dir, runs, labels, cfg),
                pretrain_end=cfg.train.g_pretrain_epochs, title=title)
    random = next((r["nll_test"] for r in rows if r["key"] == "random"), None)  # Random logs no curve
    tests = method_curves(pre_dir, runs, labels, cfg, "eval/nll_test", random)
    if any(len(points) > 2 for points in tests.values()):
        plot_curves(out / f"{stem}_nll_test.png", tests, pretrain_end=cfg.train.g_pretrain_epochs,
                    ylabel="NLL-test (nats per token, held-out oracle data)",
                    title=title.replace("NLL-oracle", "NLL-test") if "NLL-oracle" in title else f"{title}: NLL-test")


def nll_test(runs: dict[str, Path], pre_dir: Path, cfg: Config) -> dict[str, float]:
    """NLL-test of each run's final G: its NLL per token (nats) on a held-out set drawn from the oracle
    like S (``data.num_train`` sequences, a stream of its own), the same set for every method.

    Not in the paper. NLL-oracle scores G's samples under the oracle, so a G that puts its mass on a few
    sequences the oracle finds likely (mode collapse) scores well on it; NLL-test measures the other
    direction, how likely G finds the oracle's data, and rises when G drops part of that distribution."""
    device = dist.init(cfg.device)
    oracle = build_model(Generator, load_checkpoint(pre_dir / "checkpoints" / "init.pt")["oracle"], "oracle")
    held_out = held_out_set(oracle.to(device), cfg)
    out = {}
    for key, run in runs.items():
        ckpt = load_checkpoint(run / "checkpoints" / "final.pt")
        gen = build_model(generator_class(ckpt.get("algorithm")), ckpt["generator"], "generator")
        out[key] = sequence_nll(gen.to(device), held_out).mean().item()
    return out


def distinct_fraction(samples: Path) -> float:
    """The share of distinct sequences among a run's final samples (one per line): near 1 for a G that
    spreads its mass, lower when it repeats a few sequences (mode collapse)."""
    lines = samples.read_text(encoding="utf-8").splitlines()
    return len(set(lines)) / max(len(lines), 1)


def build_table(results: dict[str, dict], runs: dict[str, Path], pre_dir: Path, cfg: Config,
                reference: str | None = "seqgan") -> list[dict[str, Any]]:
    """One row per finished run (``results``: their result.json, ``runs``: their directories); p-value of
    Welch's t-test of the method's per-sequence NLL against the reference's (SeqGAN's in Table 1); t > 0
    means a higher (worse) NLL than the reference. NLL-test and distinct come from the saved final
    generators and samples."""
    per_seq = {k: np.load(runs[k] / "per_seq_nll.npy") for k in results}
    nll_tests = nll_test({k: runs[k] for k in results}, pre_dir, cfg)
    rows = []
    for key, res in results.items():
        p = t = None
        if key != reference and reference in per_seq:
            t, p = welch_ttest(per_seq[key], per_seq[reference])
        rows.append({"method": res["label"], "key": key, "nll_oracle": res["nll_oracle"], "stderr": res["stderr"],
                     "p_value": p, "t_statistic": t, "nll_test": nll_tests[key],
                     "distinct": distinct_fraction(runs[key] / "samples" / "final.txt"),
                     "train_time_s": res["train_time_s"], "pretrain_time_s": res.get("pretrain_time_s"),
                     "wall_time_s": res["wall_time_s"],
                     "num_samples": res["num_samples"], "paper_nll_oracle": PAPER.get(key)})
    return rows


def markdown(rows: list[dict[str, Any]], paper: bool = True, reference: str = "SeqGAN") -> str:
    head = f"| method | NLL-oracle | std. error | p-value vs {reference} | NLL-test | distinct | train time (s) |"
    head += " paper |" if paper else ""
    lines = [head, "|" + "---|" * (8 if paper else 7)]
    for r in rows:
        p = "—" if r["p_value"] is None else "< 1e-300" if r["p_value"] == 0 else f"{r['p_value']:.3g}"
        test = "" if r.get("nll_test") is None else f"{r['nll_test']:.4f}"
        distinct = "" if r.get("distinct") is None else f"{r['distinct']:.3f}"
        train = f"{r['train_time_s']:.1f}"
        if r.get("pretrain_time_s"):  # a G of its own, pre-trained within its train time
            train += f" (of it {r['pretrain_time_s']:.1f} its own pre-training)"
        cells = [r["method"], f"{r['nll_oracle']:.4f}", f"{r['stderr']:.4f}", p, test, distinct, train]
        if paper:
            cells.append("" if r.get("paper_nll_oracle") is None else f"{r['paper_nll_oracle']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_table(out: Path, stem: str, rows: list[dict[str, Any]], extra: dict[str, Any], paper: bool = True,
                reference: str = "SeqGAN") -> str:
    """``stem``.md/.json/.csv; returns the Markdown."""
    md = markdown(rows, paper, reference)
    cols = ["method", "nll_oracle", "stderr", "p_value", "t_statistic", "nll_test", "distinct", "train_time_s",
            "pretrain_time_s", "wall_time_s", "paper_nll_oracle"]
    write_files(out, stem, md, {"rows": rows, **extra}, cols, [[("" if r.get(c) is None else r[c]) for c in cols]
                                                               for r in rows])
    return md


def write_files(out: Path, stem: str, md: str, data: dict[str, Any], cols: list[str], cells: list[list[Any]]) -> None:
    """``stem``.md/.json/.csv, each written atomically: a crash leaves the old file or the new, never half."""
    write_atomic(out / f"{stem}.md", (md + "\n").encode("utf-8"))
    write_json(out / f"{stem}.json", data)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(cols)
    writer.writerows(cells)
    write_atomic(out / f"{stem}.csv", buf.getvalue().encode("utf-8"))
