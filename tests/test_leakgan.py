"""LeakGAN (seqgan.train.leakgan, seqgan.models.leakgan): the Manager's goals and the Worker's
distribution against a naive step-by-step computation, exact log-probabilities on both paths, the
rescaled-activation rewards against the paper's formula, the segment roll-outs, every trained parameter
changes, a resumed run equals an uninterrupted one, and the commands (oracle, table1, sample, bf16)."""

import json
import math

import pytest
import torch
from torch.nn import functional as F

from seqgan.cli import main
from seqgan.config import resolve
from seqgan.errors import SeqGANError
from seqgan.experiments.common import cpu_has_bf16
from seqgan.experiments.oracle import build_oracle
from seqgan.experiments.run import build_models
from seqgan.models import leakgan as leakgan_model
from seqgan.models.leakgan import LeakDiscriminator, LeakGANGenerator
from seqgan.rollout import rollout_sequences
from seqgan.train.leakgan import (FeatureCache, d_steps_before, leakgan, leakgan_losses, rescaled_rewards,
                                  segment_moves_to_end,
                                  segment_rewards)
from seqgan.train.registry import get_algorithm
from run_helpers import Quiet

pytestmark = pytest.mark.usefixtures("restore_threads")

V, T, C = 9, 7, 3  # T not a multiple of c: the last segment has one token


def small_generator(**kw) -> LeakGANGenerator:
    torch.manual_seed(3)
    disc = dict(vocab_size=V, seq_len=T, emb_dim=5, filter_sizes=[1, 2, 3], num_filters=[2, 3, 2],
                pad_token=kw.get("pad_token"))
    gen = LeakGANGenerator(V, 4, 3, T, disc, goal_size=2, step_size=C, **kw).double()
    with torch.no_grad():  # D's biases non-zero, so that their use is tested too
        for name, p in gen.disc.named_parameters():
            if name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.3)
    return gen


# ------------------------------------------------------------------------ naive computation


def naive_feature(d: LeakDiscriminator, prefix: list[int]) -> torch.Tensor:
    """D's highway output on one prefix (T,) padded with -1: windows, max over positions, ReLU, highway."""
    x = torch.stack([d.embedding.weight[tok + 1] for tok in prefix])                 # (T, E)
    pooled = []
    for W, b in zip(d.conv_weights, d.conv_biases):                                   # W (F, E, w)
        w = W.shape[2]
        vals = [torch.einsum("few,we->f", W, x[p:p + w]) + b for p in range(len(prefix) - w + 1)]
        pooled.append(torch.relu(torch.stack(vals).max(dim=0).values))
    h = torch.cat(pooled)
    gate = torch.sigmoid(d.highway_transform.weight @ h + d.highway_transform.bias)
    return gate * torch.relu(d.highway_hidden.weight @ h + d.highway_hidden.bias) + (1 - gate) * h


def naive_cell(lstm, x, h, c):
    gates = lstm.weight_ih_l0 @ x + lstm.bias_ih_l0 + lstm.weight_hh_l0 @ h + lstm.bias_hh_l0
    i, f, g, o = gates.chunk(4)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def naive_row(gen: LeakGANGenerator, y: list[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """For one sequence: (the goal of every token 1..T, the Worker's log-distribution of every token),
    one step at a time: f_t of the prefix y_1..y_t; h^M_t = LSTM_M(f_t); g_t = normalise(W_o h^M_t + b_o);
    token t of segment k = (t-1)//c has goal goal_init (k = 0) or g_{c(k-1)+1} + ... + g_{ck};
    h^W_t = LSTM_W(e(y_{t-1})), O_t = (W_w h + b_w) as (V, k), p = softmax(O_t normalise(W_psi G))."""
    H = gen.hidden_dim
    hm = cm = hw = cw = torch.zeros(H, dtype=torch.float64)
    g = []
    for t in range(T):  # the Manager reads f_0..f_{T-1}
        hm, cm = naive_cell(gen.manager.lstm, naive_feature(gen.disc, y[:t] + [-1] * (T - t)), hm, cm)
        ghat = gen.manager.output.weight @ hm + gen.manager.output.bias
        g.append(ghat / ghat.norm())
    goals, dists, prev = [], [], gen.start_token
    for t in range(1, T + 1):
        k = (t - 1) // C
        goal = gen.manager.goal_init if k == 0 else sum(g[j] for j in range(C * (k - 1) + 1, C * k + 1))
        hw, cw = naive_cell(gen.worker.lstm, gen.worker.embedding.weight[prev], hw, cw)
        O = (gen.worker.output.weight @ hw + gen.worker.output.bias).view(V, gen.goal_size)
        w = gen.worker.psi.weight @ goal
        logits = O @ (w / w.norm())
        goals.append(goal)
        dists.append(logits - torch.logsumexp(logits, dim=0))
        prev = y[t - 1]
    return goals, dists


def test_goals_and_distribution_equal_a_naive_step_by_step_computation(monkeypatch):
    """The Manager's segment goals, the teacher-forced log-probabilities (with and without gradients) and
    the Policy's token-at-a-time distribution (sampling, roll-outs) all equal a plain loop over time."""
    gen = small_generator()
    tokens = torch.randint(V, (3, T), generator=torch.Generator().manual_seed(1))
    naive = [naive_row(gen, tokens[b].tolist()) for b in range(3)]
    want_goals = torch.stack([torch.stack(goals) for goals, _ in naive])              # (B, T, F)
    want_dist = torch.stack([torch.stack(dists) for _, dists in naive])               # (B, T, V)

    feats = gen.leaked_features(tokens)
    assert torch.allclose(feats[1, 4], naive_feature(gen.disc, tokens[1, :4].tolist() + [-1] * 3), rtol=0, atol=1e-12)
    assert torch.allclose(gen.token_goals(gen.segment_goals(feats)), want_goals, rtol=0, atol=1e-12)
    want = want_dist.gather(2, tokens.unsqueeze(2)).squeeze(2)
    assert torch.allclose(gen.log_probs(tokens), want, rtol=0, atol=1e-12)
    with torch.no_grad():
        assert torch.allclose(gen.log_probs(tokens), want, rtol=0, atol=1e-12)
        monkeypatch.setattr(leakgan_model, "EVAL_ROWS", 2)  # evaluation's chunks of rows
        assert torch.allclose(gen.log_probs(tokens), want, rtol=0, atol=1e-12)
        ctx = gen.step_context()
        state = gen.start_state(3, "cpu", ctx)
        for t in range(T):
            assert torch.allclose(torch.log_softmax(gen.next_logits(state, ctx), 1), want_dist[:, t], rtol=0, atol=1e-12)
            assert torch.allclose(state[7], want_goals[:, t], rtol=0, atol=1e-12)
            state = gen.step(tokens[:, t], state, ctx)
        states = gen.prefix_states(tokens)
        assert torch.allclose(states[7], want_goals, rtol=0, atol=1e-12)


def test_losses_are_the_papers_objectives_and_train_their_own_part():
    """Manager: -mean_{b,k} r_bk cos(f_{e_k} - f_{ck}, G_k); Worker: -mean_{b,t} r^I_bt log p(y_bt) with
    r^I_t = cos(f_t - f_{c((t-1)//c)}, G of token t), from the naive loop; MLE: the mean NLL. Each loss's
    gradient reaches its own part only (the goals enter the Worker's loss detached, the features every loss)."""
    gen = small_generator()
    tokens = torch.randint(V, (3, T), generator=torch.Generator().manual_seed(2))
    r = torch.rand(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    manager_want = worker_want = nll_want = 0.0
    for b in range(3):
        y = tokens[b].tolist()
        goals, dists = naive_row(gen, y)
        f = [naive_feature(gen.disc, y[:t] + [-1] * (T - t)) for t in range(T + 1)]
        for k, start in enumerate(range(0, T, C)):
            manager_want -= r[b, k] * F.cosine_similarity(f[min(start + C, T)] - f[start], goals[start], dim=0) / 9
        for t in range(1, T + 1):
            start = C * ((t - 1) // C)
            intrinsic = F.cosine_similarity(f[t] - f[start], goals[t - 1], dim=0)
            worker_want -= intrinsic * dists[t - 1][y[t - 1]] / (3 * T)
            nll_want -= dists[t - 1][y[t - 1]] / (3 * T)
    manager, worker, _ = leakgan_losses(gen, tokens, r.float())
    assert manager.item() == pytest.approx(manager_want.item(), rel=1e-5)
    assert worker.item() == pytest.approx(worker_want.item(), rel=1e-5)
    _, nll, _ = leakgan_losses(gen, tokens)
    assert nll.item() == pytest.approx(nll_want.item(), rel=1e-6)
    for loss, part, other in ((manager, gen.manager, gen.worker), (worker, gen.worker, gen.manager)):
        gen.zero_grad(set_to_none=True)
        loss.backward(retain_graph=True)
        assert all(p.grad is not None for p in part.parameters())
        assert all(p.grad is None for p in [*other.parameters(), *gen.disc.parameters()])


def test_float32_tables_give_the_same_features_and_sampling_pads_after_eos():
    gen = small_generator(eos_token=1, pad_token=0).float()
    with torch.no_grad():
        gen.worker.output.bias.view(V, -1)[1] += 2.0  # make <eos> likely
        seqs = gen.sample(64, generator=torch.Generator().manual_seed(0))
        prefixes = torch.where(torch.rand(seqs.shape, generator=torch.Generator().manual_seed(1)) < 0.3, -1, seqs)
        assert torch.allclose(gen.disc.leak_fn()(prefixes), gen.disc.leak(prefixes), atol=1e-5)
    after = gen.ended(seqs)[:, :-1]
    assert after.any() and (seqs[:, 1:][after] == 0).all()
    assert not (seqs[:, 1:][~after] == 0).any() and not (seqs[:, 0] == 0).any()  # <pad> only after <eos>


# ------------------------------------------------------------------------ rewards


def test_rescaled_rewards_are_the_papers_formula():
    """r_i = sigmoid(delta (1/2 - rank(i) / B)), rank(i) the high-to-low rank in the batch at each segment;
    tied sequences share the better rank."""
    q = torch.rand(6, 3, generator=torch.Generator().manual_seed(0))
    q[4, 1] = q[2, 1]  # a tie
    got = rescaled_rewards(q, 16.0)
    for k in range(3):
        for i in range(6):
            rank = 1 + sum(1 for j in range(6) if q[j, k] > q[i, k])
            assert got[i, k].item() == pytest.approx(1 / (1 + math.exp(-16.0 * (0.5 - rank / 6))), rel=1e-6)
    assert got[4, 1] == got[2, 1]
    assert torch.equal(got[:, 0].argsort(), (-q[:, 0]).argsort(descending=True))  # the best gets the most


def test_segment_rewards_roll_out_every_c_steps():
    """Roll-outs keep their prefix of c(k+1) tokens; segment k < K-1 scores the mean over N completions,
    the last segment D(Y) itself."""
    gen = small_generator().float()
    seqs = gen.sample(5, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    rolled = rollout_sequences(gen, seqs, 4, lengths=[3, 6])                           # (L, N, B, T)
    assert rolled.shape == (2, 4, 5, T)
    assert torch.equal(rolled[0, :, :, :3], seqs[:, :3].expand(4, 5, 3))
    assert torch.equal(rolled[1, :, :, :6], seqs[:, :6].expand(4, 5, 6))
    assert not torch.equal(rolled[0, 0, :, 3:], rolled[0, 1, :, 3:])                   # distinct completions

    def score(x):  # any scorer of complete sequences: here the fraction of even tokens
        return (x % 2 == 0).float().mean(dim=1)

    torch.manual_seed(0)
    q = segment_rewards(gen, seqs, score, 4)
    assert q.shape == (5, 3)
    assert torch.allclose(q[:, 0], score(rolled[0].reshape(-1, T)).view(4, 5).mean(0))
    assert torch.allclose(q[:, 1], score(rolled[1].reshape(-1, T)).view(4, 5).mean(0))
    assert torch.equal(q[:, 2], score(seqs))


def test_d_steps_spread_over_the_blocks_as_the_authors():
    assert [d_steps_before(e, 80, 50, 10) for e in range(80)] == [5 if e % 8 == 0 else 0 for e in range(80)]
    assert sum(d_steps_before(e, 50, 5, 10) for e in range(50)) == 5
    assert [d_steps_before(e, 4, 2, 2) for e in range(4)] == [1, 0, 1, 0]


@pytest.mark.parametrize("key, value, message", [("leakgan.step_size", 0, "leakgan.step_size must be"),
                                                 ("leakgan.delta", 0, "leakgan.delta must be positive"),
                                                 ("leakgan.d_dropout_keep", 0, "leakgan.d_dropout_keep")])
def test_bad_settings_are_refused(key, value, message):
    with pytest.raises(SeqGANError, match=message):
        resolve("tiny", overrides=[f"{key}={value}"])


# ------------------------------------------------------------------------ training


def tiny_leakgan(*overrides: str):
    """The tiny preset's LeakGAN with ``overrides``: (config, S, the algorithm, its models), at one thread."""
    torch.set_num_threads(1)
    cfg = resolve("tiny", overrides=["train.algorithm=leakgan", *overrides])
    torch.manual_seed(cfg.seed)
    real = build_oracle(cfg).sample(cfg.data.num_train)
    alg = get_algorithm("leakgan")
    return cfg, real, alg, build_models(cfg, alg, torch.device("cpu"))


def test_every_trained_parameter_changes():
    """One MLE epoch (with D's pre-training steps) and one adversarial round change every parameter of the
    Worker, the Manager and D, through all five optimisers. One exception, as in the authors' model: the
    embedding row of D for the -1 padding, since D's loss sees complete sequences only; G reads it."""
    cfg, real, alg, m = tiny_leakgan("train.g_pretrain_epochs=1", "leakgan.rounds=1", "leakgan.mle_every=0")
    assert isinstance(m.gen, LeakGANGenerator) and m.disc is m.gen.disc
    before = {n: p.detach().clone() for n, p in m.gen.named_parameters()}
    leakgan(m, real, cfg, Quiet(), alg.position("mle"))
    assert {n for n, p in m.gen.named_parameters() if not torch.equal(p, before[n])} == set(before)
    assert torch.equal(m.disc.embedding.weight[0], before["disc.embedding.weight"][0])
    assert all(opt.state for opt in m.opts.values())  # each optimiser stepped
    assert {id(p) for p in m.opts["worker_adv"].param_groups[0]["params"]} == {id(p) for p in m.gen.worker.parameters()}


def test_d_pretrains_without_mle_epochs():
    """train.g_pretrain_epochs = 0: D's pre-training steps still run (they live inside the MLE epochs)."""
    cfg, real, alg, m = tiny_leakgan("train.g_pretrain_epochs=0", "train.d_pretrain_steps=2", "leakgan.rounds=0")
    d0 = {n: p.detach().clone() for n, p in m.disc.named_parameters()}
    steps = []

    class Log(Quiet):
        def step_done(self, phase, step, metrics):
            steps.append((phase, step))

    leakgan(m, real, cfg, Log(), alg.position("mle"))
    assert steps == [("d_pretrain", 1), ("d_pretrain", 2)]
    assert any(not torch.equal(p, d0[n]) for n, p in m.disc.named_parameters())


def test_feature_cache_returns_the_features_and_forgets_them_when_d_changes():
    """Rows read back from the cache equal D's features of them computed afresh; rows past the memory
    budget are computed each time; any change of D's weights empties the cache."""
    gen = small_generator().float()
    S = torch.randint(0, V, (40, T), generator=torch.Generator().manual_seed(1))
    per_seq = (T + 1) * gen.feature_size * 4
    cache = FeatureCache(S.shape[0], 1)
    cache.max_bytes = 30 * per_seq  # room for rows 0..29 of S
    cache.bind(gen.disc)
    leak = gen.disc.leak_fn()
    first = torch.arange(0, 20)
    torch.testing.assert_close(cache.features(gen, leak, S[first], first), gen.leaked_features(S[first]), rtol=0, atol=0)
    assert cache.store.shape[0] == 30 and cache.filled.sum() == 20
    mixed = torch.tensor([3, 25, 35, 7, 39, 0])  # kept, new, past the budget
    got = cache.features(gen, leak, S[mixed], mixed)
    torch.testing.assert_close(got, gen.leaked_features(S[mixed]), rtol=1e-6, atol=1e-6)
    assert cache.filled.sum() == 21
    with torch.no_grad():
        cache.store[3] += 1.0  # a stored row is what the cache returns while D is the same
    assert not torch.allclose(cache.features(gen, leak, S[[3]], torch.tensor([3])), gen.leaked_features(S[[3]]))
    cache.bind(gen.disc)
    assert cache.filled.sum() == 21
    with torch.no_grad():
        gen.disc.highway_hidden.bias.add_(0.5)
    cache.bind(gen.disc)
    assert cache.filled.sum() == 0
    torch.testing.assert_close(cache.features(gen, gen.disc.leak_fn(), S[[3]], torch.tensor([3])),
                               gen.leaked_features(S[[3]]), rtol=1e-6, atol=1e-6)


def test_feature_cache_leaves_the_training_unchanged():
    """Pre-training with D fixed over several epochs and one adversarial round with its interleaved MLE
    epoch give the same weights with the cache and without it."""
    torch.set_num_threads(1)
    weights = []
    for mb in (0, 64):
        cfg = resolve("tiny", overrides=["train.algorithm=leakgan", "train.g_pretrain_epochs=4",
                                         "train.d_pretrain_steps=2", "leakgan.pretrain_blocks=2", "leakgan.rounds=1",
                                         "leakgan.mle_every=1", f"leakgan.feature_cache_mb={mb}"])
        torch.manual_seed(cfg.seed)
        real = build_oracle(cfg).sample(cfg.data.num_train)
        alg = get_algorithm("leakgan")
        m = build_models(cfg, alg, torch.device("cpu"))
        leakgan(m, real, cfg, Quiet(), alg.position("mle"))
        weights.append({n: p.detach().clone() for n, p in m.gen.named_parameters()})
    for name, value in weights[0].items():
        torch.testing.assert_close(weights[1][name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_sample_rebuilds_leakgans_generator_from_the_checkpoint(tmp_path):
    """``seqgan sample`` rebuilds LeakGAN's G (with the D it reads) from the file alone. (Resume:
    tests/test_successors.py.)"""
    out = tmp_path / "run"
    assert main(["oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--algorithm", "leakgan",
                 "--out", str(out)]) == 0
    # seqgan sample rebuilds LeakGAN's G (with the D it reads) from the checkpoint alone
    sampled = tmp_path / "s.txt"
    assert main(["sample", "--checkpoint", str(out / "checkpoints" / "leakgan.pt"), "-n", "5", "--temperature", "0.5",
                 "--out", str(sampled)]) == 0
    rows = [list(map(int, line.split())) for line in sampled.read_text().splitlines()]
    assert len(rows) == 5 and all(len(r) == 10 for r in rows)


def test_table1_runs_leakgan_with_its_own_pretraining(tmp_path, capsys):
    assert main(["table1", "--preset", "tiny", "--threads", "1", "--no-progress", "--methods", "mle,leakgan",
                 "--out", str(tmp_path / "t1")]) == 0
    assert "| LeakGAN |" in capsys.readouterr().out
    result = json.loads((tmp_path / "t1" / "leakgan" / "result.json").read_text())
    assert result["method"] == "leakgan" and math.isfinite(result["nll_oracle"])
    records = [json.loads(line) for line in (tmp_path / "t1" / "leakgan" / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records].count("mle") == 4 and records[-1]["phase"] == "leakgan"


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bfloat16 arithmetic")
def test_bf16_runs_and_keeps_float32_parameters(tmp_path):
    out = tmp_path / "bf16"
    assert main(["oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--algorithm", "leakgan",
                 "--precision", "bf16", "--out", str(out)]) == 0
    assert math.isfinite(json.loads((out / "summary.json").read_text())["nll_oracle"]["leakgan"])
    ckpt = torch.load(out / "checkpoints" / "leakgan.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in ckpt["generator"]["state"].values() if v.is_floating_point())


def test_real_data_train_command(tmp_path):
    """seqgan train on variable-length text: <eos> and <pad> through the leaked features and the losses."""
    data = tmp_path / "train.txt"
    data.write_text("\n".join(" ".join(["a", "b", "c", "d"][: 1 + i % 4]) for i in range(64)) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--algorithm", "leakgan", "--preset", "tiny", "--threads", "1", "--no-progress",
                 "--data", str(data), "--tokenizer", "word", "--max-len", "10", "--out", str(out)]) == 0
    assert (out / "checkpoints" / "leakgan.pt").exists()


# ------------------------------------------------------------------------ torchrun


def two_process_updates() -> dict:
    """A pre-training epoch and an adversarial G step of LeakGAN on one fixed global batch, every draw
    seeded alike in every process; distributed, each process takes its rows (the epoch's split is
    mle_epoch's, the adversarial batch's is dist.shard's) and the ranks of the rewards are the batch's."""
    from seqgan import distributed as dist
    from seqgan.train.leakgan import mle_epoch, policy_step

    cfg = resolve("tiny", overrides=["train.algorithm=leakgan"])
    torch.manual_seed(0)
    real = build_oracle(cfg).sample(65, generator=torch.Generator().manual_seed(1))  # batches 32, 32, 1
    m = build_models(cfg, get_algorithm("leakgan"), torch.device("cpu"))
    snap = lambda: {n: p.detach().clone() for n, p in m.gen.named_parameters()}  # noqa: E731
    out = {"mle": mle_epoch(m, real, 32, 5.0, generator=torch.Generator().manual_seed(2)), "gen_mle": snap()}
    seqs = m.gen.sample(32, generator=torch.Generator().manual_seed(3))
    m.disc.eval()
    torch.manual_seed(4)  # the roll-outs' draws: the same whole-batch rewards in every process
    q = segment_rewards(m.gen, seqs, m.disc.frozen_scorer(), 2)
    out["adv"] = policy_step(m, cfg.leakgan, dist.shard(seqs), dist.shard(q), 32)
    out["gen_adv"] = snap()
    return out


def _two_process_worker(rank: int, port: int, tmp) -> None:
    import os
    from datetime import timedelta

    from seqgan import distributed as dist

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2")
    torch.set_num_threads(1)
    store = torch.distributed.TCPStore("127.0.0.1", port, is_master=False, timeout=timedelta(seconds=60))
    torch.distributed.init_process_group("gloo", store=store, rank=rank, world_size=2)
    try:
        dist.init("cpu")
        torch.save(two_process_updates(), tmp / f"rank{rank}.pt")
    finally:
        import gc

        gc.collect()  # the DDP replicas go while the group lives (see tests/test_ddp.py)
        torch.distributed.destroy_process_group()


def test_two_processes_update_as_one_with_the_same_batch(tmp_path):
    """Through DDP each process trains on its rows, yet the Worker, the Manager and the losses equal one
    process's on the whole batch; DDP leaves D (inside G) to D's own replica; the replicas stay identical."""
    import torch.multiprocessing as mp

    torch.set_num_threads(1)
    store = torch.distributed.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    mp.spawn(_two_process_worker, args=(store.port, tmp_path), nprocs=2, join=True)
    ref = two_process_updates()
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for got in ranks:
        for phase in ("mle", "adv"):
            for key, value in ref[phase].items():
                assert got[phase][key] == pytest.approx(value, rel=1e-5), (phase, key)
        for key in ("gen_mle", "gen_adv"):
            for name, p in ref[key].items():
                torch.testing.assert_close(got[key][name], p, atol=2e-5, rtol=1e-4, msg=f"{key} {name}")
    a, b = ranks
    assert all(torch.equal(a["gen_adv"][n], b["gen_adv"][n]) for n in a["gen_adv"])
    assert all(torch.equal(a["gen_adv"][n], a["gen_mle"][n]) for n in a["gen_adv"] if n.startswith("disc."))


def test_torchrun_two_processes(tmp_path):
    """The real launcher: two gloo processes pre-train and train LeakGAN through DDP."""
    from test_ddp import torchrun

    proc = torchrun("oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--algorithm", "leakgan",
                    "--out", str(tmp_path / "run"))
    assert proc.stdout.count("| LeakGAN |") == 1
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["processes"] == 2 and math.isfinite(summary["nll_oracle"]["leakgan"])
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("gen/worker_loss" in r for r in records) and any("gen/goal_loss" in r for r in records)


def test_manager_loss_ignores_segments_after_eos():
    """The Manager's cosine was averaged over every segment, also those wholly after <eos>, where the
    features move only by the prefix's padding; rows that end at once leave it only segment 0, whose
    goal is goal_init, so its LSTM gets no gradient."""
    gen = small_generator(eos_token=1, pad_token=0)
    seqs = torch.zeros(4, T, dtype=torch.long)
    seqs[:, 0] = 1
    manager, _, _ = leakgan_losses(gen, seqs)
    manager.backward()
    assert float(manager.detach()) != 0.0
    assert all(p.grad is None or not p.grad.any() for p in gen.manager.lstm.parameters())
    # a longer row: the segment holding <eos> ends its move there, not at the segment's end
    gen.zero_grad()
    seqs = torch.randint(2, V, (3, T))
    seqs[:, C + 1] = 1
    seqs[:, C + 2:] = 0
    feats = gen.teacher_forced(seqs)[0].float()
    moves, valid = segment_moves_to_end(gen, feats, gen.valid_mask(seqs))
    assert valid[:, :2].all() and not valid[:, 2:].any()
    assert torch.equal(moves[:, 1], feats[:, C + 2] - feats[:, C])


def test_delayed_rollouts_are_refused_for_leakgan(tmp_path, capsys):
    """LeakGAN rolls out with its live G, so train.rollout_policy=delayed was silently ignored."""
    assert main(["oracle", "--preset", "tiny", "--algorithm", "leakgan", "--set", "train.rollout_policy=delayed",
                 "--no-progress", "--out", str(tmp_path / "o")]) == 2
    assert "does not apply to LeakGAN" in capsys.readouterr().err and not (tmp_path / "o").exists()
    resolve("tiny", overrides=["train.algorithm=leakgan", "train.rollout_policy=delayed"])  # a saved run still reads
    out = tmp_path / "t1"
    assert main(["table1", "--preset", "tiny", "--threads", "1", "--no-progress", "--methods", "mle,leakgan",
                 "--set", "train.rollout_policy=delayed", "--out", str(out)]) == 2
    assert "does not apply to LeakGAN" in capsys.readouterr().err
    assert not out.exists()  # refused before pre-training, not when LeakGAN's turn came


def test_d_pretraining_without_mle_epochs_is_a_phase_with_steps():
    """With train.g_pretrain_epochs = 0 LeakGAN's D steps ran in a phase of length 0: no periodic
    checkpoint, a wrong progress total and no evaluation at the phase's last step."""
    cfg = resolve("tiny", overrides=["train.algorithm=leakgan", "train.g_pretrain_epochs=0",
                                     "train.d_pretrain_steps=3"])
    assert get_algorithm("leakgan").phase_steps(cfg, "d_pretrain") == 3
    cfg = resolve("tiny", overrides=["train.algorithm=leakgan", "train.d_pretrain_steps=3"])
    assert get_algorithm("leakgan").phase_steps(cfg, "d_pretrain") == 0  # inside "mle"
    assert get_algorithm("relgan").phase_steps(cfg, "d_pretrain") == 0
