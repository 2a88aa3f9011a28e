"""``seqgan table1``: the paper's Table 1 and Figure 2 on the synthetic (oracle) task.

The methods, on one oracle and one training set S, scored by NLL-oracle (per token, nats):
**Random** (G at initialisation), then every algorithm of the registry (``seqgan.train.registry``)
that ``--methods`` names, each trained ``train.adv_rounds`` epochs or rounds after the shared
pre-training: the paper's MLE, Scheduled Sampling, PG-BLEU and SeqGAN (the default), and its
successors (MaliGAN, RankGAN, RelGAN).

Pre-training (Algorithm 1, lines 1-5, as ``seqgan oracle``) runs once; every method starts from its
checkpoint and RNG states, but one with a G of its own (RelGAN, LeakGAN) pre-trains it on the same S:

    config.json                   the resolved settings (``--resume`` checks them)
    pretrain/                     G's MLE pre-training then D's; checkpoints/{init,mle,d_pretrain}.pt
    random/ mle/ ss/ pg_bleu/ seqgan/ ...
                                  one per method: metrics.jsonl, checkpoints/, samples/final.txt,
                                  per_seq_nll.npy, result.json (written last: the method is done)
    table1.md/.json/.csv, figure2.png, figure2_nll_test.png

Each method's final NLL-oracle is the mean over ``eval.final_samples`` fresh samples from the method's
own RNG stream, so the methods' samples are independent, as Welch's t-test of each baseline's
per-sequence NLL against SeqGAN's assumes. figure2.png's periodic evaluations continue pre-training's
evaluation stream. A method's train time excludes its evaluations (``time/train_s``); its wall time
(``wall_time_s`` in the JSON and CSV) includes them.

Not in the paper, as NLL-oracle rewards a G that collapses onto a few likely sequences: NLL-test
(:func:`~seqgan.experiments.tables.nll_test`) and the share of distinct final samples.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgan import distributed as dist
from seqgan.checkpoint import build_model, load_checkpoint, write_atomic
from seqgan.config import Config
from seqgan.experiments.args import add_config_args, config_from_args, refuse_overrides
from seqgan.errors import SeqGANError
from seqgan.experiments.common import (Interrupt, Interrupted, check_same_sequences, setup_torch, write_json,
                                      write_sequences)
from seqgan.experiments.methods import METHODS, METHODS_FILE, PAPER_METHODS, methods_of, saved_methods
from seqgan.experiments.oracle import OracleRun, build_oracle
from seqgan.experiments.run import build_models, launcher
from seqgan.experiments.study_dir import check_pretrained, open_run, pretrain_summary, pretrained_of
from seqgan.experiments.seeds import run_seeds
from seqgan.experiments.tables import PAPER, build_table, plot_figures, write_table
from seqgan.logger import MetricsLogger, Progress
from seqgan.metrics.nll import nll_oracle
from seqgan.metrics.stats import mean_and_stderr
from seqgan.models.generator import Generator
from seqgan.seeding import rng, seeded_generator
from seqgan.train.algorithm import PRETRAIN_PHASES, Algorithm, pretrain
from seqgan.train.registry import ALGORITHMS
from seqgan.train.scheduled_sampling import SS_SCHEDULES, SSConfig
from seqgan.train.pg_bleu import PGBLEUConfig



def untrained(m, real, config, hooks, start) -> None:
    """Random is no algorithm: G as initialised, evaluated; its one phase has no step."""
    hooks.phase_done("random")


RANDOM = Algorithm("random", "Random", ("random",), untrained, uses_disc=False)
# The shared pre-training as an algorithm of its own: Algorithm 1, lines 1-5, then done.
PRETRAIN = Algorithm("pretrain", "pre-training", (), pretrain)


def method_algorithm(key: str) -> Algorithm:
    return RANDOM if key == "random" else ALGORITHMS[key]


# ------------------------------------------------------------------------- pre-training


def run_pretraining(cfg: Config, out: Path, *, progress: bool = True, tensorboard: bool = True) -> Path:
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
        return False, load_checkpoint(latest, need=("oracle",)) if latest.exists() else None

    finished, ckpt = dist.on_main(start_here)
    if finished:
        return done
    main = dist.is_main()
    device = setup_torch(cfg)
    oracle = build_oracle(cfg).to(device) if ckpt is None else \
        build_model(Generator, ckpt["oracle"], "oracle").requires_grad_(False).eval().to(device)
    real = oracle.sample(cfg.data.num_train, generator=seeded_generator(cfg.seed, 1, device))  # S, (N, T)
    dist.check_same(real, "the training set S")
    if ckpt is not None:  # through rank 0, so that every process stops with it
        dist.on_main(check_same_sequences, out / "data" / "train.txt", real)
    models = build_models(cfg, PRETRAIN, device)
    logger = MetricsLogger(out if main else None, tensorboard=tensorboard, resume=ckpt is not None)
    bar = Progress(enabled=progress and main)
    state = OracleRun(pre_cfg, PRETRAIN, out, models, real, logger, bar, Interrupt(),
                      seeded_generator(dist.rank_seed(cfg.seed), 2, device), oracle=oracle)
    if ckpt is None:
        if main:
            write_json(out / "config.json", pre_cfg.to_dict())
            write_sequences(out / "data" / "train.txt", real)
        # Random's start, G and D as initialised; not latest.pt: a stop during epoch 0's evaluation then starts
        # over (a resume from here would skip that evaluation and shift every later draw of its stream)
        state.save(state.at("mle", 0), tag="init", latest=False)
        logger.log({"phase": "mle", "step": 0, "epoch": 0, **state.evaluate(), "time/elapsed_s": 0.0})
        start = state.at("mle", 0)
        state.save(start)  # after epoch 0's evaluation: a hard kill before the first periodic checkpoint resumes exactly
    else:
        start = state.position = state.restore(ckpt)
    bar.begin(start.phase, state.phase_total(start.phase), start.step)
    state.run_algorithm(start, what="pre-training: ")
    state.summary["timings_s"] = {k: round(v, 2) for k, v in state.timings.items()}
    if main:
        write_json(out / "summary.json", state.summary)
    return done


def synthetic_config(args: argparse.Namespace) -> Config:
    """The resolved config of a synthetic-task command; a real corpus (data.train_path) is refused."""
    flags = {"ss.schedule": getattr(args, "ss_schedule", None), "ss.max_prob": getattr(args, "ss_max_prob", None),
             "ss.steepness": getattr(args, "ss_steepness", None), "pg_bleu.order": getattr(args, "bleu_order", None)}
    refuse_overrides(args, {"train.algorithm": "is chosen per method (--methods; strategy runs SeqGAN)"})
    cfg = config_from_args(args, **{"data.oracle_params": args.oracle_params}, **flags)
    if getattr(cfg.data, "train_path", None):
        command = getattr(args, "command", "table1")
        raise SeqGANError(f"seqgan {command} is the synthetic (oracle) experiment: NLL-oracle needs an oracle, "
                          "so leave data.train_path unset")
    return cfg


# ---------------------------------------------------------------------- one method


@dataclass
class MethodRun(OracleRun):
    """The hooks of one method after the shared pre-training: OracleRun's evaluation, logging,
    checkpoints and progress. The x axis continues pre-training's (epoch = g_pretrain_epochs + round);
    ``time/train_s`` is the method's training time so far, evaluation excluded."""

    label: str = ""
    final_rng: torch.Generator | None = None
    train_time: float = 0.0
    last_mark: float = field(default_factory=time.perf_counter)

    def phase_total(self, phase: str) -> int:
        return 0 if self.algorithm is RANDOM else super().phase_total(phase)

    def bar_name(self, phase: str) -> str:  # "RankGAN: ranker_pretrain", then "RankGAN"
        return self.label if phase == self.algorithm.own_phases[-1] else f"{self.label}: {phase}"

    def evaluate(self, with_nll: bool = True) -> dict[str, float]:
        if self.algorithm.uses_disc:
            return super().evaluate(with_nll)  # D's accuracy too
        return self.nll_metrics()

    def step_done(self, phase: str, step: int, metrics: dict[str, float]) -> None:
        self.train_time += time.perf_counter() - self.last_mark
        super().step_done(phase, step, {**metrics, "time/train_s": round(self.train_time, 3)})
        self.last_mark = time.perf_counter()

    def phase_done(self, phase: str) -> None:
        """The end of one of the method's phases; after its last: the final evaluation on
        eval.final_samples, result.json written last."""
        if phase != self.algorithm.own_phases[-1]:
            return super().phase_done(phase)
        self.progress.end()
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - self.phase_started
        self.phase_started = time.perf_counter()  # else elapsed() counts the phase twice (wall_time_s was ~2x)
        self.save(self.at("done", 0), tag="final")
        nll, samples, per_seq = nll_oracle(self.models.gen, self.oracle, self.cfg.eval.final_samples,
                                           generator=self.final_rng)
        if not dist.is_main():
            return
        write_sequences(self.out / "samples" / "final.txt", samples)
        np.save(self.out / "per_seq_nll.npy", per_seq.cpu().numpy())
        mean, stderr = mean_and_stderr(per_seq.cpu().numpy())
        result = {"method": self.algorithm.name, "label": self.label, "nll_oracle": mean, "stderr": stderr,
                  "num_samples": int(per_seq.numel()), "rounds": self.phase_total(phase),
                  "train_time_s": round(self.train_time, 2), "pretrain_time_s": self.own_pretrain_time(),
                  "wall_time_s": round(self.elapsed(), 2)}
        write_json(self.out / "result.json", result)
        print(f"{self.label}: NLL-oracle {nll:.4f} ({per_seq.numel()} samples)", file=sys.stderr, flush=True)


    def own_pretrain_time(self) -> float:
        """The part of train_time_s that pre-trained a G of the method's own (RelGAN, LeakGAN; 0 for
        the methods that start from the shared pre-training): time/train_s at its last pre-training step."""
        return next((r["time/train_s"] for r in reversed(self.logger.records)
                     if r.get("phase") in PRETRAIN_PHASES and "time/train_s" in r), 0.0)


def run_method(method: str, cfg: Config, out: Path, start_ckpt: Path, *, label: str | None = None,
               progress: bool = True, tensorboard: bool = True) -> dict[str, Any]:
    """Train one method from ``start_ckpt`` into ``out`` and evaluate it; returns result.json's content.
    A finished method (result.json present) is skipped; a partial one continues from its latest checkpoint."""
    result = out / "result.json"
    latest = out / "checkpoints" / "latest.pt"
    algorithm = method_algorithm(method)
    if method != "random":
        cfg = copy.deepcopy(cfg)
        cfg.train.algorithm = method  # the method's config.json and checkpoints say what trained

    def start_here() -> tuple[str, Any]:  # rank 0: done (its result), or partial / new with a checkpoint
        if result.exists():
            return "done", json.loads(result.read_text())
        out.mkdir(parents=True, exist_ok=True)
        partial = latest.exists()
        return ("partial" if partial else "new"), load_checkpoint(latest if partial else start_ckpt, need=("oracle",))

    kind, ckpt = dist.on_main(start_here)
    if kind == "done":
        return ckpt
    partial, main = kind == "partial", dist.is_main()
    device = setup_torch(cfg)
    oracle = build_model(Generator, ckpt["oracle"], "oracle").requires_grad_(False).eval().to(device)
    real = oracle.sample(cfg.data.num_train, generator=seeded_generator(cfg.seed, 1, device))  # the same S
    dist.check_same(real, "the training set S")
    dist.on_main(check_same_sequences, start_ckpt.parent.parent / "data" / "train.txt", real)  # pre-training's S
    models = build_models(cfg, algorithm, device)
    logger = MetricsLogger(out if main else None, tensorboard=tensorboard, resume=partial,
                           step_phases=algorithm.d_only_phases)
    seed = dist.rank_seed(cfg.seed)  # each process its own evaluation draws
    state = MethodRun(cfg, algorithm, out, models, real, logger, Progress(enabled=progress and main), Interrupt(),
                      seeded_generator(seed, 2, device), oracle=oracle, label=label or METHODS[method],
                      final_rng=rng(device, "final", seed, out.name))
    own = algorithm.models is not None and not partial  # its own G and D: it pre-trains them itself
    # models, optimisers, RNG states (pre-training's at first; an optimiser of the method's own starts fresh)
    position = state.position = state.at("mle", 0) if own else state.restore(ckpt, new_optimizers=not partial)
    if own:  # from its own initial weights (global RNG seeded by setup_torch), on the same S and oracle
        if main:
            write_json(out / "config.json", cfg.to_dict())
    elif partial:
        state.train_time = next((r["time/train_s"] for r in reversed(logger.records) if "time/train_s" in r), 0.0)
    else:
        if main:
            write_json(out / "config.json", cfg.to_dict())
        state.summary, state.timings, state.phase_started = {}, {}, time.perf_counter()
        position = state.position = algorithm.position()
    state.last_mark = time.perf_counter()
    if position.phase == "done":  # stopped after its final checkpoint, before result.json
        try:
            state.phase_done(algorithm.own_phases[-1])
        finally:
            logger.close()
    else:
        state.progress.begin(state.bar_name(position.phase), state.phase_total(position.phase), position.step)
        state.run_algorithm(position, what=f"{state.label}: ")
    return dist.on_main(lambda: json.loads(result.read_text()))


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
        "table1", help="the paper's Table 1 and Figure 2: Random, MLE, Scheduled Sampling, PG-BLEU, SeqGAN "
                       "(and SeqGAN's successors with --methods)",
        description="Pre-train once, then train each method from the same checkpoint for train.adv_rounds "
                    "epochs/rounds; NLL-oracle on eval.final_samples samples, Welch's t-test against SeqGAN.")
    add_shared_args(p)
    ss, pg = SSConfig(), PGBLEUConfig()
    p.add_argument("--methods", help=f"comma-separated subset of {', '.join(METHODS)}, or 'all' (default: the "
                   f"paper's {','.join(PAPER_METHODS)}; with --resume, the run's own, and finished methods are skipped)")
    p.add_argument("--ss-schedule", choices=SS_SCHEDULES,
                   help=f"Scheduled Sampling's rise of the sampling probability (default {ss.schedule}; ss.schedule)")
    p.add_argument("--ss-max-prob", type=float,
                   help=f"Scheduled Sampling's sampling probability in its last epoch (default {ss.max_prob}; "
                        "ss.max_prob)")
    p.add_argument("--ss-steepness", type=float,
                   help=f"s of the exponential and inverse-sigmoid schedules (default {ss.steepness}; ss.steepness)")
    p.add_argument("--bleu-order", type=int, help=f"PG-BLEU's n-gram order (default {pg.order}; pg_bleu.order)")
    p.set_defaults(func=main)


def check_methods(methods: list[str], cfg: Config, out: Path) -> None:
    """Refuse a setting that a method still to train cannot honour, before any runs (not hours later)."""
    for key in (k for k in methods if not (out / k / "result.json").exists()):
        method_algorithm(key).check(cfg)


def resume_hint(args: argparse.Namespace, out: Path) -> Interrupted:
    """What an interrupted command says (the CLI exits 130 with it): how to continue. One seed of
    ``--seeds`` names the whole command (``resume_as``: its --out and flags)."""
    out, flags = getattr(args, "resume_as", None) or (out, "")
    pretrained = getattr(args, "pretrained", None)  # --methods: the run keeps its own (methods.txt)
    if pretrained:
        flags += f"--pretrained {pretrained} "
    return Interrupted(f"Resume with: {launcher()}seqgan {getattr(args, 'command', 'table1')} --resume {flags}"
                       f"--out {out}")


def paper_task(cfg: Config) -> bool:
    """Whether the paper's numbers belong beside this run: they are for its task (vocabulary 5000, length
    20), and beside other shapes (say ``--set model.seq_len=40``, LeakGAN's long-text check) they mislead."""
    return (cfg.model.vocab_size, cfg.model.seq_len) == (5000, 20)


def main(args: argparse.Namespace) -> int:
    cfg = synthetic_config(args)
    if getattr(args, "seeds", None):
        return run_seeds(args, main, "table1", "seqgan", METHODS, cfg.device)
    dist.init(cfg.device)  # under torchrun: join the run before rank 0 prepares the directory
    methods = dist.on_main(methods_of, args)  # only rank 0 may see the disk
    dist.on_main(check_methods, methods, cfg, Path(args.out))
    out = dist.on_main(open_run, args, cfg, tuple(METHODS) + ("pretrain", "table1.md", "table1.json", "table1.csv",
                                                             "figure2.png", "figure2_nll_test.png", METHODS_FILE))
    args.pretrained = dist.on_main(pretrained_of, args, out)
    if dist.is_main():  # what --resume alone continues: every method begun here, in the table's order
        kept = saved_methods(out) if args.resume else []
        write_atomic(out / METHODS_FILE, (",".join(k for k in METHODS if k in methods or k in kept) + "\n").encode())
    progress, started = not args.no_progress, time.perf_counter()
    pre_dir = Path(args.pretrained) if args.pretrained else out / "pretrain"
    results = {}
    try:
        start = dist.on_main(check_pretrained, pre_dir, cfg) if args.pretrained else \
            run_pretraining(cfg, pre_dir, progress=progress)
        for key in methods:
            begin = pre_dir / "checkpoints" / "init.pt" if key == "random" else start
            results[key] = run_method(key, cfg, out / key, begin, progress=progress)
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
    paper = paper_task(cfg)
    if not paper:
        rows = [{**r, "paper_nll_oracle": None} for r in rows]
    pre_summary = pretrain_summary(pre_dir)
    extra = {"config": cfg.to_dict(),
             "pretrain": {"dir": str(pre_dir), "nll_oracle_after_mle": pre_summary.get("nll_oracle", {}).get("mle"),
                          "timings_s": pre_summary.get("timings_s", {})},
             "units": "NLL-oracle: nats per token, mean over eval.final_samples samples; NLL-test: nats per token, "
                      "the method's final G on data.num_train held-out oracle samples (the same for every method); distinct: "
                      "share of distinct sequences among the final samples; "
                      "train time: seconds of the method's own training after the shared pre-training, evaluation "
                      "excluded (for a method with a G of its own, e.g. RelGAN and LeakGAN, its own pre-training too: "
                      "pretrain_time_s of it); wall time: the same with its evaluations",
             "paper": {METHODS[k]: v for k, v in PAPER.items()} if paper else None}
    md = write_table(out, "table1", rows, extra, paper=paper)
    plot_figures(out, "figure2", pre_dir, runs, METHODS, cfg, "NLL-oracle of the methods (Figure 2)", rows)
    pre_t = pre_summary.get("timings_s", {})
    print("\n" + md)
    print(f"\nshared pre-training: MLE {pre_t.get('mle', 0):.0f} s, D {pre_t.get('d_pretrain', 0):.0f} s "
          f"(NLL-oracle after MLE pre-training: {extra['pretrain']['nll_oracle_after_mle']:.4f}); "
          f"this command: {time.perf_counter() - started:.0f} s; results in {out}")
    return 0
