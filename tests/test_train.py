"""A few steps of every phase change every trainable parameter; MLE learns the oracle."""

import torch

from seqgan.config import resolve
from seqgan.experiments.oracle import build_oracle
from seqgan.experiments.run import build_discriminator, build_generator
from seqgan.metrics.nll import nll_oracle
from seqgan.rollout import mc_rewards
from seqgan.train.adversarial import seqgan
from seqgan.train.algorithm import Models, Position
from seqgan.train.discriminator import d_step
from seqgan.train.mle import mle_epoch
from seqgan.train.policy_gradient import pg_step


class Recorder:
    def __init__(self):
        self.steps, self.phases = [], []

    def step_done(self, phase, step, metrics):
        self.steps.append((phase, step, metrics))

    def phase_done(self, phase):
        self.phases.append(phase)


def setup(**sets):
    cfg = resolve("tiny", overrides=[f"{k}={v}" for k, v in sets.items()])
    torch.manual_seed(cfg.seed)
    oracle = build_oracle(cfg)
    real = oracle.sample(cfg.data.num_train)
    m = Models.create(build_generator(cfg), build_discriminator(cfg), cfg.train)
    return cfg, oracle, real, m


def changed(model, before):
    return {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}


def test_each_phase_changes_every_parameter():
    cfg, oracle, real, m = setup()
    snap = lambda mod: {n: p.detach().clone() for n, p in mod.named_parameters()}
    names = lambda mod: {n for n, _ in mod.named_parameters()}

    before = snap(m.gen)
    mle_epoch(m.gen, m.opts["mle"], real, 32, 5.0)
    assert changed(m.gen, before) == names(m.gen)

    before = snap(m.disc)
    d_step(m.gen, m.disc, m.opts["d"], real, 1, 32)
    assert changed(m.disc, before) == names(m.disc)

    before = snap(m.gen)
    seqs = m.gen.sample(32)
    rewards = mc_rewards(m.gen, seqs, m.disc.eval().prob_real, 4)
    pg_step(m.gen, m.opts["pg"], seqs, rewards, 5.0)
    assert changed(m.gen, before) == names(m.gen)


def test_mle_loss_falls_and_beats_random_generator():
    cfg, oracle, real, m = setup()
    random_nll, _, _ = nll_oracle(m.gen, oracle, 2000)
    losses = [mle_epoch(m.gen, m.opts["mle"], real, 32, 5.0) for _ in range(6)]
    assert losses[-1] < losses[0] - 0.1
    assert all(b <= a + 1e-3 for a, b in zip(losses, losses[1:]))
    mle_nll, _, _ = nll_oracle(m.gen, oracle, 2000)
    assert mle_nll < random_nll - 0.3


def test_algorithm1_runs_every_phase_and_resumes_mid_phase():
    cfg, oracle, real, m = setup()
    rec = Recorder()
    seqgan(m, real, cfg, rec)
    t = cfg.train
    assert [s[:2] for s in rec.steps] == (
        [("mle", i + 1) for i in range(t.g_pretrain_epochs)] + [("d_pretrain", i + 1) for i in range(t.d_pretrain_steps)]
        + [("adversarial", i + 1) for i in range(t.adv_rounds)])
    assert rec.phases == ["mle", "d_pretrain", "adversarial"]
    assert {"gen/pg_loss", "gen/mean_reward", "disc/loss"} <= set(rec.steps[-1][2])
    rec = Recorder()
    seqgan(m, real, cfg, rec, start=Position("adversarial", 2))
    assert [s[:2] for s in rec.steps] == [("adversarial", 3)] and rec.phases == ["adversarial"]


def test_non_finite_gradient_stops_before_the_update():
    import pytest
    from seqgan.train.step import NonFiniteError

    cfg, oracle, real, m = setup()
    with torch.no_grad():
        m.gen.output.weight[0, 0] = float("nan")
    before = {n: p.detach().clone() for n, p in m.gen.named_parameters()}
    with pytest.raises(NonFiniteError, match="gradient of G"):
        mle_epoch(m.gen, m.opts["mle"], real, 32, 5.0)
    for n, p in m.gen.named_parameters():  # the poisoned weight too: NaN where it was, nothing else moved
        torch.testing.assert_close(p, before[n], rtol=0, atol=0, equal_nan=True)


def test_nan_in_a_run_names_phase_and_step_and_keeps_checkpoint(tmp_path, monkeypatch, capsys):
    from seqgan.cli import main
    from seqgan.train import policy_gradient

    real_pg_step = policy_gradient.pg_step

    def poisoned(gen, opt, seqs, rewards, clip):
        return real_pg_step(gen, opt, seqs, rewards * float("nan"), clip)

    monkeypatch.setattr(policy_gradient, "pg_step", poisoned)
    out = tmp_path / "run"
    assert main(["oracle", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "phase 'adversarial' at step 1" in err and "gradient of G" in err
    from seqgan.checkpoint import load_checkpoint
    assert load_checkpoint(out / "checkpoints" / "latest.pt")["position"] == {"phase": "adversarial", "step": 0}


def test_clipped_step_without_clipping_equals_clip_grad_norm_and_skips_non_finite():
    """max_norm = inf checks the norm without rescaling the gradients (clip_grad_norm_ multiplies
    them by 1): same update as clip_grad_norm_ + step; a NaN/inf gradient still skips the step."""
    from seqgan.train.step import NO_CLIP, clipped_step

    torch.manual_seed(0)
    for fused in (True, False):
        a, b = torch.nn.Linear(7, 5), torch.nn.Linear(7, 5)
        b.load_state_dict(a.state_dict())
        oa = torch.optim.Adam(a.parameters(), lr=0.1, fused=fused)
        ob = torch.optim.Adam(b.parameters(), lr=0.1, fused=fused)
        for _ in range(3):
            x = torch.randn(4, 7)
            for mod, opt in ((a, oa), (b, ob)):
                opt.zero_grad(set_to_none=True)
                mod(x).square().sum().backward()
            grads = [p.grad.clone() for p in a.parameters()]
            assert not bool(clipped_step(oa, a.parameters(), NO_CLIP))
            torch.nn.utils.clip_grad_norm_(list(b.parameters()), NO_CLIP)
            ob.step()
            assert all(torch.equal(p.grad, g) for p, g in zip(a.parameters(), grads))
            assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
        before = [p.detach().clone() for p in a.parameters()]
        oa.zero_grad(set_to_none=True)
        (a(torch.randn(4, 7)).sum() * float("inf")).backward()
        assert bool(clipped_step(oa, a.parameters(), NO_CLIP))
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), before))
