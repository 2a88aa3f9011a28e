"""``seqgan table1``: the paper's Table 1 and Figure 2 on the synthetic (oracle) task.

Five methods on one oracle and one training set S, scored by NLL-oracle (per token, nats):

* **Random**: G at initialisation;
* **MLE**: the pre-trained G, trained on by MLE for ``train.adv_rounds`` more epochs;
* **Scheduled Sampling**: the pre-trained G, ``train.adv_rounds`` epochs of Scheduled Sampling;
* **PG-BLEU**: the pre-trained G, ``train.adv_rounds`` rounds of ``train.g_steps`` policy-gradient
  updates whose reward is BLEU against S (no D);
* **SeqGAN**: the pre-trained G and D, ``train.adv_rounds`` rounds of Algorithm 1.

Pre-training (Algorithm 1, lines 1-5, exactly as ``seqgan oracle``) runs once; every method
starts from its checkpoint, with the same optimiser and RNG states. Run directory:

    config.json, baselines.json   the resolved settings (``--resume`` checks both)
    pretrain/                     G's MLE pre-training then D's; checkpoints/{init,mle,d_pretrain}.pt
    random/ mle/ ss/ pg_bleu/ seqgan/
                                  one per method: metrics.jsonl, checkpoints/, samples/final.txt,
                                  per_seq_nll.npy, result.json (written last: the method is done)
    table1.md/.json/.csv, figure2.png, figure2_nll_test.png

Each method's final NLL-oracle is the mean over ``eval.final_samples`` fresh samples drawn from
the method's own RNG stream, so the methods' samples are independent, as Welch's t-test of each
baseline's per-sequence NLL against SeqGAN's assumes. The periodic evaluations of figure2.png
(``eval.num_samples`` samples every ``eval.every`` epochs/rounds) continue pre-training's
evaluation stream, restored from its checkpoint. The wall time of a method is its own training
time after the shared pre-training, evaluation excluded (``time/train_s`` in its metrics.jsonl).

Two columns are not in the paper, because NLL-oracle rewards a G that collapses onto a few likely
sequences: NLL-test (each final G on one held-out set drawn from the oracle, :func:`nll_test`) and
the share of distinct sequences among the final samples (:func:`distinct_fraction`).
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgan import distributed as dist
from seqgan.checkpoint import build_model, load_checkpoint
from seqgan.cli import add_config_args, config_from_args
from seqgan.config import Config
from seqgan.errors import SeqGANError
from seqgan.experiments.common import (Interrupt, Interrupted, check_resume_config, prepare_out_dir, rng,
                                       seeded_generator, setup_torch, write_json, write_sequences)
from seqgan.experiments.oracle import (OracleRun, build_discriminator, build_generator, build_oracle, held_out_set,
                                       launcher)
from seqgan.experiments.seeds import run_seeds
from seqgan.logger import MetricsLogger, Progress
from seqgan.metrics.nll import nll_oracle, sequence_nll
from seqgan.metrics.stats import mean_and_stderr, welch_ttest
from seqgan.models.generator import Generator
from seqgan.plots import plot_curves
from seqgan.train.adversarial import Models, Position, seqgan
from seqgan.train.baselines import BaselineConfig, bleu_scorer, pg_bleu_step, ss_epoch, ss_probability
from seqgan.train.mle import mle_epoch
from seqgan.train.step import NonFiniteError

METHODS = {"random": "Random", "mle": "MLE", "ss": "Scheduled Sampling", "pg_bleu": "PG-BLEU", "seqgan": "SeqGAN"}
PHASE = {"random": "random", "mle": "mle_continued", "ss": "scheduled_sampling", "pg_bleu": "pg_bleu",
         "seqgan": "adversarial"}
PAPER = {"random": 10.310, "mle": 9.038, "ss": 8.985, "pg_bleu": 8.946, "seqgan": 8.736}  # Table 1


# ------------------------------------------------------------------------- pre-training


class _PretrainOnly:
    """Hooks for Algorithm 1 run with zero adversarial rounds: stop after D pre-training."""

    def __init__(self, run: OracleRun):
        self.run = run

    def step_done(self, phase: str, step: int, metrics: dict[str, float]) -> None:
        self.run.step_done(phase, step, metrics)

    def phase_done(self, phase: str) -> None:
        if phase != "adversarial":
            self.run.phase_done(phase)


def non_finite(what: str, exc: NonFiniteError, state: OracleRun) -> SeqGANError:
    """A NaN or infinite gradient: say where (the step after the last one done) and what to do."""
    return SeqGANError(f"{what}: {exc} in phase '{state.position.phase}' at step {state.position.step + 1}; stopping. "
                       f"The last good checkpoint in {state.out / 'checkpoints'} is kept: lower the learning rate "
                       "(--set train.g_lr=...) and --resume, or rerun")


def pretrain(cfg: Config, out: Path, *, progress: bool = True, tensorboard: bool = True) -> Path:
    """Algorithm 1, lines 1-5, as ``seqgan oracle`` runs them, into ``out``; continues a partial run.
    Returns the checkpoint after D pre-training, the start of every method but Random (which starts
    from ``checkpoints/init.pt``, G and D as initialised)."""
    done = out / "checkpoints" / "d_pretrain.pt"
    pre_cfg = copy.deepcopy(cfg)
    pre_cfg.train.adv_rounds = 0  # this run is pre-training only; its checkpoints say so
    latest = out / "checkpoints" / "latest.pt"

    def start_here() -> tuple[bool, dict | None]:  # rank 0: finished? else the checkpoint to continue from
        if done.exists():
            return True, None
        out.mkdir(parents=True, exist_ok=True)
        return False, load_checkpoint(latest) if latest.exists() else None

    finished, ckpt = dist.on_main(start_here)
    if finished:
        return done
    main = dist.is_main()
    device = setup_torch(cfg)
    oracle = build_oracle(cfg).to(device) if ckpt is None else \
        build_model(Generator, ckpt["oracle"], "oracle").requires_grad_(False).eval().to(device)
    real = oracle.sample(cfg.data.num_train, generator=seeded_generator(cfg.seed, 1, device))  # S, (N, T)
    models = Models.create(build_generator(cfg).to(device), build_discriminator(cfg).to(device), cfg.train)
    logger = MetricsLogger(out if main else None, tensorboard=tensorboard, resume=ckpt is not None)
    bar = Progress(enabled=progress and main)
    state = OracleRun(pre_cfg, out, models, oracle, real, logger, bar, Interrupt(),
                      seeded_generator(dist.rank_seed(cfg.seed), 2, device))
    if ckpt is None:
        if main:
            write_json(out / "config.json", pre_cfg.to_dict())
            write_sequences(out / "data" / "train.txt", real)
        state.save(Position("mle", 0), tag="init")
        logger.log({"phase": "mle", "step": 0, "epoch": 0, **state.evaluate(), "time/elapsed_s": 0.0})
        start = Position()
    else:
        start = state.position = state.restore(ckpt)
    bar.begin(start.phase, state.phase_total(start.phase), start.step)
    try:
        with state.interrupt.installed():
            seqgan(models, real, pre_cfg.train, _PretrainOnly(state), start)
    except NonFiniteError as exc:
        raise non_finite("pre-training", exc, state) from None
    except Interrupted as exc:
        raise Interrupted(f"pre-training: {exc}; checkpoint written") from None
    finally:
        bar.end()
        logger.close()
    state.summary["timings_s"] = {k: round(v, 2) for k, v in state.timings.items()}
    if main:
        write_json(out / "summary.json", state.summary)
    return done


def synthetic_config(args: argparse.Namespace) -> Config:
    """The resolved config of a synthetic-task command; a real corpus (data.train_path) is refused."""
    cfg = config_from_args(args, **{"data.oracle_params": args.oracle_params})
    if getattr(cfg.data, "train_path", None):
        command = getattr(args, "command", "table1")
        raise SeqGANError(f"seqgan {command} is the synthetic (oracle) experiment: NLL-oracle needs an oracle, "
                          "so leave data.train_path unset")
    return cfg


def check_pretrained(path: Path, cfg: Config) -> Path:
    """A finished pre-training directory given by --pretrained, made with the same settings as this run."""
    ckpt_path = path / "checkpoints" / "d_pretrain.pt"
    if not ckpt_path.exists():
        raise SeqGANError(f"--pretrained {path}: no finished pre-training there (missing {ckpt_path}); "
                          "give the pretrain/ directory of a finished table1 or strategy run")
    saved = load_checkpoint(ckpt_path)["config"]
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


# ---------------------------------------------------------------------- one method


@dataclass
class MethodRun(OracleRun):
    """OracleRun's evaluation, logging, checkpoints and progress for one method after pre-training.
    The x axis continues pre-training's (epoch = g_pretrain_epochs + round); ``time/train_s`` is the
    method's training time so far, evaluation excluded."""

    method: str = "seqgan"
    label: str = ""
    final_rng: torch.Generator | None = None
    train_time: float = 0.0
    last_mark: float = field(default_factory=time.perf_counter)

    def phase_total(self, phase: str) -> int:
        return 0 if self.method == "random" else self.cfg.train.adv_rounds

    def epoch(self, phase: str, step: int) -> int:
        return self.cfg.train.g_pretrain_epochs + step

    def evaluate(self, with_nll: bool = True) -> dict[str, float]:
        if self.method == "seqgan":
            return super().evaluate(with_nll)  # D's accuracy too
        return self.nll_metrics()

    def step_done(self, phase: str, step: int, metrics: dict[str, float]) -> None:
        self.train_time += time.perf_counter() - self.last_mark
        super().step_done(phase, step, {**metrics, "time/train_s": round(self.train_time, 3)})
        self.last_mark = time.perf_counter()

    def phase_done(self, phase: str) -> None:
        """The final evaluation on eval.final_samples; result.json is written last."""
        self.progress.end()
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - self.phase_started
        self.save(Position("done", 0), tag="final")
        nll, samples, per_seq = nll_oracle(self.models.gen, self.oracle, self.cfg.eval.final_samples,
                                           generator=self.final_rng)
        if not dist.is_main():
            return
        write_sequences(self.out / "samples" / "final.txt", samples)
        np.save(self.out / "per_seq_nll.npy", per_seq.cpu().numpy())
        mean, stderr = mean_and_stderr(per_seq.cpu().numpy())
        result = {"method": self.method, "label": self.label, "nll_oracle": mean, "stderr": stderr,
                  "num_samples": int(per_seq.numel()), "rounds": self.phase_total(phase),
                  "train_time_s": round(self.train_time, 2), "wall_time_s": round(self.elapsed(), 2)}
        write_json(self.out / "result.json", result)
        print(f"{self.label}: NLL-oracle {nll:.4f} ({per_seq.numel()} samples)", file=sys.stderr, flush=True)


def train_method(method: str, m: Models, real: torch.Tensor, cfg: Config, bcfg: BaselineConfig,
                 hooks: MethodRun, done: int) -> None:
    """What each method does after the shared pre-training, round ``done`` + 1 onwards."""
    t = cfg.train
    if method == "seqgan":  # Algorithm 1 from line 6
        seqgan(m, real, t, hooks, start=Position("adversarial", done))
        return
    phase = PHASE[method]
    scorer = bleu_scorer(real, bcfg.bleu_order) if method == "pg_bleu" else None
    for rnd in range(done, hooks.phase_total(phase)):
        if method == "mle":  # the same loss and optimiser as pre-training, continued
            metrics = {"gen/mle_loss": mle_epoch(m.gen_replica, m.mle_opt, real, t.batch_size, t.g_grad_clip)}
        elif method == "ss":  # continues pre-training's optimiser too; the draws of epoch e have their own stream
            p = ss_probability(bcfg.ss_schedule, rnd + 1, t.adv_rounds, bcfg.ss_max_prob, bcfg.ss_steepness)
            g = rng(real.device, "ss", dist.rank_seed(cfg.seed), rnd + 1)  # each process its own draws
            metrics = {"gen/ss_loss": ss_epoch(m.gen_replica, m.mle_opt, real, t.batch_size, t.g_grad_clip, p, g),
                       "gen/ss_prob": p}
        else:  # pg_bleu: Algorithm 1's g-steps with BLEU for D, no d-steps
            metrics = {}
            for _ in range(t.g_steps):
                metrics = pg_bleu_step(m.gen_replica, m.rollout.policy, m.pg_opt, scorer, t.batch_size, t.rollouts,
                                       t.g_grad_clip)
            m.rollout.update()
        hooks.step_done(phase, rnd + 1, metrics)
    hooks.phase_done(phase)


def run_method(method: str, cfg: Config, bcfg: BaselineConfig, out: Path, start_ckpt: Path, *,
               label: str | None = None, progress: bool = True, tensorboard: bool = True) -> dict[str, Any]:
    """Train one method from ``start_ckpt`` into ``out`` and evaluate it; returns result.json's content.
    A finished method (result.json present) is skipped; a partial one continues from its latest checkpoint."""
    result = out / "result.json"
    latest = out / "checkpoints" / "latest.pt"

    def start_here() -> tuple[str, Any]:  # rank 0: done (its result), or partial / new with a checkpoint
        if result.exists():
            return "done", json.loads(result.read_text())
        out.mkdir(parents=True, exist_ok=True)
        partial = latest.exists()
        return ("partial" if partial else "new"), load_checkpoint(latest if partial else start_ckpt)

    kind, ckpt = dist.on_main(start_here)
    if kind == "done":
        return ckpt
    partial, main = kind == "partial", dist.is_main()
    device = setup_torch(cfg)
    oracle = build_model(Generator, ckpt["oracle"], "oracle").requires_grad_(False).eval().to(device)
    real = oracle.sample(cfg.data.num_train, generator=seeded_generator(cfg.seed, 1, device))  # the same S
    models = Models.create(build_generator(cfg).to(device), build_discriminator(cfg).to(device), cfg.train)
    logger = MetricsLogger(out if main else None, tensorboard=tensorboard, resume=partial)
    seed = dist.rank_seed(cfg.seed)  # each process its own evaluation draws
    state = MethodRun(cfg, out, models, oracle, real, logger, Progress(enabled=progress and main), Interrupt(),
                      seeded_generator(seed, 2, device), method=method, label=label or METHODS[method],
                      final_rng=rng(device, "final", seed, out.name))
    position = state.position = state.restore(ckpt)  # models, optimisers, RNG states (pre-training's at first)
    if partial:
        state.train_time = next((r["time/train_s"] for r in reversed(logger.records) if "time/train_s" in r), 0.0)
    else:
        if main:
            write_json(out / "config.json", cfg.to_dict())
        state.summary, state.timings, state.phase_started = {}, {}, time.perf_counter()
        position = state.position = Position(PHASE[method], 0)
    state.last_mark = time.perf_counter()
    try:
        with state.interrupt.installed():
            if position.phase == "done":
                state.phase_done(PHASE[method])
            else:
                state.progress.begin(f"{state.label}", state.phase_total(position.phase), position.step)
                train_method(method, models, real, cfg, bcfg, state, position.step)
    except NonFiniteError as exc:
        raise non_finite(state.label, exc, state) from None
    except Interrupted as exc:
        raise Interrupted(f"{state.label}: {exc}; checkpoint written") from None
    finally:
        state.progress.end()
        logger.close()
    return dist.on_main(lambda: json.loads(result.read_text()))


# ------------------------------------------------------------------------- the table


def curve(out: Path, epoch_from: int = 0, metric: str = "eval/nll_oracle") -> list[tuple[float, float]]:
    """(epoch, value) points of ``metric``'s periodic evaluations in out/metrics.jsonl."""
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["epoch"], r[metric]) for r in records if metric in r and r["epoch"] >= epoch_from]


def method_curves(pre_dir: Path, runs: dict[str, Path], labels: dict[str, str], cfg: Config,
                  metric: str = "eval/nll_oracle", random_value: float | None = None) -> dict[str, list]:
    """Figure 2's lines: pre-training once, then each method continuing from its last point; Random is
    a flat line at its final value (``random_value``, else result.json's NLL-oracle)."""
    pre = curve(pre_dir, metric=metric)
    end = [p for p in pre if p[0] == cfg.train.g_pretrain_epochs][-1:]
    curves = {"MLE pre-training (shared)": pre}
    for key, out in runs.items():
        if key == "random":
            value = json.loads((out / "result.json").read_text())["nll_oracle"] if random_value is None \
                else random_value
            curves[labels[key]] = [(0, value), (cfg.train.g_pretrain_epochs + cfg.train.adv_rounds, value)]
        else:
            curves[labels[key]] = end + curve(out, epoch_from=cfg.train.g_pretrain_epochs + 1, metric=metric)
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
        gen = build_model(Generator, load_checkpoint(run / "checkpoints" / "final.pt")["generator"], "generator")
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
                     "wall_time_s": res["train_time_s"], "wall_time_with_eval_s": res["wall_time_s"],
                     "num_samples": res["num_samples"], "paper_nll_oracle": PAPER.get(key)})
    return rows


def markdown(rows: list[dict[str, Any]], paper: bool = True, reference: str = "SeqGAN") -> str:
    head = f"| method | NLL-oracle | std. error | p-value vs {reference} | NLL-test | distinct | wall time (s) |"
    head += " paper |" if paper else ""
    lines = [head, "|" + "---|" * (8 if paper else 7)]
    for r in rows:
        p = "—" if r["p_value"] is None else "< 1e-300" if r["p_value"] == 0 else f"{r['p_value']:.3g}"
        test = "" if r.get("nll_test") is None else f"{r['nll_test']:.4f}"
        distinct = "" if r.get("distinct") is None else f"{r['distinct']:.3f}"
        cells = [r["method"], f"{r['nll_oracle']:.4f}", f"{r['stderr']:.4f}", p, test, distinct,
                 f"{r['wall_time_s']:.1f}"]
        if paper:
            cells.append("" if r.get("paper_nll_oracle") is None else f"{r['paper_nll_oracle']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_table(out: Path, stem: str, rows: list[dict[str, Any]], extra: dict[str, Any], paper: bool = True,
                reference: str = "SeqGAN") -> str:
    """``stem``.md/.json/.csv; returns the Markdown."""
    md = markdown(rows, paper, reference)
    (out / f"{stem}.md").write_text(md + "\n", encoding="utf-8")
    write_json(out / f"{stem}.json", {"rows": rows, **extra})
    cols = ["method", "nll_oracle", "stderr", "p_value", "nll_test", "distinct", "wall_time_s"]
    with open(out / f"{stem}.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows([[("" if r[c] is None else r[c]) for c in cols] for r in rows])
    return md


# ----------------------------------------------------------------------------- CLI


def add_shared_args(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--oracle-params", metavar="FILE",
                   help="the authors' target_params.pkl (default: a fresh N(0,1) oracle from the seed)")
    p.add_argument("--pretrained", metavar="DIR", help="reuse the finished pretrain/ directory of another "
                   "table1 or strategy run with the same settings instead of pre-training again")
    p.add_argument("--seeds", metavar="S,S,...", help="run the whole command once per seed, into --out/seed<S>, and "
                   "add <table>_seeds.md/.json/.csv: each row's NLL-oracle over seeds and the paired t-test over "
                   "seeds against the reference (SeqGAN; for strategy the paper's 1,5,3) (instead of --seed)")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "table1", help="the paper's Table 1 and Figure 2: Random, MLE, Scheduled Sampling, PG-BLEU, SeqGAN",
        description="Pre-train once, then train each method from the same checkpoint for train.adv_rounds "
                    "epochs/rounds; NLL-oracle on eval.final_samples samples, Welch's t-test against SeqGAN.")
    add_shared_args(p)
    d = BaselineConfig()
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {', '.join(METHODS)} "
                   "(default: all); with --resume, finished methods are skipped")
    p.add_argument("--ss-schedule", choices=("linear", "exponential", "inverse_sigmoid"),
                   help=f"Scheduled Sampling's rise of the sampling probability (default {d.ss_schedule})")
    p.add_argument("--ss-max-prob", type=float,
                   help=f"Scheduled Sampling's sampling probability in its last epoch (default {d.ss_max_prob})")
    p.add_argument("--ss-steepness", type=float,
                   help=f"s of the exponential and inverse-sigmoid schedules (default {d.ss_steepness})")
    p.add_argument("--bleu-order", type=int, help=f"PG-BLEU's n-gram order (default {d.bleu_order})")
    p.set_defaults(func=main)


def baseline_config(args: argparse.Namespace) -> BaselineConfig:
    flags = {"ss_schedule": args.ss_schedule, "ss_max_prob": args.ss_max_prob,
             "ss_steepness": args.ss_steepness, "bleu_order": args.bleu_order}
    return dataclasses.replace(BaselineConfig(), **{k: v for k, v in flags.items() if v is not None}).validate()


def parse_methods(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in keys if k not in METHODS]
    if bad or not keys:
        raise SeqGANError(f"--methods {text!r}: expected a comma-separated subset of {', '.join(METHODS)}")
    return [k for k in METHODS if k in keys]  # the table's order


def resume_hint(args: argparse.Namespace, out: Path) -> Interrupted:
    """What an interrupted command says (the CLI exits 130 with it): how to continue. One seed of
    ``--seeds`` names the whole command (``resume_as``: its --out and flags)."""
    out, flags = getattr(args, "resume_as", None) or (out, "")
    return Interrupted(f"Resume with: {launcher()}seqgan {getattr(args, 'command', 'table1')} --resume {flags}"
                       f"--out {out} (and the same --preset/--config/--set and experiment flags)")


def open_run(args: argparse.Namespace, cfg: Config, own: tuple[str, ...], extra_file: str | None = None,
             extra: dict | None = None) -> Path:
    """--out DIR for a multi-run experiment: refuse, resume (checking the settings) or overwrite."""
    out = Path(args.out)
    if args.overwrite and out.is_dir():
        for name in own:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out = prepare_out_dir(out, resume=args.resume, overwrite=args.overwrite)
    if args.resume:
        check_resume_config(json.loads((out / "config.json").read_text()), cfg, out)
        if extra_file and (out / extra_file).exists() and json.loads((out / extra_file).read_text()) != extra:
            raise SeqGANError(f"--resume {out}: the baseline flags differ from the run's {extra_file} "
                              f"({json.loads((out / extra_file).read_text())}); resume with the same flags")
    write_json(out / "config.json", cfg.to_dict())
    if extra_file:
        write_json(out / extra_file, extra or {})
    return out


def main(args: argparse.Namespace) -> int:
    cfg = synthetic_config(args)
    if getattr(args, "seeds", None):
        return run_seeds(args, main, "table1", "seqgan", METHODS, cfg.device)
    bcfg = baseline_config(args)
    methods = parse_methods(args.methods)
    dist.init(cfg.device)  # under torchrun: join the run before rank 0 prepares the directory
    out = dist.on_main(open_run, args, cfg, tuple(METHODS) + ("pretrain", "table1.md", "table1.json", "table1.csv",
                                                             "figure2.png", "figure2_nll_test.png"), "baselines.json", bcfg.to_dict())
    progress, started = not args.no_progress, time.perf_counter()
    pre_dir = Path(args.pretrained) if args.pretrained else out / "pretrain"
    results = {}
    try:
        start = dist.on_main(check_pretrained, pre_dir, cfg) if args.pretrained else \
            pretrain(cfg, pre_dir, progress=progress)
        for key in methods:
            begin = pre_dir / "checkpoints" / "init.pt" if key == "random" else start
            results[key] = run_method(key, cfg, bcfg, out / key, begin, progress=progress)
    except Interrupted as exc:
        raise Interrupted(f"{exc}. {resume_hint(args, out)}") from None
    if not dist.is_main():  # the table, figure and printout are rank 0's
        return 0
    for key in METHODS:  # finished methods of earlier invocations count too
        if key not in results and (out / key / "result.json").exists():
            results[key] = json.loads((out / key / "result.json").read_text())
    results = {k: results[k] for k in METHODS if k in results}
    runs = {k: out / k for k in results}
    rows = build_table(results, runs, pre_dir, cfg)
    pre_summary = json.loads((pre_dir / "summary.json").read_text())
    extra = {"config": cfg.to_dict(), "baselines": bcfg.to_dict(),
             "pretrain": {"dir": str(pre_dir), "nll_oracle_after_mle": pre_summary.get("nll_oracle", {}).get("mle"),
                          "timings_s": pre_summary.get("timings_s", {})},
             "units": "NLL-oracle: nats per token, mean over eval.final_samples samples; NLL-test: nats per token, "
                      "the method's final G on data.num_train held-out oracle samples (the same for every method); distinct: "
                      "share of distinct sequences among the final samples; "
                      "wall time: seconds of the method's own training after the shared pre-training, evaluation "
                      "excluded",
             "paper": {METHODS[k]: v for k, v in PAPER.items()}}
    md = write_table(out, "table1", rows, extra)
    plot_figures(out, "figure2", pre_dir, runs, METHODS, cfg, "NLL-oracle of the five methods (Figure 2)", rows)
    pre_t = pre_summary.get("timings_s", {})
    print("\n" + md)
    print(f"\nshared pre-training: MLE {pre_t.get('mle', 0):.0f} s, D {pre_t.get('d_pretrain', 0):.0f} s "
          f"(NLL-oracle after MLE pre-training: {extra['pretrain']['nll_oracle_after_mle']:.4f}); "
          f"this command: {time.perf_counter() - started:.0f} s; results in {out}")
    return 0
