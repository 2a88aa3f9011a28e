"""``seqgan strategy``: the training-strategy study of the paper's Figure 3.

SeqGAN (Algorithm 1 from line 6) under several settings of (g-steps, d-steps, k) and optionally
the roll-out count N, every one from the same pre-trained G and D (pre-training runs once, with
the base config's k for D pre-training, or comes from ``--pretrained``). Each setting trains
``train.adv_rounds`` rounds. Run directory:

    config.json                the base config (the settings change only train.g_steps, d_steps,
                               d_epochs and rollouts of the adversarial phase)
    pretrain/                  as in ``seqgan table1``
    g1_d5_k3/, g100_d1_k10/, … one per setting (``_nN`` added when N is given): metrics.jsonl,
                               checkpoints/, samples/final.txt, per_seq_nll.npy, result.json
    strategy.md/.json/.csv, figure3.png, figure3_nll_test.png

The default settings are the four panels of the paper's Figure 3: (a) g=100, d=1, k=10;
(b) g=30, d=1, k=30; (c) g=1, d=1, k=10; (d) g=1, d=5, k=3, the paper's main setting.
"""

from __future__ import annotations

import argparse
import copy
import re
import time
from dataclasses import dataclass
from pathlib import Path

from seqgan import distributed as dist
from seqgan.config import Config
from seqgan.errors import SeqGANError
from seqgan.experiments.common import Interrupted
from seqgan.experiments.seeds import check_flags, run_seeds
from seqgan.experiments.study_dir import check_pretrained, open_run, pretrained_of
from seqgan.experiments.table1 import (add_shared_args, resume_hint, run_method, run_pretraining,
                                       synthetic_config)
from seqgan.experiments.tables import build_table, plot_figures, write_table

DEFAULT_SETTINGS = "100,1,10;30,1,30;1,1,10;1,5,3"
FORMAT = ('expected settings separated by ";", each "g,d,k" or "g,d,k,N" with integers g-steps >= 1, '
          'd-steps >= 0, k (D epochs per d-step) >= 1 and roll-outs N >= 1, e.g. --settings "1,5,3;1,1,10;30,1,30,8"')
SETTING_DIR = re.compile(r"^g\d+_d\d+_k\d+(_n\d+)?$")


@dataclass(frozen=True)
class Setting:
    """One training strategy of Algorithm 1's loop (paper, Figure 3)."""

    g_steps: int
    d_steps: int
    k: int
    rollouts: int | None = None  # None: the config's train.rollouts

    @property
    def name(self) -> str:
        return f"g{self.g_steps}_d{self.d_steps}_k{self.k}" + ("" if self.rollouts is None else f"_n{self.rollouts}")

    @property
    def label(self) -> str:
        n = "" if self.rollouts is None else f", N={self.rollouts}"
        return f"g={self.g_steps}, d={self.d_steps}, k={self.k}{n}"

    def apply(self, cfg: Config) -> Config:
        out = copy.deepcopy(cfg)
        out.train.g_steps, out.train.d_steps, out.train.d_epochs = self.g_steps, self.d_steps, self.k
        if self.rollouts is not None:
            out.train.rollouts = self.rollouts
        return out.validate()


def parse_settings(text: str) -> list[Setting]:
    """'g,d,k;g,d,k,N;…' -> settings, refusing anything else with the expected format in the message."""
    settings: list[Setting] = []
    items = [s.strip() for s in text.split(";")]
    if not any(items):
        raise SeqGANError(f"--settings {text!r} is empty; {FORMAT}")
    for item in items:
        if not item:
            continue  # a trailing ';' is harmless
        parts = [p.strip() for p in item.split(",")]
        if len(parts) not in (3, 4) or not all(re.fullmatch(r"\d+", p) for p in parts):
            raise SeqGANError(f"--settings: cannot read {item!r}; {FORMAT}")
        g, d, k, *n = map(int, parts)
        if g < 1 or k < 1 or (n and n[0] < 1):
            raise SeqGANError(f"--settings: {item!r} is out of range; {FORMAT}")
        setting = Setting(g, d, k, n[0] if n else None)
        if setting in settings:
            raise SeqGANError(f"--settings: {item!r} appears twice; give each setting once")
        settings.append(setting)
    return settings


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "strategy", help="the paper's Figure 3: SeqGAN under several (g-steps, d-steps, k[, N]) settings",
        description="Pre-train once, then run Algorithm 1's adversarial phase under each setting from the same "
                    "checkpoint; one plot of their NLL-oracle curves.")
    add_shared_args(p)
    p.add_argument("--settings", metavar="G,D,K[,N];…",
                   help=f'settings separated by ";" (default "{DEFAULT_SETTINGS}": the paper\'s Figure 3 (a)-(d); '
                        "(a) and (b) make 100 and 30 policy-gradient updates per round, so they dominate the cost; "
                        "--resume: the run's own)")
    p.set_defaults(func=main)


SETTINGS_FILE = "settings.txt"  # the --settings of a run, so that --resume --out DIR needs no flag


def settings_of(args: argparse.Namespace) -> str:
    """--settings as given; with --resume and none given, the run's own (its settings.txt); else the paper's."""
    if args.settings is not None:
        return args.settings
    saved = Path(getattr(args, "resume_as", (args.out,))[0]) / SETTINGS_FILE
    return saved.read_text(encoding="utf-8").strip() if args.resume and saved.is_file() else DEFAULT_SETTINGS


def check_settings(out: Path, args: argparse.Namespace) -> None:
    """A study's settings.txt is never replaced by other --settings unless --overwrite (its table would
    silently drop the settings it ran)."""
    record = out / SETTINGS_FILE
    saved = record.read_text(encoding="utf-8").strip() if record.is_file() else None
    if saved not in (None, args.settings) and not args.overwrite:
        raise SeqGANError(f"{out} holds a strategy study of --settings \"{saved}\", not \"{args.settings}\"; pass "
                          "--resume without --settings to continue it, --overwrite to replace it, or choose "
                          "another --out")


def keep_settings(out: Path, args: argparse.Namespace) -> None:
    """Write a --seeds study's settings.txt (:func:`check_settings` first)."""
    check_settings(out, args)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / SETTINGS_FILE).write_text(args.settings + "\n", encoding="utf-8")
    except OSError as exc:
        raise SeqGANError(f"--out {out}: cannot create or write it ({exc.strerror or exc}); choose a directory you "
                          "can write") from None


def main(args: argparse.Namespace) -> int:
    args.settings = settings_of(args)
    settings = parse_settings(args.settings)
    cfg = synthetic_config(args)
    if getattr(args, "seeds", None):
        check_flags(args)  # before settings.txt is written: a refused command must leave nothing behind
        if dist.is_main() and not Path(args.out).is_file():  # a file is refused by run_seeds (rank 0 only, before
            keep_settings(Path(args.out), args)                # run_seeds knows the seeds' device to join the run)
        return run_seeds(args, main, "strategy", Setting(1, 5, 3).name, {s.name: s.label for s in settings},
                         cfg.device)
    runs = {s.name: s.apply(cfg) for s in settings}  # checks each setting's config before any work
    out = Path(args.out)
    dist.init(cfg.device)  # under torchrun: join the run before rank 0 checks and prepares the directory
    if args.resume:  # rank 0 alone looks at the disk (another node may not see --out)
        dist.on_main(lambda: check_settings(out, args) if out.is_dir() else None)
    stale = tuple(p.name for p in out.iterdir() if SETTING_DIR.match(p.name)) if out.is_dir() else ()
    out = dist.on_main(open_run, args, cfg, stale + ("pretrain", "strategy.md", "strategy.json", "strategy.csv",
                                                    "figure3.png", "figure3_nll_test.png", SETTINGS_FILE))
    args.pretrained = dist.on_main(pretrained_of, args, out)
    if dist.is_main():
        (out / SETTINGS_FILE).write_text(args.settings + "\n", encoding="utf-8")
    progress, started = not args.no_progress, time.perf_counter()
    pre_dir = Path(args.pretrained) if args.pretrained else out / "pretrain"
    results, labels = {}, {s.name: s.label for s in settings}
    try:
        start = dist.on_main(check_pretrained, pre_dir, cfg) if args.pretrained else \
            run_pretraining(cfg, pre_dir, progress=progress)
        for s in settings:
            results[s.name] = run_method("seqgan", runs[s.name], out / s.name, start, label=s.label,
                                         progress=progress)
    except Interrupted as exc:
        raise Interrupted(f"{exc}. {resume_hint(args, out)}") from None
    if not dist.is_main():  # the table, figure and printout are rank 0's
        return 0
    main_setting = Setting(1, 5, 3).name  # the paper's main setting is the reference of the t-tests, if run
    reference = main_setting if main_setting in results else None
    runs = {k: out / k for k in results}
    rows = build_table(results, runs, pre_dir, cfg, reference)
    md = write_table(out, "strategy", rows, {"config": cfg.to_dict(), "settings": [s.__dict__ for s in settings],
                                             "reference": reference}, paper=False,
                     reference=labels.get(reference, "—"))
    plot_figures(out, "figure3", pre_dir, runs, labels, cfg, "SeqGAN under different training strategies (Figure 3)",
                 rows)
    print("\n" + md)
    print(f"\nthis command: {time.perf_counter() - started:.0f} s; results in {out}")
    return 0
