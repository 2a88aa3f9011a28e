"""What ``seqgan sweep --run DIR`` sweeps: the run(s) under DIR and their finished methods.

Kept apart from :mod:`seqgan.experiments.sweep` (the sampling and scoring) because every kind of run
keeps its methods in its own place: a ``table1`` or ``strategy`` run in method directories, with its
oracle in its own ``pretrain/`` or in the ``--pretrained`` directory that ``pretrained.txt`` records; a
``table1 --seeds`` run in ``seed<S>/``; an ``oracle``, ``train`` or ``paper-task`` run in
``checkpoints/``. A ``--seeds`` sweep needs the same methods in every seed, since its rows are means over them.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from seqgan.checkpoint import build_model, load_checkpoint
from seqgan.config import Config
from seqgan.errors import SeqGANError
from seqgan.experiments.study_dir import PRETRAINED_FILE
from seqgan.models.generator import Generator
from seqgan.train.registry import ALGORITHMS, generator_class, get_algorithm

ORDER = ("random", "mle_pretrain", *ALGORITHMS)  # table1's order; methods it does not know follow by name
#: An ``oracle --algorithm mle`` run ends twice in MLE: its pre-training (this key) and the finished run ("mle").
MLE_PRETRAIN = "mle_pretrain"


@dataclass
class Method:
    key: str
    label: str
    checkpoint: Path


@dataclass
class Run:
    """One run directory to sweep: its kind ('oracle' or 'text'), settings and finished methods."""

    path: Path
    kind: str
    cfg: Config
    methods: list[Method]
    oracle_checkpoint: Path | None = None  # synthetic task: where the oracle's weights are


def _label(key: str) -> str:
    from seqgan.experiments.methods import METHODS
    return "MLE pre-training" if key == MLE_PRETRAIN else METHODS.get(key, key)


def _sorted(methods: list[Method]) -> list[Method]:
    return sorted(methods, key=lambda m: (ORDER.index(m.key) if m.key in ORDER else len(ORDER), m.key))


def _has_generator(path: Path) -> bool:
    return path.is_file() and "generator" in load_checkpoint(path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SeqGANError(f"--run: {path} cannot be read as JSON ({str(exc).splitlines()[0][:120]}); the run "
                          "directory is damaged") from None


def _pretraining(path: Path) -> Path | None:
    """A table1 / strategy run's pre-training: its own ``pretrain/``, or the --pretrained directory it
    recorded in ``pretrained.txt`` (a run made with --pretrained has no ``pretrain/``); None otherwise."""
    record = path / PRETRAINED_FILE
    if (path / "pretrain").is_dir():
        return path / "pretrain"
    if not record.is_file():
        return None
    pre = Path(record.read_text(encoding="utf-8").strip())
    if not (pre / "checkpoints" / "init.pt").is_file():
        raise SeqGANError(f"--run {path}: its pre-training {pre} (recorded in {PRETRAINED_FILE}) has no "
                          "checkpoints/init.pt, which holds the oracle; put that directory back where it was")
    return pre


def find_runs(path: Path) -> list[Run]:
    """The run(s) under ``path``: one, or one per seed of a ``--seeds`` run. Refused with a message when
    nothing there is a finished method."""
    path = Path(path)
    if not path.is_dir():
        raise SeqGANError(f"--run {path}: no such directory; give a finished table1, table1 --seeds, oracle, "
                          "train or paper-task run directory")
    if not (path / "config.json").exists() and (path / "run" / "config.json").exists():
        path = path / "run"  # a paper-task directory
    seeds = sorted((p for p in path.iterdir() if re.fullmatch(r"seed\d+", p.name) and (p / "config.json").exists()),
                   key=lambda p: int(p.name[4:]))
    if seeds and _pretraining(path) is None:
        runs = [r for r in (_one_run(p, required=False) for p in seeds) if r is not None]
        if not runs:
            raise SeqGANError(f"--run {path}: none of its seeds ({', '.join(p.name for p in seeds)}) has a finished "
                              "method yet (a method directory with result.json and checkpoints/final.pt)")
        return runs
    return [_one_run(path, required=True)]


def _one_run(path: Path, required: bool) -> Run | None:
    if not (path / "config.json").exists():
        raise SeqGANError(f"--run {path}: no config.json there; it is not a seqgan run directory")
    cfg = Config.from_dict(read_json(path / "config.json"))
    kind = "text" if cfg.data.train_path else "oracle"
    methods, oracle_ckpt, pre = [], None, _pretraining(path)
    if pre is not None:  # table1 / strategy: every finished method directory
        for d in sorted(p for p in path.iterdir() if p.is_dir() and p.name != "pretrain"):
            final = d / "checkpoints" / "final.pt"
            if (d / "result.json").exists() and _has_generator(final):
                label = read_json(d / "result.json").get("label") or _label(d.name)
                methods.append(Method(d.name, label, final))
        oracle_ckpt = pre / "checkpoints" / "init.pt"
    else:  # oracle / train: the end of pre-training and of the algorithm's last phase
        algorithm = get_algorithm(cfg.train.algorithm)
        last = algorithm.own_phases[-1] if algorithm.own_phases else None
        first = MLE_PRETRAIN if last and algorithm.name == "mle" else "mle"  # MLE's run ends in MLE twice
        ends = [(first, "mle.pt")] + ([(algorithm.name, f"{last}.pt")] if last else [])
        for key, name in ends:
            if _has_generator(path / "checkpoints" / name):
                methods.append(Method(key, _label(key), path / "checkpoints" / name))
        oracle_ckpt = methods[0].checkpoint if methods else None
    if not methods:
        if not required:
            return None
        raise SeqGANError(f"--run {path}: no finished method there (a table1 method directory needs result.json "
                          "and checkpoints/final.pt; an oracle or train run checkpoints/mle.pt or the checkpoint of "
                          "its algorithm's last phase, adversarial.pt for SeqGAN); "
                          "finish or --resume the run first")
    return Run(path, kind, cfg, _sorted(methods), oracle_ckpt if kind == "oracle" else None)


def choose_methods(runs: list[Run], wanted: str | None) -> list[Run]:
    """The runs with only the methods to sweep: ``--methods`` (every seed must have finished each), or by
    default every finished method; over seeds, those that every seed has (the others are named on stderr),
    since a row is a mean over all seeds."""
    found = {m.key for r in runs for m in r.methods}
    if wanted is not None and wanted.strip() == "all":  # as table1 --methods all: the default here
        wanted = None
    if wanted is not None:
        keep = {k.strip() for k in wanted.split(",") if k.strip()}
        if not keep or keep - found:
            raise SeqGANError(f"--methods {wanted!r}: the run's finished methods are {', '.join(sorted(found))}")
        for r in runs:
            missing = sorted(keep - {m.key for m in r.methods})
            if missing:
                raise SeqGANError(f"--methods {wanted!r}: {r.path.name} has not finished {', '.join(missing)}; "
                                  "finish it (table1 --resume) or leave those out of --methods")
    else:
        keep = set.intersection(*({m.key for m in r.methods} for r in runs))
        if not keep:
            raise SeqGANError(f"--run: no method is finished in every seed ({', '.join(r.path.name for r in runs)}); "
                              "finish them (table1 --resume) or sweep one seed's directory")
        for key in sorted(found - keep):
            lacking = ", ".join(r.path.name for r in runs if key not in {m.key for m in r.methods})
            print(f"{key}: left out, not finished in {lacking} (a row is a mean over every seed)",
                  file=sys.stderr, flush=True)
    return [replace(r, methods=[m for m in r.methods if m.key in keep]) for r in runs]


def load_generator(path: Path, device: torch.device) -> Generator:
    ckpt = load_checkpoint(path)
    gen = build_model(generator_class(ckpt.get("algorithm")), ckpt["generator"], "generator")  # RelGAN's own G
    return gen.requires_grad_(False).eval().to(device)
