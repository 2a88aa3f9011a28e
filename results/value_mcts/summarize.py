"""The tables of README.md from the JSON files here: python summarize.py (means and sds over seeds)."""

from pathlib import Path
HERE = Path(__file__).resolve().parent
import json, statistics as st, os
runs=[json.load(open(f"{HERE}/estimators_seed{s}.json")) for s in (0,1,2) if os.path.exists(f"{HERE}/estimators_seed{s}.json")]
keys=list(runs[0]["estimators"])
print(f"{len(runs)} seeds; fit {runs[0]['fit']} batches {runs[0]['batches']}; total_s", [r["total_s"] for r in runs])
print("| estimator | gradient variance over batches / squared norm of the mean gradient | gradient error against an independent MC N = 16 (relative) | Q's mean squared error against MC N = 16 | time of one G update / Eq. 4 with N = 16's |")
print("|---|---|---|---|---|")
lab={"rollout":"`rollout`, Eq. 4 with N = 16 (the paper)","rollout_n4":"Eq. 4 with N = 4 (V's roll-out budget, without V)","value":"`value` (V, targets of 4 roll-outs)","rollout_baseline":"`rollout_baseline` (N = 16 minus V)","ref":"an independent MC N = 16 (the reference)"}
for k in keys:
    def f(m, fmt, ratio=False):
        v=[(r["estimators"][k][m]/(r["estimators"]["rollout"][m] if ratio else 1)) for r in runs if r["estimators"][k][m] is not None]
        if not v: return "—"
        return (fmt % st.mean(v)) + (" ± " + fmt % st.stdev(v) if len(v)>1 else "")
    print(f"| {lab[k]} | {f('grad_var','%.2f')} | {f('rel_err','%.3f')} | {f('v_mse','%.1e')} | {f('update_s','%.2f',True)} |")

import collections
import re
for kind in ("rollout", "value", "valuetau"):
    runs=[json.load(open(f"{HERE}/mcts_{kind}_seed{s}.json")) for s in (0,1,2) if os.path.exists(f"{HERE}/mcts_{kind}_seed{s}.json")]
    if not runs: continue
    rows=collections.OrderedDict()
    for r in runs:
        for row in r["rows"]:
            m=re.match(r"best of (\d+) by D (.*)", row["sampler"])
            key="best of K by D "+m.group(2) if m else row["sampler"]
            rows.setdefault(key,[]).append((row, int(m.group(1)) if m else None))
    print(f"\n{kind}: {len(runs)} seeds, {runs[0]['num']} sequences each")
    print("| sampler | NLL-oracle, mean of seeds | sd | distinct | seconds (300 sequences) |\n|---|---|---|---|---|")
    for k,v in rows.items():
        n=[x[0]["nll_oracle"] for x in v]; d=[x[0]["distinct"] for x in v]; t=[x[0]["seconds"] for x in v]
        ks=[x[1] for x in v if x[1]]
        name=k.replace("K", "/".join(map(str,ks)),1) if ks else k
        sd = f"{st.stdev(n):.4f}" if len(n)>1 else ""
        print(f"| {name} | {st.mean(n):.4f} | {sd} | {st.mean(d):.3f} | {st.mean(t):.1f} |")
