"""``seqgan oracle``: the paper's synthetic experiment (Section 4), end to end.

An oracle LSTM generates the training set; G is pre-trained by MLE, D is pre-trained, then
Algorithm 1 runs. NLL-oracle is measured every ``eval.every`` epochs/rounds on fresh samples and
at the end of each phase on ``eval.final_samples`` samples, whose exact sequences are written to
``samples/``. Everything lands in the run directory; see the README for the file list.

Under torchrun every process runs :func:`run`; the hooks below run on every process (their
evaluations and checkpoints are collectives) and only rank 0 writes files or prints.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seqgan import distributed as dist
from seqgan.checkpoint import build_model, load_checkpoint, model_entry, save_checkpoint
from seqgan.config import Config
from seqgan.errors import SeqGANError
from seqgan.experiments.common import (Interrupt, Interrupted, check_finite, check_resume_config,
                                       gather_rng_states, prepare_out_dir, restore_rng_states, rng, seeded_generator,
                                       setup_torch, write_json, write_sequences)
from seqgan.logger import MetricsLogger, Progress
from seqgan.metrics.nll import nll_oracle, sequence_nll
from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.models.oracle import load_oracle, make_oracle
from seqgan.plots import plot_curves
from seqgan.train.adversarial import PHASES, Models, Position, seqgan
from seqgan.train.discriminator import d_accuracy
from seqgan.train.step import NonFiniteError

FINAL_SAMPLE_NAMES = {"mle": "mle", "adversarial": "seqgan"}


def build_generator(cfg: Config) -> Generator:
    m = cfg.model
    return Generator(m.vocab_size, m.g_emb_dim, m.g_hidden_dim, m.seq_len, m.start_token, m.g_init_std)


def build_discriminator(cfg: Config) -> Discriminator:
    m = cfg.model
    return Discriminator(m.vocab_size, m.seq_len, m.d_emb_dim, m.d_filter_sizes, m.d_num_filters,
                         m.d_dropout_keep, m.d_l2_reg)


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
class OracleRun:
    """The hooks of Algorithm 1 for the synthetic experiment: evaluation, metrics, checkpoints, progress.
    Distributed, every process calls them at the same steps; only rank 0 writes."""

    cfg: Config
    out: Path
    models: Models
    oracle: Generator
    real: torch.Tensor
    logger: MetricsLogger
    progress: Progress
    interrupt: Interrupt
    eval_rng: torch.Generator
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    phase_started: float = field(default_factory=time.perf_counter)
    position: Position = field(default_factory=Position)  # the last step done

    def run_algorithm1(self, start: Position, command: str, flags: str) -> None:
        """Algorithm 1 from ``start`` under the Ctrl-C handler. A NaN or infinity ends the run with one
        error naming the phase and step, the last good checkpoint kept; an interrupt ends it with the
        command that resumes it (``seqgan COMMAND --resume --out DIR``, then ``flags``)."""
        try:
            with self.interrupt.installed():
                seqgan(self.models, self.real, self.cfg.train, self, start)
        except NonFiniteError as exc:
            self.logger.close()
            raise SeqGANError(
                f"{exc} in phase '{self.position.phase}' at step {self.position.step + 1}; stopping. The last "
                f"good checkpoint in {self.out / 'checkpoints'} is kept: lower the learning rate and --resume, or rerun"
            ) from None
        except Interrupted as exc:
            self.logger.close()
            raise Interrupted(f"{exc}; checkpoint written. Resume with: {launcher()}seqgan {command} --resume "
                              f"--out {self.out} ({flags})") from None
        finally:
            self.progress.end()

    # ------------------------------------------------------------------ hooks
    def phase_total(self, phase: str) -> int:
        t = self.cfg.train
        return {"mle": t.g_pretrain_epochs, "d_pretrain": t.d_pretrain_steps, "adversarial": t.adv_rounds}[phase]

    def epoch(self, phase: str, step: int) -> int:
        """Global x axis of the curves: MLE epochs, then adversarial rounds after them."""
        return step if phase == "mle" else self.cfg.train.g_pretrain_epochs + (step if phase == "adversarial" else 0)

    def step_done(self, phase: str, step: int, metrics: dict[str, float]) -> None:
        self.position = Position(phase, step)
        check_finite(metrics, phase, step)
        total = self.phase_total(phase)
        record: dict[str, Any] = {"phase": phase, "step": step, "epoch": self.epoch(phase, step), **metrics}
        if step % self.cfg.eval.every == 0 or step == total:
            record |= self.evaluate(with_nll=phase != "d_pretrain")
        record["time/elapsed_s"] = round(self.elapsed(), 3)
        self.logger.log(record)
        self.progress.update(**{k.split("/")[-1]: v for k, v in record.items()
                                if k in ("eval/nll_oracle", "gen/mle_loss", "disc/loss", "gen/mean_reward")})
        if dist.any_true(self.interrupt.requested):  # all processes stop at the same step
            self.save(Position(phase, step))
            raise Interrupted(f"interrupted in phase '{phase}' after step {step}")
        if step % self.cfg.train.checkpoint_every == 0 and step < total:
            self.save(Position(phase, step))

    def phase_done(self, phase: str) -> None:
        self.progress.end()
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - self.phase_started
        if phase in FINAL_SAMPLE_NAMES:
            self.final_evaluation(FINAL_SAMPLE_NAMES[phase])
        nxt = PHASES[PHASES.index(phase) + 1]
        self.position = Position(nxt, 0)
        self.save(self.position, tag=phase)
        self.phase_started = time.perf_counter()
        if nxt != "done":
            self.progress.begin(nxt, self.phase_total(nxt))

    # ------------------------------------------------------------ evaluation
    def final_evaluation(self, name: str) -> None:
        """The end of MLE pre-training (``name`` 'mle') or of SeqGAN ('seqgan'): NLL-oracle on
        ``eval.final_samples`` samples, written to samples/NAME.txt, and NLL-test, into the summary."""
        nll, samples, per_seq = nll_oracle(self.models.gen, self.oracle, self.cfg.eval.final_samples,
                                           generator=self.eval_rng)
        self.summary.setdefault("nll_oracle", {})[name] = nll
        self.summary.setdefault("nll_oracle_stderr", {})[name] = (per_seq.std() / len(per_seq) ** 0.5).item()
        self.summary.setdefault("nll_test", {})[name] = sequence_nll(self.models.gen, self.held_out).mean().item()
        if dist.is_main():
            write_sequences(self.out / "samples" / f"{name}.txt", samples)
            print(f"NLL-oracle after {'MLE pre-training' if name == 'mle' else 'SeqGAN'}: {nll:.4f} "
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
        sequences (each process its share of them, in float32)."""
        e, out = self.cfg.eval, {}
        if with_nll:
            out |= self.nll_metrics()
        real = self.oracle.sample(dist.share(e.d_samples), generator=self.eval_rng)
        fake = self.models.gen.sample(dist.share(e.d_samples), generator=self.eval_rng)
        out["disc/acc_real"], out["disc/acc_fake"] = d_accuracy(self.models.disc, real, fake)
        return out

    def elapsed(self) -> float:
        return sum(self.timings.values()) + time.perf_counter() - self.phase_started

    # ------------------------------------------------------------ checkpoints
    @property
    def device(self) -> torch.device:
        return self.real.device

    def payload(self, position: Position) -> dict[str, Any]:
        """What a checkpoint holds, but the RNG states (:meth:`save` adds every process's)."""
        m = self.models
        return {
            "config": self.cfg.to_dict(), "position": {"phase": position.phase, "step": position.step},
            "generator": model_entry(m.gen), "discriminator": model_entry(m.disc),
            "oracle": None if self.oracle is None else model_entry(self.oracle),
            "rollout_copy": m.rollout.state_dict(), "vocab": None,
            "optimizers": {"mle": m.mle_opt.state_dict(), "pg": m.pg_opt.state_dict(), "d": m.d_opt.state_dict()},
            "summary": self.summary, "timings": {**self.timings, "_current": time.perf_counter() - self.phase_started},
            "num_records": len(self.logger.records), "processes": dist.world().size,
        }

    def save(self, position: Position, tag: str | None = None) -> None:
        """A checkpoint (every process calls this: it gathers their RNG states; rank 0 writes)."""
        rng = gather_rng_states(self.eval_rng, self.device)
        if not dist.is_main():
            return
        payload = {**self.payload(position), **rng}
        ckpt = self.out / "checkpoints"
        save_checkpoint(ckpt / "latest.pt", payload)
        if tag is not None:
            save_checkpoint(ckpt / f"{tag}.pt", payload)

    def restore(self, ckpt: dict[str, Any]) -> Position:
        m = self.models
        try:
            m.gen.load_state_dict(ckpt["generator"]["state"])
            m.disc.load_state_dict(ckpt["discriminator"]["state"])
            m.rollout.load_state_dict(ckpt["rollout_copy"])
            m.mle_opt.load_state_dict(ckpt["optimizers"]["mle"])
            m.pg_opt.load_state_dict(ckpt["optimizers"]["pg"])
            m.d_opt.load_state_dict(ckpt["optimizers"]["d"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise SeqGANError(f"the checkpoint does not fit this run's models: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
        restore_rng_states(ckpt, self.eval_rng, self.device, self.cfg.seed)
        self.summary = ckpt["summary"]
        timings = dict(ckpt["timings"])
        current = timings.pop("_current", 0.0)
        self.timings = timings
        self.phase_started = time.perf_counter() - current
        self.logger.truncate_after(ckpt["num_records"])
        return Position(**ckpt["position"])


def open_run_dir(out: str | Path, cfg: Config, resume: bool, overwrite: bool) -> tuple[Path, dict | None]:
    """Rank 0's part of starting a run: the run directory (refused, resumed or replaced), the checkpoint
    to resume from (checked against the flags) and config.json. Run it through ``dist.on_main``."""
    out = prepare_out_dir(out, resume=resume, overwrite=overwrite)
    ckpt = None
    if resume:
        ckpt = load_checkpoint(out / "checkpoints" / "latest.pt")
        check_resume_config(ckpt["config"], cfg, out)
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
    if ckpt is None and main:
        write_sequences(out / "data" / "train.txt", real)
    models = Models.create(build_generator(cfg).to(device), build_discriminator(cfg).to(device), cfg.train)

    logger = MetricsLogger(out if main else None, tensorboard=tensorboard, resume=resume)
    bar = Progress(enabled=progress and main)
    state = OracleRun(cfg, out, models, oracle, real, logger, bar, Interrupt(),
                      seeded_generator(dist.rank_seed(cfg.seed), 2, device))
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
        start = Position()
    else:
        start = state.position = state.restore(ckpt)
    if start.phase != "done":
        bar.begin(start.phase, state.phase_total(start.phase), start.step)
    state.run_algorithm1(start, "oracle", "and the same --preset/--config/--set flags")

    state.summary["timings_s"] = {k: round(v, 2) for k, v in state.timings.items()} | {
        "total": round(sum(state.timings.values()), 2)}
    state.summary["device"] = str(device)
    state.summary["processes"] = dist.world().size
    if main:
        write_json(out / "summary.json", state.summary)
        curves = {label: [(r["epoch"], r[key]) for r in logger.records if key in r] for label, key in
                  (("NLL-oracle: G's samples under the oracle", "eval/nll_oracle"),
                   ("NLL-test: held-out oracle data under G", "eval/nll_test"))}
        plot_curves(out / "nll_oracle.png", curves, pretrain_end=cfg.train.g_pretrain_epochs,
                    ylabel="nats per token", title="SeqGAN: MLE pre-training, then adversarial training")
    logger.close()
    return state.summary


def launcher() -> str:
    """How the command was started, for resume hints: 'torchrun --nproc_per_node=N -m ' or ''."""
    if not dist.launched():
        return ""
    return f"torchrun --nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', dist.world().size)} ... -m "
