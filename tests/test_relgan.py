"""RelGAN (seqgan.train.relgan, seqgan.models.relational, seqgan.models.multirep): the relational
memory's log-probabilities against a naive step-by-step computation, the Gumbel-softmax relaxation,
the multi-representation D against the authors' 2-D convolution, the annealing schedules and losses,
every trained parameter changes, a resumed run equals an uninterrupted one, and the commands."""

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
from seqgan.experiments.methods import METHODS, parse_methods
from seqgan.models.multirep import MultiRepDiscriminator
from seqgan.models.relational import RelationalGenerator
from seqgan.train.relgan import (d_loss, g_loss, gumbel_sample, gumbel_softmax, inverse_temperature, relgan)
from seqgan.train.registry import get_algorithm
from run_helpers import Quiet

pytestmark = pytest.mark.usefixtures("restore_threads")


def small_generator(**kw) -> RelationalGenerator:
    torch.manual_seed(3)
    gen = RelationalGenerator(vocab_size=11, emb_dim=5, seq_len=6, mem_slots=2, head_size=3, num_heads=2, **kw).double()
    with torch.no_grad():  # non-trivial layer-norm gains and biases, so that their use is tested too
        for name, p in gen.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.3)
    return gen


# ------------------------------------------------------------------------ the generator


def naive_step(gen: RelationalGenerator, token: int, memory: torch.Tensor) -> torch.Tensor:
    """One relational-memory step for ONE row, written out from Santoro et al. / the authors' code:
    memory (N, M) -> the next memory (N, M). Heads, rows and layer norms as explicit loops and sums."""
    core = gen.memory
    N, M = memory.shape
    H, hs = core.num_heads, core.head_size

    def block_norm(x, norm):  # statistics over every entry of the (rows, features) block
        mean = sum(x[r, c] for r in range(x.shape[0]) for c in range(x.shape[1])) / x.numel()
        var = sum((x[r, c] - mean) ** 2 for r in range(x.shape[0]) for c in range(x.shape[1])) / x.numel()
        return (x - mean) / torch.sqrt(var + 1e-12) * norm.weight + norm.bias

    x = core.input_proj.weight @ gen.embedding.weight[token] + core.input_proj.bias      # (M,)
    rows = torch.cat([memory, x.unsqueeze(0)])                                         # (N+1, M)
    qkv = block_norm(rows @ core.qkv.weight.t(), core.qkv_norm)                       # (N+1, 3 hs H)
    heads = []
    for h in range(H):
        part = qkv[:, h * 3 * hs:(h + 1) * 3 * hs]
        q, k, v = part[:, :hs], part[:, hs:2 * hs], part[:, 2 * hs:]
        out = torch.zeros(N + 1, hs, dtype=memory.dtype)
        for i in range(N + 1):
            scores = torch.stack([(q[i] @ k[j]) / math.sqrt(3 * hs) for j in range(N + 1)])
            w = torch.exp(scores - scores.max())
            w = w / w.sum()
            out[i] = sum(w[j] * v[j] for j in range(N + 1))
        heads.append(out)
    mem = block_norm(rows + torch.cat(heads, dim=1), core.attn_norm)
    mlp = torch.relu(mem @ core.mlp[0].weight.t() + core.mlp[0].bias) @ core.mlp[1].weight.t() + core.mlp[1].bias
    attended = block_norm(mem + mlp, core.mlp_norm)[:N]
    new = torch.zeros_like(memory)
    for r in range(N):
        gates = core.gate_memory.weight @ torch.tanh(memory[r]) + core.gate_input.weight @ x
        i, f = torch.sigmoid(gates[:M]), torch.sigmoid(gates[M:] + 1.0)
        new[r] = i * torch.tanh(attended[r]) + f * memory[r]
    return new


def naive_log_probs(gen: RelationalGenerator, tokens: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(tokens.shape, dtype=torch.float64)
    N, M = gen.mem_slots, gen.memory.mem_size
    for b in range(tokens.shape[0]):
        memory = torch.zeros(N, M, dtype=torch.float64)
        for r in range(N):
            memory[r, r] = 1.0  # M_0: the identity, zero-padded
        prev = gen.start_token
        for t in range(tokens.shape[1]):
            memory = naive_step(gen, prev, memory)
            logits = gen.output.weight @ memory.reshape(-1) + gen.output.bias
            out[b, t] = logits[tokens[b, t]] - torch.logsumexp(logits, dim=0)
            prev = int(tokens[b, t])
    return out


def test_log_probs_equal_a_naive_step_by_step_computation():
    """The batched teacher-forced log-probabilities (the training path, with and without gradients) and
    the Policy's token-at-a-time path equal a per-row loop of the relational memory written out."""
    gen = small_generator()
    tokens = torch.randint(11, (3, 6), generator=torch.Generator().manual_seed(1))
    want = naive_log_probs(gen, tokens)
    assert torch.allclose(gen.log_probs(tokens), want, rtol=0, atol=1e-10)
    with torch.no_grad():
        assert torch.allclose(gen.log_probs(tokens), want, rtol=0, atol=1e-10)
        ctx = gen.step_context()
        state = gen.start_state(3, "cpu", ctx)
        for t in range(6):
            step = torch.log_softmax(gen.next_logits(state, ctx), dim=1).gather(1, tokens[:, t:t + 1]).squeeze(1)
            assert torch.allclose(step, want[:, t], rtol=0, atol=1e-10)
            state = gen.step(tokens[:, t], state, ctx)
    nll = gen.weighted_nll(tokens, torch.full(tokens.shape, 1 / tokens.numel(), dtype=torch.float64))
    assert nll.item() == pytest.approx(-want.mean().item(), rel=1e-9)  # the MLE loss


def test_sampling_draws_from_the_model_and_prefix_states_match_steps():
    gen = small_generator().float()
    with torch.no_grad():
        seqs = gen.sample(4, generator=torch.Generator().manual_seed(0))
        assert seqs.shape == (4, 6) and seqs.dtype == torch.long
        (states,) = gen.prefix_states(seqs)
        ctx = gen.step_context()
        state = gen.start_state(4, "cpu", ctx)
        for t in range(6):
            assert torch.allclose(states[:, t], state[0], atol=1e-6)
            state = gen.step(seqs[:, t], state, ctx)


# ---------------------------------------------------------------- Gumbel-softmax relaxation


def test_gumbel_softmax_forward_is_the_perturbed_argmax_and_gradient_the_relaxation():
    torch.manual_seed(0)
    logits = torch.randn(5, 7, dtype=torch.float64)
    u = torch.rand(5, 7, dtype=torch.float64)
    beta = 3.5
    z = logits - torch.log(-torch.log(u + 1e-10) + 1e-10)           # o + g
    w = torch.randn(5, 7, dtype=torch.float64)                       # any downstream use of y^

    soft_logits = logits.clone().requires_grad_()
    want = torch.softmax(beta * (soft_logits - torch.log(-torch.log(u + 1e-10) + 1e-10)), dim=1)
    (want * w).sum().backward()

    for hard in (False, True):
        o = logits.clone().requires_grad_()
        tok, y = gumbel_softmax(o, beta, hard=hard, uniforms=u)
        assert torch.equal(tok, z.argmax(dim=1))
        if hard:  # exactly the one-hot of the perturbed arg-max ...
            assert torch.equal(y.detach(), F.one_hot(tok, 7).double())
        else:     # the relaxation itself, as D sees it in the paper (computed in float32: logits.float())
            torch.testing.assert_close(y, want.detach(), rtol=1e-6, atol=1e-9)
        (y * w).sum().backward()
        torch.testing.assert_close(o.grad, soft_logits.grad, rtol=1e-5, atol=1e-8)  # ... and the relaxation's gradient


def test_gumbel_max_draws_follow_softmax():
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0]]).expand(40000, 4)
    tok, _ = gumbel_softmax(logits, 1.0, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(tok, minlength=4).double() / tok.numel()
    assert torch.allclose(freq, torch.softmax(logits[0].double(), 0), atol=0.01)


def test_gumbel_sample_pads_after_eos_with_exact_one_hots():
    gen = small_generator(eos_token=1, pad_token=0).float()
    with torch.no_grad():  # make <eos> likely
        gen.output.bias[1] += 3.0
    tokens, relaxed = gumbel_sample(gen, 64, 2.0, generator=torch.Generator().manual_seed(0))
    after = gen.ended(tokens)[:, :-1]  # positions 1.. that follow an <eos>
    assert after.any()
    assert (tokens[:, 1:][after] == 0).all()
    assert torch.equal(relaxed[:, 1:][after], F.one_hot(torch.zeros(int(after.sum()), dtype=torch.long), 11).float())
    assert (relaxed[:, :, 0][~torch.cat([torch.zeros_like(after[:, :1]), after], 1)] == 0).all()  # never <pad> else


# ------------------------------------------------------------------------ discriminator


def test_multirep_discriminator_equals_the_authors_strided_2d_convolution():
    """Each representation through the shared filters = a conv2d with a (w, d/S) kernel, stride d/S along
    the embedding (authors' rmc_vanilla); one-hot rows give what tokens give."""
    torch.manual_seed(0)
    d = MultiRepDiscriminator(vocab_size=9, seq_len=6, emb_dim=8, num_rep=4, filter_sizes=[2, 3],
                              num_filters=[5, 4]).double().eval()
    tokens = torch.randint(9, (3, 6))
    got = d(tokens)
    assert torch.allclose(d(F.one_hot(tokens, 9).double()), got, rtol=0, atol=1e-12)
    emb = d.embedding(tokens).unsqueeze(1)                               # (B, 1, T, d): the authors' image
    pooled = []
    for conv in d.convs:
        kernel = conv.weight.permute(0, 2, 1).unsqueeze(1)               # (n, 1, w, d/S)
        out = F.conv2d(emb, kernel, conv.bias, stride=(1, 2))            # (B, n, T-w+1, S)
        pooled.append(torch.relu(out).amax(dim=2))                       # (B, n, S)
    h = torch.cat(pooled, dim=1).permute(0, 2, 1).reshape(3 * 4, -1)     # (B*S, F)
    t = torch.sigmoid(h @ d.highway_transform.weight.t())
    h = t * torch.relu(h @ d.highway_hidden.weight.t()) + (1 - t) * h
    want = d.logit(d.hidden(h)).view(3, 4)
    assert torch.allclose(got, want, rtol=0, atol=1e-12)


def test_losses_are_the_papers():
    r, f = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    sig = torch.sigmoid
    assert d_loss(r, f, "rsgan").item() == pytest.approx(-torch.log(sig(r - f)).mean().item(), rel=1e-12)
    assert g_loss(r, f, "rsgan").item() == pytest.approx(-torch.log(sig(f - r)).mean().item(), rel=1e-12)
    assert d_loss(r, f, "standard").item() == pytest.approx(
        (-torch.log(sig(r)).mean() - torch.log(1 - sig(f)).mean()).item(), rel=1e-12)
    assert g_loss(r, f, "standard").item() == pytest.approx(-torch.log(sig(f)).mean().item(), rel=1e-12)
    rb, fb = r.bfloat16(), f.bfloat16()  # D's logits under CPU bf16 autocast: the losses are float32 all the same
    for kind in ("rsgan", "standard"):
        for loss in (d_loss, g_loss):
            got = loss(rb, fb, kind)
            assert got.dtype == torch.float32
            assert got.item() == pytest.approx(loss(rb.double(), fb.double(), kind).item(), rel=1e-6)


@pytest.mark.parametrize("anneal", ["exp", "lin", "log", "sigmoid", "quad", "sqrt"])
def test_inverse_temperature_grows_from_one_to_beta_max(anneal):
    betas = [inverse_temperature(100.0, n, 50, anneal) for n in range(50)]
    assert betas[0] == pytest.approx(1.0, abs=0.01 if anneal == "sigmoid" else 1e-12)
    assert all(b <= c + 1e-12 for b, c in zip(betas, betas[1:]))
    assert inverse_temperature(100.0, 50 if anneal == "exp" else 49, 50, anneal) == pytest.approx(
        100.0, rel=0.2 if anneal in ("log", "sigmoid") else 1e-9)
    assert inverse_temperature(100.0, 7, 50, "exp") == pytest.approx(100 ** (7 / 50))
    assert inverse_temperature(100.0, 7, 50, "no") == 100.0
    assert inverse_temperature(100.0, 0, 1, anneal) == pytest.approx(1.0, abs=0.01)  # a one-iteration run


@pytest.mark.parametrize("key, value, message", [("relgan.num_rep", 3, "multiple of relgan.num_rep"),
                                                 ("relgan.loss", "'wgan'", "relgan.loss must be one of"),
                                                 ("relgan.anneal", "'cubic'", "relgan.anneal must be one of"),
                                                 ("relgan.beta_max", 0.5, "at least 1"),
                                                 ("relgan.anneal_steps", 5, "at least the run's iterations")])
def test_bad_settings_are_refused(key, value, message):
    with pytest.raises(SeqGANError, match=message):
        resolve("tiny", overrides=[f"{key}={value}"])


# ------------------------------------------------------------------------ training


@pytest.mark.parametrize("loss, untouched", [("rsgan", {"hidden.bias", "logit.bias"}), ("standard", set())])
def test_every_trained_parameter_changes(loss, untouched):
    """One adversarial round (no pre-training) changes every parameter of G and of D: the gradient
    reaches G through the relaxation, without roll-outs. Under RSGAN D's last two biases get no gradient:
    with no activation between the two output layers they add the same constant to every logit, which
    cancels in D(x_r) - D(x_f) (so it is in the authors' model)."""
    torch.set_num_threads(1)
    cfg = resolve("tiny", overrides=["train.algorithm=relgan", "train.g_pretrain_epochs=0", "relgan.rounds=1",
                                     f"relgan.loss={loss}"])
    torch.manual_seed(cfg.seed)
    real = build_oracle(cfg).sample(cfg.data.num_train)
    alg = get_algorithm("relgan")
    m = build_models(cfg, alg, torch.device("cpu"))
    assert isinstance(m.gen, RelationalGenerator) and isinstance(m.disc, MultiRepDiscriminator)
    g0 = {n: p.detach().clone() for n, p in m.gen.named_parameters()}
    d0 = {n: p.detach().clone() for n, p in m.disc.named_parameters()}
    relgan(m, real, cfg, Quiet(), alg.position("mle"))
    assert {n for n, p in m.gen.named_parameters() if not torch.equal(p, g0[n])} == set(g0)
    assert {n for n, p in m.disc.named_parameters() if not torch.equal(p, d0[n])} == set(d0) - untouched


def test_sample_rebuilds_relgans_generator_from_the_checkpoint(tmp_path, capsys):
    """``seqgan sample`` needs the file alone (RelGAN's own G); the tree search, which needs SeqGAN's
    LSTM and CNN, is refused with what to do instead. (Resume: tests/test_successors.py.)"""
    out = tmp_path / "run"
    assert main(["oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--algorithm", "relgan",
                 "--set", "relgan.rounds=1", "--set", "train.g_pretrain_epochs=1", "--out", str(out)]) == 0
    # seqgan sample rebuilds RelGAN's own generator from the checkpoint alone
    sampled = tmp_path / "s.txt"
    assert main(["sample", "--checkpoint", str(out / "checkpoints" / "relgan.pt"), "-n", "5", "--out", str(sampled)]) == 0
    rows = [list(map(int, line.split())) for line in sampled.read_text().splitlines()]
    assert len(rows) == 5 and all(len(r) == 10 for r in rows)
    # the tree search needs SeqGAN's LSTM and CNN: refused with what to do instead
    assert main(["sample", "--checkpoint", str(out / "checkpoints" / "relgan.pt"), "-n", "5", "--mcts", "2",
                 "--out", str(tmp_path / "m.txt")]) == 2
    assert "sample it without --mcts" in capsys.readouterr().err


def test_table1_runs_relgan_with_its_own_pretraining(tmp_path, capsys):
    """--methods all includes RelGAN; it pre-trains its own G on the same S and is scored like the others."""
    assert "relgan" in METHODS and "relgan" in parse_methods("all")
    out = tmp_path / "t1"
    assert main(["table1", "--preset", "tiny", "--threads", "1", "--no-progress", "--methods", "mle,relgan",
                 "--out", str(out)]) == 0
    assert "| RelGAN |" in capsys.readouterr().out
    result = json.loads((out / "relgan" / "result.json").read_text())
    assert result["method"] == "relgan" and math.isfinite(result["nll_oracle"])
    assert (out / "relgan" / "data" / "train.txt").exists() is False  # S is the shared run's, not rewritten
    records = [json.loads(line) for line in (out / "relgan" / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records].count("mle") == 4 and records[-1]["phase"] == "relgan"
    table = json.loads((out / "table1.json").read_text())
    row = next(r for r in table["rows"] if r["key"] == "relgan")
    assert row["method"] == "RelGAN" and math.isfinite(row["nll_test"]) and row["paper_nll_oracle"] is None
    # its train time counts its own pre-training, and says how much of it that was; MLE's has none
    own = [r["time/train_s"] for r in records if r["phase"] == "mle"][-1]
    assert result["pretrain_time_s"] == own and 0 < own < result["train_time_s"]
    assert row["pretrain_time_s"] == own and next(r for r in table["rows"] if r["key"] == "mle")["pretrain_time_s"] == 0
    assert f"{result['train_time_s']:.1f} (of it {own:.1f} its own pre-training) |" in (out / "table1.md").read_text()


def test_relgan_windows_longer_than_the_sequence_are_refused_before_any_training(tmp_path, capsys):
    """table1 --methods all reaches RelGAN after the other methods: a width it cannot use is refused
    up front, before pre-training, as seqgan oracle/train refuse it before their run."""
    out = tmp_path / "t1"
    assert main(["table1", "--preset", "tiny", "--threads", "1", "--no-progress", "--methods", "mle,relgan",
                 "--set", "relgan.d_filter_sizes=[2,11]", "--set", "relgan.d_num_filters=[4,4]",
                 "--out", str(out)]) == 2
    assert "every relgan.d_filter_sizes width must be at most model.seq_len=10, got [2, 11]" in capsys.readouterr().err
    assert not (out / "pretrain").exists()
    assert main(["oracle", "--preset", "tiny", "--threads", "1", "--algorithm", "relgan",
                 "--set", "relgan.d_filter_sizes=[2,11]", "--set", "relgan.d_num_filters=[4,4]",
                 "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o" / "checkpoints").exists()


# ------------------------------------------------------------------ bf16 and torchrun


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bfloat16 arithmetic")
def test_bf16_runs_and_keeps_float32_parameters(tmp_path):
    """Under bf16 autocast the relaxation, D and the losses train; parameters stay float32 and the
    result is near the float32 run's (the evaluation is float32)."""
    runs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        assert main(["oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--algorithm", "relgan",
                     "--precision", precision, "--out", str(out)]) == 0
        runs[precision] = json.loads((out / "summary.json").read_text())["nll_oracle"]["relgan"]
    ckpt = torch.load(tmp_path / "bf16" / "checkpoints" / "relgan.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in ckpt["generator"]["state"].values())
    assert abs(runs["bf16"] - runs["fp32"]) < 0.2


def test_torchrun_two_processes(tmp_path):
    """The real launcher: two gloo processes train RelGAN through DDP (G's relaxation forward, D's loss)."""
    from test_ddp import torchrun

    proc = torchrun("oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--algorithm", "relgan",
                    "--out", str(tmp_path / "run"))
    assert proc.stdout.count("| RelGAN |") == 1
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["processes"] == 2 and math.isfinite(summary["nll_oracle"]["relgan"])
