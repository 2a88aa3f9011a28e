"""``seqgan oracle``: the paper's synthetic experiment (Section 4), end to end.

An oracle LSTM generates the training set; G is pre-trained by MLE, D is pre-trained, then the
algorithm (``--algorithm``, SeqGAN's Algorithm 1 by default) runs. NLL-oracle is measured every
``eval.every`` epochs/rounds on fresh samples and at the end of pre-training and of the algorithm on
``eval.final_samples`` samples, whose exact sequences are written to ``samples/``. Everything lands
in the run directory; see the README for the file list.

Under torchrun every process runs :func:`run`; the hooks below run on every process (their
evaluations and checkpoints are collectives) and only rank 0 writes files or prints.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqgan import distributed as dist
from seqgan.checkpoint import build_model, load_checkpoint, model_entry
from seqgan.config import Config
from seqgan.experiments.args import add_config_args, config_from_args
from seqgan.errors import SeqGANError
from seqgan.experiments.common import (Interrupt, check_resume_config, check_same_sequences, setup_torch, write_json,
                                      write_sequences)
from seqgan.experiments.run_dir import prepare_out_dir
from seqgan.experiments.run import Run, build_models, launcher
from seqgan.logger import MetricsLogger, Progress
from seqgan.metrics.nll import nll_oracle, sequence_nll
from seqgan.models.generator import Generator
from seqgan.models.oracle import load_oracle, make_oracle
from seqgan.seeding import rng, seeded_generator
from seqgan.train.discriminator import d_accuracy
from seqgan.train.registry import ALGORITHMS, get_algorithm


def build_oracle(cfg: Config) -> Generator:
    m, d = cfg.model, cfg.data
    if d.oracle_params:
        oracle = load_oracle(d.oracle_params, m.seq_len, m.start_token)
        if (oracle.vocab_size, oracle.emb_dim, oracle.hidden_dim) != (m.vocab_size, m.g_emb_dim, m.g_hidden_dim):
            raise SeqGANError(
                f"the oracle in {d.oracle_params} has vocabulary {oracle.vocab_size}, embedding {oracle.emb_dim} "
                f"and hidden size {oracle.hidden_dim}, but the config asks for {m.vocab_size}, {m.g_emb_dim} and "
                f"{m.g_hidden_dim}; use --preset paper or fast with the authors' oracle, or set model.vocab_size, "
                "model.g_emb_dim and model.g_hidden_dim to match"
            )
        return oracle
    return make_oracle(m.vocab_size, m.g_emb_dim, m.g_hidden_dim, m.seq_len, m.start_token,
                       d.oracle_init_std, seed=cfg.seed)


def held_out_set(oracle: Generator, cfg: Config) -> torch.Tensor:
    """NLL-test's data: ``data.num_train`` sequences drawn from the oracle like S, from a stream of their
    own, so S, training and evaluation draws are the same with or without it. Every process draws the
    same set."""
    device = next(oracle.parameters()).device
    return oracle.sample(cfg.data.num_train, generator=rng(device, "held_out", cfg.seed))


@dataclass
class OracleRun(Run):
    """The hooks of an algorithm on the synthetic task: NLL-oracle, NLL-test and D's accuracy."""

    oracle: Generator | None = None

    # ------------------------------------------------------------ evaluation
    def final_evaluation(self, name: str) -> None:
        """The end of MLE pre-training (``name`` 'mle') or of the algorithm (e.g. 'seqgan'): NLL-oracle on
        ``eval.final_samples`` samples, written to samples/NAME.txt, and NLL-test, into the summary."""
        nll, samples, per_seq = nll_oracle(self.models.gen, self.oracle, self.cfg.eval.final_samples,
                                           generator=self.eval_rng)
        self.summary.setdefault("nll_oracle", {})[name] = nll
        self.summary.setdefault("nll_oracle_stderr", {})[name] = (per_seq.std() / len(per_seq) ** 0.5).item()
        self.summary.setdefault("nll_test", {})[name] = sequence_nll(self.models.gen, self.held_out).mean().item()
        if dist.is_main():
            write_sequences(self.out / "samples" / f"{name}.txt", samples)
            print(f"NLL-oracle after {'MLE pre-training' if name == 'mle' else self.algorithm.label}: {nll:.4f} "
                  f"({self.cfg.eval.final_samples} samples)", file=sys.stderr, flush=True)

    @functools.cached_property
    def held_out(self) -> torch.Tensor:
        return held_out_set(self.oracle, self.cfg)

    def nll_metrics(self) -> dict[str, float]:
        """NLL-oracle on fresh samples (each process its share), and NLL-test: G's NLL per token on the
        held-out oracle set (not in the paper: it rises when G collapses onto a few sequences or memorises
        S, which NLL-oracle rewards or misses). Every process scores the whole set, which costs less than
        sampling."""
        return {"eval/nll_oracle": nll_oracle(self.models.gen, self.oracle, self.cfg.eval.num_samples,
                                              generator=self.eval_rng)[0],
                "eval/nll_test": sequence_nll(self.models.gen, self.held_out).mean().item()}

    def evaluate(self, with_nll: bool = True) -> dict[str, float]:
        """NLL-oracle and NLL-test (:meth:`nll_metrics`), and D's accuracy on fresh real and generated
        sequences and on the first ``eval.d_samples`` rows of S (each process its share, in float32)."""
        e, out = self.cfg.eval, {}
        if with_nll:
            out |= self.nll_metrics()
        if not self.d_in_play():
            return out
        real = self.oracle.sample(dist.share(e.d_samples), generator=self.eval_rng)
        fake = self.models.gen.sample(dist.share(e.d_samples), generator=self.eval_rng)
        seen = dist.shard(self.real[:e.d_samples])
        out["disc/acc_real"], out["disc/acc_fake"], out["disc/acc_train"] = d_accuracy(self.models.disc, real, fake,
                                                                                        seen)
        return out

    def task_payload(self) -> dict[str, Any]:
        return {"oracle": model_entry(self.oracle), "vocab": None}


def open_run_dir(out: str | Path, cfg: Config, resume: bool, overwrite: bool) -> tuple[Path, dict | None]:
    """Rank 0's part of starting a run: the run directory (refused, resumed or replaced), the checkpoint
    to resume from (checked against the flags) and config.json. Run it through ``dist.on_main``."""
    out = prepare_out_dir(out, resume=resume, overwrite=overwrite, writes=("data/train.txt",))
    ckpt = None
    if resume:
        ckpt = load_checkpoint(out / "checkpoints" / "latest.pt", need=("config", "oracle"))
        check_resume_config(ckpt["config"], cfg, out, "checkpoint")
    write_json(out / "config.json", cfg.to_dict())
    return out, ckpt


def run(cfg: Config, out: str | Path, *, resume: bool = False, overwrite: bool = False,
        progress: bool = True, tensorboard: bool = True) -> dict[str, Any]:
    """Run the synthetic experiment into ``out``; returns the summary (also written to summary.json).
    Under torchrun every process calls this (see ``seqgan.distributed``)."""
    device = setup_torch(cfg)
    out, ckpt = dist.on_main(open_run_dir, out, cfg, resume, overwrite)  # every process gets the checkpoint
    main = dist.is_main()

    oracle = build_oracle(cfg).to(device) if ckpt is None else \
        build_model(Generator, ckpt["oracle"], "oracle").requires_grad_(False).eval().to(device)
    real = oracle.sample(cfg.data.num_train, generator=seeded_generator(cfg.seed, 1, device))  # S, (N, T), everywhere
    dist.check_same(real, "the training set S")
    if ckpt is None and main:
        write_sequences(out / "data" / "train.txt", real)
    elif ckpt is not None:  # through rank 0, so that every process stops with it
        dist.on_main(check_same_sequences, out / "data" / "train.txt", real)
    algorithm = get_algorithm(cfg.train.algorithm)
    models = build_models(cfg, algorithm, device)

    logger = MetricsLogger(out if main else None, tensorboard=tensorboard, resume=resume,
                           step_phases=algorithm.d_only_phases)
    bar = Progress(enabled=progress and main)
    state = OracleRun(cfg, algorithm, out, models, real, logger, bar, Interrupt(),
                      seeded_generator(dist.rank_seed(cfg.seed), 2, device), oracle=oracle)
    if ckpt is None:
        logger.text("config", "```\n" + cfg.dumps() + "\n```")
        per_seq = dist.gather_rows(sequence_nll(oracle, dist.shard(real)))
        state.summary["oracle_nll_of_training_data"] = per_seq.mean().item()
        # Epoch 0: the untrained generator, the paper's "Random" baseline.
        rand_nll, _, _ = nll_oracle(models.gen, oracle, cfg.eval.final_samples, generator=state.eval_rng)
        state.summary.setdefault("nll_oracle", {})["random"] = rand_nll
        record = state.evaluate()
        state.summary["nll_test"] = {"random": record["eval/nll_test"]}  # the held-out set needs no sample size
        logger.log({"phase": "mle", "step": 0, "epoch": 0, **record, "time/elapsed_s": 0.0})
        start = state.at("mle", 0)
        state.save(start)  # a run killed before its first periodic checkpoint resumes from here, exactly
    else:
        start = state.position = state.restore(ckpt)
    if start.phase != "done":
        bar.begin(start.phase, state.phase_total(start.phase), start.step)
    state.run_algorithm(start, resume=f"{launcher()}seqgan oracle --resume --out {out}")
    return state.finish(device, "nll_oracle.png",
                        {"NLL-oracle: G's samples under the oracle": "eval/nll_oracle",
                         "NLL-test: held-out oracle data under G": "eval/nll_test"},
                        "nats per token", f"{algorithm.label}: MLE pre-training, then {algorithm.label}")


# ------------------------------------------------------------------------------- CLI


def add_parser(sub) -> None:
    p = sub.add_parser("oracle", help="the paper's synthetic experiment (NLL-oracle, Figure 2)",
                       description="Oracle LSTM -> training set -> MLE pre-training -> D pre-training -> "
                                   "the algorithm (Algorithm 1 by default); NLL-oracle after MLE and after it.")
    add_config_args(p)
    p.add_argument("--oracle-params", metavar="FILE",
                   help="the authors' target_params.pkl (default: a fresh N(0,1) oracle from the seed)")
    p.add_argument("--algorithm", choices=list(ALGORITHMS),
                   help="what trains after the shared pre-training (default seqgan; sets train.algorithm)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, **{"data.oracle_params": args.oracle_params,
                                    "train.algorithm": getattr(args, "algorithm", None)})
    if cfg.data.train_path is not None:  # before the run directory is touched
        raise SeqGANError(f"{args.out} is a real-data run (data.train_path {cfg.data.train_path}): resume it with seqgan "
                          f"train --resume --out {args.out}" if args.resume else "seqgan oracle is the synthetic "
                          "task: leave data.train_path unset (for real data: seqgan train --data FILE)")
    if not args.resume:  # a run begun before a setting was refused goes on as it began
        get_algorithm(cfg.train.algorithm).check(cfg)
    summary = run(cfg, args.out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    if not dist.is_main():
        return 0
    algorithm = get_algorithm(cfg.train.algorithm)
    final = algorithm.final_sample_name or algorithm.name
    nll, test = summary["nll_oracle"], summary.get("nll_test", {})  # a run begun before NLL-test lacks some
    print("\n| model | NLL-oracle (nats/token) | NLL-test |\n|---|---|---|")
    last = algorithm.label if final == algorithm.name else f"{algorithm.label} ({final})"
    for name, label in (("random", "Random (untrained G)"), ("mle", "MLE"), (final, last)):
        if name in nll:
            print(f"| {label} | {nll[name]:.4f} | {f'{test[name]:.4f}' if name in test else ''} |")
    print(f"\nwall time {summary['timings_s']['total']:.0f} s; results in {args.out}")
    return 0
