"""``seqgan sweep``: every method's final generator along the temperature curve (quality vs diversity).

Caccia et al. ("Language GANs Falling Short", ICLR 2020) compare sequence GANs with MLE not at T = 1
alone but along the curve the softmax temperature traces, and find that MLE at a tuned temperature
matches or beats the GANs there. This command makes that comparison for a finished run:

* a ``table1`` run (every method directory with ``result.json`` and ``checkpoints/final.pt``, so new
  methods are found without a list), a ``table1 --seeds`` run (each ``seed<S>/``; the curves are then
  means over seeds with their standard deviations), or a ``seqgan oracle`` run (MLE =
  ``checkpoints/mle.pt``, the algorithm = its last phase's checkpoint, ``adversarial.pt`` for SeqGAN): NLL-oracle
  against NLL-test (which runs and methods: :mod:`seqgan.experiments.sweep_runs`);
* a ``seqgan train`` run, or a ``paper-task`` directory (its ``run/``): BLEU-5 against Self-BLEU-5 and
  LM against reverse-LM (:mod:`seqgan.metrics.quality_diversity`, :mod:`seqgan.metrics.lm`), both against
  one test set: the held-out rows the run encodes.

A temperature is applied as ``seqgan sample --temperature`` applies it (:func:`with_temperature`: the
output layer of a private copy divided by T), so T = 1 scores the generator itself, bit for bit. The
draws of each point come from a stream of their own, keyed by (seed, method, T). Output in --out:
``sweep.json/.csv/.md`` (one row per method and temperature, then the dominance summary), ``samples/``
(``<method>_t<T>.txt``, under ``seed<S>/`` for a seeds run) and the figures ``sweep.png`` (oracle) or
``sweep_bleu.png`` and ``sweep_lm.png`` (real data).
"""

from __future__ import annotations

import argparse
import copy
import math
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from seqgan.checkpoint import build_model, load_checkpoint
from seqgan.data.corpora import default_cache_dir
from seqgan.data.subword import SubwordTokenizer
from seqgan.data.tokenizers import SUBWORD, Tokenizer
from seqgan.errors import SeqGANError
from seqgan.experiments.common import add_threads_arg, set_threads, write_sequences
from seqgan.experiments.run_dir import first_names
from seqgan.experiments.corpus import check_vocab, load_corpus, stored_tokenizer
from seqgan.seeding import rng
from seqgan.experiments.evaluate import Scorer, tokenize_lines
from seqgan.experiments.oracle import held_out_set
from seqgan.experiments.sample import decode_rows, detokenize_all, with_temperature, write_lines
from seqgan.experiments.sweep_runs import Run, choose_methods, find_runs, load_generator
from seqgan.experiments.tables import write_files
from seqgan.metrics import quality_diversity as qd
from seqgan.metrics.lm import LMConfig, cached_lm, lm_nll, lm_shapes, train_lm
from seqgan.metrics.stats import mean_and_stderr
from seqgan.models.generator import Generator

#: 19 temperatures from 0.5 to 2, denser near 1 where a GAN at T = 1 meets MLE at T slightly below 1.
DEFAULT_TEMPERATURES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7,
                        1.8, 2.0)
METRICS = {"oracle": ("nll_oracle", "nll_oracle_stderr", "nll_test", "nll_test_stderr", "distinct"),
           "text": ("bleu5", "bleu5_stderr", "self_bleu5", "self_bleu5_stderr", "lm", "lm_stderr", "reverse_lm",
                    "reverse_lm_stderr", "distinct")}


def parse_temperatures(text: str | None) -> list[float]:
    """'0.5,1,2' -> [0.5, 1.0, 2.0] (sorted, duplicates dropped); every value finite and > 0, and no two
    the same under ``:g``, which names each point's samples file and keys its draws."""
    if text is None:
        return list(DEFAULT_TEMPERATURES)
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SeqGANError(f"--temperatures {text!r}: give numbers separated by commas, e.g. 0.5,0.8,1,1.2") from None
    bad = [v for v in values if not (math.isfinite(v) and v > 0)]
    if bad or not values:
        raise SeqGANError(f"--temperatures {text!r}: every temperature must be a finite number above 0 "
                          f"(got {', '.join(map(str, bad)) or 'none'}); the logits are divided by it")
    values = sorted(set(values))
    same = [f"{a!r} and {b!r}" for a, b in zip(values, values[1:]) if f"{a:g}" == f"{b:g}"]
    if same:
        raise SeqGANError(f"--temperatures {text!r}: {same[0]} are the same to 6 significant digits, which name "
                          "a point's samples and seed its draws; give temperatures that differ within 6 digits")
    return values


def tempered(gen: Generator, temperature: float) -> Generator:
    """A private copy of gen with its logits divided by T, exactly as ``seqgan sample --temperature``."""
    return with_temperature(copy.deepcopy(gen), temperature)


# ------------------------------------------------------------------------------- real data


@dataclass
class TextTask:
    """What every real-data point is scored against: the corpus, the scorer and the real-data LM."""

    vocab: Any
    tokenizer: Tokenizer | str  # the object for bpe / unigram
    bleu_tokenizer: Tokenizer | str  # BLEU's tokens: words on bpe / unigram runs, else the run's tokens
    valid: torch.Tensor
    scorer: Scorer
    lm: Generator
    lm_cfg: LMConfig
    shapes: dict[str, Any]  # of both LMs (lm_shapes)


def held_out_lines(rows: torch.Tensor, vocab: Any, tok: Tokenizer | str) -> list[str]:
    """The held-out rows as text, decoded as the samples are: BLEU's references are then the very test set
    the reverse LM is scored on (lines cut to model.seq_len - 1 tokens or left out per data.long_lines, an
    out-of-vocabulary token as <unk>), not the file's lines, which no generator of the run could write."""
    return detokenize_all(decode_rows(rows, vocab, tok), tok)


def text_task(run: Run, like: Any, lm_cfg: LMConfig, cache: Path | None, device: torch.device) -> TextTask:
    """The corpus of a real-data run, BLEU's references and the LM of its training set. Both LMs are plain
    LSTMs of the run's model.g_emb_dim and g_hidden_dim whatever G the run trained (LeakGAN's, RelGAN's)."""
    ckpt = load_checkpoint(run.methods[0].checkpoint)
    stored = stored_tokenizer(run.cfg, ckpt)  # bpe / unigram: the run's own, not one learnt again
    corpus = load_corpus(run.cfg, stored and SubwordTokenizer.from_dict(stored))
    if corpus.valid is None:
        raise SeqGANError(f"--run {run.path}: the run has no held-out file (seqgan train --valid); BLEU-5 and the "
                          "reverse-LM score need one")
    check_vocab(ckpt, corpus, run.methods[0].checkpoint, "--run")
    tok = corpus.tok or corpus.tokenizer  # bpe / unigram: the tokenizer object, not its name
    bleu_tok = "word" if getattr(tok, "name", tok) in SUBWORD else tok  # BLEU over words, as the benchmarks
    refs = tokenize_lines(held_out_lines(corpus.valid, corpus.vocab, tok), bleu_tok, "the test set")
    shapes = lm_shapes(like, run.cfg.model.g_emb_dim, run.cfg.model.g_hidden_dim)
    started = time.perf_counter()
    lm, hit = cached_lm(corpus.train.to(device), shapes, lm_cfg, cache)
    print(f"real-data LM: {'from the cache' if hit else f'trained in {time.perf_counter() - started:.0f} s'}"
          f"{f' ({cache})' if cache else ''}", file=sys.stderr, flush=True)
    return TextTask(corpus.vocab, tok, bleu_tok, corpus.valid.to(device), Scorer(refs, (5,), (5,)), lm, lm_cfg,
                    shapes)


def text_point(gen_t: Generator, task: TextTask, num: int, g: torch.Generator,
               seed: int) -> tuple[list[str], dict[str, float]]:
    """One real-data point: ``num`` samples, their BLEU-5 (vs the test set), Self-BLEU-5, LM score, and
    the reverse-LM score (an LM trained on them, scored on the test set)."""
    ids = gen_t.sample(num, generator=g)                                 # (num, T)
    lines = detokenize_all(decode_rows(ids, task.vocab, task.tokenizer), task.tokenizer)
    scores = task.scorer.score(tokenize_lines(lines, task.bleu_tokenizer, "samples"))
    out: dict[str, float] = {}
    out["bleu5"], out["bleu5_stderr"] = mean_and_stderr(scores["bleu5"])
    out["self_bleu5"] = float(scores["self_bleu5"].mean())
    out["self_bleu5_stderr"] = float("nan")  # its per-sample scores are dependent: no standard error (SELF_BLEU_NOTE)
    out["lm"], out["lm_stderr"] = lm_nll(task.lm, ids)
    reverse = train_lm(ids, task.shapes, replace(task.lm_cfg, seed=seed))
    out["reverse_lm"], out["reverse_lm_stderr"] = lm_nll(reverse, task.valid)
    out["distinct"] = qd.distinct(ids)
    return lines, out


# ------------------------------------------------------------------------------- the sweep


def sweep_run(run: Run, temperatures: list[float], num: int, samples_dir: Path, lm_cfg: LMConfig,
              cache: Path | None, device: torch.device) -> list[dict[str, Any]]:
    """Every (method, temperature) point of one run; writes each point's samples."""
    seed = run.cfg.seed
    gens = {m.key: load_generator(m.checkpoint, device) for m in run.methods}
    if run.kind == "oracle":
        oracle = build_model(Generator, load_checkpoint(run.oracle_checkpoint)["oracle"], "oracle")
        oracle = oracle.requires_grad_(False).eval().to(device)
        held_out = held_out_set(oracle, run.cfg)  # NLL-test's set, as table1 and oracle draw it
    else:
        task = text_task(run, next(iter(gens.values())), lm_cfg, cache, device)
    rows = []
    for m in run.methods:
        for t in temperatures:
            started = time.perf_counter()
            g, gen_t = rng(device, "sweep", seed, m.key, f"{t:g}"), tempered(gens[m.key], t)
            name = samples_dir / f"{m.key}_t{t:g}.txt"
            if run.kind == "oracle":
                samples, metrics = qd.oracle_scores(gen_t, oracle, held_out, num, g)
                write_sequences(name, samples)
            else:
                lines, metrics = text_point(gen_t, task, num, g, lm_cfg.seed)
                write_lines(name, lines)
            rows.append({"key": m.key, "method": m.label, "temperature": t, "seed": seed, **metrics,
                         "time_s": round(time.perf_counter() - started, 2)})
            main = METRICS[run.kind][0], METRICS[run.kind][2]
            print(f"{m.label} T={t:g}: " + ", ".join(f"{k} {metrics[k]:.4f}" for k in main)
                  + f" ({rows[-1]['time_s']:.1f} s)", file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict[str, Any]], kind: str, seeds: bool) -> str:
    cols = {"oracle": [("NLL-oracle", "nll_oracle"), ("NLL-test", "nll_test")],
            "text": [("BLEU-5", "bleu5"), ("Self-BLEU-5", "self_bleu5"), ("LM", "lm"), ("reverse-LM", "reverse_lm")]}
    spread = "sd over seeds" if seeds else "std. error"
    head = ["method", "T"] + [f"{name} (± {spread})" for name, _ in cols[kind]] + ["distinct"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        err = (lambda k: r[f"{k}_sd"]) if seeds else (lambda k: r[f"{k}_stderr"])
        spreads = [f" ± {err(k):.4f}" if err(k) == err(k) else "" for _, k in cols[kind]]  # none: Self-BLEU's
        cells = [r["method"], f"{r['temperature']:g}"] + [f"{r[k]:.4f}{e}" for (_, k), e in zip(cols[kind], spreads)]
        lines.append("| " + " | ".join(cells + [f"{r['distinct']:.3f}"]) + " |")
    return "\n".join(lines)


def figures(out: Path, rows: list[dict[str, Any]], kind: str, seeds: bool, title: str) -> list[str]:
    from seqgan.plots import plot_tradeoff

    names = []
    for i, ((y, _), (x, _)) in enumerate(qd.AXES[kind]):
        curves: dict[str, list] = {}
        for r in rows:
            err = (lambda k: r[f"{k}_sd"]) if seeds else (lambda k: r[f"{k}_stderr"])
            curves.setdefault(r["method"], []).append((r[x], r[y], r["temperature"], err(x), err(y)))
        name = "sweep.png" if kind == "oracle" else ("sweep_bleu.png", "sweep_lm.png")[i]
        plot_tradeoff(out / name, curves, qd.LABELS[x], qd.LABELS[y], title)
        names.append(name)
    return names


def write_outputs(out: Path, rows: list[dict[str, Any]], kind: str, seeds: bool, extra: dict[str, Any]) -> str:
    summary = qd.dominance(rows, kind)
    alone = "- MLE is the only method swept: nothing to compare with it"
    words = qd.summary_lines(summary) or [alone if any(r["key"] == "mle" for r in rows)
                                          else "- no MLE method in the run: nothing to compare with"]
    what = "means over seeds" if seeds else "one run"
    md = (markdown(rows, kind, seeds) + f"\n\nDoes MLE at some temperature dominate each method at T = 1 "
          f"(at least as good on both axes, {what})?\n\n" + "\n".join(words))
    cols = ["method", "key", "temperature"] + [c for m in METRICS[kind]
                                               for c in ([m, f"{m}_sd"] if seeds and not m.endswith("_stderr")
                                                         else [m])] + (["seeds"] if seeds else ["seed", "time_s"])
    blank = lambda v: "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v  # noqa: E731
    # as table1's: every file atomically; an undefined number (Self-BLEU's standard error) is null / empty
    write_files(out, "sweep", md, {"kind": kind, "rows": rows, "dominance": summary, **extra}, cols,
                [[blank(r.get(c)) for c in cols] for r in rows])
    return md


# ----------------------------------------------------------------------------- CLI


MARKER = ".sweep"  # written first: a sweep stopped before its sweep.json is still known as one


def open_out(out: Path, overwrite: bool) -> Path:
    """--out: refuse a directory that holds a sweep or a run unless --overwrite (then the sweep's own files go)."""
    if out.exists() and not out.is_dir():
        raise SeqGANError(f"--out {out} is a file; give a directory")
    theirs = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    ours = (out / "sweep.json").exists() or (out / MARKER).exists()
    if theirs and not ours and not (out / "config.json").exists():
        raise SeqGANError(f"--out {out} holds other files ({first_names(theirs)}) "
                          "and no sweep; choose a new or empty directory")  # e.g. a paper-task's samples/
    if ours or (out / "config.json").exists():
        if not overwrite:
            raise SeqGANError(f"--out {out} already holds a sweep or a run; pass --overwrite to replace the sweep, "
                              "or choose another --out")
        if (out / "config.json").exists():
            raise SeqGANError(f"--out {out} holds a training run; write the sweep elsewhere")
        for name in ("sweep.json", "sweep.csv", "sweep.md", "sweep.png", "sweep_bleu.png", "sweep_lm.png"):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "samples", ignore_errors=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).touch()
    except OSError as exc:
        raise SeqGANError(f"--out {out}: cannot create or write it ({exc.strerror or exc}); choose a directory you "
                          "can write") from None
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="quality vs diversity: every method of a finished run at many temperatures",
                       description="Sample every method's final generator at each temperature (logits / T) and "
                                   "score quality and diversity: NLL-oracle and NLL-test on the oracle task, BLEU-5, "
                                   "Self-BLEU-5, LM and reverse-LM on real data; says whether MLE at some "
                                   "temperature dominates each method (Caccia et al., ICLR 2020).")
    p.add_argument("--run", required=True, metavar="DIR",
                   help="a finished table1 (or table1 --seeds), oracle, train or paper-task run directory")
    p.add_argument("--temperatures", metavar="T,T,...",
                   help=f"temperatures (default the 19 of {DEFAULT_TEMPERATURES[0]:g}..{DEFAULT_TEMPERATURES[-1]:g}: "
                        f"{','.join(f'{t:g}' for t in DEFAULT_TEMPERATURES)})")
    p.add_argument("--num-samples", "--samples", dest="samples", type=int, default=10_000, metavar="N",
                   help="samples per point (default 10,000; --samples is the older name)")
    p.add_argument("--methods", metavar="KEY,KEY", help="only these method keys (default: every finished one)")
    p.add_argument("--lm-epochs", type=int, default=LMConfig.epochs,
                   help=f"MLE epochs of the LM and of each reverse LM (real data; default {LMConfig.epochs})")
    p.add_argument("--lm-cache", metavar="DIR", help="where the real-data LM is cached "
                   "(default: $SEQGAN_CACHE/lm or ~/.cache/seqgan/lm; 'none' to not cache)")
    add_threads_arg(p)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write the sweep into")
    p.add_argument("--overwrite", action="store_true", help="replace a sweep already in --out")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from seqgan import distributed as dist

    started = time.perf_counter()
    temperatures = parse_temperatures(args.temperatures)
    if args.samples < 2:
        raise SeqGANError(f"--num-samples must be at least 2 (standard errors and Self-BLEU need two), got {args.samples}")
    if args.lm_epochs < 1:
        raise SeqGANError(f"--lm-epochs must be at least 1, got {args.lm_epochs}")
    set_threads(args.threads)
    runs = choose_methods(find_runs(Path(args.run)), args.methods or None)
    kinds = {r.kind for r in runs}
    if len(kinds) != 1:
        raise SeqGANError(f"--run {args.run}: its seeds mix the oracle task and real data; sweep them one by one")
    kind, seeds = kinds.pop(), len(runs) > 1
    device = dist.init(args.device)
    out = open_out(Path(args.out), args.overwrite)
    cache = None if (args.lm_cache or "").lower() == "none" else Path(args.lm_cache or default_cache_dir() / "lm")
    lm_cfg = LMConfig(epochs=args.lm_epochs)
    per_seed = {}
    for run in runs:
        samples = out / "samples" / (f"seed{run.cfg.seed}" if seeds else "")
        per_seed[run.cfg.seed] = sweep_run(run, temperatures, args.samples, samples, lm_cfg, cache, device)
    metrics = [m for m in METRICS[kind] if not m.endswith("_stderr")]
    rows = qd.across_seeds(per_seed, metrics) if seeds else per_seed[runs[0].cfg.seed]
    wall = round(time.perf_counter() - started, 1)
    extra = {"run": str(Path(args.run)), "seeds": sorted(per_seed), "temperatures": temperatures,
             "samples": args.samples, "methods": {m.key: m.label for r in runs for m in r.methods},
             "lm": vars(lm_cfg) if kind == "text" else None, "wall_time_s": wall,
             "per_seed_rows": [r for rs in per_seed.values() for r in rs] if seeds else None,
             "units": "NLL-oracle, NLL-test, LM, reverse-LM: nats per token (lower is better); BLEU-5 vs the test "
                      "set (higher is better) and Self-BLEU-5 (lower is better): mean of sentence scores; "
                      "*_stderr: standard error of the mean; *_sd: standard deviation over seeds (ddof 1)"}
    title = f"{'oracle' if kind == 'oracle' else Path(runs[0].cfg.data.train_path).parent.name}: " \
            f"{len(temperatures)} temperatures, {args.samples} samples" + (f", {len(runs)} seeds" if seeds else "")
    md = write_outputs(out, rows, kind, seeds, extra)
    names = figures(out, rows, kind, seeds, title)
    print("\n" + md + f"\n\nwall time {wall:.0f} s; results in {out} (sweep.md/.json/.csv, {', '.join(names)}, samples/)")
    return 0
