"""``seqgan <command>``: parse the command line, then call the experiment.

Each command is a :data:`Command`, ``main(args) -> exit code``, so that tests can call it in-process. A
:class:`~seqgan.errors.SeqGANError` becomes one line on stderr and exit status 2, with no traceback; so
does a full disk (``OSError`` ENOSPC or EDQUOT) in any command, naming the directory and how to go on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import torch

from seqgan import distributed
from seqgan.checkpoint import NO_SPACE, no_space_error
from seqgan.errors import SeqGANError
from seqgan.precision import denormals_flushed, flush_denormals, ieee_fp32
from seqgan.experiments.common import Interrupt, Interrupted

Command = Callable[[argparse.Namespace], int]


# ------------------------------------------------------------------------------ main

def _lazy(module: str):
    """The add_parser of an experiment module (imported when the parser is built)."""
    def add(sub) -> None:
        import importlib

        importlib.import_module(f"seqgan.experiments.{module}").add_parser(sub)
    return add


PARSERS = [_lazy("oracle"), _lazy("table1"), _lazy("strategy"), _lazy("train"), _lazy("sample"),
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
    flushed, threads = denormals_flushed(), torch.get_num_threads()  # the caller's, put back at the end
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    flush_denormals()  # before torch's threads start: they inherit the setting (sampling, eval, training)
    ieee_fp32()  # every command, sample and sweep too: a GPU's float32 is not TF32
    Interrupt.carried = False  # a Ctrl-C that an earlier command in this process left unanswered is not this one's
    try:
        if distributed.launched() and args.command not in DISTRIBUTED:
            raise SeqGANError(f"seqgan {args.command} runs in one process; start it without torchrun (the commands "
                              f"for torchrun are {', '.join(DISTRIBUTED)})")
        if getattr(args, "resume", False) and getattr(args, "overwrite", False):
            raise SeqGANError("--resume continues the run in --out and --overwrite replaces it: give one of them")
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
    except OSError as exc:  # a full disk anywhere (metrics, TensorBoard, samples, plots): one line, for every command
        if exc.errno not in NO_SPACE:
            raise
        print(f"{distributed.log_prefix()}seqgan {args.command}: error: {no_space_error(exc, *_out_dir(args))}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = "; the last checkpoint in --out is intact" if hasattr(args, "resume") else ""  # commands that save
        print(f"{distributed.log_prefix()}seqgan {args.command}: stopped at once{kept}", file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()  # leave the process group of a torchrun launch (nothing otherwise)
        torch.set_flush_denormal(flushed)  # an in-process caller (a notebook, a test) keeps its own numerics
        torch.set_num_threads(threads)
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


def _out_dir(args: argparse.Namespace) -> tuple[Path | None, bool]:
    """The directory a command writes (its --out, or the folder of an --out file) and whether it takes --resume."""
    out = getattr(args, "out", None)
    if out is None:
        return None, hasattr(args, "resume")
    return (Path(out) if Path(out).is_dir() else Path(out).parent), hasattr(args, "resume")  # parent: sample --out FILE


if __name__ == "__main__":
    sys.exit(main())
