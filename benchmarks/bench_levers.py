"""Levers for D's training step at the paper's shapes, each against today's code, interleaved in one run.

    PYTHONPATH=src python benchmarks/bench_levers.py [--threads 2] [--repeats 25] [--compile]

* the machine's product rates at D's shapes (64 x 1720 x 1720, and one 64 x 1720 x 3440) in fp32 and bf16,
  its memory bandwidth (one 128 MB copy: Adam's ~200 MB of traffic a step runs at that rate), and a
  product fed denormal numbers with flushing off and on (``seqgan.precision.flush_denormals``);
* the highway + output head, forward and backward under bf16 autocast: today's ``Discriminator.head``
  against the two highway products as one 1720 x 3440 product with weights cast explicitly and laid
  out so that their gradients come out contiguous, and (``--compile``) ``torch.compile`` of the head;
* the convolution block, forward and backward under bf16 autocast: ``conv_relu_maxpool`` (per-width
  GEMMs, sparse arg-max backward) against ``conv_relu_maxpool_one_gemm`` (one padded GEMM, autograd).

Minima and medians in ms. docs/performance.md reads the results.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from seqgan.allocator import keep_freed_memory
from seqgan.models.conv import conv_relu_maxpool, conv_relu_maxpool_one_gemm
from seqgan.models.discriminator import Discriminator

WIDTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
FILTERS = [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]
BF16 = torch.bfloat16


def interleaved(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """(min, median) ms of each fn, one call of each per round, after one warm-up call each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: (1e3 * min(v), 1e3 * statistics.median(v)) for k, v in times.items()}


def product_rates(repeats: int) -> dict:
    out = {}
    for dtype in (torch.float32, BF16):
        for m, k, n in ((64, 1720, 1720), (64, 1720, 3440), (2048, 2048, 2048)):
            a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
            ms = interleaved({"mm": lambda: a @ b}, repeats)["mm"][1]
            out[f"{str(dtype)[6:]} {m}x{k}x{n}"] = f"{2 * m * k * n / ms / 1e6:.0f} GFLOP/s ({ms:.2f} ms)"
    a, b = torch.full((512, 512), 1e-39), torch.randn(512, 512)  # denormal inputs, as a peaked softmax's gradient
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the flag is per thread (a pool thread keeps the one it started with): this one only
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        ms = interleaved({"mm": lambda: a @ b}, max(3, repeats // 5))["mm"][1]
        out[f"float32 512x512x512, denormal input, 1 thread, flush {'on' if flush else 'off'}"] = f"{ms:.2f} ms"
    torch.set_num_threads(threads)
    src, dst = torch.randn(32 << 20), torch.empty(32 << 20)  # 128 MB each: far beyond the caches
    ms = interleaved({"copy": lambda: dst.copy_(src)}, max(3, repeats // 5))["copy"][1]
    out["memory copy 128 MB"] = f"{2 * src.numel() * 4 / ms / 1e6:.1f} GB/s read + write ({ms:.1f} ms)"
    return out


def head_variants(d: Discriminator, repeats: int, compile_head: bool) -> dict:
    n = d.highway_transform.in_features
    pooled = torch.randn(64, n).relu().to(BF16)
    labels = torch.randint(0, 2, (64,))

    def today(p):
        return d.head(p)

    def fused(p):  # both highway products as one, W first: W16 (2n, n) @ p^T, so grad W16 = g^T p (contiguous)
        w16 = torch.cat([d.highway_transform.weight.to(BF16), d.highway_hidden.weight.to(BF16)])
        z = torch.mm(w16, p.t()).t() + torch.cat([d.highway_transform.bias, d.highway_hidden.bias]).to(BF16)
        t = torch.sigmoid(z[:, :n])
        return d.output(d.dropout(t * F.relu(z[:, n:]) + (1.0 - t) * p))

    def step(fn):
        def run():
            d.zero_grad(set_to_none=True)
            p = pooled.clone().requires_grad_()
            with torch.autocast("cpu", dtype=BF16):
                loss = F.cross_entropy(fn(p).float(), labels)
            loss.backward()
        return run

    d.eval()  # the variants compute the same head (dropout off for the check)
    with torch.no_grad(), torch.autocast("cpu", dtype=BF16):
        torch.testing.assert_close(fused(pooled).float(), today(pooled).float(), atol=0.05, rtol=0.02)
    d.train()
    fns = {"head today": step(today), "head fused 1720x3440": step(fused)}
    if compile_head:
        compiled = torch.compile(today)
        t = time.perf_counter()
        step(compiled)()
        print(f"torch.compile of the head: {time.perf_counter() - t:.1f} s to compile")
        fns["head torch.compile"] = step(compiled)
    return interleaved(fns, repeats)


def conv_variants(d: Discriminator, repeats: int) -> dict:
    x = torch.randint(0, d.embedding.num_embeddings, (64, d.seq_len))
    ramp = torch.linspace(-1, 1, sum(FILTERS))

    def step(fn):
        def run():
            d.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=BF16):
                out = fn(d.embed(x), list(d.conv_weights), list(d.conv_biases))
            (out.float() * ramp).sum().backward()
        return run

    return interleaved({"conv today": step(conv_relu_maxpool), "conv one padded GEMM": step(conv_relu_maxpool_one_gemm)},
                       repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=25)
    p.add_argument("--compile", action="store_true", help="also torch.compile the head (~30 s to compile)")
    args = p.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d = Discriminator(5000, 20, 64, WIDTHS, FILTERS, 0.75, 0.2).train()
    print(f"{torch.backends.cpu.get_cpu_capability()}, {args.threads} threads, torch {torch.__version__}")
    for k, v in product_rates(args.repeats).items():
        print(f"  {k}: {v}")
    for k, (lo, med) in {**head_variants(d, args.repeats, args.compile), **conv_variants(d, args.repeats)}.items():
        print(f"  {k}: min {lo:.2f} ms, median {med:.2f} ms")


if __name__ == "__main__":
    main()
