"""``seqgan train``: SeqGAN on a real corpus (paper, Section 5), one sequence per line.

The training file gives the vocabulary (``<pad>`` = 0, ``<eos>`` = 1, ``<unk>`` = 2, then tokens by
frequency) and the training set S: each line becomes its token ids, one ``<eos>`` and ``<pad>`` up
to ``model.seq_len``. Then Algorithm 1 runs exactly as in the synthetic task, with G and D built
for variable lengths (sampling and roll-outs stop at ``<eos>``; the losses and D ignore what follows).
The run is organised like ``seqgan oracle`` (both are a :class:`~seqgan.experiments.run.Run`):
metrics.jsonl, TensorBoard, checkpoints, progress, interruption and ``--resume``; ``--algorithm``
chooses what trains after the shared pre-training (SeqGAN's Algorithm 1 by default). In place of NLL-oracle it logs
the NLL of the validation file (``eval/nll_test``) and of a fixed part of the training set
(``eval/nll_train``), in nats per token counting each sequence's tokens and its ``<eos>``.

The start token fed to G before the first position is ``<eos>`` (id 1): "the previous sequence
ended here", the usual convention of language models, which needs no extra token. Every
checkpoint stores the vocabulary and the tokenizer name, so ``seqgan sample`` needs only the file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqgan import distributed as dist
from seqgan.checkpoint import load_checkpoint, out_of_space
from seqgan.config import Config
from seqgan.data.subword import SubwordTokenizer, save_model
from seqgan.data.tokenizers import TOKENIZERS, Tokenizer, tokenizer_entry
from seqgan.errors import SeqGANError
from seqgan.experiments.common import Interrupt, check_resume_config, setup_torch, write_json
from seqgan.experiments.run_dir import check_resumable, holds_run, prepare_out_dir, run_files
from seqgan.experiments.corpus import Corpus, check_same_data, check_vocab, describe, load_corpus, stored_tokenizer
from seqgan.experiments.run import EOS_ID, Run, build_models, launcher
from seqgan.experiments.train_flags import flag_names, vocab_size_flag
from seqgan.experiments.sample import decode_rows, detokenize_all, write_lines
from seqgan.logger import MetricsLogger, Progress
from seqgan.metrics.nll import sequence_nll
from seqgan.models.generator import Generator
from seqgan.seeding import seeded_generator
from seqgan.train.algorithm import Models
from seqgan.train.discriminator import d_accuracy
from seqgan.train.registry import ALGORITHMS, get_algorithm


# ----------------------------------------------------------------------------- models


def init_from(models: Models, ckpt: dict[str, Any], path: Path) -> str:
    """Start from another run's weights: G always (same shapes required); D when its shapes match too.
    Weights do not depend on the sequence length, so a different --max-len is fine."""
    try:
        models.gen.load_state_dict(ckpt["generator"]["state"])
    except (KeyError, RuntimeError) as exc:
        raise SeqGANError(f"--init-from {path}: its generator does not fit this run's model.g_emb_dim / "
                          f"g_hidden_dim ({str(exc).splitlines()[0][:160]}); use the same sizes") from None
    try:
        models.disc.load_state_dict(ckpt["discriminator"]["state"])
        return "generator and discriminator"
    except (KeyError, RuntimeError):
        return "generator (the discriminator's shapes differ, so D starts fresh)"


# ------------------------------------------------------------------------------- run


def corpus_nll(gen: Generator, rows: torch.Tensor) -> float:
    """NLL in nats per token over all rows: every token up to and including <eos> counts once.
    Distributed: each process scores its share of the rows; the sums are reduced."""
    mine = dist.shard(rows)
    per_seq = sequence_nll(gen, mine)                      # (n,) mean per token of each row
    counts = gen.valid_mask(mine).sum(dim=1).double()      # (n,) tokens of each row, <eos> included
    total, tokens = dist.all_reduce_sum(torch.stack([(per_seq * counts).sum(), counts.sum()])).tolist()
    return total / tokens


@dataclass
class RealDataRun(Run):
    """The hooks of an algorithm on real data: NLL of training and held-out rows, D's accuracy, the
    samples' length, and decoded text samples."""

    corpus: Corpus | None = None
    probe: torch.Tensor | None = None  # (P, T) fixed training rows for eval/nll_train

    def nlls(self) -> dict[str, float]:
        out = {"eval/nll_train": corpus_nll(self.models.gen, self.probe)}
        if self.corpus.valid is not None:
            out["eval/nll_test"] = corpus_nll(self.models.gen, self.corpus.valid)
        return out

    def evaluate(self, with_nll: bool = True) -> dict[str, float]:
        """NLL on held-out and training rows; D's accuracy on real (held-out if given, then also on training
        rows) and fresh generated rows; the mean length of the generated sequences (tokens before <eos>)."""
        e, gen = self.cfg.eval, self.models.gen
        out = self.nlls() if with_nll else {}
        pool = self.corpus.valid if self.corpus.valid is not None else self.corpus.train
        n = dist.share(e.d_samples)  # each process its share, from its own stream
        real = pool[torch.randint(pool.shape[0], (n,), generator=self.eval_rng, device=pool.device)]
        fake = gen.sample(n, generator=self.eval_rng)
        if self.d_in_play() and self.corpus.valid is None:
            out["disc/acc_real"], out["disc/acc_fake"] = d_accuracy(self.models.disc, real, fake)
        elif self.d_in_play():  # and on training rows: well above acc_real, D has learnt its rows, not the language
            seen = dist.shard(self.probe[:e.d_samples])
            out["disc/acc_real"], out["disc/acc_fake"], out["disc/acc_train"] = d_accuracy(
                self.models.disc, real, fake, seen)
        out["eval/sample_len"] = dist.mean((~gen.ended(fake)).sum(dim=1).double())  # tokens before <eos>
        return out

    def final_evaluation(self, name: str) -> None:
        """NLL-train and NLL-test into the summary, and ``eval.final_samples`` decoded samples."""
        for key, value in self.nlls().items():
            self.summary.setdefault(key.split("/")[1], {})[name] = value
        rows = dist.gather_rows(self.models.gen.sample(dist.share(self.cfg.eval.final_samples),
                                                       generator=self.eval_rng))
        if dist.is_main():
            lines = detokenize_all(decode_rows(rows, self.corpus.vocab, self.corpus.tok), self.corpus.tok)
            write_lines(self.out / "samples" / f"{name}.txt", lines)
            nll = self.summary.get("nll_test", self.summary["nll_train"])[name]
            print(f"after {'MLE pre-training' if name == 'mle' else self.algorithm.label}: NLL-"
                  f"{'test' if 'nll_test' in self.summary else 'train'} {nll:.4f} nats/token; "
                  f"{len(lines)} samples in samples/{name}.txt", file=sys.stderr, flush=True)

    def task_payload(self) -> dict[str, Any]:
        """The vocabulary and tokenizer (a subword model too) in place of the oracle."""
        return {"oracle": None, "vocab": self.corpus.vocab.to_dict(), "tokenizer": self.corpus.tokenizer,
                "data_stats": self.corpus.stats, **tokenizer_entry(self.corpus.tok)}


DATA_DECIDES = {"model.vocab_size": "comes from the data's vocabulary", "model.start_token": "is <eos> (id 1) with real data"}


def prepare(cfg: Config, tok: Tokenizer | None = None) -> tuple[Config, Corpus]:
    """Read the data, then fix model.vocab_size (from the vocabulary) and model.start_token (<eos>)."""
    corpus = load_corpus(cfg, tok)
    cfg.model.vocab_size = len(corpus.vocab)
    cfg.model.start_token = EOS_ID
    return cfg.validate(), corpus


def open_run_dir(out: str | Path, cfg: Config, corpus: Corpus, resume: bool, overwrite: bool,
                 init: str | Path | None) -> tuple[Path, dict | None, dict | None]:
    """Rank 0's part of starting a run (through ``dist.on_main``): the --init-from checkpoint (checked
    before the run directory is touched), the run directory, the checkpoint to resume from, config.json
    and the vocabulary. Returns (out, checkpoint to resume or None, --init-from checkpoint or None)."""
    source = None
    if init is not None and overwrite and Path(init).resolve().is_relative_to(Path(out).resolve()):
        raise SeqGANError(f"--init-from {init} lies in --out {out}, which --overwrite empties; copy it elsewhere "
                          "first, or choose another --out")
    doomed = {p.resolve() for p in run_files(Path(out))} if overwrite and holds_run(out) else set()
    for flag, path in (("--data", cfg.data.train_path), ("--valid", cfg.data.valid_path)):
        if path and Path(path).resolve() in doomed:
            raise SeqGANError(f"{flag} {path} is a file of the run in --out {out}, which --overwrite removes; copy it "
                              "elsewhere first, or choose another --out")
    if init is not None:
        source = load_checkpoint(init, need=("generator",))
        check_vocab(source, corpus, Path(init), "--init-from")
        g = source["generator"].get("config")
        if not isinstance(g, dict) or "emb_dim" not in g:
            raise SeqGANError(f"--init-from {init}: the checkpoint is damaged (its generator has no config); give "
                              "another checkpoint")
        if "hidden_dim" not in g:  # not an LSTM G: e.g. RelGAN's relational memory
            raise SeqGANError(f"--init-from {init}: its generator is not an LSTM (it has no hidden size: "
                              f"{', '.join(sorted(g))}); start from a checkpoint of an LSTM run")
        if (g["emb_dim"], g["hidden_dim"]) != (cfg.model.g_emb_dim, cfg.model.g_hidden_dim):
            raise SeqGANError(
                f"--init-from {init}: its generator has embedding {g['emb_dim']} and hidden size {g['hidden_dim']}, "
                f"this run's has {cfg.model.g_emb_dim} and {cfg.model.g_hidden_dim}; use the same preset or "
                "--set model.g_emb_dim=... model.g_hidden_dim=...")
    out = prepare_out_dir(out, resume=resume, overwrite=overwrite, writes=("data/vocab.json", "data/tokenizer.model"))
    ckpt = None
    if resume:
        ckpt = load_checkpoint(out / "checkpoints" / "latest.pt", need=("config",))
        # a changed flag first (--max-len, --fixed-length, ...: it changes the rows too), then the data itself;
        # the vocabulary's size comes from the data, so check_vocab speaks for it
        check_resume_config(ckpt["config"], cfg, out, "checkpoint", ignore=frozenset({"model.vocab_size"}))
        check_vocab(ckpt, corpus, out / "checkpoints" / "latest.pt", "--resume")
        check_same_data(ckpt.get("data_stats") or {}, corpus.stats, out)
    write_json(out / "config.json", cfg.to_dict())
    (out / "data").mkdir(exist_ok=True)
    write_json(out / "data" / "vocab.json", corpus.vocab.to_dict())
    save_model(out / "data", corpus.tok)  # bpe / unigram: data/tokenizer.model, for sentencepiece itself
    return out, ckpt, source


def run(cfg: Config, out: str | Path, *, resume: bool = False, overwrite: bool = False,
        init: str | Path | None = None, progress: bool = True, tensorboard: bool = True,
        resume_hint: str | None = None) -> dict[str, Any]:
    """Train on the real corpus of ``cfg.data`` into ``out``; returns the summary (also summary.json).
    Under torchrun every process calls this and reads the data files itself (give them on every node)."""
    if init is not None and resume:
        raise SeqGANError("--init-from starts a new run from another run's weights; --resume continues this one: "
                          "give only one of them")
    device = setup_torch(cfg)  # joins a torchrun job, which on_main needs; draws nothing from the seeded RNGs
    stored = dist.on_main(stored_tokenizer, cfg, Path(out) / "checkpoints" / "latest.pt") if resume else None
    cfg, corpus = prepare(cfg, stored and SubwordTokenizer.from_dict(stored))  # data errors before the run dir
    for rows, what in ((corpus.train, "the rows of --data"), (corpus.valid, "the rows of --valid")):
        if rows is not None:  # every node reads its own copy of the files
            dist.check_same(rows, what)
    main = dist.is_main()
    if main:
        print(describe(corpus.stats, cfg), file=sys.stderr, flush=True)
    out, ckpt, source = dist.on_main(open_run_dir, out, cfg, corpus, resume, overwrite, init)
    corpus.train = corpus.train.to(device)
    corpus.valid = None if corpus.valid is None else corpus.valid.to(device)
    algorithm = get_algorithm(cfg.train.algorithm)
    models = build_models(cfg, algorithm, device)

    logger = MetricsLogger(out if main else None, tensorboard=tensorboard, resume=resume,
                           step_phases=algorithm.d_only_phases)
    bar = Progress(enabled=progress and main)
    probe_idx = torch.randperm(corpus.train.shape[0], generator=seeded_generator(cfg.seed, 3, torch.device("cpu")))
    state = RealDataRun(cfg, algorithm, out, models, corpus.train, logger, bar, Interrupt(),
                        seeded_generator(dist.rank_seed(cfg.seed), 2, device), corpus=corpus,
                        probe=corpus.train[probe_idx[:cfg.eval.num_samples].to(device)])
    if ckpt is None:
        if source is not None:
            loaded = init_from(models, source, Path(init))
            state.summary["init_from"] = {"checkpoint": str(init), "loaded": loaded}
            if main:
                print(f"--init-from {init}: loaded the {loaded}", file=sys.stderr)
        logger.text("config", "```\n" + cfg.dumps() + "\n```")
        logger.text("data", describe(corpus.stats, cfg))
        state.summary["data"] = corpus.stats
        # Epoch 0: the untrained generator (the "Random" baseline), or the --init-from weights.
        record = state.evaluate()
        for key in ("nll_train", "nll_test"):
            if f"eval/{key}" in record:
                state.summary.setdefault(key, {})["random" if init is None else "init"] = record[f"eval/{key}"]
        logger.log({"phase": "mle", "step": 0, "epoch": 0, **record, "time/elapsed_s": 0.0})
        start = state.at("mle", 0)
        state.save(start)  # a run killed before its first periodic checkpoint resumes from here, exactly
    else:
        start = state.position = state.restore(ckpt)
    if start.phase != "done":
        bar.begin(start.phase, state.phase_total(start.phase), start.step)
    state.run_algorithm(start, resume=resume_hint or f"{launcher()}seqgan train --resume --out {out}")
    return state.finish(device, "nll.png", {"NLL-test (held-out data)": "eval/nll_test", "NLL-train": "eval/nll_train"},
                        "NLL (nats per token)", "Real data: NLL learning curves")


# ------------------------------------------------------------------------------- CLI


def add_data_args(p: argparse.ArgumentParser) -> None:
    """The flags that say what the data is and how it is read."""
    p.add_argument("--tokenizer", choices=sorted(TOKENIZERS),
                   help="char: every character is a token; word: whitespace split; ids: space-separated integers; "
                        "bpe, unigram: subword pieces learnt from --data (give --vocab-size)")
    p.add_argument("--vocab-size", type=int, metavar="N",
                   help="bpe, unigram: the vocabulary size to learn, <pad>/<eos>/<unk> included (sets data.max_vocab)")
    p.add_argument("--max-len", type=int, metavar="L",
                   help="sequence length T of the models, <eos> included: a line keeps at most L-1 tokens "
                        "(with --fixed-length: exactly L tokens, no <eos>)")
    p.add_argument("--fixed-length", action="store_true", default=None,
                   help="every line has (at least) L tokens: no <eos>, fixed-length sequences as in the paper's "
                        "poems and music tasks")
    p.add_argument("--min-count", type=int, help="a token needs this many occurrences for its own id (default 1)")
    p.add_argument("--max-vocab", type=int, help="largest vocabulary, <pad>/<eos>/<unk> included (default: no limit)")
    p.add_argument("--long-lines", choices=("truncate", "skip"),
                   help="lines with more than L-1 tokens: cut them (default) or leave them out; both are counted")


def data_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {"model.seq_len": args.max_len, "data.tokenizer": args.tokenizer, "data.min_count": args.min_count,
            "data.max_vocab": vocab_size_flag(args), "data.long_lines": args.long_lines,
            "data.fixed_length": args.fixed_length}


def add_parser(sub) -> None:
    from seqgan.experiments.args import add_config_args

    p = sub.add_parser("train", help="SeqGAN on your own corpus (one sequence per line)",
                       description="Vocabulary from --data -> MLE pre-training -> D pre-training -> Algorithm 1, "
                                   "with NLL on --valid (NLL-test) logged in place of NLL-oracle. --preset fast "
                                   "means presets/text_fast.toml (the default), as in paper-task.")
    p.add_argument("--data", metavar="FILE", help="training corpus: UTF-8, one sequence per line (required but "
                   "with --resume, which takes the run's)")
    p.add_argument("--valid", metavar="FILE", help="held-out corpus for eval/nll_test (same format)")
    add_data_args(p)
    p.add_argument("--init-from", metavar="CKPT",
                   help="start from the weights of another run's checkpoint (same vocabulary), e.g. its mle.pt")
    p.add_argument("--algorithm", choices=list(ALGORITHMS),
                   help="what trains after the shared pre-training (default seqgan; sets train.algorithm)")
    add_config_args(p, default_preset="text_fast")  # --preset fast means text_fast here (TEXT_PRESETS)
    p.set_defaults(func=main)


TEXT_PRESETS = {"fast": "text_fast"}  # the synthetic `fast` preset (its 1,720-filter D, 20,000 samples) is not for text


def main(args: argparse.Namespace) -> int:
    from seqgan.experiments.args import config_from_args, refuse_overrides

    missing = [flag for flag, value in (("--data", args.data), ("--tokenizer", args.tokenizer),
                                        ("--max-len", args.max_len)) if value is None]
    if missing and not args.resume:
        raise SeqGANError(f"give {', '.join(missing)} (only --resume takes {'it' if len(missing) == 1 else 'them'} "
                          "from the run)")
    paths = {"data.train_path": str(Path(args.data).resolve()) if args.data else None,
             "data.valid_path": str(Path(args.valid).resolve()) if args.valid else None}
    args.preset = TEXT_PRESETS.get(args.preset, args.preset)  # as paper-task: `fast` is the synthetic task's
    if args.resume and args.init_from is None and not dist.launched():  # before the data are read (under
        check_resumable(args.out)                                         # torchrun: when rank 0 opens it)
    flags = {"model.seq_len": "--max-len", "data.tokenizer": "--tokenizer", "data.min_count": "--min-count",
             "data.max_vocab": "--max-vocab / --vocab-size", "data.long_lines": "--long-lines",
             "data.fixed_length": "--fixed-length"}  # a flag given beats --set: say so, not silently
    given = {**data_flags(args), "train.algorithm": args.algorithm, "data.train_path": args.data,
             "data.valid_path": args.valid}
    flags |= {"train.algorithm": "--algorithm", "data.train_path": "--data", "data.valid_path": "--valid"}
    refuse_overrides(args, {**DATA_DECIDES, **{k: f"is given by {flags[k]}" for k, v in given.items()
                                               if v is not None}})  # before flag_names() renames the keys
    with flag_names(), out_of_space(args.out):
        cfg = config_from_args(args, **paths, **data_flags(args), **{"train.algorithm": args.algorithm})
        if args.resume and cfg.data.train_path is None and (Path(args.out) / "config.json").is_file():
            raise SeqGANError(f"{args.out} is a run of the synthetic task (it has no data.train_path): resume it "
                              f"with seqgan oracle --resume --out {args.out}")
        if not args.resume:  # a run begun before a setting was refused goes on as it began
            get_algorithm(cfg.train.algorithm).check(cfg)
        for flag, given, path in (("--data", args.data, cfg.data.train_path), ("--valid", args.valid, cfg.data.valid_path)):
            if args.resume and given is None and path is not None and not Path(path).exists():
                raise SeqGANError(f"the run's {flag} file {path} does not exist; if it moved, give its new place: "
                                  f"--resume {flag} NEWPATH (the rows must be the same)")
        if cfg.data.valid_path is not None and cfg.data.valid_path == cfg.data.train_path:
            print("seqgan train: warning: --valid is the --data file, so NLL-test is NLL on the training rows",
                  file=sys.stderr)
        summary = run(cfg, args.out, resume=args.resume, overwrite=args.overwrite, init=args.init_from,
                      progress=not args.no_progress)
    if not dist.is_main():
        return 0
    key = "nll_test" if "nll_test" in summary else "nll_train"
    print(f"\n| model | NLL-{key[4:]} (nats/token) |\n|---|---|")
    algorithm = get_algorithm(cfg.train.algorithm)
    final = algorithm.final_sample_name or algorithm.name
    last = algorithm.label if final == algorithm.name else f"{algorithm.label} ({final})"  # as seqgan oracle's
    for name, label in (("random", "Random (untrained G)"), ("init", "--init-from"), ("mle", "MLE"), (final, last)):
        if name in summary[key]:
            print(f"| {label} | {summary[key][name]:.4f} |")
    print(f"\nwall time {summary['timings_s']['total']:.0f} s; results in {args.out}")
    return 0
