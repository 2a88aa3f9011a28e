"""Smoke test of the benchmark script: ``--quick`` runs and writes every key. No timing is asserted."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_every_key(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from run import BREAKDOWN, KEYS
    finally:
        sys.path.pop(0)
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--threads", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    for key in KEYS + BREAKDOWN:
        assert isinstance(res[key], float) and math.isfinite(res[key]) and res[key] > 0, key
    assert res["quick"] is True
    assert "| `g_update_speedup` |" in proc.stdout


def test_levers_benchmark_runs():
    """bench_levers.py checks its fused head against today's and times every lever (bf16: native CPUs only)."""
    from seqgan.precision import bf16_is_native

    if not bf16_is_native("cpu"):
        pytest.skip("bfloat16 is not native on this CPU: the levers' bf16 products would take minutes")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_levers.py"), "--repeats", "1",
                           "--threads", "1"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stderr
    for line in ("head today", "head fused 1720x3440", "conv today", "conv one padded GEMM", "memory copy"):
        assert line in proc.stdout, line


def test_leakgan_cache_benchmark_runs():
    """bench_leakgan.py times both variants and finds the same weights (tiny shapes)."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_leakgan.py"), "--preset", "tiny",
                           "--seqs", "96", "--epochs", "2"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stderr
    assert "with the cache" in proc.stdout
    [verdict] = [line for line in proc.stdout.splitlines() if line.startswith("weights after 2 epochs:")]
    # the same weights: bit for bit, or within the float rounding of features read back from the cache
    assert "bit for bit the same" in verdict or float(verdict.rsplit(" ", 1)[1]) < 1e-4, verdict


def test_the_naive_update_computes_what_the_fast_one_does():
    """make bench times benchmarks/naive.py against the package's update: both must compute Eq. 4's rewards
    with D's score (exactly where no roll-out is drawn, within Monte Carlo error elsewhere)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from naive import naive_prob_real, naive_sample
    finally:
        sys.path.pop(0)
    import torch

    from seqgan.models.discriminator import Discriminator
    from seqgan.models.generator import Generator
    from seqgan.rollout import mc_rewards

    torch.manual_seed(0)
    V, T, B, N = 11, 6, 3, 150
    gen = Generator(V, 5, 7, T, start_token=0, init_std=1.0).double()
    disc = Discriminator(V, T, 4, [1, 2, 6], [3, 2, 2]).double().eval()
    x = torch.randint(0, V, (50, T))
    torch.testing.assert_close(naive_prob_real(disc, x).double(), disc.frozen_scorer()(x).double(), rtol=0, atol=1e-9)
    seqs = torch.randint(0, V, (B, T))
    assert torch.equal(naive_sample(gen, B, seqs[:, :3])[:, :3], seqs[:, :3])
    with torch.no_grad():
        ctx = gen.step_context()
        draws = torch.stack([torch.stack([naive_prob_real(disc, naive_sample(gen, B, seqs[:, :t], ctx)).double()
                                          for t in range(1, T)], dim=1) for _ in range(N)])   # (N, B, T-1)
        fast = mc_rewards(gen, seqs, disc.prob_real, N).double()
    naive, se = draws.mean(dim=0), draws.std(dim=0) / N ** 0.5
    assert ((fast[:, :-1] - naive).abs() <= 5 * (2 ** 0.5) * se + 1e-12).all()  # two independent means
    torch.testing.assert_close(fast[:, -1], naive_prob_real(disc, seqs).double(), rtol=0, atol=1e-9)  # D(Y) itself
