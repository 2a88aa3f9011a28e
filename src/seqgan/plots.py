"""Learning-curve figures (the paper's Figure 2 layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def plot_curves(path: Path, curves: dict[str, Sequence[tuple[float, float]]], pretrain_end: float | None,
                ylabel: str = "NLL-oracle (nats per token)", title: str = "") -> Path:
    """One line per curve of (epoch, value) points; a dashed vertical line where pre-training ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, points in curves.items():
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=label, marker="." if len(xs) < 60 else None)
    if pretrain_end is not None:
        ax.axvline(pretrain_end, color="grey", linestyle="--", linewidth=1)
        ax.text(pretrain_end, ax.get_ylim()[1], " pre-training ends", va="top", fontsize=8, color="grey")
    ax.set_xlabel("epoch (MLE epochs, then adversarial rounds)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
