"""Quality and diversity of a generator at one softmax temperature, and who dominates whom.

Caccia et al. ("Language GANs Falling Short", ICLR 2020) compare a sequence GAN with MLE along the
curve the temperature T traces (logits divided by T before the softmax): T < 1 trades diversity
for quality, T > 1 the reverse. One point per (method, T):

* synthetic task: **NLL-oracle** of G_T's samples (quality; the paper's measure) and **NLL-test**, the
  NLL of the held-out oracle set under G_T (diversity: coverage of the oracle's distribution), both
  per token in nats, lower is better, with standard errors; and the share of distinct samples;
* real data: **BLEU-5** of the samples against the test set (quality, higher is better),
  **Self-BLEU-5** among the samples (diversity, lower is better), the **LM** and **reverse-LM**
  scores (:mod:`seqgan.metrics.lm`, both lower is better), and the share of distinct samples.

A point P *dominates* Q on a pair of axes when P is at least as good as Q on both (means; the
standard errors are in the tables beside them). :func:`dominance` asks, for each method, whether some
temperature of MLE dominates the method at T = 1, the question of Caccia et al.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from seqgan.metrics.nll import nll_oracle, sequence_nll
from seqgan.metrics.stats import mean_and_stderr
from seqgan.models.generator import Generator

#: The axes of each task's figures: (y, x) metric keys, each with "lower" or "higher" is better.
AXES = {
    "oracle": [(("nll_oracle", "lower"), ("nll_test", "lower"))],
    "text": [(("bleu5", "higher"), ("self_bleu5", "lower")), (("lm", "lower"), ("reverse_lm", "lower"))],
}
LABELS = {"nll_oracle": "NLL-oracle (nats/token; quality, lower is better)",
          "nll_test": "NLL-test (nats/token; diversity, lower is better)",
          "bleu5": "BLEU-5 vs test set (quality, higher is better)",
          "self_bleu5": "Self-BLEU-5 (diversity, lower is better)",
          "lm": "LM score (nats/token; quality, lower is better)",
          "reverse_lm": "reverse-LM score (nats/token; diversity, lower is better)"}


def distinct(samples: torch.Tensor) -> float:
    """Share of distinct rows of samples (N, T)."""
    return torch.unique(samples, dim=0).shape[0] / max(samples.shape[0], 1)


@torch.no_grad()
def oracle_scores(gen_t: Generator, oracle: Generator, held_out: torch.Tensor, num: int,
                  rng: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """One synthetic-task point of the tempered generator ``gen_t``: ``num`` samples drawn with ``rng``,
    scored under the oracle (NLL-oracle, exactly :func:`~seqgan.metrics.nll.nll_oracle`), and the
    held-out oracle set (M, T) scored under gen_t (NLL-test, :func:`~seqgan.metrics.nll.sequence_nll`).
    Returns (samples (num, T), metrics)."""
    _, samples, per_seq = nll_oracle(gen_t, oracle, num, generator=rng)
    quality, quality_se = mean_and_stderr(per_seq.cpu().numpy())
    test, test_se = mean_and_stderr(sequence_nll(gen_t, held_out).cpu().numpy())
    return samples, {"nll_oracle": quality, "nll_oracle_stderr": quality_se, "nll_test": test,
                     "nll_test_stderr": test_se, "distinct": distinct(samples)}


def better(a: float, b: float, direction: str) -> bool:
    """a at least as good as b."""
    return a <= b if direction == "lower" else a >= b


def dominates(p: dict[str, Any], q: dict[str, Any], axes: Sequence[tuple[str, str]]) -> bool:
    """p at least as good as q on every (metric, direction) of ``axes``."""
    return all(better(p[m], q[m], d) for m, d in axes)


def nearest_one(temperatures: Sequence[float]) -> float:
    """The temperature of the grid closest to 1 (1 itself when present)."""
    return min(temperatures, key=lambda t: (abs(math.log(t)), t))


def dominance(points: list[dict[str, Any]], task: str, reference: str = "mle") -> list[dict[str, Any]]:
    """For each method other than ``reference`` and each pair of axes of ``task``: the MLE temperatures
    whose point dominates the method's point at T = 1 (or the grid's temperature nearest 1), the best
    of them (the closest to 1), the method's temperatures dominated by some MLE point, and whether the
    method at T = 1 dominates MLE at T = 1. ``points``: rows with key, method, temperature and metrics."""
    by = {}
    for p in points:
        by.setdefault(p["key"], {})[p["temperature"]] = p
    out = []
    if reference not in by:
        return out
    mle = by[reference]
    for key, curve in by.items():
        if key == reference:
            continue
        t1 = nearest_one(list(curve))
        here = curve[t1]
        for y, x in AXES[task]:
            axes = (y, x)
            winners = sorted(t for t, q in mle.items() if dominates(q, here, axes))
            covered = sorted(t for t, p in curve.items() if any(dominates(q, p, axes) for q in mle.values()))
            m1 = mle.get(nearest_one(list(mle)))
            out.append({"key": key, "method": here["method"], "axes": [y[0], x[0]], "at_temperature": t1,
                        "dominated": bool(winners), "mle_temperatures": winners,
                        "closest_mle_temperature": min(winners, key=lambda t: abs(math.log(t))) if winners else None,
                        "points_dominated": covered, "points": len(curve),
                        "dominates_mle_at_1": bool(m1 is not None and dominates(here, m1, axes))})
    return out


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The dominance summary in words, one line per method and pair of axes."""
    lines = []
    for r in rows:
        y, x = (LABELS[a].split(" (")[0] for a in r["axes"])
        at = f"T = {r['at_temperature']:g}"
        if r["dominated"]:
            ts = ", ".join(f"{t:g}" for t in r["mle_temperatures"])
            lines.append(f"- {r['method']} ({at}), {y} / {x}: **dominated by MLE** at T = {ts} "
                         f"(closest to 1: {r['closest_mle_temperature']:g}); "
                         f"{len(r['points_dominated'])} of its {r['points']} points are dominated by MLE's curve")
        else:
            also = "; it dominates MLE at T = 1" if r["dominates_mle_at_1"] else ""
            lines.append(f"- {r['method']} ({at}), {y} / {x}: **not dominated** by any MLE temperature{also}; "
                         f"{len(r['points_dominated'])} of its {r['points']} points are dominated by MLE's curve")
    return lines


def across_seeds(per_seed: dict[int, list[dict[str, Any]]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds (ddof 1) of each metric, per (method, temperature) that every
    seed has; each mean under the metric's own key, the sd under ``<metric>_sd``."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for rows in per_seed.values():
        for r in rows:
            groups.setdefault((r["key"], r["temperature"]), []).append(r)
    out = []
    for (key, t), rows in groups.items():
        if len(rows) != len(per_seed):
            continue
        row = {"key": key, "method": rows[0]["method"], "temperature": t, "seeds": len(rows)}
        for m in metrics:
            v = np.array([r[m] for r in rows], dtype=np.float64)
            row[m], row[f"{m}_sd"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        out.append(row)
    return out
