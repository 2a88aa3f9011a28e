"""Time LeakGAN's MLE epochs with D's leaked features of S kept between epochs and without.

Pre-training runs several MLE epochs between D steps, so from the second epoch on every row's features
are read back (``seqgan.train.leakgan.FeatureCache``). Both variants start from the same weights, see the
same batches and run interleaved epoch by epoch; the script prints each epoch's seconds and whether
the two end with the same weights (they should, bit for bit where the BLAS gives a row of a product the
same bits whatever the other rows).

Usage: ``PYTHONPATH=src python benchmarks/bench_leakgan.py [--seqs 640] [--epochs 3] [--threads 1] [--preset fast]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from seqgan.config import resolve
from seqgan.experiments.run import build_models
from seqgan.precision import flush_denormals
from seqgan.train.leakgan import FeatureCache, mle_epoch
from seqgan.train.registry import get_algorithm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="fast", help="shapes of G and D (default: fast, the authors' shapes)")
    ap.add_argument("--seqs", type=int, default=640, help="sequences of S (random tokens; default 640 = 10 batches)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    flush_denormals()
    torch.set_num_threads(args.threads)
    cfg = resolve(args.preset, overrides=["train.algorithm=leakgan"])
    m = cfg.model
    real = torch.randint(0, m.vocab_size, (args.seqs, m.seq_len), generator=torch.Generator().manual_seed(0))
    variants = {}
    for name in ("without", "with"):
        torch.manual_seed(0)
        models = build_models(cfg, get_algorithm("leakgan"), torch.device("cpu"))
        cache = FeatureCache(args.seqs, cfg.leakgan.feature_cache_mb or 2048) if name == "with" else None
        variants[name] = (models, cache, [])
    for epoch in range(args.epochs):
        for name, (models, cache, times) in variants.items():
            start = time.perf_counter()
            mle_epoch(models, real, cfg.train.batch_size, cfg.leakgan.grad_clip,
                      generator=torch.Generator().manual_seed(epoch), cache=cache)
            times.append(time.perf_counter() - start)
    for name, (_, _, times) in variants.items():
        print(f"{name:>7} the cache: " + "  ".join(f"{t:6.2f} s" for t in times))
    later = [sum(v[2][1:]) for v in variants.values()]
    if args.epochs > 1:
        print(f"epochs 2..{args.epochs}: {later[0] / later[1]:.2f}x faster with the cache")
    a, b = (dict(v[0].gen.named_parameters()) for v in variants.values())
    same = all(torch.equal(a[n], b[n]) for n in a)
    worst = max((a[n] - b[n]).abs().max().item() for n in a)
    print(f"weights after {args.epochs} epochs: {'bit for bit the same' if same else f'differ by up to {worst:.2e}'}")


if __name__ == "__main__":
    main()
