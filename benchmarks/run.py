"""SeqGAN benchmarks at the paper's shapes, measured in one run.

    python benchmarks/run.py [--quick] [--device cpu|cuda] [--precision fp32|bf16] [--nproc N] [--json FILE]

Shapes: vocabulary 5000, length 20, G embedding/hidden 32, batch 64, 16 roll-outs, the paper's
1,720-filter discriminator (``presets/paper.toml``). Each figure is the median of ``--repeats``
runs after one warm-up (the naive update: one run, ~25 s; BLEU: no warm-up); ratios
(``g_update_speedup``, ``d_fraction_of_peak``) are measured in the same run, one arm after the
other, so they hold on a machine whose load does not change during the run.

Keys of the JSON (and rows of the Markdown table printed at the end):

- ``g_update_s``: one generator update (sample Y, Monte Carlo rewards of Eq. 4 scored by D,
  policy-gradient step of Eq. 8) as Algorithm 1 runs it; ``g_update_naive_s``: the same by the
  naive schedule of the public ports (``naive.py``); ``g_update_speedup``: their ratio.
- ``d_epoch_s``: one D epoch over 20,000 sequences (10,000 real, 10,000 generated) in batches of
  64 with Adam; ``d_epoch_gflops``: its dense-equivalent FLOP count (forward of the convolutions,
  highway and output layers, times 3 for forward + backward, as if every backward were dense: the
  arg-max backward of ``models/conv.py`` does less) divided by the time; ``matmul_peak_gflops``:
  a 2048x2048 matmul in D's dtype; ``d_fraction_of_peak``: their ratio (flattered by the dense count);
  ``d_fraction_of_peak_floor``: the same with the FLOPs a step does (``d_step_floor_ms``'s count).
- ``sample_10k_s``, ``mle_epoch_s``: sampling 10,000 sequences; one MLE epoch over 10,000.
- ``bleu_10k_s``: BLEU-4 (NLTK-exact) of 10,000 hypotheses against 10,000 references;
  ``bleu_nltk_200_s``: NLTK's ``sentence_bleu`` for 200 hypotheses against the same references
  (measured on ``--nltk-hyps`` of them and scaled to 200).
- ``paper_round_s``: one adversarial round of the ``paper`` preset (1 g-step, then 5 d-steps of
  fresh negatives and 3 epochs), run in a child process; ``peak_rss_mb``: that process's peak
  resident memory; ``paper_protocol_est_h``: the whole paper schedule (120 MLE epochs, 50 D
  pre-training steps of 3 epochs, 200 rounds, NLL-oracle on 10,000 samples every 5 epochs or
  rounds and on 100,000 at the end of each phase) from the measured parts.

Bounds from the same run's matmul rate (what the targets of issue 5 would need):

- ``d_step_floor_ms``: one D training step (batch 64) at ``matmul_peak_gflops``, counting only the
  products it cannot avoid: the convolutions' forward, the highway's six 64 x 1720 x 1720 products
  (forward and backward), the output layer and the arg-max backward of the convolutions (Adam and
  every other operation free); ``paper_protocol_floor_h``: the paper schedule's 3,150 D epochs of such
  steps, nothing else counted.
- ``g_update_speedup_ceiling``: ``g_update_naive_s`` over the time of the highway head alone on one
  update's 19,520 scored sequences at the peak rate: the speedup that would be left if roll-outs,
  sampling, convolutions and the policy-gradient step cost nothing.

``--nproc N`` adds ``g_update_nproc{N}_s`` and ``d_epoch_nproc{N}_s``, the same two measured with N
processes under torchrun (DDP, gloo on CPU, cores / N threads each), and ``g_update_scaling_{N}``,
``d_epoch_scaling_{N}``: the one-process time over the N-process time (ideal: N on N times the cores;
on the same cores, 1 means data parallelism costs nothing).

``--quick`` measures every key on reduced sizes scaled to the nominal ones (for the smoke test; the
figures are rough).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from naive import naive_g_update  # noqa: E402

from seqgan import distributed as dist  # noqa: E402
from seqgan.allocator import keep_freed_memory  # noqa: E402
from seqgan.precision import flush_denormals, ieee_fp32  # noqa: E402
from seqgan.config import resolve  # noqa: E402
from seqgan.experiments.oracle import build_oracle  # noqa: E402
from seqgan.experiments.run import build_discriminator, build_generator  # noqa: E402
from seqgan.metrics.bleu import bleu  # noqa: E402
from seqgan.metrics.nll import nll_oracle  # noqa: E402
from seqgan.models.conv_tables import ConvTables  # noqa: E402
from seqgan.rollout import mc_rewards, rollout_sequences  # noqa: E402
from seqgan.train.algorithm import Models  # noqa: E402
from seqgan.train.discriminator import d_epochs, d_step  # noqa: E402
from seqgan.train.mle import mle_epoch  # noqa: E402
from seqgan.train.policy_gradient import pg_step  # noqa: E402

KEYS = ["g_update_s", "g_update_naive_s", "g_update_speedup", "d_epoch_s", "d_epoch_gflops",
        "matmul_peak_gflops", "d_fraction_of_peak", "d_fraction_of_peak_floor", "sample_10k_s", "mle_epoch_s",
        "bleu_10k_s", "bleu_nltk_200_s", "paper_round_s", "paper_protocol_est_h", "peak_rss_mb", "d_step_floor_ms",
        "paper_protocol_floor_h", "g_update_speedup_ceiling"]


BREAKDOWN = ["g_rollouts_s", "g_tables_build_s", "g_conv_by_tables_s", "g_conv_by_convolution_s",
             "g_highway_head_s", "g_pg_step_s", "d_step_ms", "d_conv_fwd_bwd_ms", "d_highway_head_fwd_bwd_ms",
             "d_adam_ms"]


def timed(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 1) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device, dtype: torch.dtype, repeats: int) -> float:
    n = 2048
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    inner = 10 if device.type == "cuda" else 1

    def run():
        for _ in range(inner):
            a @ b

    return 2 * n**3 * inner / timed(run, max(repeats, 3), device) / 1e9


def d_flop_per_sequence(cfg) -> float:
    """Dense forward FLOPs of D for one sequence: convolutions, highway (two linears), output."""
    m = cfg.model
    conv = sum(2 * (m.seq_len - w + 1) * w * m.d_emb_dim * f for w, f in zip(m.d_filter_sizes, m.d_num_filters))
    total = sum(m.d_num_filters)
    return conv + 2 * 2 * total * total + 2 * total * 2


def d_step_floor_flop(cfg) -> float:
    """FLOPs one D training step cannot avoid (see the module doc): convolutions' forward and arg-max
    backward (grad_x and grad_W through one window per filter), highway and output forward + backward."""
    m, b = cfg.model, cfg.train.batch_size
    conv_fwd = sum(2 * (m.seq_len - w + 1) * w * m.d_emb_dim * f for w, f in zip(m.d_filter_sizes, m.d_num_filters))
    conv_bwd = 2 * 2 * sum(w * m.d_emb_dim * f for w, f in zip(m.d_filter_sizes, m.d_num_filters))
    total = sum(m.d_num_filters)
    head = 3 * (2 * 2 * total * total + 2 * total * 2)
    return b * (conv_fwd + conv_bwd + head)


def floors(cfg, res: dict) -> dict:
    """The bounds of the module doc, from the measured matmul rate."""
    t, peak = cfg.train, res["matmul_peak_gflops"] * 1e9
    step = d_step_floor_flop(cfg) / peak
    epochs = t.d_pretrain_steps * t.d_epochs + t.adv_rounds * t.d_steps * t.d_epochs
    steps_per_epoch = -(-2 * cfg.data.num_train // t.batch_size)  # real + as many generated
    total = sum(cfg.model.d_num_filters)
    scored = (cfg.model.seq_len - 1) * t.rollouts * t.batch_size + t.batch_size
    head = scored * 2 * 2 * total * total / peak
    return {"d_step_floor_ms": 1e3 * step, "paper_protocol_floor_h": epochs * steps_per_epoch * step / 3600,
            "g_update_speedup_ceiling": res["g_update_naive_s"] / head}


def setup(device: torch.device, precision: str, seed: int = 0):
    keep_freed_memory()  # as the training commands do (seqgan.experiments.common.setup_torch)
    flush_denormals()
    ieee_fp32()  # fp32 on a GPU is float32, as the commands run it
    cfg = resolve("paper", overrides=[f"train.precision={precision}"], seed=seed, device=str(device))
    torch.manual_seed(seed)
    oracle = build_oracle(cfg).to(device)
    gen = build_generator(cfg).to(device)
    disc = build_discriminator(cfg).to(device)
    models = Models.create(gen, disc, cfg.train)
    return cfg, oracle, models


def g_update(m: Models, cfg) -> None:
    """Algorithm 1, lines 8-12, exactly as ``seqgan.train.adversarial.seqgan`` runs them (one process)."""
    t = cfg.train
    m.disc.eval()
    with m.gen_replica.autocast():  # train.precision
        seqs = m.gen.sample(dist.share(t.batch_size))  # with several processes, each its share
        scorer = m.disc.frozen_scorer()
        rewards = mc_rewards(m.rollout.policy, seqs, scorer, t.rollouts)
    pg_step(m.gen_replica, m.opts["pg"], seqs, rewards, t.g_grad_clip)


def paper_round(device: torch.device, precision: str, quick: bool) -> dict:
    """One adversarial round of the paper preset in this (child) process: time and peak RSS."""
    cfg, oracle, m = setup(device, precision)
    real = oracle.sample(cfg.data.num_train if not quick else 1000)
    t = cfg.train
    g_update(m, cfg)  # warm-up: allocations, oneDNN primitives

    def one_round():
        for _ in range(t.g_steps):
            g_update(m, cfg)
        m.rollout.update()
        for _ in range(t.d_steps):
            d_step(m.gen_replica, m.disc_replica, m.opts["d"], real, t.d_epochs, t.batch_size)

    if quick:  # one d-step of one epoch over 1,000 + 1,000 sequences, scaled to the paper's 5 x 3 x 20,000
        g = timed(lambda: g_update(m, cfg), 1, device, warmup=0)
        d = timed(lambda: d_step(m.gen_replica, m.disc_replica, m.opts["d"], real, 1, t.batch_size), 1, device,
                  warmup=0)
        seconds = g * t.g_steps + d * t.d_steps * t.d_epochs * cfg.data.num_train / real.shape[0]
    else:
        seconds = timed(one_round, 1, device, warmup=0)
    out = {"paper_round_s": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def breakdown(m: Models, cfg, device: torch.device, reps: int) -> dict:
    """Where one generator update and one D training step (batch 64) spend their time, part by part,
    in train.precision. Seconds for the update's parts, milliseconds for D's."""
    t, T = cfg.train, cfg.model.seq_len
    out: dict[str, float] = {}
    m.disc.eval()
    seqs = m.gen.sample(t.batch_size)
    with torch.no_grad(), m.gen_replica.autocast():
        out["g_rollouts_s"] = timed(lambda: rollout_sequences(m.rollout.policy, seqs, t.rollouts), reps, device)
        rolled = torch.cat([rollout_sequences(m.rollout.policy, seqs, t.rollouts).reshape(-1, T), seqs])
        d = m.disc
        out["g_tables_build_s"] = timed(
            lambda: ConvTables.build(d.embedding.weight, list(d.conv_weights), list(d.conv_biases)), reps, device)
        tables = ConvTables.build(d.embedding.weight, list(d.conv_weights), list(d.conv_biases))
        out["g_conv_by_tables_s"] = timed(lambda: tables.pooled(rolled), reps, device)
        out["g_conv_by_convolution_s"] = timed(lambda: d.features(rolled), reps, device)
        pooled = tables.pooled(rolled)
        out["g_highway_head_s"] = timed(lambda: [d.head(c) for c in pooled.split(4096)], reps, device)
        rewards = mc_rewards(m.rollout.policy, seqs, d.frozen_scorer(), t.rollouts)
    out["g_pg_step_s"] = timed(lambda: pg_step(m.gen_replica, m.opts["pg"], seqs, rewards, t.g_grad_clip), reps, device)

    x = torch.randint(0, cfg.model.vocab_size, (t.batch_size, T), device=device)
    labels = torch.randint(0, 2, (t.batch_size,), device=device)
    pooled = torch.randn(t.batch_size, sum(cfg.model.d_num_filters), device=device).relu()
    d.train()

    def conv_fb():
        with m.disc_replica.autocast():
            f = d.features(x)
        f.float().sum().backward()

    def head_fb():
        p = pooled.clone().requires_grad_()
        with m.disc_replica.autocast():
            h = d.head(p)
        h.float().sum().backward()

    def step():
        with m.disc_replica.autocast():
            loss, _ = d.loss(x, labels)
        m.opts["d"].zero_grad(set_to_none=True)
        loss.backward()
        m.opts["d"].step()

    many = max(reps, 10)
    out["d_step_ms"] = 1e3 * timed(step, many, device)
    out["d_conv_fwd_bwd_ms"] = 1e3 * timed(conv_fb, many, device)
    out["d_highway_head_fwd_bwd_ms"] = 1e3 * timed(head_fb, many, device)
    out["d_adam_ms"] = 1e3 * timed(m.opts["d"].step, many, device)
    d.eval()
    return out


def progress(res: dict, what: str) -> None:
    """One line on stderr after each part: the whole run takes 6-12 minutes on 2 cores, silent otherwise."""
    done = ", ".join(f"{k} {v:.3g}" for k, v in res.items() if isinstance(v, float))
    print(f"[bench] {what}: {done}", file=sys.stderr, flush=True)


def bench(args) -> dict:
    device = torch.device(args.device)
    quick, reps = args.quick, args.repeats
    res: dict[str, float | str | bool] = {}
    cfg, oracle, m = setup(device, args.precision)
    t = cfg.train
    scale = 10 if quick else 1  # quick: a tenth of the sequences, times scaled back up

    # Sampling and MLE (10,000 sequences; quick: 1,000, scaled).
    n = 10_000 // scale
    res["sample_10k_s"] = timed(lambda: m.gen.sample(n), reps, device) * scale
    real = oracle.sample(n)
    res["mle_epoch_s"] = timed(lambda: mle_epoch(m.gen_replica, m.opts["mle"], real, t.batch_size, t.g_grad_clip),
                               reps, device) * scale
    res["eval_10k_s"] = timed(lambda: nll_oracle(m.gen, oracle, n), reps, device) * scale
    progress(res, "sampling, MLE, evaluation")

    # One D epoch over 2n sequences.
    fake = m.gen.sample(n)

    def d_epoch():
        d_epochs(m.disc_replica, m.opts["d"], real, fake, 1, t.batch_size)

    res["d_epoch_s"] = timed(d_epoch, reps, device) * scale
    flop = d_flop_per_sequence(cfg) * 3 * 20_000
    res["d_epoch_tflop"] = flop / 1e12
    res["d_epoch_gflops"] = flop / res["d_epoch_s"] / 1e9
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    res["matmul_peak_gflops"] = matmul_gflops(device, dtype, reps)
    res["d_fraction_of_peak"] = res["d_epoch_gflops"] / res["matmul_peak_gflops"]  # dense count: flatters
    # the same by the work a D step does (its sparse arg-max backward does less than the dense count's x3)
    floor_gflops = d_step_floor_flop(cfg) * 20_000 / t.batch_size / res["d_epoch_s"] / 1e9
    res["d_fraction_of_peak_floor"] = floor_gflops / res["matmul_peak_gflops"]
    progress({k: res[k] for k in ("d_epoch_s", "matmul_peak_gflops")}, "D epoch")

    # Generator update: vectorised vs naive.
    res["g_update_s"] = timed(lambda: g_update(m, cfg), reps, device)
    naive_rollouts = 1 if quick else t.rollouts  # quick: one roll-out, scaled (the loop is linear in N)
    res["g_update_naive_s"] = timed(
        lambda: naive_g_update(m.gen, m.disc, m.opts["pg"], t.batch_size, naive_rollouts, t.g_grad_clip),
        1 if not quick else reps, device, warmup=0 if not quick else 1) * (t.rollouts / naive_rollouts)
    res["g_update_speedup"] = res["g_update_naive_s"] / res["g_update_s"]
    progress({k: res[k] for k in ("g_update_s", "g_update_naive_s")}, "generator update")

    # BLEU-4, 10,000 x 10,000 (quick: 1,000 x 1,000) and NLTK on a few hypotheses.
    hyps = m.gen.sample(n).tolist()
    refs = oracle.sample(n).tolist()
    res["bleu_10k_s"] = timed(lambda: bleu(hyps, refs, 4), reps, device, warmup=0)
    res["bleu_nltk_200_s"] = nltk_bleu_seconds(hyps[:args.nltk_hyps], refs) * 200 / args.nltk_hyps

    res.update(breakdown(m, cfg, device, reps))
    progress({k: res[k] for k in ("bleu_10k_s", "bleu_nltk_200_s")}, "BLEU and the breakdown; one paper round next")

    # One paper round in a child process (its own peak memory), then the whole protocol.
    res.update(child_round(args))
    d_step_s = res["sample_10k_s"] + t.d_epochs * res["d_epoch_s"]
    ev = cfg.eval
    evals = t.g_pretrain_epochs // ev.every + t.adv_rounds // ev.every
    total = (t.g_pretrain_epochs * res["mle_epoch_s"] + t.d_pretrain_steps * d_step_s
             + t.adv_rounds * res["paper_round_s"] + evals * res["eval_10k_s"]
             + 2 * ev.final_samples / 10_000 * res["eval_10k_s"])
    res["paper_protocol_est_h"] = total / 3600
    res.update(floors(cfg, res))
    if args.nproc > 1:
        scaling(args, res)
    res.update(run_info(args, device))
    return res


def run_info(args, device: torch.device) -> dict:
    return dict(quick=args.quick, device=str(device), precision=args.precision, threads=torch.get_num_threads(),
                machine=machine(), torch=torch.__version__)


def scaling_part(args) -> None:
    """Under torchrun: one generator update and one D epoch with DDP, every process its share."""
    device = dist.init(args.device)
    cfg, oracle, m = setup(device, args.precision)  # same seed: every process builds the same oracle and data
    t, scale = cfg.train, 10 if args.quick else 1
    real = oracle.sample(10_000 // scale)
    fake = m.gen.sample(10_000 // scale)
    out = {"g_update_s": timed(lambda: g_update(m, cfg), args.repeats, device),
           "d_epoch_s": timed(lambda: d_epochs(m.disc_replica, m.opts["d"], real, fake, 1, t.batch_size),
                              args.repeats, device) * scale}
    if dist.is_main():
        print(json.dumps(out))
    dist.shutdown()


def scaling(args, res: dict) -> None:
    """``--nproc N``: the generator update and the D epoch with N processes (torchrun, gloo on CPU),
    each with cores / N threads, against the one-process figures measured above."""
    threads = max(1, (os.cpu_count() or 1) // args.nproc)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           str(Path(__file__).resolve()), "--scaling-part", "--device", args.device, "--precision", args.precision,
           "--threads", str(threads), "--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"torchrun with {args.nproc} processes failed:\n{proc.stderr[-3000:]}")
    part = json.loads(proc.stdout.strip().splitlines()[-1])
    n = args.nproc
    res[f"g_update_nproc{n}_s"] = part["g_update_s"]
    res[f"d_epoch_nproc{n}_s"] = part["d_epoch_s"]
    res[f"g_update_scaling_{n}"] = res["g_update_s"] / part["g_update_s"]
    res[f"d_epoch_scaling_{n}"] = res["d_epoch_s"] / part["d_epoch_s"]


def nltk_bleu_seconds(hyps: list, refs: list) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smooth = SmoothingFunction().method1
    start = time.perf_counter()
    for h in hyps:
        sentence_bleu(refs, h, weights=(0.25,) * 4, smoothing_function=smooth)
    return time.perf_counter() - start


def child_round(args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-round", "--device", args.device,
           "--precision", args.precision, "--threads", str(torch.get_num_threads())]
    if args.quick:
        cmd.append("--quick")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores{gpu}"


def markdown(res: dict) -> str:
    keys = [k for k in KEYS + BREAKDOWN if k in res] + [k for k in res if "nproc" in k or "scaling_" in k]
    rows = [f"| `{k}` | {res[k]:.4g} |" for k in keys]
    head = (f"{res['machine']}; torch {res['torch']}, {res['threads']} threads, device {res['device']}, "
            f"precision {res['precision']}{' (quick: rough)' if res['quick'] else ''}\n\n")
    return head + "| key | value |\n|---|---|\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="reduced sizes, scaled (smoke test)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="train.precision: bf16 autocast for G and D while they train and score (default fp32)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--nltk-hyps", type=int, default=20, help="hypotheses NLTK scores (scaled to 200)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--nproc", type=int, default=1,
                   help="also time a generator update and a D epoch with N torchrun processes (DDP)")
    p.add_argument("--breakdown-only", action="store_true",
                   help="only the parts of a generator update and of a D step (about a minute)")
    p.add_argument("--child-round", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--scaling-part", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.repeats, args.nltk_hyps = 1, min(args.nltk_hyps, 2)
    if args.scaling_part:
        scaling_part(args)
        return 0
    if args.child_round:
        print(json.dumps(paper_round(torch.device(args.device), args.precision, args.quick)))
        return 0
    if args.breakdown_only:
        device = torch.device(args.device)
        cfg, _, m = setup(device, args.precision)
        res = {**breakdown(m, cfg, device, args.repeats), **run_info(args, device)}
    else:
        res = bench(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
