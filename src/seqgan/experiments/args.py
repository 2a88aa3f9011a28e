"""The flags every training command shares, and the config they resolve to (with --resume: the run's own)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from seqgan.config import PRESETS, SECTIONS, Config, parse_set, preset_dict, resolve
from seqgan.errors import SeqGANError
from seqgan.precision import PRECISIONS
from seqgan.seeding import check_seed


def add_config_args(p: argparse.ArgumentParser, default_preset: str = "fast") -> None:
    """Flags shared by every training command; precedence: --set > --config > --preset."""
    p.add_argument("--preset", help=f"named preset: {', '.join(PRESETS)} (default: {default_preset}; with "
                   "--resume: the run's own settings); see src/seqgan/presets/*.toml")
    p.set_defaults(default_preset=default_preset)
    p.add_argument("--config", metavar="FILE", help="TOML file of settings; overrides the preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set train.rollouts=8 (repeatable; beats --config)")
    p.add_argument("--seed", type=int, help="seed of every random draw (default 0; from -2**53 to 2**53 - 1)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--threads", type=int, help="CPU threads for torch, per process (default: one per core; "
                   "under torchrun 1 unless given)")
    p.add_argument("--precision", choices=PRECISIONS, help="training number format: fp32 (default) or bf16 "
                   "(autocast; changes the numbers, evaluation stays fp32); sets train.precision")
    p.add_argument("--out", required=True, metavar="DIR", help="run directory to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint, "
                   "with the settings in its config.json (flags that would change them are refused)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace, **extra: Any) -> Config:
    """The resolved config of a command's flags (``extra``: more dotted keys, e.g. data.train_path). With
    --resume it starts from the run's own config.json, so that ``--resume --out DIR`` needs no other flag;
    the flags given then apply on top, and the command refuses those that change the run."""
    base = run_config(args)
    preset = args.preset if args.preset is not None or base is not None else getattr(args, "default_preset", "fast")
    missing = [] if not isinstance(base, dict) else [s for s in SECTIONS if s not in base]
    if missing:  # neither the run nor --preset names a preset: say so, since the defaults may not be wanted
        print(f"seqgan: the run's config.json has no {', '.join(missing)} section (an older seqgan wrote it): "
              "those settings are the defaults; resume with --preset NAME to take them from the run's preset",
              file=sys.stderr)
    resume = getattr(args, "resume", False)
    device = args.device or (saved_setting(args, "device", str) if resume else None)
    threads = args.threads if args.threads is not None else (saved_setting(args, "threads", int) if resume else None)
    cfg = resolve(preset, args.config, args.overrides, base=base, seed=args.seed, device=device,
                  threads=threads, **{"train.precision": args.precision}, **extra)
    check_seed(cfg.seed)  # --seed, --set seed=... or --config: refused before the run directory is touched
    return cfg


def saved_setting(args: argparse.Namespace, key: str, kind: type) -> Any:
    """A machine setting of the run that --resume continues, its default there: the device (its random streams
    live there) or the threads (a run started at --threads 1 beside other work goes on so)."""
    try:
        saved = json.loads((Path(args.out) / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None  # run_config says what is wrong
    value = saved.get(key) if isinstance(saved, dict) else None
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def run_config(args: argparse.Namespace) -> dict[str, Any] | None:
    """The config.json of the run that --resume continues (None without --resume, or where --out holds no
    run yet: the command then says so). ``args.base_run``: a seed added to a resumed --seeds study takes
    its settings from a seed already run there."""
    base_run = getattr(args, "base_run", None)
    if not getattr(args, "resume", False) and base_run is None:
        return None
    path = Path(args.out if getattr(args, "resume", False) else base_run) / "config.json"
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SeqGANError(f"--resume: cannot read {path} ({exc}); it is damaged: restore it, or start a new run") from None
    if not isinstance(saved, dict):
        return saved  # apply_dict says what is wrong with it
    old = path.parent / "baselines.json"  # a table1 run begun before the algorithms had config sections
    if old.is_file() and "ss" not in saved:
        try:
            b = json.loads(old.read_text(encoding="utf-8"))
            saved = {**saved, "ss": {"schedule": b["ss_schedule"], "max_prob": b["ss_max_prob"],
                                     "steepness": b["ss_steepness"]}, "pg_bleu": {"order": b["bleu_order"]}}
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise SeqGANError(f"--resume: cannot read {old} ({type(exc).__name__}: {exc}); it is damaged: restore "
                              "it, or start a new run") from None
    name = getattr(args, "preset", None) or saved.get("preset")
    if isinstance(name, str) and name in PRESETS:  # sections the run never had come from its preset
        named = preset_dict(name)
        saved = {**{s: named.get(s, {}) for s in SECTIONS if s not in saved}, **saved}
    # The machine-specific keys are not the run's: they come from this command's flags (or their defaults).
    return {k: v for k, v in saved.items() if k not in ("device", "threads")}


def refuse_overrides(args: argparse.Namespace, decided: dict[str, str]) -> None:
    """A ``--set`` of a key the command sets itself (``decided``: key -> what sets it) is one error, not a value
    silently replaced."""
    for item in getattr(args, "overrides", None) or ():
        for section, inner in parse_set(item).items():
            for key in ([f"{section}.{k}" for k in inner] if isinstance(inner, dict) else [section]):
                if key in decided:
                    raise SeqGANError(f"--set {item}: {key} {decided[key]}, so this command sets it; leave it out")
