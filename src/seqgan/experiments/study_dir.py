"""The directory of a command that runs several trainings into one --out (``table1``, ``strategy``):
opened, resumed or replaced without touching anything that is not the command's, and the
--pretrained pre-training it starts from, kept with it so that ``--resume --out DIR`` needs no flag."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from seqgan.checkpoint import load_checkpoint
from seqgan.config import Config
from seqgan.errors import SeqGANError
from seqgan.experiments.args import run_config
from seqgan.experiments.common import check_resume_config, write_json
from seqgan.experiments.run_dir import holds_run, prepare_out_dir

PRETRAINED_FILE = "pretrained.txt"  # the --pretrained of a run, absolute


def open_run(args: argparse.Namespace, cfg: Config, own: tuple[str, ...]) -> Path:
    """--out DIR for a multi-run experiment: refuse, resume (checking the settings) or overwrite. Only
    a directory that holds a run loses ``own`` (the command's names), and only once its lock is held."""
    out = Path(args.out)
    own = own + (PRETRAINED_FILE,)
    replace = args.overwrite and holds_run(out)  # a user's folder that shares a method's name stays
    clash = [n for n in own if (out / n).exists()] if args.overwrite and not replace else []
    if clash:
        raise SeqGANError(f"--out {out} holds no run but has {', '.join(clash)}, which this command writes; "
                          "move them or choose another --out")
    out = prepare_out_dir(out, resume=args.resume, overwrite=args.overwrite)  # locked before removing
    for name in own if replace else ():
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    if args.resume:
        saved = run_config(args)
        if saved is None:
            raise SeqGANError(f"--resume {out}: no config.json there; the run cannot be checked, so start a new one")
        check_resume_config(saved, cfg, out)
    write_json(out / "config.json", cfg.to_dict())
    return out


def pretrained_of(args: argparse.Namespace, out: Path) -> str | None:
    """The pre-training this run starts from: --pretrained (recorded on the run's first call), or on
    --resume the recorded one; None for the run's own ``pretrain/``. A resume that would switch
    pre-training midway (and mix methods from two starts in one table) is refused."""
    record = out / PRETRAINED_FILE
    saved = record.read_text(encoding="utf-8").strip() if record.is_file() else None
    given = str(Path(args.pretrained).resolve()) if args.pretrained else None
    if not args.resume or (saved is None and given is None):
        if given is not None:
            record.write_text(given + "\n", encoding="utf-8")
        return given
    if given is None or given == saved:
        return saved
    was = f"--pretrained {saved}" if saved else f"its own pre-training in {out / 'pretrain'}"
    if saved is None and not (out / "pretrain").exists():  # begun before runs recorded --pretrained
        record.write_text(given + "\n", encoding="utf-8")
        return given
    raise SeqGANError(f"--resume {out}: the run was begun from {was}, not --pretrained {given}; leave out "
                      "--pretrained to continue it, or start a new run")


def pretrain_summary(pre_dir: Path) -> dict[str, Any]:
    """pretrain/summary.json, or the same from d_pretrain.pt where a hard kill came between the two."""
    path = pre_dir / "summary.json"
    if path.is_file():
        return json.loads(path.read_text())
    ckpt = load_checkpoint(pre_dir / "checkpoints" / "d_pretrain.pt")
    return {**ckpt["summary"], "timings_s": {k: round(v, 2) for k, v in ckpt["timings"].items() if k[0] != "_"}}


def check_pretrained(path: Path, cfg: Config) -> Path:
    """A finished pre-training directory given by --pretrained, made with the same settings as this run."""
    ckpt_path = path / "checkpoints" / "d_pretrain.pt"
    if not ckpt_path.exists():
        raise SeqGANError(f"--pretrained {path}: no finished pre-training there (missing {ckpt_path}); "
                          "give the pretrain/ directory of a finished table1 or strategy run")
    saved = load_checkpoint(ckpt_path, need=("config",))["config"]
    now, default = cfg.to_dict(), Config().to_dict()
    keys = ["seed"] + [f"model.{k}" for k in now["model"]] + [f"data.{k}" for k in now["data"]] + [
        f"train.{k}" for k in ("batch_size", "g_lr", "g_grad_clip", "g_pretrain_epochs", "d_lr",
                               "d_pretrain_steps", "d_epochs", "rollout_policy", "rollout_update_rate", "precision")]

    def get(d: dict, key: str) -> Any:  # a key an older seqgan did not write had its default value
        if "." not in key:
            return d.get(key, default[key])
        section, name = key.split(".")
        return d.get(section, {}).get(name, default[section][name])

    diffs = [f"{k}: pre-training used {get(saved, k)!r}, this run asks for {get(now, k)!r}"
             for k in keys if get(saved, k) != get(now, k)]
    if diffs:
        raise SeqGANError(f"--pretrained {path} does not fit this run: " + "; ".join(diffs))
    return ckpt_path
