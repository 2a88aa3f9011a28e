"""Benchmark the discriminator's conv block at the paper's shapes.

Prints, with ``torch.set_num_threads(2)``:

* a 2048x2048 matmul in fp32 and bf16 (the machine's ceiling, measured in the same run);
* one D training epoch (20,000 sequences in batches of 64) of the conv block alone --
  embedding lookup, conv + ReLU + max-pool, backward to embedding, weights and biases, and an
  Adam step on all of them -- for the plain ``F.conv1d`` reference and for
  :func:`seqgan.models.conv.conv_relu_maxpool`, in fp32 and under bf16 autocast;
* scoring one generator update's roll-outs (19,520 sequences) with D frozen: the reference
  conv forward, ``conv_relu_maxpool`` forward, and :class:`ConvTables` (with its build time).

Times are wall-clock medians (and minima) over ``--repeats`` runs after a warm-up; on a shared
machine the minimum is the better estimate of the uncontended time.  GFLOP/s use the plain
method's count: ``2 * sum_w (L-w+1) * w * E * F_w`` per sequence forward, three times that for
forward + backward, whatever the method does -- so for the sparse backward and the tables they
are "effective" rates and can exceed the machine's ceiling.

Usage: ``python benchmarks/bench_conv.py [--sequences 20000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from seqgan.allocator import keep_freed_memory
from seqgan.models.conv import ConvTables, conv_relu_maxpool, conv_relu_maxpool_reference
from seqgan.precision import flush_denormals

WIDTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
FILTERS = [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]
VOCAB, LENGTH, EMB, BATCH = 5000, 20, 64, 64
ROLLOUT_SEQUENCES = 64 * (16 * 19 + 1)  # 19,520: 16 roll-outs per prefix length + the samples
FLOP_FWD = 2 * sum((LENGTH - w + 1) * w * EMB * f for w, f in zip(WIDTHS, FILTERS))


def timed(fn, repeats: int, warmup: int = 1) -> tuple[float, float, float]:
    """(median, min) wall seconds and median process CPU seconds of ``fn()`` over ``repeats``
    runs after ``warmup`` runs.  CPU time well below threads x wall means the machine was
    shared during the run."""
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def matmul_peak(repeats: int) -> dict[str, float]:
    out = {}
    n = 2048
    for name, dtype in [("fp32", torch.float32), ("bf16", torch.bfloat16)]:
        a = torch.randn(n, n).to(dtype)
        b = torch.randn(n, n).to(dtype)
        med, _, _ = timed(lambda: a @ b, max(repeats, 5), warmup=2)
        out[name] = 2 * n**3 / med / 1e9
    return out


def make_discriminator_params(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    emb = (torch.rand(VOCAB, EMB, generator=gen) * 2 - 1).requires_grad_()
    weights = [
        (torch.randn(f, EMB, w, generator=gen) * 0.1).clamp_(-0.2, 0.2).requires_grad_()
        for w, f in zip(WIDTHS, FILTERS)
    ]
    biases = [torch.full((f,), 0.1).requires_grad_() for f in FILTERS]
    return emb, weights, biases


def make_adam(params):
    """Adam, fused where this torch has the fused CPU kernel (torch >= 2.4): ~4x cheaper steps."""
    try:
        return torch.optim.Adam(params, lr=1e-4, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=1e-4)


def train_epoch(fn, tokens, params, projection, autocast: bool) -> None:
    emb, weights, biases = params
    opt = make_adam([emb, *weights, *biases])
    for batch in tokens.split(BATCH):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            pooled = fn(F.embedding(batch, emb), weights, biases)
        loss = (pooled.float() @ projection).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def score_conv(fn, tokens, emb, weights, biases, autocast: bool, chunk: int = 512) -> torch.Tensor:
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return torch.cat([fn(F.embedding(t, emb), weights, biases).float() for t in tokens.split(chunk)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=20000, help="sequences per training epoch")
    parser.add_argument(
        "--batches", type=int, default=0,
        help="time only this many batches per repeat and scale to the epoch (0: the whole epoch)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    keep_freed_memory()  # as training does (seqgan.experiments.common.setup_torch)
    flush_denormals()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; L={LENGTH} E={EMB} "
          f"V={VOCAB}, widths {WIDTHS}, {sum(FILTERS)} filters")
    print(f"plain forward: {FLOP_FWD / 1e6:.1f} MFLOP per sequence, x3 with backward")
    peak = matmul_peak(args.repeats)
    print(f"2048^2 matmul peak: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s")

    # ---- training epoch -------------------------------------------------------------------
    tokens = torch.randint(0, VOCAB, (args.sequences, LENGTH))
    timed_tokens = tokens[: args.batches * BATCH] if args.batches else tokens
    scale = len(tokens) / len(timed_tokens)
    projection = torch.randn(sum(FILTERS)) / sum(FILTERS) ** 0.5
    flop_epoch = 3 * FLOP_FWD * args.sequences
    print(f"\nD training epoch, conv block only ({args.sequences} sequences, batch {BATCH}, "
          f"Adam on embedding + conv weights + biases"
          + (f"; {len(timed_tokens) // BATCH} batches timed, scaled" if scale != 1 else "") + "):")
    epoch = {}
    for name, fn in [("reference", conv_relu_maxpool_reference), ("conv_relu_maxpool", conv_relu_maxpool)]:
        for prec, autocast in [("fp32", False), ("bf16", True)]:
            params = make_discriminator_params()
            train_epoch(fn, tokens[: 8 * BATCH], params, projection, autocast)  # warm-up
            med, best, cpu = timed(
                lambda: train_epoch(fn, timed_tokens, params, projection, autocast), args.repeats, warmup=0
            )
            med, best, cpu = med * scale, best * scale, cpu * scale
            epoch[name, prec] = med
            ceiling = peak[prec]
            print(f"  {name:18s} {prec}: {med:6.2f} s/epoch (min {best:5.2f}, cpu {cpu:5.2f})  "
                  f"{flop_epoch / med / 1e9:6.1f} GFLOP/s plain-equivalent "
                  f"({100 * flop_epoch / med / 1e9 / ceiling:4.0f}% of the {prec} matmul peak)")
    for prec in ("fp32", "bf16"):
        print(f"  speed-up {prec}: {epoch['reference', prec] / epoch['conv_relu_maxpool', prec]:.2f}x")

    # ---- frozen-D scoring of the roll-outs ---------------------------------------------------
    emb, weights, biases = make_discriminator_params(1)
    emb, weights, biases = emb.detach(), [w.detach() for w in weights], [b.detach() for b in biases]
    rollouts = torch.randint(0, VOCAB, (ROLLOUT_SEQUENCES, LENGTH))
    flop_score = FLOP_FWD * ROLLOUT_SEQUENCES
    print(f"\nScoring {ROLLOUT_SEQUENCES} roll-out sequences with D frozen (conv block only):")
    results = {}
    for name, fn in [("reference", conv_relu_maxpool_reference), ("conv_relu_maxpool", conv_relu_maxpool)]:
        for prec, autocast in [("fp32", False), ("bf16", True)]:
            med, best, cpu = timed(lambda: score_conv(fn, rollouts, emb, weights, biases, autocast), args.repeats)
            results[name, prec] = med
            print(f"  {name:18s} {prec}: {med:6.3f} s (min {best:6.3f}, cpu {cpu:6.3f})  "
                  f"{flop_score / med / 1e9:6.1f} GFLOP/s")
    want = score_conv(conv_relu_maxpool, rollouts, emb, weights, biases, False)
    for prec, dtype in [("fp32", torch.float32), ("bf16", torch.bfloat16)]:
        build_med, _, _ = timed(lambda: ConvTables.build(emb, weights, biases, dtype=dtype), args.repeats)
        tables = ConvTables.build(emb, weights, biases, dtype=dtype)
        med, best, cpu = timed(lambda: tables.pooled(rollouts), args.repeats)
        err = (tables.pooled(rollouts) - want).abs().max().item()
        results["tables", prec] = med
        print(f"  ConvTables {prec} tables: {med:6.3f} s (min {best:6.3f}, cpu {cpu:6.3f})  "
              f"{flop_score / med / 1e9:6.1f} GFLOP/s effective; build {build_med:.3f} s; "
              f"{tables.nbytes / 1e6:.0f} MB; max |diff| vs conv {err:.1e}")
    ref = results["reference", "fp32"]
    print(f"  tables fp32 vs reference fp32: {ref / results['tables', 'fp32']:.1f}x, "
          f"vs conv_relu_maxpool fp32: {results['conv_relu_maxpool', 'fp32'] / results['tables', 'fp32']:.1f}x, "
          f"vs conv_relu_maxpool bf16: {results['conv_relu_maxpool', 'bf16'] / results['tables', 'fp32']:.1f}x")


if __name__ == "__main__":
    main()
