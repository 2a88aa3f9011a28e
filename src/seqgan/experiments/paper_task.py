"""``seqgan paper-task``: the paper's real-data Tables 2-4 (and Texygen's COCO benchmark), end to end.

1. Fetch the corpus (``seqgan data``): train.txt and the held-out test.txt.
2. ``seqgan train`` on train.txt (test.txt as the validation file for NLL-test): MLE pre-training,
   D pre-training, Algorithm 1. MLE and SeqGAN thus start from the same pre-trained generator:
   the *MLE* model is the generator at the end of pre-training (``checkpoints/mle.pt``), the
   *SeqGAN* model is that generator after adversarial training (``checkpoints/adversarial.pt``).
3. Sample as many sequences from each as there are test sequences, each model from its own random
   stream: with one stream for both, sample i of each shares its uniforms, the two sets' scores are
   correlated, and Welch's test (which assumes independent sets) gives too large a p-value.
4. Score MLE samples, SeqGAN samples and the held-out test sequences ("real data") the same way,
   against the training set as references, with the paper's metrics; Welch's t-test on the
   per-sequence scores gives the p-value of SeqGAN against MLE.

The paper scores poems against its test set; here every row is scored against the training set,
so that the held-out real data can be a row of the same table (it cannot be its own reference).
"""

from __future__ import annotations

import argparse
import copy
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from seqgan.data.corpora import CORPORA
from seqgan.data.text import load_lines
from seqgan.errors import SeqGANError
from seqgan.experiments import train
from seqgan.experiments.args import config_from_args, refuse_overrides
from seqgan.experiments.common import write_json
from seqgan.experiments.run_dir import first_names, prepare_out_dir, seqgan_config
from seqgan.experiments.data_cmd import add_fetch_args, fetch_corpus
from seqgan.experiments.evaluate import (Scorer, fmt, fmt_p, p_values, summarize, tokenize_lines,
                                         write_per_sequence)
from seqgan.experiments.run import launcher
from seqgan.experiments.sample import sample_lines, write_lines
from seqgan.seeding import hash_seed

#: The paper's metrics per task (Tables 2-4); coco: Texygen's BLEU-2..5.
TASKS: dict[str, dict[str, Any]] = {
    "poems": {"bleu": (2,), "mse": False, "table": "Table 2 (Chinese poems)"},
    "speech": {"bleu": (3, 4), "mse": False, "table": "Table 3 (Obama speeches; here State of the Union)"},
    "music": {"bleu": (4,), "mse": True, "table": "Table 4 (Nottingham music; here music21's folk tunes)"},
    "coco": {"bleu": (2, 3, 4, 5), "mse": False, "table": "Texygen's MS-COCO captions benchmark"},
}
#: What the paper reports, for the reader's comparison (different data; see docs/real_data.md).
PAPER = {
    "poems": {"MLE": {"bleu2": 0.6670}, "SeqGAN": {"bleu2": 0.7389}, "real data": {"bleu2": 0.746}},
    "speech": {"MLE": {"bleu3": 0.519, "bleu4": 0.416}, "SeqGAN": {"bleu3": 0.556, "bleu4": 0.427}},
    "music": {"MLE": {"bleu4": 0.9210, "mse": 22.38}, "SeqGAN": {"bleu4": 0.9406, "mse": 20.62}},
}
FIXED_LENGTH = ("poems", "music")  # the paper's poems (20 characters) and music (32 pitches) have one length
PRESET_ALIASES = train.TEXT_PRESETS  # the synthetic `fast` preset is not tuned for real data
ROWS = (("MLE", "mle"), ("SeqGAN", "seqgan"), ("real data", None))


def table(corpus: str, result: dict[str, Any]) -> str:
    """The Markdown table: one row per model and the real data, the metrics, then the p-values."""
    names = result["metrics"]
    head = ["model", *[n.replace("bleu", "BLEU-").replace("self_BLEU-", "Self-BLEU-").replace("mse", "MSE")
                       for n in names], "NLL-test"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label, _ in ROWS:
        row = result["rows"][label]
        cells = [fmt(row["metrics"][n]["mean"]) for n in names]
        nll = row.get("nll_test")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {fmt(nll) if nll is not None else ''} |")
    lines.append("| p-value (SeqGAN vs MLE, Welch) | " + " | ".join(fmt_p(result["p_values"][n]) for n in names)
                 + " | |")
    return "\n".join(lines)


OWN_FILES = ("table.md", "results.json", "per_sequence.csv", "samples")  # beside run/, written at the end
HINT_FLAGS = ("cache", "source", "simplified", "president", "since", "unit", "min_tokens", "limit", "split_seed",
              "variable_length", "num_samples")  # the flags that choose the data or the scoring, not the run


def open_task_dir(out: Path, args: argparse.Namespace, checked: bool = False) -> None:
    """--out holds a paper-task (its run/ and the files above) or nothing: never a user's other files. Once
    the flags are ``checked``, a new run (--overwrite) drops the old table, so a failed run cannot leave it
    beside the new one (the run's lock is taken first)."""
    theirs = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if theirs and seqgan_config(out / "run" / "config.json") is None:  # a folder of theirs named run/ is no task
        raise SeqGANError(f"--out {out} holds other files ({first_names(theirs)}) "
                          "and no paper-task run; choose a new or empty directory")
    if checked and args.overwrite and not args.resume and (out / "run").is_dir():
        prepare_out_dir(out / "run", overwrite=True)
        for name in OWN_FILES:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)


def resume_hint(corpus: str, out: Path, args: argparse.Namespace) -> str:
    """What an interrupted paper-task prints: this command again with --resume (train's hint would skip the table)."""
    parts = [f"{launcher()}seqgan paper-task {corpus} --resume"]
    for dest in HINT_FLAGS:
        value, flag = getattr(args, dest, None), "--" + dest.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif value not in (None, False) and not (dest == "split_seed" and value == 0):
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts + [f"--out {shlex.quote(str(out))}"])


def run_task(corpus: str, out: str | Path, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    out = Path(out)
    spec = TASKS[corpus]
    info = CORPORA[corpus]
    refuse_overrides(args, {**train.DATA_DECIDES, "model.seq_len": "is the task's (its corpus's length)",
                            "data.tokenizer": "is the task's", "data.train_path": "is the task's corpus",
                            "data.valid_path": "is the task's test split",
                            "data.fixed_length": "is the task's (--variable-length turns it off)"})
    open_task_dir(out, args)
    entry = fetch_corpus(corpus, args, progress=not args.no_progress)
    fixed = corpus in FIXED_LENGTH and not args.variable_length
    run_args = copy.copy(args)  # --resume reads run/config.json, so that --resume --out DIR needs no other flag
    run_args.out = str(out / "run")
    run_args.preset = PRESET_ALIASES.get(args.preset, args.preset)
    run_args.default_preset = PRESET_ALIASES.get(args.default_preset, args.default_preset)
    cfg = config_from_args(run_args, **{"data.train_path": str((entry / "train.txt").resolve()),
                                        "data.valid_path": str((entry / "test.txt").resolve()),
                                        "data.fixed_length": fixed, "data.tokenizer": info.tokenizer,
                                        "model.seq_len": info.max_len - 1 if fixed else info.max_len})
    if cfg.train.algorithm != "seqgan":
        raise SeqGANError(f"paper-task compares MLE with SeqGAN, as the paper's tables do; for train.algorithm="
                          f"{cfg.train.algorithm} use seqgan train --algorithm {cfg.train.algorithm}, then seqgan eval")
    open_task_dir(out, args, checked=True)
    preset = cfg.preset
    summary = train.run(cfg, out / "run", resume=args.resume, overwrite=args.overwrite,
                        progress=not args.no_progress, resume_hint=resume_hint(corpus, out, args))

    refs = tokenize_lines(load_lines(entry / "train.txt"), info.tokenizer, str(entry / "train.txt"))
    test_lines = load_lines(entry / "test.txt")
    n = args.num_samples or len(test_lines)
    scorer = Scorer(refs, spec["bleu"], (), spec["mse"])
    scores, rows = {}, {}
    for label, name in ROWS:
        if name is None:
            lines = test_lines
        else:
            ckpt = out / "run" / "checkpoints" / ("mle.pt" if name == "mle" else "adversarial.pt")
            lines = sample_lines(ckpt, n, seed=hash_seed("paper-task", cfg.seed, name), device=cfg.device)
            write_lines(out / "samples" / f"{name}.txt", lines)
        scores[label] = scorer.score(tokenize_lines(lines, info.tokenizer, label))
        rows[label] = {"sequences": len(lines), "empty": sum(1 for x in lines if not x),
                       "metrics": summarize(scores[label])}
        if name is not None:
            rows[label]["nll_test"] = summary["nll_test"][name]
    write_per_sequence(out / "per_sequence.csv", scores)
    result = {
        "corpus": corpus, "table": spec["table"], "data": str(entry), "preset": preset, "fixed_length": fixed,
        "metrics": scorer.names(), "references": f"training set ({len(refs)} sequences)",
        "rows": rows, "p_values": p_values(scores["SeqGAN"], scores["MLE"]),
        "p_values_real_vs_seqgan": p_values(scores["real data"], scores["SeqGAN"]),
        "paper": PAPER.get(corpus), "train_timings_s": summary["timings_s"],
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    write_json(out / "results.json", result)
    (out / "table.md").write_text(table(corpus, result) + "\n", encoding="utf-8")
    return result


def add_parser(sub) -> None:
    from seqgan.experiments.args import add_config_args

    p = sub.add_parser("paper-task", help="the paper's real-data tables (poems, speech, music) and COCO",
                       description="Fetch a corpus, train MLE and SeqGAN from one pre-trained generator, and print "
                                   "the paper's table: MLE, SeqGAN and held-out real data scored the same way, "
                                   "with Welch's t-test p-values. --preset fast means presets/text_fast.toml.")
    p.add_argument("corpus", choices=list(TASKS))
    add_fetch_args(p)
    p.add_argument("--num-samples", type=int, help="samples per model (default: as many as test sequences)")
    p.add_argument("--variable-length", action="store_true",
                   help="poems, music: end sequences with <eos> like text (default: fixed length, as the paper)")
    add_config_args(p, default_preset="fast")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.variable_length and args.corpus not in FIXED_LENGTH:  # before the corpus is fetched
        raise SeqGANError(f"--variable-length is for poems and music, whose sequences have one length; "
                          f"{args.corpus}'s sequences already end with <eos>: leave it out")
    if args.num_samples is not None and args.num_samples < 2:
        raise SeqGANError(f"--num-samples must be at least 2 (a t-test needs a variance), got {args.num_samples}")
    result = run_task(args.corpus, args.out, args)
    print(f"\n{result['table']}: references = {result['references']}, "
          f"{result['rows']['MLE']['sequences']} samples per model, {result['rows']['real data']['sequences']} "
          "held-out sequences\n")
    print(table(args.corpus, result))
    if result["paper"]:
        print("\npaper (different data and budget): " + "; ".join(
            f"{k}: " + ", ".join(f"{m} {v}" for m, v in vals.items()) for k, vals in result["paper"].items()))
    print(f"\nwall time {result['wall_time_s']:.0f} s; results in {args.out} (table.md, results.json, "
          "per_sequence.csv, samples/, run/)", file=sys.stdout)
    return 0
