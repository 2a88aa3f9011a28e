"""Namespaced metrics to ``metrics.jsonl`` and TensorBoard, and a progress bar.

Keys: ``gen/...`` (generator training), ``disc/...`` (discriminator), ``value/...`` (SeqGAN's value
network), ``eval/...`` (evaluation), ``time/...``. Each JSONL line also has ``phase``, ``step`` (units
of that phase done) and ``epoch`` (a global x axis: MLE epochs, then D pre-training steps are not
counted, then rounds). TensorBoard draws against ``epoch``, except the phases that train only D, which
keep one epoch: those go to a run of their own (``tensorboard/<phase>/``) against their step.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from seqgan.checkpoint import write_atomic
from seqgan.errors import SeqGANError


class MetricsLogger:
    """``out_dir`` None: records are kept in memory only and nothing is written (the processes
    other than rank 0 of a distributed run)."""

    def __init__(self, out_dir: Path | None, tensorboard: bool = True, resume: bool = False,
                 step_phases: tuple[str, ...] = ("d_pretrain",)):
        self.path = None if out_dir is None else out_dir / "metrics.jsonl"
        self.records: list[dict[str, Any]] = []
        self._fh = None
        self._tb: dict[str, Any] | None = None  # TensorBoard writers by run: "" (x = epoch), or a step phase
        self._step_phases = step_phases  # phases that train only D: their records share one epoch
        self._damaged: int | None = None  # the number of the first unreadable line, if any
        if self.path is None:
            return
        if resume and self.path.exists():
            self.records, self._damaged = read_records(self.path)
        self._fh = open(self.path, "a" if resume else "w", encoding="utf-8")
        self._tb_dir = out_dir / "tensorboard"
        if tensorboard:
            self._tb = {"": _writer(self._tb_dir)}

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self._fh is None:
            return
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()
        self._scalars(record)

    def _axis(self, record: dict[str, Any]) -> tuple[str, int]:
        """TensorBoard's run and x for a record: a D-only phase's own run against its step, else epoch."""
        phase = record.get("phase")
        return (phase, record["step"]) if phase in self._step_phases else ("", record["epoch"])

    def _scalars(self, record: dict[str, Any]) -> None:
        if self._tb is None:
            return
        run, x = self._axis(record)
        if run not in self._tb:
            self._tb[run] = _writer(self._tb_dir / run)
        for key, value in record.items():
            if "/" in key and isinstance(value, (int, float)) and math.isfinite(value):
                self._tb[run].add_scalar(key, value, x)

    def text(self, tag: str, text: str) -> None:
        if self._tb is not None:
            self._tb[""].add_text(tag, text)

    def truncate_after(self, keep: int) -> None:
        """On resume, drop records written after the checkpoint (they will be written again), and with them a
        line torn by a crash or a full disk. A damaged line among the ``keep`` the checkpoint counts is an error:
        the run's curves would lose it. The file is rewritten atomically: a crash now leaves the old one."""
        if self._damaged is not None and len(self.records) < keep:
            raise SeqGANError(f"{self.path}, line {self._damaged}, is damaged (not a JSON record) and the checkpoint "
                              f"counts {keep} records; restore the file, or start a new run")
        dropped, self.records = self.records[keep:], self.records[:keep]
        if self._fh is None:
            return
        self._fh.close()
        write_atomic(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records).encode("utf-8"))
        self._fh = open(self.path, "a", encoding="utf-8")
        if self._tb is not None and dropped:
            # TensorBoard keeps the old events files: a writer with purge_step makes it forget its run's points from
            # the first dropped record's x on; the kept records at that x (if any share it) go again. (A run written
            # before the D-only runs existed keeps its old D pre-training points in the main run.)
            starts: dict[str, int] = {}
            for record in dropped:
                run, x = self._axis(record)
                starts[run] = min(x, starts.get(run, x))
            for run, start in starts.items():
                if run in self._tb:
                    self._tb[run].close()
                self._tb[run] = _writer(self._tb_dir / run, purge_step=start)
            for record in self.records:
                run, x = self._axis(record)
                if run in starts and x >= starts[run]:
                    self._scalars(record)

    def close(self) -> None:
        """Close the files (again is harmless, and so is a close that fails: a full disk's last flush); the
        records stay readable."""
        fh, tb, self._fh, self._tb = self._fh, self._tb, None, None
        try:
            if fh is not None:
                fh.close()
        finally:
            errors = []
            for writer in (tb or {}).values():  # every writer closed, even after one that fails
                try:
                    writer.close()
                except Exception as exc:  # noqa: BLE001 -- the first is raised below
                    errors.append(exc)
            if errors:
                raise errors[0]


def _writer(path: Path, purge_step: int | None = None):
    from torch.utils.tensorboard import SummaryWriter  # imported lazily: it is slow to import

    return SummaryWriter(str(path), purge_step=purge_step)


def read_records(path: Path) -> tuple[list[dict[str, Any]], int | None]:
    """The records of a metrics.jsonl up to its first unreadable line, and that line's number (None if every
    line reads). A crash or a full disk mid-write leaves a torn last line; resume keeps only the records its
    checkpoint counts (:meth:`MetricsLogger.truncate_after`), so a damaged line after those is harmless."""
    records: list[dict[str, Any]] = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
            return records, number
        if not isinstance(record, dict):
            return records, number
        records.append(record)
    return records, None


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
