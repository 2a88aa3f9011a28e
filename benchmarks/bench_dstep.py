"""Time one discriminator training step at the paper's shapes: this checkout against a git revision.

One step is what ``seqgan.train.discriminator.d_epochs`` does per batch: ``Discriminator.loss``
(embedding, conv block, highway, dropout, output, cross-entropy + L2), ``zero_grad``,
``backward``, ``clipped_step`` with no clipping (fused Adam).  The paper's D: vocabulary 5000,
length 20, embedding 64, widths 1..10, 15, 20 with 1,720 filters, batch 64.

The revision's ``models/conv.py``, ``Discriminator.head``/``loss`` and ``train/step.py`` are loaded
next to this checkout's, and the two variants run interleaved in one process on the same model,
data and seed, so their ratio is meaningful on a shared machine.  Prints min and median per step
(ms) of each, their ratio, and the per-part split (conv forward, head forward, backward, step).

Usage: ``PYTHONPATH=src python benchmarks/bench_dstep.py [--base 122bf32] [--threads 1] [--steps 40]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

import seqgan.models.discriminator as dmod
import seqgan.train.step as step_mod
from seqgan.allocator import keep_freed_memory
from seqgan.models.discriminator import Discriminator
from seqgan.precision import flush_denormals

WIDTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
FILTERS = [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]
ROOT = Path(__file__).resolve().parent.parent


def load_revision(rev: str, tmp: Path) -> types.SimpleNamespace:
    """The revision's conv module, Discriminator class and clipped_step, under private names."""
    mods = {}
    for key, rel in [("conv", "src/seqgan/models/conv.py"), ("disc", "src/seqgan/models/discriminator.py"),
                     ("step", "src/seqgan/train/step.py")]:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{rel}"], check=True,
                             capture_output=True, text=True).stdout
        path = tmp / f"_base_{key}.py"
        if key == "disc":  # its conv functions come from the revision's conv module
            src = src.replace("from seqgan.models.conv import", "from _base_conv import")
        path.write_text(src)
        spec = importlib.util.spec_from_file_location(f"_base_{key}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[f"_base_{key}"] = mod
        spec.loader.exec_module(mod)
        mods[key] = mod
    return types.SimpleNamespace(cls=mods["disc"].Discriminator, clipped_step=mods["step"].clipped_step)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="122bf32", help="git revision to compare against")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=40, help="timed steps per variant")
    ap.add_argument("--bf16", action="store_true", help="under bf16 autocast (as --precision bf16)")
    args = ap.parse_args()
    keep_freed_memory()  # as training does (seqgan.experiments.common.setup_torch): page faults and
    flush_denormals()    # denormals would otherwise weigh on the bf16 arm (docs/performance.md)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        base = load_revision(args.base, Path(tmp))
        torch.manual_seed(0)
        models = {"base": base.cls(5000, 20, 64, WIDTHS, FILTERS), "new": Discriminator(5000, 20, 64, WIDTHS, FILTERS)}
        models["new"].load_state_dict(models["base"].state_dict())
        steps = {"base": base.clipped_step, "new": step_mod.clipped_step}
        opts = {k: torch.optim.Adam(m.parameters(), lr=1e-4, fused=True) for k, m in models.items()}
        gen = torch.Generator().manual_seed(1)
        tokens = torch.randint(0, 5000, (args.steps + 5, 64, 20), generator=gen)
        labels = torch.randint(0, 2, (args.steps + 5, 64), generator=gen)
        times: dict[str, list[float]] = {k: [] for k in models}
        parts: dict[str, dict[str, list[float]]] = {k: {} for k in models}
        for i in range(args.steps + 5):
            for k in (["base", "new"] if i % 2 == 0 else ["new", "base"]):
                m, opt = models[k], opts[k]
                m.train()
                torch.manual_seed(i)  # same dropout masks for both
                ctx = torch.autocast("cpu", torch.bfloat16) if args.bf16 else torch.autocast("cpu", enabled=False)
                t0 = time.perf_counter()
                with ctx:
                    loss, _ = m.loss(tokens[i], labels[i])
                t1 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                t2 = time.perf_counter()
                steps[k](opt, m.parameters(), float("inf"))
                t3 = time.perf_counter()
                if i >= 5:
                    times[k].append(t3 - t0)
                    for name, v in [("forward", t1 - t0), ("backward", t2 - t1), ("clip+adam", t3 - t2)]:
                        parts[k].setdefault(name, []).append(v)
        for k in models:
            t = times[k]
            split = "  ".join(f"{n} {1e3 * min(v):.2f}" for n, v in parts[k].items())
            print(f"{k:5s} step min {1e3 * min(t):6.2f} ms  median {1e3 * statistics.median(t):6.2f} ms   ({split})")
        ratio_min = min(times["new"]) / min(times["base"])
        ratio_med = statistics.median(times["new"]) / statistics.median(times["base"])
        print(f"new/base: {ratio_min:.3f} (minima), {ratio_med:.3f} (medians); threads={args.threads}")
        diff = max((a - b).abs().max().item() for a, b in zip(models["base"].parameters(), models["new"].parameters()))
        print(f"max |parameter difference| after {args.steps + 5} steps: {diff:.3g}")


if __name__ == "__main__":
    main()
