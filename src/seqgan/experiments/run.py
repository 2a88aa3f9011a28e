"""One run of one algorithm: its hooks (metrics, checkpoints, progress, interruption) and its models.

:class:`Run` knows an algorithm only through its contract (``seqgan.train.algorithm``): it steps
through the algorithm's phases, checkpoints every model and optimiser the algorithm built by name,
resumes at the phase and step where it stopped, and evaluates through the task's methods, which
the synthetic task (``experiments/oracle.py``), real data (``experiments/train.py``) and one method
of Table 1 (``experiments/table1.py``) override. ``seqgan oracle``, ``train``, ``table1`` and
``strategy`` all run through it.

Under torchrun every process runs the hooks at the same steps (their evaluations and checkpoints
are collectives); only rank 0 writes files or prints.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seqgan import distributed as dist
from seqgan.checkpoint import model_entry, save_checkpoint
from seqgan.config import Config
from seqgan.errors import SeqGANError
from seqgan.experiments.common import (Interrupt, Interrupted, check_finite, gather_rng_states,
                                       restore_rng_states, write_json)
from seqgan.logger import MetricsLogger, Progress
from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.plots import plot_curves
from seqgan.train.algorithm import Algorithm, Models, Position
from seqgan.train.step import NonFiniteError

PAD_ID, EOS_ID = 0, 1  # real data: fixed by seqgan.data.vocab


def variable_length(cfg: Config) -> bool:
    """Real data whose lines end with <eos> (not data.fixed_length); the synthetic task has fixed length."""
    return cfg.data.train_path is not None and not cfg.data.fixed_length


def build_generator(cfg: Config) -> Generator:
    """G of the config. Variable length: G ends sequences at <eos> and pads after it. Fixed length (the
    synthetic task, data.fixed_length): neither (G may then emit the special ids of real data as
    ordinary tokens; MLE drives their probability to ~0)."""
    m, var = cfg.model, variable_length(cfg)
    return Generator(m.vocab_size, m.g_emb_dim, m.g_hidden_dim, m.seq_len, m.start_token, m.g_init_std,
                     eos_token=EOS_ID if var else None, pad_token=PAD_ID if var else None)


def build_discriminator(cfg: Config) -> Discriminator:
    m = cfg.model
    return Discriminator(m.vocab_size, m.seq_len, m.d_emb_dim, m.d_filter_sizes, m.d_num_filters,
                         m.d_dropout_keep, m.d_l2_reg, pad_token=PAD_ID if variable_length(cfg) else None)


def build_models(cfg: Config, algorithm: Algorithm, device: torch.device) -> Models:
    """Algorithm 1, line 1: G and D with random weights (G first: the draws are in that order), on
    ``device``, the models the algorithm adds (e.g. SeqGAN's value network) and the optimisers the
    algorithm asks for. An algorithm with a generator of its own (``Algorithm.models``, e.g. RelGAN)
    builds its G and D."""
    if algorithm.models is None:
        gen, disc = build_generator(cfg), build_discriminator(cfg)
    else:
        var = variable_length(cfg)
        gen, disc = algorithm.models(cfg, EOS_ID if var else None, PAD_ID if var else None)
    extra = {} if algorithm.extra_models is None else algorithm.extra_models(cfg)
    return Models.create(gen.to(device), disc.to(device), cfg.train, algorithm.optimizers, config=cfg,
                         extra={name: (model.to(device), lr) for name, (model, lr) in extra.items()},
                         disc_partial=algorithm.disc_partial)


def launcher() -> str:
    """How the command was started, for resume hints: 'torchrun --nproc_per_node=N -m ' or ''."""
    if not dist.launched():
        return ""
    return f"torchrun --nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', dist.world().size)} ... -m "


@dataclass
class Run:
    """The hooks of one algorithm's training. Distributed, every process calls them at the same steps;
    only rank 0 writes. Subclasses give the task's evaluation (:meth:`evaluate`,
    :meth:`final_evaluation`) and what its checkpoints add (:meth:`task_payload`)."""

    cfg: Config
    algorithm: Algorithm
    out: Path
    models: Models
    real: torch.Tensor
    logger: MetricsLogger
    progress: Progress
    interrupt: Interrupt
    eval_rng: torch.Generator
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    phase_started: float = field(default_factory=time.perf_counter)
    position: Position | None = None  # the last step done

    def __post_init__(self) -> None:
        if self.position is None:
            self.position = self.at("mle", 0)

    def at(self, phase: str, step: int = 0) -> Position:
        return Position(phase, step, self.algorithm.phases)

    def run_algorithm(self, start: Position, what: str = "", resume: str = "") -> None:
        """The algorithm from ``start`` under the Ctrl-C handler. A NaN or infinity ends the run with one
        error naming the phase and step, the last good checkpoint kept; an interrupt ends it with the
        command that resumes it (``resume``), if given. ``what`` starts both messages (e.g. 'MLE: ')."""
        hint = f". Resume with: {resume}" if resume else ""
        if dist.any_true(Interrupt.take_carried()):
            self.progress.end()
            self.logger.close()
            raise Interrupted(f"{what}not started: Ctrl-C came after the previous run's last step{hint}")
        try:
            with self.interrupt.installed():
                self.algorithm.train(self.models, self.real, self.cfg, self, start)
            Interrupt.carried = self.interrupt.requested  # too late for this run: it stops the command's next
        except NonFiniteError as exc:
            raise SeqGANError(
                f"{what}{exc} in phase '{self.position.phase}' at step {self.position.step + 1}; stopping. The last "
                f"good checkpoint in {self.out / 'checkpoints'} is kept. --resume continues the run with its own "
                "settings, so start a new run with a lower learning rate (--set train.g_lr=... / train.d_lr=...) "
                "and --overwrite, or with another --out") from None
        except Interrupted as exc:
            raise Interrupted(f"{what}{exc}; checkpoint written{hint}") from None
        finally:
            self.progress.end()
            self.logger.close()

    # ------------------------------------------------------------------ hooks
    def phase_total(self, phase: str) -> int:
        return self.algorithm.phase_steps(self.cfg, phase)

    def d_in_play(self) -> bool:
        """Whether D's accuracy means anything now: not in the own phases of an algorithm that leaves D
        as pre-training left it (MLE, Scheduled Sampling, PG-BLEU)."""
        return (self.algorithm.uses_disc or self.position is None
                or self.position.phase not in self.algorithm.own_phases)

    def trains_g(self, phase: str) -> bool:
        """Whether ``phase`` changes G (D pre-training and an algorithm's D-only phases do not)."""
        return phase not in self.algorithm.d_only_phases

    def epoch(self, phase: str, step: int) -> int:
        """Global x axis of the curves: MLE epochs, then the algorithm's epochs or rounds after them."""
        if phase == "mle":
            return step
        return self.cfg.train.g_pretrain_epochs + (step if self.trains_g(phase) else 0)

    def final_name(self, phase: str) -> str | None:
        """The name of the final evaluation at the end of ``phase``: 'mle' after pre-training, the
        algorithm's after its last phase, none otherwise."""
        if phase == "mle":
            return "mle"
        if self.algorithm.own_phases and phase == self.algorithm.own_phases[-1]:
            return self.algorithm.final_sample_name or self.algorithm.name
        return None

    def step_done(self, phase: str, step: int, metrics: dict[str, float]) -> None:
        self.position = self.at(phase, step)
        check_finite(metrics, phase, step)
        total = self.phase_total(phase)
        record: dict[str, Any] = {"phase": phase, "step": step, "epoch": self.epoch(phase, step), **metrics}
        if step % self.cfg.eval.every == 0 or step == total:
            record |= self.evaluate(with_nll=self.trains_g(phase))
        record["time/elapsed_s"] = round(self.elapsed(), 3)
        self.logger.log(record)
        self.progress.update(**{k.split("/")[-1]: v for k, v in record.items()
                                if k in ("eval/nll_oracle", "gen/mle_loss", "disc/loss", "gen/mean_reward")})
        if dist.any_true(self.interrupt.requested):  # all processes stop at the same step
            self.save(self.at(phase, step))
            raise Interrupted(f"interrupted in phase '{phase}' after step {step}")
        if step % self.cfg.train.checkpoint_every == 0 and step < total:
            self.save(self.at(phase, step))

    def phase_done(self, phase: str) -> None:
        self.progress.end()
        name = self.final_name(phase)
        if name is not None:
            self.final_evaluation(name)
        # the phase's time, its final evaluation included; the next phase's clock starts before the save, or the
        # checkpoint's "_current" would count this phase a second time in a run resumed from it
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - self.phase_started
        self.phase_started = time.perf_counter()
        self.position = self.at(self.at(phase).next_phase(), 0)
        self.save(self.position, tag=phase)
        if self.position.phase != "done":
            if dist.any_true(self.interrupt.requested):  # it came during the phase's final evaluation
                raise Interrupted(f"interrupted at the end of phase '{phase}'")
            self.progress.begin(self.bar_name(self.position.phase), self.phase_total(self.position.phase))

    def bar_name(self, phase: str) -> str:
        """The progress bar's name for a phase."""
        return phase

    def elapsed(self) -> float:
        return sum(self.timings.values()) + time.perf_counter() - self.phase_started

    # ------------------------------------------------------------ the task's
    def evaluate(self, with_nll: bool = True) -> dict[str, float]:
        raise NotImplementedError

    def final_evaluation(self, name: str) -> None:
        raise NotImplementedError

    def task_payload(self) -> dict[str, Any]:
        """What the task adds to a checkpoint (the oracle, or the vocabulary)."""
        return {"oracle": None, "vocab": None}

    # ------------------------------------------------------------ checkpoints
    @property
    def device(self) -> torch.device:
        return self.real.device

    def payload(self, position: Position) -> dict[str, Any]:
        """What a checkpoint holds, but the RNG states (:meth:`save` adds every process's)."""
        m = self.models
        return {
            "config": self.cfg.to_dict(), "algorithm": self.algorithm.name,
            "position": {"phase": position.phase, "step": position.step},
            "generator": model_entry(m.gen), "discriminator": model_entry(m.disc),
            "rollout_copy": m.rollout.state_dict(),
            "extra_models": {name: model_entry(r.model) for name, r in m.extra.items()},
            "optimizers": {name: opt.state_dict() for name, opt in m.opts.items()},
            "summary": self.summary, "timings": {**self.timings, "_current": time.perf_counter() - self.phase_started},
            "num_records": len(self.logger.records), "processes": dist.world().size,
            "threads": torch.get_num_threads(), **self.task_payload(),
        }

    def save(self, position: Position, tag: str | None = None, latest: bool = True) -> None:
        """A checkpoint (every process calls this: it gathers their RNG states; rank 0 writes). ``latest``
        False: the tag's file alone, not a point to resume from."""
        rng = gather_rng_states(self.eval_rng, self.device)
        if not dist.is_main():
            return
        payload = {**self.payload(position), **rng}
        ckpt = self.out / "checkpoints"
        if tag is not None:  # first: a phase's file marks it done (table1's d_pretrain.pt), so a failed or
            save_checkpoint(ckpt / f"{tag}.pt", payload)  # killed second write leaves latest.pt behind, never ahead
        if latest:
            save_checkpoint(ckpt / "latest.pt", payload)

    def restore(self, ckpt: dict[str, Any], new_optimizers: bool = False) -> Position:
        """Models, optimisers, RNG states, summary, timings and the metrics log as the checkpoint has them.
        ``new_optimizers``: an optimiser the checkpoint lacks starts fresh (an algorithm that starts from
        another's checkpoint, e.g. the shared pre-training); otherwise it is an error."""
        m = self.models
        try:
            m.gen.load_state_dict(ckpt["generator"]["state"])
            m.disc.load_state_dict(ckpt["discriminator"]["state"])
            m.rollout.load_state_dict(ckpt["rollout_copy"])
            saved = ckpt.get("extra_models", {})  # a checkpoint written before extra models had none
            for name, r in m.extra.items():  # like the optimisers: a method's own model may start fresh
                if name in saved or not new_optimizers:
                    r.model.load_state_dict(saved[name]["state"])
            for name, opt in m.opts.items():
                if name in ckpt["optimizers"] or not new_optimizers:
                    opt.load_state_dict(ckpt["optimizers"][name])
        except (KeyError, TypeError, AttributeError, RuntimeError, ValueError) as exc:
            raise SeqGANError(f"the checkpoint does not fit this run's models: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
        try:  # the rest of a checkpoint a damaged or hand-edited file may lack: one line, not a traceback
            began = torch.device(ckpt["config"].get("device") or "cpu")
            if began.type != self.device.type:  # a generator's state is device-specific: no exact resume elsewhere
                raise SeqGANError(f"the run began on {began.type}, and its random streams live there; resume it "
                                  f"with --device {began}")
            summary, timings, records = dict(ckpt["summary"]), dict(ckpt["timings"]), int(ckpt["num_records"])
            position = self.at(**ckpt["position"])
            position.start_of(position.phase)  # a phase this algorithm does not have
            restore_rng_states(ckpt, self.eval_rng, self.device, self.cfg.seed)
        except (KeyError, TypeError, AttributeError, RuntimeError, ValueError) as exc:
            raise SeqGANError(f"the checkpoint is damaged or not this run's ({type(exc).__name__}: "
                              f"{(str(exc).splitlines() or [''])[0]}); resume from an earlier checkpoint, or start "
                              "a new run") from None
        threads = ckpt.get("threads")  # CPU reductions may split differently: not the same run bit for bit
        if (dist.is_main() and not new_optimizers and self.device.type == "cpu" and isinstance(threads, int)
                and threads != torch.get_num_threads()):  # continuing its own checkpoint, not starting from one
            print(f"the run was saved at {threads} thread(s), this process has {torch.get_num_threads()}; "
                  "it continues, but its numbers may differ in the last bits from an uninterrupted run's (give "
                  f"--threads {threads} to avoid it)", file=sys.stderr, flush=True)
        self.summary = summary
        current = timings.pop("_current", 0.0)
        self.timings = timings
        self.phase_started = time.perf_counter() - current
        self.logger.truncate_after(records)
        if dist.is_main() and not new_optimizers:  # where a resumed run picks up
            where = ("it had finished: nothing is left to train" if position.phase == "done" else
                     f"{self.bar_name(position.phase)}, after step {position.step} of {self.phase_total(position.phase)}")
            print(f"--resume: {where}", file=sys.stderr, flush=True)
        return position

    # ------------------------------------------------------------ the end
    def finish(self, device: torch.device, figure: str, curves: dict[str, str], ylabel: str, title: str
               ) -> dict[str, Any]:
        """The end of a run: timings, device and processes into summary.json, and the figure of
        ``curves`` (label -> metric key) over the run's x axis. Returns the summary."""
        self.summary["timings_s"] = {k: round(v, 2) for k, v in self.timings.items()} | {
            "total": round(sum(self.timings.values()), 2)}
        self.summary["device"] = str(device)
        self.summary["processes"] = dist.world().size
        if dist.is_main():
            write_json(self.out / "summary.json", self.summary)
            points = {label: [(r["epoch"], r[key]) for r in self.logger.records if key in r]
                      for label, key in curves.items()}
            plot_curves(self.out / figure, points, pretrain_end=self.cfg.train.g_pretrain_epochs, ylabel=ylabel,
                        title=title)
        self.logger.close()
        return self.summary
