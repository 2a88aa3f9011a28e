"""Generation by tree search against plain sampling at equal time, on the oracle task (docs/value_mcts.md).

    PYTHONPATH=src python benchmarks/mcts.py --checkpoint RUN/seqgan_value/checkpoints/final.pt
        [--num N] [--simulations S,S] [--leaf rollout|value] [--c-puct C] [--temperatures T,T]
        [--move-temperatures TAU,TAU] [--json FILE]

From one SeqGAN checkpoint (G, D, and V for ``--leaf value``) and the oracle its run names, N
sequences each way, and their NLL-oracle (the quality the search is meant to raise) with the share
of distinct sequences (what it may cost):

- ``sample``: G's own draws (T = 1), the baseline of Table 1;
- ``sample (T)``: G's draws at lower temperatures (logits / T), the other cheap way to trade
  diversity for quality (Caccia et al. 2020);
- ``greedy``: the arg-max token at every step (what one simulation gives, tests/test_mcts.py);
- ``mcts S``: ``seqgan sample --mcts S`` (PUCT, G's prior, leaf = D of one roll-out or V);
- ``mcts S, move temperature tau``: each token drawn with probability N^(1/tau) of its visits;
- ``best of K``: plain sampling at the search's time: K draws per sequence, K = the search's time
  over one draw's, keeping the draw D scores highest (the cheapest use of the same seconds and D).

NLL-test needs the sampler's likelihood of held-out data; tree search has none (its choice is the
most visited edge, not a draw from a distribution), so only the samples' side is scored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from seqgan.checkpoint import build_model  # noqa: E402
from seqgan.config import Config  # noqa: E402
from seqgan.experiments.oracle import build_oracle  # noqa: E402
from seqgan.experiments.sample import generate, load_sampler, search, with_temperature  # noqa: E402
from seqgan.metrics.nll import sequence_nll  # noqa: E402
from seqgan.models.discriminator import Discriminator  # noqa: E402


def scored(name: str, seqs: torch.Tensor, seconds: float, oracle) -> dict[str, float | str]:
    nll = sequence_nll(oracle, seqs)
    return {"sampler": name, "nll_oracle": nll.mean().item(), "std_error": (nll.std() / len(nll) ** 0.5).item(),
            "distinct": len({tuple(r) for r in seqs.tolist()}) / len(seqs), "seconds": round(seconds, 2)}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def best_of(gen, scorer, num: int, k: int, seed: int) -> torch.Tensor:
    """Per sequence, the highest-scored by D of k draws of G."""
    draws = generate(gen, num * k, seed)                                 # (num * k, T)
    scores = scorer(draws).view(num, k)
    pick = scores.argmax(dim=1) + torch.arange(num) * k
    return draws[pick]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--num", type=int, default=1000, help="sequences per sampler")
    p.add_argument("--simulations", default="4,16", help="tree-search simulations per token (comma-separated)")
    p.add_argument("--leaf", default="rollout", choices=("rollout", "value"))
    p.add_argument("--c-puct", type=float, default=1.0)
    p.add_argument("--temperatures", default="0.5,0.7", help="plain sampling at these temperatures too")
    p.add_argument("--move-temperatures", default="", help="the search also with these move temperatures tau "
                   "(tokens drawn with probability N^(1/tau))")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen, _, _, ckpt = load_sampler(args.checkpoint)
    oracle = build_oracle(Config.from_dict(ckpt["config"]))
    disc = build_model(Discriminator, ckpt["discriminator"], "discriminator").requires_grad_(False).eval()
    scorer = disc.frozen_scorer()
    rows = []
    seqs, t_one = timed(lambda: generate(gen, args.num, args.seed))
    rows.append(scored("sample (T = 1)", seqs, t_one, oracle))
    for temp in (float(x) for x in args.temperatures.split(",") if x):
        scaled = with_temperature(load_sampler(args.checkpoint)[0], temp)  # a private copy, scaled in place
        cold, t = timed(lambda: generate(scaled, args.num, args.seed))
        rows.append(scored(f"sample (T = {temp:g})", cold, t, oracle))
    greedy, t = timed(lambda: search(gen, ckpt, args.num, 1, args.c_puct, args.leaf, args.seed))
    rows.append(scored("greedy (1 simulation)", greedy, t, oracle))
    for sims in (int(s) for s in args.simulations.split(",")):
        found, t_search = timed(lambda: search(gen, ckpt, args.num, sims, args.c_puct, args.leaf, args.seed))
        rows.append(scored(f"mcts {sims} ({args.leaf} leaf)", found, t_search, oracle))
        _, t_scored = timed(lambda: scorer(generate(gen, args.num, args.seed + 1)))  # one draw and its D score
        k = max(1, round(t_search / t_scored))
        best, t_best = timed(lambda: best_of(gen, scorer, args.num, k, args.seed + 2))
        rows.append(scored(f"best of {k} by D (mcts {sims}'s time)", best, t_best, oracle))
        for tau in (float(x) for x in args.move_temperatures.split(",") if x):
            found, t = timed(lambda: search(gen, ckpt, args.num, sims, args.c_puct, args.leaf, args.seed, tau))
            rows.append(scored(f"mcts {sims} ({args.leaf} leaf, move temperature {tau:g})", found, t, oracle))
    print("| sampler | NLL-oracle | std. error | distinct | seconds |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['sampler']} | {r['nll_oracle']:.4f} | {r['std_error']:.4f} | {r['distinct']:.3f} | {r['seconds']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"checkpoint": args.checkpoint, "num": args.num, "leaf": args.leaf,
                                               "c_puct": args.c_puct, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
