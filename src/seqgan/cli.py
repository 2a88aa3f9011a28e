"""``seqgan <command>``: parse the command line, then call the experiment.

Each command is ``main(argv) -> exit code`` so that tests can call it in-process. A
:class:`~seqgan.errors.SeqGANError` becomes one line on stderr and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from seqgan import distributed
from seqgan.config import PRESETS, resolve
from seqgan.errors import SeqGANError
from seqgan.experiments.common import Interrupted
from seqgan.precision import PRECISIONS

Command = Callable[[argparse.Namespace], int]


def add_config_args(p: argparse.ArgumentParser, default_preset: str = "fast") -> None:
    """Flags shared by every training command; precedence: --set > --config > --preset."""
    p.add_argument("--preset", default=default_preset, help=f"named preset: {', '.join(PRESETS)} "
                   f"(default: {default_preset}); see src/seqgan/presets/*.toml")
    p.add_argument("--config", metavar="FILE", help="TOML file of settings; overrides the preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set train.rollouts=8 (repeatable; beats --config)")
    p.add_argument("--seed", type=int, help="seed of every random draw (default 0)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--threads", type=int, help="CPU threads for torch, per process (default: one per core; "
                   "under torchrun 1 unless given)")
    p.add_argument("--precision", choices=PRECISIONS, help="training number format: fp32 (default) or bf16 "
                   "(autocast; changes the numbers, evaluation stays fp32); sets train.precision")
    p.add_argument("--out", required=True, metavar="DIR", help="run directory to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace, **extra):
    return resolve(args.preset, args.config, args.overrides, seed=args.seed, device=args.device,
                   threads=args.threads, **{"train.precision": args.precision}, **extra)


# ---------------------------------------------------------------------------- oracle


def oracle_parser(sub) -> None:
    p = sub.add_parser("oracle", help="the paper's synthetic experiment (NLL-oracle, Figure 2)",
                       description="Oracle LSTM -> training set -> MLE pre-training -> D pre-training -> "
                                   "Algorithm 1; NLL-oracle after MLE and after SeqGAN.")
    add_config_args(p)
    p.add_argument("--oracle-params", metavar="FILE",
                   help="the authors' target_params.pkl (default: a fresh N(0,1) oracle from the seed)")
    p.set_defaults(func=oracle_main)


def oracle_main(args: argparse.Namespace) -> int:
    from seqgan.experiments import oracle

    cfg = config_from_args(args, **{"data.oracle_params": args.oracle_params})
    summary = oracle.run(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                         progress=not args.no_progress)
    if not distributed.is_main():
        return 0
    nll, test = summary["nll_oracle"], summary.get("nll_test", {})  # a run begun before NLL-test lacks some
    print("\n| model | NLL-oracle (nats/token) | NLL-test |\n|---|---|---|")
    for name, label in (("random", "Random (untrained G)"), ("mle", "MLE"), ("seqgan", "SeqGAN")):
        if name in nll:
            print(f"| {label} | {nll[name]:.4f} | {f'{test[name]:.4f}' if name in test else ''} |")
    print(f"\nwall time {summary['timings_s']['total']:.0f} s; results in {args.out}")
    return 0


# ------------------------------------------------------------------------------ main

def _lazy(module: str):
    """The add_parser of an experiment module (imported when the parser is built)."""
    def add(sub) -> None:
        import importlib

        importlib.import_module(f"seqgan.experiments.{module}").add_parser(sub)
    return add


PARSERS = [oracle_parser, _lazy("table1"), _lazy("strategy"), _lazy("train"), _lazy("sample"),
           _lazy("evaluate"), _lazy("data_cmd"), _lazy("paper_task"), _lazy("sweep")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqgan", description="SeqGAN (Yu et al., AAAI 2017) in PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in PARSERS:
        add(sub)
    return parser


DISTRIBUTED = ("oracle", "table1", "strategy", "train")
"""The commands that train with several processes under torchrun (see seqgan.distributed)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if distributed.launched() and args.command not in DISTRIBUTED:
            raise SeqGANError(f"seqgan {args.command} runs in one process; start it without torchrun (the commands "
                              f"for torchrun are {', '.join(DISTRIBUTED)})")
        code = args.func(args)
        distributed.barrier()  # every process finishes before any leaves the group
        return code
    except SeqGANError as exc:
        if not isinstance(exc, distributed.MainProcessError):  # rank 0 prints the error it shares
            print(f"{distributed.log_prefix()}seqgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        if distributed.is_main():
            print(f"seqgan {args.command}: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{distributed.log_prefix()}seqgan {args.command}: stopped at once; the last checkpoint in --out "
              "is intact", file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()  # leave the process group of a torchrun launch (nothing otherwise)


if __name__ == "__main__":
    sys.exit(main())
