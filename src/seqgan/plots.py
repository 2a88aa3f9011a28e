"""Learning-curve figures (the paper's Figure 2 layout)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Sequence


def line_colors(plt, lines: int):
    """The default cycle's colours, or for more lines than its 10 (every algorithm in one table) tab20's dark
    then light ones, so that no two lines share one."""
    tab20 = plt.get_cmap("tab20").colors
    return itertools.cycle(tab20[0::2] + tab20[1::2]) if lines > 10 else itertools.repeat(None)


def place_legend(fig, ax, lines: int) -> None:
    """A long legend (every algorithm of a table) covered the lines: beside the axes, the figure widened."""
    if lines > 6:
        width, height = fig.get_size_inches()
        fig.set_size_inches(width * 1.5, height)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    else:
        ax.legend(fontsize=8)


def plot_curves(path: Path, curves: dict[str, Sequence[tuple[float, float]]], pretrain_end: float | None,
                ylabel: str = "NLL-oracle (nats per token)", title: str = "") -> Path:
    """One line per curve of (epoch, value) points; a dashed vertical line where pre-training ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (label, points), color in zip(curves.items(), line_colors(plt, len(curves))):
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=label, marker="." if len(xs) < 60 else None, color=color)
    if pretrain_end is not None:
        ax.axvline(pretrain_end, color="grey", linestyle="--", linewidth=1)
        ax.text(pretrain_end, ax.get_ylim()[1], " pre-training ends", va="top", fontsize=8, color="grey")
    ax.set_xlabel("epoch (MLE epochs, then adversarial rounds)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    place_legend(fig, ax, len(curves))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_tradeoff(path: Path, curves: dict[str, Sequence[tuple[float, float, float, float, float]]], xlabel: str,
                  ylabel: str, title: str = "", mark: float = 1.0) -> Path:
    """Quality-diversity curves: one line per label through its (x, y, temperature, x spread, y spread)
    points in temperature order, error bars where a spread is given (not NaN or 0), the point at
    temperature ``mark`` drawn as a large star, and the lowest and highest temperatures written beside
    their points."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for (label, points), color in zip(curves.items(), line_colors(plt, len(curves))):
        if not points:
            continue
        points = sorted(points, key=lambda p: p[2])
        xs, ys, ts, xe, ye = (list(v) for v in zip(*points))
        line, = ax.plot(xs, ys, marker=".", label=label, color=color)
        spread = [e for e in xe + ye if e == e and e > 0]
        if spread:
            ax.errorbar(xs, ys, xerr=[e if e == e else 0 for e in xe], yerr=[e if e == e else 0 for e in ye],
                        fmt="none", ecolor=line.get_color(), alpha=0.4, linewidth=0.8)
        at = [i for i, t in enumerate(ts) if math.isclose(t, mark)]
        for i in at:
            ax.plot(xs[i], ys[i], marker="*", markersize=13, color=line.get_color(), markeredgecolor="black")
        for i in {0, len(ts) - 1}:
            ax.annotate(f"T={ts[i]:g}", (xs[i], ys[i]), fontsize=7, color=line.get_color(),
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title + (f"\n(star: T = {mark:g})" if title else f"star: T = {mark:g}"), fontsize=10)
    ax.grid(alpha=0.3)
    place_legend(fig, ax, len(curves))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
