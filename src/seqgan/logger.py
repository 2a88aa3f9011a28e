"""Namespaced metrics to ``metrics.jsonl`` and TensorBoard, and a progress bar.

Keys: ``gen/...`` (generator training), ``disc/...`` (discriminator), ``eval/...`` (evaluation),
``time/...``. Each JSONL line also has ``phase``, ``step`` (units of that phase done) and
``epoch`` (a global x axis: MLE epochs, then D pre-training steps are not counted, then rounds).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


class MetricsLogger:
    """``out_dir`` None: records are kept in memory only and nothing is written (the processes
    other than rank 0 of a distributed run)."""

    def __init__(self, out_dir: Path | None, tensorboard: bool = True, resume: bool = False):
        self.path = None if out_dir is None else out_dir / "metrics.jsonl"
        self.records: list[dict[str, Any]] = []
        self._fh = self._tb = None
        if self.path is None:
            return
        if resume and self.path.exists():
            self.records = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        self._fh = open(self.path, "a" if resume else "w", encoding="utf-8")
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # imported lazily: it is slow to import
            self._tb = SummaryWriter(str(out_dir / "tensorboard"))

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self._fh is None:
            return
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()
        if self._tb is not None:
            for key, value in record.items():
                if "/" in key and isinstance(value, (int, float)) and math.isfinite(value):
                    self._tb.add_scalar(key, value, record["epoch"])

    def text(self, tag: str, text: str) -> None:
        if self._tb is not None:
            self._tb.add_text(tag, text)

    def truncate_after(self, keep: int) -> None:
        """On resume, drop records written after the checkpoint (they will be written again)."""
        self.records = self.records[:keep]
        if self._fh is None:
            return
        self._fh.close()
        self.path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records))
        self._fh = open(self.path, "a", encoding="utf-8")

    def close(self) -> None:
        """Close the files (again is harmless); the records stay readable."""
        if self._fh is not None:
            self._fh.close()
        if self._tb is not None:
            self._tb.close()
        self._fh = self._tb = None


class Progress:
    """One tqdm bar per phase, showing the latest NLL and an ETA; silent when disabled."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.bar, self.start = enabled, None, time.perf_counter()

    def begin(self, phase: str, total: int, done: int = 0) -> None:
        self.end()
        if self.enabled and total > 0:
            self.bar = tqdm(total=total, initial=done, desc=phase, unit="step", dynamic_ncols=True, leave=True)

    def update(self, **postfix: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in postfix.items()},
                                 refresh=False)
            self.bar.update(1)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
