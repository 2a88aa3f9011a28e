"""SeqGAN's reward estimators on the same batches: the policy gradient's variance and error against
Monte Carlo with N = 16, and the time of one generator update (docs/value_mcts.md).

    PYTHONPATH=src python benchmarks/estimators.py [--preset tiny|fast] [--set KEY=VALUE ...]
        [--pretrained DIR] [--fit F] [--batches K] [--repeats R] [--json FILE]

After the shared pre-training (Algorithm 1, lines 1-5, of the preset; shorten it with --set), G and D
are fixed. Two value networks start from V's initialisation and are fitted on ``--fit`` fresh batches,
each as its estimator fits it (``value``: onto Eq. 4 targets of ``train.value_rollouts`` roll-outs;
``rollout_baseline``: onto Eq. 4's Q with N = ``train.rollouts``), G unchanged. Then on ``--batches``
fresh batches Y, each estimator's weights w give the policy gradient g(w) = grad_theta sum_bt
w_bt log G(y_bt | Y_{1:t-1}) (Eq. 8's direction), and against an independent Monte Carlo Q with
N = 16 on the same Y (Q_ref):

- ``grad_var``: the trace of the covariance of g over the batches, divided by |mean g_ref|^2 (the
  variance of the estimate of grad J, batch sampling included; what a baseline reduces);
- ``rel_err``: the error of the estimator's Q on a fixed batch, E |g - g_ref|^2 / E |g(Q_ref)|^2, where
  g_ref is the gradient of Q_ref in the estimator's own form (minus the same baseline for
  ``rollout_baseline``, whose error is then the roll-out noise alone); for ``rollout`` N = 16 it is
  the noise of two independent estimates, twice one estimate's;
- ``v_mse``: the estimator's Q against Q_ref (for ``rollout_baseline``: V(Y_{1:t}) against Q_ref);
- ``update_s``: one generator update as ``seqgan oracle`` runs it (median of ``--repeats`` after a
  warm-up; V's fit included), on the live models after the measurement above.

``rollout_n{value_rollouts}`` is Eq. 4 with as few roll-outs as V's targets use: what the same
roll-out budget gives without V.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from seqgan.checkpoint import load_checkpoint  # noqa: E402
from seqgan.config import Config, apply_dict, parse_set, resolve  # noqa: E402
from seqgan.experiments.oracle import build_oracle  # noqa: E402
from seqgan.experiments.run import build_models  # noqa: E402
from seqgan.rollout import mc_rewards  # noqa: E402
from seqgan.seeding import seeded_generator  # noqa: E402
from seqgan.train.algorithm import Models, pretrain  # noqa: E402
from seqgan.train.policy_gradient import generator_update  # noqa: E402
from seqgan.train.registry import get_algorithm  # noqa: E402
from seqgan.train.value import estimated_update, fit_value, value_models, value_targets  # noqa: E402


class Quiet:
    def step_done(self, phase, step, metrics):
        pass

    def phase_done(self, phase):
        pass


def gradient(gen, seqs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """g(w) = grad_theta of sum_bt w_bt log G(y_bt | ...), flattened: (num parameters,)."""
    gen.zero_grad(set_to_none=True)
    (-gen.weighted_nll(seqs, weights.detach())).backward()
    return torch.cat([p.grad.flatten() for p in gen.parameters()])


def fitted_values(m: Models, cfg, scorer, fit: int) -> dict[str, torch.nn.Module]:
    """Two value networks from V's initialisation, fitted on ``fit`` fresh batches as each estimator does."""
    t = cfg.train
    nets = {}
    for est, n in (("value", t.value_rollouts), ("rollout_baseline", t.rollouts)):
        (net, lr), = value_models(cfg, est).values()
        extra = Models.create(m.gen, m.disc, t, {}, extra={"value": (net, lr)})
        for _ in range(fit):
            seqs = m.gen.sample(t.batch_size)
            q = mc_rewards(m.gen, seqs, scorer, n) if n > 0 else scorer(seqs).unsqueeze(1).expand_as(seqs)
            fit_value(extra.extra["value"], extra.opts["value"], seqs, value_targets(q[:, -1], q), None,
                      cfg.value.steps, t.g_grad_clip)
        nets[est] = net.eval()
    return nets


def measure(m: Models, cfg, scorer, nets, batches: int) -> dict[str, dict[str, float]]:
    t = cfg.train
    low = f"rollout_n{t.value_rollouts}"
    grads = {k: [] for k in ("rollout", low, "value", "rollout_baseline", "ref")}
    err = {k: 0.0 for k in grads}
    mse = {k: 0.0 for k in grads}
    norm = 0.0
    for _ in range(batches):
        seqs = m.gen.sample(t.batch_size)
        with torch.no_grad():
            q16 = mc_rewards(m.gen, seqs, scorer, 16)
            q_ref = mc_rewards(m.gen, seqs, scorer, 16)                    # independent of q16
            q_low = mc_rewards(m.gen, seqs, scorer, max(t.value_rollouts, 1))
            v_val, v_base = nets["value"](seqs), nets["rollout_baseline"](seqs)
        weights = {"rollout": q16, low: q_low, "ref": q_ref,
                   "value": torch.cat([v_val[:, 1:-1], q16[:, -1:]], dim=1),   # D(Y) at T is exact
                   "rollout_baseline": q16 - v_base[:, :-1]}
        q_of = {"rollout": q16, low: q_low, "ref": q_ref, "value": weights["value"],
                "rollout_baseline": torch.cat([v_base[:, 1:-1], q16[:, -1:]], dim=1)}
        g_ref = gradient(m.gen, seqs, q_ref)
        g_ref_base = gradient(m.gen, seqs, q_ref - v_base[:, :-1])             # Q_ref in the baseline's form
        norm += g_ref.square().sum().item() / batches
        for k, w in weights.items():
            g = g_ref if k == "ref" else gradient(m.gen, seqs, w)
            grads[k].append(g)
            err[k] += (g - (g_ref_base if k == "rollout_baseline" else g_ref)).square().sum().item()
            mse[k] += (q_of[k] - q_ref).square().mean().item()
    ref = torch.stack(grads["ref"])
    scale = ref.mean(0).square().sum().item()
    out = {}
    for k, gs in grads.items():
        g = torch.stack(gs)
        out[k] = {"grad_var": g.var(0).sum().item() / scale, "rel_err": err[k] / batches / norm,
                  "v_mse": mse[k] / batches}
    return out


def time_updates(m: Models, cfg, repeats: int) -> dict[str, float]:
    """Seconds of one generator update per estimator, on the live models (they change)."""
    t, times = cfg.train, {}
    value = m.extra["value"]
    for est in ("rollout", f"rollout_n{t.value_rollouts}", "value", "rollout_baseline"):
        runs = []
        for i in range(repeats + 1):
            start = time.perf_counter()
            if est.startswith("rollout_n"):
                t.rollouts, saved = max(t.value_rollouts, 1), t.rollouts
                generator_update(m, t, m.disc.frozen_scorer)
                t.rollouts = saved
            elif est == "rollout":
                generator_update(m, t, m.disc.frozen_scorer)
            else:
                estimated_update(m, cfg, m.disc.frozen_scorer, est)
            if i:
                runs.append(time.perf_counter() - start)
        times[est] = statistics.median(runs)
    assert value is m.extra["value"]
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--fit", type=int, default=50, help="fresh batches V is fitted on before measuring")
    p.add_argument("--batches", type=int, default=20, help="batches the gradients are measured on")
    p.add_argument("--repeats", type=int, default=5, help="timed generator updates per estimator")
    p.add_argument("--pretrained", metavar="DIR", help="start from this table1 pretrain/ directory instead of "
                   "pre-training under --preset")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.pretrained:  # G and D after a table1 run's shared pre-training (its settings, not --preset's)
        ckpt = load_checkpoint(Path(args.pretrained) / "checkpoints" / "d_pretrain.pt")
        cfg = Config.from_dict(ckpt["config"])
        apply_dict(cfg, {"train": {"reward_estimator": "value"}}, "the benchmark")
        for item in args.overrides:
            apply_dict(cfg, parse_set(item), f"--set {item}")
        cfg.validate()
        torch.manual_seed(cfg.seed)
        m = build_models(cfg, get_algorithm("seqgan"), torch.device("cpu"))
        m.gen.load_state_dict(ckpt["generator"]["state"])
        m.disc.load_state_dict(ckpt["discriminator"]["state"])
        args.preset = f"pre-trained in {args.pretrained}"
    else:
        cfg = resolve(args.preset, overrides=["train.reward_estimator=value", *args.overrides])
        torch.manual_seed(cfg.seed)
        real = build_oracle(cfg).sample(cfg.data.num_train, generator=seeded_generator(cfg.seed, 1, "cpu"))
        m = build_models(cfg, get_algorithm("seqgan"), torch.device("cpu"))
        pretrain(m, real, cfg, Quiet(), get_algorithm("seqgan").position("mle"))
    pre_s = time.perf_counter() - started
    m.disc.eval()
    scorer = m.disc.frozen_scorer()
    nets = fitted_values(m, cfg, scorer, args.fit)
    stats = measure(m, cfg, scorer, nets, args.batches)
    times = time_updates(m, cfg, args.repeats)
    result = {"preset": args.preset, "overrides": args.overrides, "fit": args.fit, "batches": args.batches,
              "pretrain_s": round(pre_s, 1), "total_s": round(time.perf_counter() - started, 1),
              "estimators": {k: {**v, "update_s": times.get(k)} for k, v in stats.items()}}
    print("| estimator | grad_var | rel_err vs MC-16 | Q MSE vs MC-16 | update_s |\n|---|---|---|---|---|")
    for k, v in result["estimators"].items():
        label = "MC-16 (independent, the reference)" if k == "ref" else k
        t = "" if v["update_s"] is None else f"{v['update_s']:.3f}"
        print(f"| {label} | {v['grad_var']:.3f} | {v['rel_err']:.3f} | {v['v_mse']:.2e} | {t} |")
    print(f"\npreset {args.preset} {' '.join(args.overrides)}; pre-training {pre_s:.0f} s, total {result['total_s']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
