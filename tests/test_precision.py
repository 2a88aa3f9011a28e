"""``--precision bf16``: autocast reaches G and D where intended, the numbers stay close to float32's
(they are not equal: bf16 changes the numerics), evaluation stays float32, and the flag is a setting."""

import json

import pytest
import torch

from seqgan.cli import build_parser, main
from seqgan.config import resolve
from seqgan.experiments.args import config_from_args
from seqgan.distributed import Replica
from seqgan.errors import SeqGANError
from seqgan.experiments.common import cpu_has_bf16
from seqgan.experiments.oracle import build_oracle
from seqgan.experiments.run import build_discriminator, build_generator
from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.models.linear_ce import weighted_linear_ce
from seqgan.precision import autocast, bf16_is_native
from seqgan.rollout import mc_rewards
from seqgan.sampling import sample_from_hidden
from seqgan.train.algorithm import Models
from seqgan.train.discriminator import d_step
from seqgan.train.mle import mle_epoch
from seqgan.train.policy_gradient import pg_step

TINY = ["--preset", "tiny", "--threads", "1", "--no-progress"]


pytestmark = pytest.mark.usefixtures("restore_threads")  # the CLI runs here call set_num_threads(1)
# G's LSTM in bf16 needs a CPU with bfloat16 arithmetic (oneDNN refuses it on, e.g., AVX2-only CPUs)
needs_bf16_cpu = pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bfloat16 arithmetic")


def models(precision: str):
    cfg = resolve("tiny", overrides=[f"train.precision={precision}"])
    torch.manual_seed(0)
    oracle = build_oracle(cfg)
    real = oracle.sample(cfg.data.num_train, generator=torch.Generator().manual_seed(1))
    return cfg, real, Models.create(build_generator(cfg), build_discriminator(cfg), cfg.train)


def test_the_flag_is_a_validated_setting():
    assert resolve("tiny").train.precision == "fp32"
    args = build_parser().parse_args(["oracle", *TINY, "--precision", "bf16", "--out", "x"])
    assert config_from_args(args).train.precision == "bf16"
    with pytest.raises(SeqGANError, match=r"train.precision must be one of fp32, bf16, got 'fp16'"):
        resolve("tiny", overrides=["train.precision=fp16"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--precision", "fp16"])


@needs_bf16_cpu
def test_autocast_reaches_g_and_d_only_in_bf16():
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        cfg, real, m = models(precision)
        assert m.disc_replica(Discriminator.forward, real[:8]).dtype == dtype
        assert m.gen_replica(Generator.hidden, real[:8]).dtype == dtype
        loss = m.gen_replica(Generator.weighted_nll, real[:8], torch.full(real[:8].shape, 1 / 80))
        assert loss.dtype == torch.float32  # the loss and its sums stay float32
    with pytest.raises(ValueError, match="precision must be one of"):
        Replica(m.gen, "fp16")


def test_fused_cross_entropy_under_bf16_is_close_to_float32():
    torch.manual_seed(0)
    h = torch.randn(300, 16, requires_grad=True)
    w, b = torch.randn(64, 16, requires_grad=True), torch.randn(64, requires_grad=True)
    y, weights = torch.randint(0, 64, (300,)), torch.rand(300)
    grads = []
    for precision in ("fp32", "bf16"):
        with autocast(precision, "cpu"):
            loss = weighted_linear_ce(h, w, b, y, weights)
        assert loss.dtype == torch.float32
        grads.append((loss.detach(), *torch.autograd.grad(loss, (h, w, b))))
    for exact, low in zip(*grads):
        assert low.dtype == exact.dtype
        torch.testing.assert_close(low, exact, rtol=3e-2, atol=3e-2 * exact.abs().max().item())


def test_sampling_and_d_tables_under_bf16():
    cfg, real, m = models("fp32")
    h = torch.randn(2000, cfg.model.g_hidden_dim)
    u = torch.rand(2000, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    exact = sample_from_hidden(h, m.gen.output.weight, m.gen.output.bias, uniforms=u)
    with autocast("bf16", "cpu"):
        low = sample_from_hidden(h, m.gen.output.weight, m.gen.output.bias, uniforms=u)
        scores = m.disc.eval().frozen_scorer()(real[:64])
    assert (low == exact).float().mean() > 0.95  # the same inverse-CDF draws from rounded logits
    assert scores.dtype == torch.float32
    torch.testing.assert_close(scores, m.disc.frozen_scorer()(real[:64]), atol=2e-2, rtol=0)


@needs_bf16_cpu
def test_training_steps_in_bf16_track_float32():
    losses = {}
    for precision in ("fp32", "bf16"):
        cfg, real, m = models(precision)
        before = {n: p.detach().clone() for n, p in m.gen.named_parameters()}
        torch.manual_seed(3)
        mle = mle_epoch(m.gen_replica, m.opts["mle"], real, 32, 5.0)
        d = d_step(m.gen_replica, m.disc_replica, m.opts["d"], real, 1, 32)
        with m.gen_replica.autocast():
            seqs = m.gen.sample(32)
            rewards = mc_rewards(m.gen, seqs, m.disc.eval().frozen_scorer(), 4)
        pg = pg_step(m.gen_replica, m.opts["pg"], seqs, rewards, 5.0)
        assert all(not torch.equal(p, before[n]) for n, p in m.gen.named_parameters())
        assert all(p.dtype == torch.float32 for p in m.gen.parameters())  # master weights stay float32
        losses[precision] = (mle, d, pg)
    (mle, d, pg), (mle16, d16, pg16) = losses["fp32"], losses["bf16"]
    assert mle16 == pytest.approx(mle, rel=1e-2) and d16 == pytest.approx(d, rel=5e-2)
    assert torch.isfinite(torch.tensor(pg16)) and pg16 == pytest.approx(pg, rel=0.5)  # other samples, same scale


@needs_bf16_cpu
def test_a_bf16_run_ends_near_the_float32_run_and_keeps_its_precision(tmp_path, capsys):
    assert main(["oracle", *TINY, "--precision", "bf16", "--out", str(tmp_path / "bf16")]) == 0
    assert main(["oracle", *TINY, "--out", str(tmp_path / "fp32")]) == 0
    low, exact = (json.loads((tmp_path / name / "summary.json").read_text())["nll_oracle"] for name in ("bf16", "fp32"))
    assert low["random"] == exact["random"]  # evaluation is float32: the untrained G scores the same
    assert low["mle"] == pytest.approx(exact["mle"], abs=0.15) and low["seqgan"] == pytest.approx(exact["seqgan"], abs=0.15)
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["train"]["precision"] == "bf16"
    capsys.readouterr()
    assert main(["oracle", *TINY, "--out", str(tmp_path / "bf16"), "--resume"]) == 0  # the run's own precision
    assert main(["oracle", *TINY, "--precision", "fp32", "--out", str(tmp_path / "bf16"), "--resume"]) == 2
    assert "train.precision: run has 'bf16', flags give 'fp32'" in capsys.readouterr().err


def test_bf16_is_refused_on_a_cpu_without_it(tmp_path, monkeypatch, capsys):
    from seqgan.experiments import common

    monkeypatch.setattr(common, "cpu_has_bf16", lambda: False)
    assert main(["oracle", *TINY, "--precision", "bf16", "--out", str(tmp_path / "run")]) == 2
    assert "this CPU has no bfloat16 arithmetic" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_bf16_is_native_answers_for_each_device_kind():
    assert isinstance(bf16_is_native("cpu"), bool)
    assert bf16_is_native("cuda") == (torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))
    assert bf16_is_native("meta") is False


def test_denormals_are_flushed_unless_kept():
    """Commands flush float32 denormals (a GEMM fed them runs ~150x slower on some CPUs); keep=off switch."""
    import os
    import subprocess
    import sys

    code = ("import torch, seqgan.precision as p; on = p.flush_denormals(); "
            "x = torch.full((64, 64), 1e-39); print(on, (x * 1.0).sum().item() == 0.0, (x @ x.t()).abs().max().item() == 0.0)")
    env = {k: v for k, v in os.environ.items() if k != "SEQGAN_DENORMALS"}
    flushed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    kept = subprocess.run([sys.executable, "-c", code], env={**env, "SEQGAN_DENORMALS": "keep"},
                          capture_output=True, text=True, check=True)
    assert flushed.stdout.split() == ["True", "True", "True"]
    assert kept.stdout.split()[:2] == ["False", "False"]


def test_a_command_called_in_process_leaves_the_callers_numerics_and_threads(tmp_path):
    """cli.main flushes denormals and sets --threads for its own work, then puts back the caller's
    settings: a notebook calling it keeps denormals (numpy shares the flag) and its thread count."""
    import subprocess
    import sys

    code = ("import torch, seqgan.cli as c, seqgan.precision as p; torch.set_num_threads(2); "
            "before = p.denormals_flushed(); "
            f"rc = c.main(['eval', '--samples', {str(tmp_path / 'none.txt')!r}]); "
            # --threads 1 is set before --device cuda:99 fails (any machine has fewer GPUs)
            f"rc2 = c.main(['oracle', '--preset', 'tiny', '--threads', '1', '--device', 'cuda:99', '--out', "
            f"{str(tmp_path / 'run')!r}]); "
            "print(rc, rc2, before, p.denormals_flushed(), torch.get_num_threads())")
    env = {k: v for k, v in __import__("os").environ.items() if k != "SEQGAN_DENORMALS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "2", "False", "False", "2"], out.stdout + out.stderr


def test_bf16_is_native_on_the_cpu_asks_for_the_instructions(monkeypatch):
    """oneDNN's own check accepts any AVX-512 CPU (it emulates bf16, several times slower): ask for
    AVX-512 BF16 or AMX themselves."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    for avx512_bf16, amx, want in ((False, False, False), (True, False, True), (False, True, True)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert bf16_is_native("cpu") is want


def test_every_command_keeps_a_gpus_float32_from_tf32():
    """cuDNN's LSTM and convolutions default to TF32 (a 10-bit mantissa): fp32 runs and NLL-oracle on a GPU
    would differ from the CPU's in the fourth digit. setup_torch, which every command calls, turns it off."""
    from seqgan.experiments.common import setup_torch

    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True  # cuDNN's default, and more
    try:
        setup_torch(resolve("tiny"))
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def test_every_cli_command_runs_without_tf32_and_gives_the_callers_setting_back(monkeypatch):
    """sample and sweep (NLL scoring, --mcts) never call setup_torch: cli.main turns TF32 off for every command."""
    import argparse

    from seqgan import cli

    seen = []
    args = argparse.Namespace(command="eval", func=lambda a: seen.append(torch.backends.cudnn.allow_tf32) or 0)
    monkeypatch.setattr(cli, "build_parser", lambda: argparse.Namespace(parse_args=lambda argv: args))
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        assert cli.main(["eval"]) == 0 and seen == [False]
        assert torch.backends.cudnn.allow_tf32  # an in-process caller keeps its own setting
    finally:
        torch.backends.cudnn.allow_tf32 = old
