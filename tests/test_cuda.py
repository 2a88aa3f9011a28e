"""The CUDA path: every vectorised kernel gives on the GPU what it gives on the CPU, and the
commands train, resume and hand over checkpoints on a GPU. Skipped where no GPU is visible (CI);
run on a GPU machine with ``pytest tests/test_cuda.py``."""

import json

import pytest
import torch
from torch.nn import functional as F

from seqgan.checkpoint import load_checkpoint
from seqgan.cli import main
from seqgan.experiments import oracle as oracle_exp
from seqgan.models import linear_ce
from seqgan.models.conv import ConvTables, conv_relu_maxpool, conv_relu_maxpool_reference
from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.rollout import mc_rewards
from seqgan.sampling import sample_categorical, sample_from_hidden

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")

CUDA = torch.device("cuda")
PAPER_WIDTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
PAPER_FILTERS = [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]


@pytest.fixture(autouse=True)
def _exact_matmuls():
    """TF32 would make GPU products differ from the CPU's in the fourth digit: compare in full fp32."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def to(tensors, device):
    return [t.detach().to(device).requires_grad_(t.requires_grad) for t in tensors]


def test_conv_training_path_equals_the_cpu():
    gen = torch.Generator().manual_seed(0)
    weights = [(torch.randn(f, 64, w, generator=gen) * 0.1).requires_grad_() for w, f in zip(PAPER_WIDTHS, PAPER_FILTERS)]
    biases = [(torch.randn(f, generator=gen) * 0.1).requires_grad_() for f in PAPER_FILTERS]
    x = (torch.rand(37, 20, 64, generator=gen) * 2 - 1).requires_grad_()
    grad_out = torch.randn(37, sum(PAPER_FILTERS), generator=gen)
    inputs = [x, *weights, *biases]
    cpu_out = conv_relu_maxpool(x, weights, biases)
    cpu_grads = torch.autograd.grad(cpu_out, inputs, grad_out)
    gx, *gparams = to(inputs, CUDA)
    gw, gb = gparams[:len(weights)], gparams[len(weights):]
    out = conv_relu_maxpool(gx, gw, gb)
    grads = torch.autograd.grad(out, [gx, *gw, *gb], grad_out.to(CUDA))
    torch.testing.assert_close(out.cpu(), cpu_out, rtol=1e-5, atol=1e-5)
    for g, c in zip(grads, cpu_grads):
        torch.testing.assert_close(g.cpu(), c, rtol=1e-4, atol=1e-5)
    # and the plain definition on the GPU (cuDNN's conv1d) agrees with the one-GEMM path there
    ref = conv_relu_maxpool_reference(gx, gw, gb)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    ref_grads = torch.autograd.grad(ref, [gx, *gw, *gb], grad_out.to(CUDA))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


def test_conv_tables_on_the_gpu_equal_the_convolutions():
    gen = torch.Generator().manual_seed(1)
    embedding = (torch.rand(300, 64, generator=gen) * 2 - 1).to(CUDA)
    weights = [(torch.randn(f, 64, w, generator=gen) * 0.1).to(CUDA) for w, f in zip(PAPER_WIDTHS, PAPER_FILTERS)]
    biases = [(torch.randn(f, generator=gen) * 0.1).to(CUDA) for f in PAPER_FILTERS]
    tokens = torch.randint(0, 300, (50, 20), generator=gen).to(CUDA)
    with torch.no_grad():
        want = conv_relu_maxpool(embedding[tokens], weights, biases)
        tables = ConvTables.build(embedding, weights, biases, chunk_size=70)
        torch.testing.assert_close(tables.pooled(tokens), want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(tables.pooled(tokens, chunk_size=7), want, rtol=1e-5, atol=1e-5)


def test_fused_linear_cross_entropy_on_the_gpu(monkeypatch):
    monkeypatch.setattr(linear_ce, "CHUNK_ROWS", 7)
    h = torch.randn(30, 5, dtype=torch.float64, device=CUDA, requires_grad=True)
    w = torch.randn(11, 5, dtype=torch.float64, device=CUDA, requires_grad=True)
    b = torch.randn(11, dtype=torch.float64, device=CUDA, requires_grad=True)
    y = torch.randint(0, 11, (30,), device=CUDA)
    q = torch.rand(30, dtype=torch.float64, device=CUDA)
    fused = linear_ce.weighted_linear_ce(h, w, b, y, q)
    plain = (F.cross_entropy(F.linear(h, w, b), y, reduction="none") * q).sum()
    torch.testing.assert_close(fused, plain)
    for g, e in zip(torch.autograd.grad(fused, (h, w, b)), torch.autograd.grad(plain, (h, w, b))):
        torch.testing.assert_close(g, e)


def test_sampling_draws_the_same_tokens_as_the_cpu():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(3000, 5000, generator=gen, dtype=torch.float64) * 3
    u = torch.rand(3000, generator=gen, dtype=torch.float64)
    cpu = sample_categorical(logits, uniforms=u)
    gpu = sample_categorical(logits.to(CUDA), uniforms=u.to(CUDA))
    assert torch.equal(gpu.cpu(), cpu)
    h = torch.randn(3000, 32, generator=gen, dtype=torch.float64)
    weight = torch.randn(5000, 32, generator=gen, dtype=torch.float64)
    bias = torch.randn(5000, generator=gen, dtype=torch.float64)
    from_h = sample_from_hidden(h.to(CUDA), weight.to(CUDA), bias.to(CUDA), uniforms=u.to(CUDA))
    assert torch.equal(from_h.cpu(), sample_categorical(F.linear(h, weight, bias), uniforms=u))


def test_monte_carlo_rewards_and_frozen_scorer_equal_the_cpu():
    V, T, B, N = 40, 8, 5, 6
    gen = Generator(V, 6, 9, T, start_token=0).double()
    disc = Discriminator(V, T, 8, [1, 2, 3, 8], [4, 5, 3, 6]).double().eval()
    seqs = torch.randint(0, V, (B, T))
    uniforms = torch.rand(T - 1, N, B, T, dtype=torch.float64)
    cpu = mc_rewards(gen, seqs, disc.prob_real, N, uniforms=uniforms)
    gen_c, disc_c = gen.to(CUDA), disc.to(CUDA)
    gpu = mc_rewards(gen_c, seqs.to(CUDA), disc_c.prob_real, N, uniforms=uniforms.to(CUDA))
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-9, rtol=0)
    scored = disc_c.frozen_scorer()(seqs.to(CUDA))  # float32 tables, so float32 agreement
    torch.testing.assert_close(scored, disc_c.prob_real(seqs.to(CUDA)), atol=1e-6, rtol=0)


def test_generator_log_probs_equal_the_cpu():
    gen = Generator(500, 32, 32, 20, start_token=0)
    seqs = torch.randint(0, 500, (64, 20))
    cpu = gen.log_probs(seqs)
    gpu = gen.to(CUDA).log_probs(seqs.to(CUDA))  # cuDNN's fused LSTM
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-5)


def summary(out):
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def cuda_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cuda") / "run"
    assert main(["oracle", "--preset", "tiny", "--device", "cuda", "--out", str(out), "--no-progress"]) == 0
    return out


def test_oracle_trains_on_the_gpu_and_its_checkpoint_loads_on_the_cpu(cuda_run, tmp_path):
    s = summary(cuda_run)
    for method in ("random", "mle", "seqgan"):
        assert 0 < s["nll_oracle"][method] < 10
    assert s["nll_oracle"]["mle"] < s["nll_oracle"]["random"]  # 4 MLE epochs beat the uniform start
    ckpt = load_checkpoint(cuda_run / "checkpoints" / "latest.pt")  # map_location cpu by default
    assert all(t.device.type == "cpu" for t in ckpt["generator"]["state"].values())
    out = tmp_path / "s.txt"
    assert main(["sample", "--checkpoint", str(cuda_run / "checkpoints" / "latest.pt"), "--num", "20",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert len(out.read_text().splitlines()) == 20


def test_interrupted_gpu_run_resumes(cuda_run, tmp_path, monkeypatch, capsys):
    """Resumed on the GPU from a mid-adversarial checkpoint, the run ends where the uninterrupted one
    ended. The GPU's atomics (index_add_, embedding backward) may change last bits, so NLLs are
    compared to 1e-3 rather than bit for bit as on the CPU (tests/test_resume.py)."""
    original = oracle_exp.OracleRun.step_done

    def interrupting(self, phase, step, metrics):
        if (phase, step) == ("adversarial", 2):
            self.interrupt.requested = True
        return original(self, phase, step, metrics)

    out = tmp_path / "run"
    monkeypatch.setattr(oracle_exp.OracleRun, "step_done", interrupting)
    assert main(["oracle", "--preset", "tiny", "--device", "cuda", "--out", str(out), "--no-progress"]) == 130
    monkeypatch.setattr(oracle_exp.OracleRun, "step_done", original)
    capsys.readouterr()
    assert main(["oracle", "--out", str(out), "--no-progress", "--resume"]) == 0  # the run's device: cuda
    for method, value in summary(cuda_run)["nll_oracle"].items():
        assert summary(out)["nll_oracle"][method] == pytest.approx(value, abs=1e-3), method


def test_bf16_on_the_gpu_stays_near_fp32(cuda_run, tmp_path):
    out = tmp_path / "bf16"
    assert main(["oracle", "--preset", "tiny", "--device", "cuda", "--precision", "bf16", "--out", str(out),
                 "--no-progress"]) == 0
    fp32, bf16 = summary(cuda_run)["nll_oracle"], summary(out)["nll_oracle"]
    assert bf16["random"] == pytest.approx(fp32["random"], abs=1e-3)  # evaluation stays float32
    for method in ("mle", "seqgan"):
        assert bf16[method] == pytest.approx(fp32[method], abs=0.1), method


def test_table1_runs_on_the_gpu(tmp_path):
    out = tmp_path / "t1"
    assert main(["table1", "--preset", "tiny", "--device", "cuda", "--out", str(out), "--no-progress"]) == 0
    rows = json.loads((out / "table1.json").read_text())["rows"]
    assert {r["method"] for r in rows} >= {"Random", "MLE", "Scheduled Sampling", "PG-BLEU", "SeqGAN"}
    assert (out / "figure2.png").exists()
