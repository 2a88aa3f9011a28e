"""SeqGAN's reward estimators (seqgan.train.value): 'rollout' unchanged, V's fit, the weights of 'value'
and 'rollout_baseline' against a direct computation, every trained parameter changes, resume equals an
uninterrupted run, Table 1's rows, and the config's errors."""

import json
import math

import pytest
import torch

from seqgan.cli import main
from seqgan.config import resolve
from seqgan.errors import SeqGANError
from seqgan.experiments.common import cpu_has_bf16
from seqgan.experiments.oracle import build_oracle
from seqgan.experiments.run import build_models
from seqgan.rollout import mc_rewards
from seqgan.train import policy_gradient, value as value_mod
from seqgan.train.algorithm import pretrain
from seqgan.train.registry import get_algorithm
from seqgan.train.value import fit_value, value_targets
from run_helpers import Quiet, strip_time

pytestmark = pytest.mark.usefixtures("restore_threads")


def tiny(*overrides, algorithm="seqgan", pretrained=False):
    torch.set_num_threads(1)
    cfg = resolve("tiny", overrides=[f"train.algorithm={algorithm}", *overrides])
    torch.manual_seed(cfg.seed)
    real = build_oracle(cfg).sample(cfg.data.num_train)
    alg = get_algorithm(algorithm)
    m = build_models(cfg, alg, torch.device("cpu"))
    if pretrained:
        pretrain(m, real, cfg, Quiet(), alg.position("mle"))
    return cfg, real, m, alg


def spy_pg_step(monkeypatch):
    seen = []
    original = policy_gradient.pg_step

    def spy(gen, opt, seqs, weights, clip):
        seen.append((seqs.clone(), weights.clone()))
        return original(gen, opt, seqs, weights, clip)

    monkeypatch.setattr(value_mod, "pg_step", spy)
    monkeypatch.setattr(policy_gradient, "pg_step", spy)
    return seen


# -------------------------------------------------------------------- rollout: unchanged


def test_rollout_builds_no_value_network_and_moves_no_draw():
    """The default builds exactly Algorithm 1's models and optimisers; building V (the other estimators)
    leaves G, D and the global RNG as they are."""
    _, _, m, _ = tiny()
    assert m.extra == {} and list(m.opts) == ["mle", "pg", "d"]
    torch.manual_seed(7)
    _, _, plain, _ = tiny()
    after_plain = torch.get_rng_state()
    _, _, with_v, _ = tiny("train.reward_estimator=value")
    assert torch.equal(torch.get_rng_state(), after_plain)
    assert list(with_v.opts) == ["mle", "pg", "d", "value"]
    for a, b in ((plain.gen, with_v.gen), (plain.disc, with_v.disc)):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_rollout_baseline_has_rollouts_q_minus_v_of_the_state_before(monkeypatch):
    """rollout_baseline: the same Y and Eq. 4 Q as 'rollout' (V draws nothing), and weights
    A_t = Q_t - V(Y_{1:t-1}) with V before its fit."""
    seen = spy_pg_step(monkeypatch)
    runs = {}
    for est in ("rollout", "rollout_baseline"):
        cfg, real, m, alg = tiny(f"train.reward_estimator={est}", "train.adv_rounds=1", pretrained=True)
        v_before = None if est == "rollout" else {k: p.clone() for k, p in m.extra["value"].model.state_dict().items()}
        alg.train(m, real, cfg, Quiet(), alg.position())
        runs[est] = seen.pop(), v_before, m, cfg
        seen.clear()
    (seqs_r, q), _, _, _ = runs["rollout"]
    (seqs_b, adv), v_state, m, cfg = runs["rollout_baseline"]
    assert torch.equal(seqs_r, seqs_b)
    net = m.extra["value"].model
    net.load_state_dict(v_state)
    with torch.no_grad():
        v = net(seqs_b)
    assert torch.allclose(adv, q - v[:, :-1], atol=1e-6)
    assert not torch.allclose(adv, q)


def test_v_of_a_prefix_sees_that_prefix_only():
    """Column k of V is V(Y_{1:k}): it changes with y_1..y_k and with nothing after them (a causal reader);
    column 0 is the start state's. Weights x10 make V sensitive to every token."""
    from seqgan.models.value import ValueNetwork

    net = ValueNetwork(11, 5, 7, 6).double()
    net.reset_parameters(torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10.0).add_(0.1)
    tokens = torch.randint(0, 11, (4, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        base = net(tokens)
        assert torch.equal(base[:, 0], base[:1, 0].expand(4))
        for k in range(6):
            changed = tokens.clone()
            changed[:, k:] = (changed[:, k:] + 1) % 11  # y_{k+1}.. differ
            v = net(changed)
            assert torch.equal(v[:, :k + 1], base[:, :k + 1]), k  # V(Y_{1:j}), j <= k: unchanged
            assert (v[:, k + 1] - base[:, k + 1]).abs().min() > 1e-6, k


def test_value_weights_are_v_of_the_prefix_and_d_at_the_end(monkeypatch):
    seen = spy_pg_step(monkeypatch)
    # value_rollouts differs from train.rollouts (tiny: 4), so that the roll-out count below tells them apart
    cfg, real, m, alg = tiny("train.reward_estimator=value", "train.value_rollouts=2", "train.adv_rounds=1",
                             pretrained=True)
    v_state = {k: p.clone() for k, p in m.extra["value"].model.state_dict().items()}
    d_state = {k: p.clone() for k, p in m.disc.state_dict().items()}  # D as the g-step saw it
    calls = []
    original = value_mod.mc_rewards
    monkeypatch.setattr(value_mod, "mc_rewards", lambda *a, **k: calls.append(a[3]) or original(*a, **k))
    alg.train(m, real, cfg, Quiet(), alg.position())
    seqs, w = seen[0]
    assert cfg.train.rollouts != 2 and calls == [2]  # V's targets only; no train.rollouts Q
    net = m.extra["value"].model
    net.load_state_dict(v_state)
    m.disc.load_state_dict(d_state)
    m.disc.eval()
    with torch.no_grad():
        v, d = net(seqs), m.disc.prob_real(seqs)
    assert torch.allclose(w[:, :-1], v[:, 1:-1], atol=1e-6)  # Q_t = V(Y_{1:t}), t < T
    assert torch.allclose(w[:, -1], d, atol=1e-5)            # Q_T = D(Y)


def variable_length_tiny(*overrides):
    """tiny with real data's variable length (G ends rows at <eos> = 1, pads with 0 after it) and G's
    <eos> made likely, so that most rows end early; no pre-training. real: rows of random lengths."""
    torch.set_num_threads(1)
    cfg = resolve("tiny", overrides=list(overrides))
    cfg.data.train_path = "text.txt"  # variable length (the file is never read)
    cfg.train.g_pretrain_epochs = cfg.train.d_pretrain_steps = 0
    torch.manual_seed(cfg.seed)
    alg = get_algorithm(cfg.train.algorithm)
    m = build_models(cfg, alg, torch.device("cpu"))
    assert (m.gen.eos_token, m.gen.pad_token) == (1, 0)
    with torch.no_grad():
        m.gen.output.bias[1] += 2.0
    T = cfg.model.seq_len
    real = torch.randint(2, cfg.model.vocab_size, (cfg.data.num_train, T))
    ends = torch.randint(1, T + 1, (cfg.data.num_train,))
    real[torch.arange(T) >= ends.unsqueeze(1)] = 0
    real[torch.arange(cfg.data.num_train), (ends - 1)] = 1
    return cfg, real, m, alg


@pytest.mark.parametrize("value_rollouts", [0, 2])
def test_value_weights_are_d_from_the_eos_on_with_variable_length(monkeypatch, value_rollouts):
    """A row is complete at its <eos>: Q there (and on the <pad>s after it) is D(Y), Eq. 4's t = T case,
    not V's estimate of it; before it, V(Y_{1:t}) as at fixed length."""
    seen = spy_pg_step(monkeypatch)
    cfg, _, m, _ = variable_length_tiny("train.reward_estimator=value", f"train.value_rollouts={value_rollouts}")
    v_state = {k: p.clone() for k, p in m.extra["value"].model.state_dict().items()}
    m.disc.eval()
    value_mod.estimated_update(m, cfg, m.disc.frozen_scorer, "value")
    seqs, w = seen[0]
    ends = m.gen.ended(seqs)
    assert ends[:, :-1].any() and (~ends[:, :-1]).any()  # rows that end early, and positions before an <eos>
    net = m.extra["value"].model
    net.load_state_dict(v_state)
    with torch.no_grad():
        v, d = net(seqs), m.disc.prob_real(seqs)
    d = d.unsqueeze(1).expand_as(w)
    torch.testing.assert_close(w[ends], d[ends], atol=1e-5, rtol=0)
    torch.testing.assert_close(w[:, -1], d[:, -1], atol=1e-5, rtol=0)  # Q_T = D(Y)
    before = ~ends[:, :-1]
    torch.testing.assert_close(w[:, :-1][before], v[:, 1:-1][before], atol=1e-6, rtol=0)  # Q_t = V(Y_{1:t})


def test_v_fits_d_of_y_then_eq4_targets_over_the_prefixes_up_to_eos(monkeypatch):
    """V's targets: column 0 (the empty prefix) and column T are D(Y), columns 1..T-1 Eq. 4's Q of the
    value roll-outs; its loss counts the prefixes up to each row's <eos>, not the <pad>s after it."""
    cfg, _, m, _ = variable_length_tiny("train.reward_estimator=value", "train.value_rollouts=2")
    rewards, fits = [], []
    original_mc, original_fit = value_mod.mc_rewards, value_mod.fit_value
    monkeypatch.setattr(value_mod, "mc_rewards", lambda *a, **k: rewards.append(original_mc(*a, **k)) or rewards[-1])
    monkeypatch.setattr(value_mod, "fit_value", lambda v, o, s, t, mask, *a: fits.append((s, t, mask))
                        or original_fit(v, o, s, t, mask, *a))
    m.disc.eval()
    value_mod.estimated_update(m, cfg, m.disc.frozen_scorer, "value")
    [(seqs, targets, mask)], [q] = fits, rewards
    with torch.no_grad():
        d = m.disc.prob_real(seqs)
    torch.testing.assert_close(targets[:, 0], d.to(targets.dtype), atol=1e-5, rtol=0)
    assert torch.equal(targets[:, 0], targets[:, -1]) and torch.equal(targets[:, 1:], q)
    want = torch.cat([torch.ones_like(seqs[:, :1], dtype=torch.bool), m.gen.valid_mask(seqs)], dim=1)
    assert mask is not None and torch.equal(mask, want) and not mask.all()


@pytest.mark.parametrize("estimator", ["rollout", "value"])
def test_mean_reward_of_variable_length_rows_is_over_the_actions_taken(monkeypatch, estimator):
    """gen/mean_reward is the mean Q over the positions up to each row's <eos>: the <pad>s after it are no
    actions (counted, they weighed a short row's D(Y) once per <pad>)."""
    from seqgan.train import adversarial

    cfg, real, m, alg = variable_length_tiny(f"train.reward_estimator={estimator}", "train.adv_rounds=1")
    name = "generator_update" if estimator == "rollout" else "estimated_update"
    updates, logged = [], []
    original = getattr(adversarial, name)
    monkeypatch.setattr(adversarial, name, lambda *a, **k: updates.append(original(*a, **k)) or updates[-1])

    class Hooks(Quiet):
        def step_done(self, phase, step, metrics):
            logged.append(metrics)

    alg.train(m, real, cfg, Hooks(), alg.position())
    _, seqs, rewards = updates[-1][:3]  # the last g-step's is logged
    valid = m.gen.valid_mask(seqs)
    assert not valid.all()
    assert logged[0]["gen/mean_reward"] == pytest.approx(rewards[valid].double().mean().item(), rel=1e-6)
    assert logged[0]["gen/mean_reward"] != pytest.approx(rewards.mean().item(), rel=1e-3)


def test_value_rollouts_zero_uses_no_rollout(monkeypatch):
    cfg, real, m, alg = tiny("train.reward_estimator=value", "train.value_rollouts=0", "train.adv_rounds=1")
    monkeypatch.setattr(value_mod, "mc_rewards", lambda *a, **k: pytest.fail("no roll-out expected"))
    targets = []
    original = value_mod.fit_value
    monkeypatch.setattr(value_mod, "fit_value", lambda v, o, s, t, *a: targets.append(t) or original(v, o, s, t, *a))
    cfg.train.g_pretrain_epochs = cfg.train.d_pretrain_steps = 0
    alg.train(m, real, cfg, Quiet(), alg.position())
    t = targets[0]
    assert torch.equal(t, t[:, :1].expand_as(t))  # D(Y) for every prefix


# ---------------------------------------------------------------------------- V's fit


def test_v_loss_falls_and_v_correlates_with_monte_carlo_targets():
    """On a fixed batch and D: the regression onto Eq. 4's Q (N = 16) lowers the loss and V's
    predictions then correlate with the targets."""
    cfg, real, m, _ = tiny("train.reward_estimator=value", pretrained=True)
    m.disc.eval()
    torch.manual_seed(1)
    seqs = m.gen.sample(64)
    q = mc_rewards(m.gen, seqs, m.disc.frozen_scorer(), 16)
    targets = value_targets(q[:, -1], q)
    v = m.extra["value"]
    losses = [fit_value(v, m.opts["value"], seqs, targets, None, 1, 5.0) for _ in range(100)]
    assert losses[-1] < 0.3 * losses[0]
    with torch.no_grad():
        pred = v.model(seqs)
    corr = torch.corrcoef(torch.stack([pred[:, 1:].flatten(), q.flatten()]))[0, 1]
    assert corr > 0.8


@pytest.mark.parametrize("estimator", ["value", "rollout_baseline"])
def test_every_trained_parameter_changes(estimator):
    """One round from the initial models: every parameter of G, D and V changes."""
    cfg, real, m, alg = tiny(f"train.reward_estimator={estimator}", "train.adv_rounds=1")
    cfg.train.g_pretrain_epochs = cfg.train.d_pretrain_steps = 0
    before = {name: {n: p.detach().clone() for n, p in mod.named_parameters()}
              for name, mod in (("G", m.gen), ("D", m.disc), ("V", m.extra["value"].model))}
    alg.train(m, real, cfg, Quiet(), alg.position())
    for name, mod in (("G", m.gen), ("D", m.disc), ("V", m.extra["value"].model)):
        unchanged = {n for n, p in mod.named_parameters() if torch.equal(p, before[name][n])}
        assert not unchanged, f"{name}: {unchanged}"


# ------------------------------------------------------------------- runs and resume


# resume equals an uninterrupted run: tests/test_successors.py


def test_table1_rows_of_the_estimators(tmp_path, capsys):
    out = tmp_path / "t1"
    assert main(["table1", "--preset", "tiny", "--threads", "1", "--no-progress", "--set", "train.adv_rounds=1",
                 "--methods", "seqgan,seqgan_value,seqgan_rollout_baseline", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "SeqGAN (value network)" in table and "SeqGAN (roll-outs - V baseline)" in table
    for method in ("seqgan_value", "seqgan_rollout_baseline"):
        ckpt = torch.load(out / method / "checkpoints" / "latest.pt", weights_only=True)
        assert "value" in ckpt["extra_models"] and "value" in ckpt["optimizers"]
        assert any("value/loss" in r for r in strip_time(out / method / "metrics.jsonl"))
    assert torch.load(out / "seqgan" / "checkpoints" / "latest.pt", weights_only=True)["extra_models"] == {}


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize("overrides, message", [
    (["train.reward_estimator=mcts"], "train.reward_estimator must be one of rollout, value, rollout_baseline"),
    (["train.reward_estimator=value", "train.algorithm=maligan"], "applies to train.algorithm = 'seqgan' only"),
    (["train.value_rollouts=-1"], "train.value_rollouts must be an integer >= 0"),
    (["value.lr=0"], "value.lr must be positive"),
    (["value.steps=0"], "value.steps must be an integer >= 1"),
])
def test_bad_settings_say_what_to_change(overrides, message):
    with pytest.raises(SeqGANError, match=message):
        resolve("tiny", overrides=overrides)


# ------------------------------------------------------------- train, bf16 and torchrun


def test_train_on_a_text_file_with_the_value_network(tmp_path):
    """``seqgan train --set train.reward_estimator=value`` on a user's text: V trains, its checkpoint
    holds V, and the run's summary scores the adversarial G."""
    corpus = tmp_path / "corpus.txt"
    words = "the cat sat on a mat and the dog ran to the red door".split()
    gen = torch.Generator().manual_seed(0)
    lines = [" ".join(words[i] for i in torch.randint(len(words), (int(n),), generator=gen))
             for n in torch.randint(3, 9, (200,), generator=gen)]
    corpus.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--tokenizer", "word", "--max-len", "10", "--preset", "tiny",
                 "--threads", "1", "--no-progress", "--set", "train.reward_estimator=value",
                 "--set", "train.adv_rounds=2", "--out", str(out)]) == 0
    ckpt = torch.load(out / "checkpoints" / "latest.pt", weights_only=True)
    assert "value" in ckpt["extra_models"] and "value" in ckpt["optimizers"]
    losses = [r["value/loss"] for r in strip_time(out / "metrics.jsonl") if "value/loss" in r]
    assert len(losses) == 2 and all(l == l for l in losses)


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bfloat16 arithmetic")
def test_bf16_value_run_keeps_float32_parameters(tmp_path):
    out = tmp_path / "bf16"
    assert main(["oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--precision", "bf16",
                 "--set", "train.reward_estimator=value", "--out", str(out)]) == 0
    ckpt = torch.load(out / "checkpoints" / "latest.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in ckpt["extra_models"]["value"]["state"].values())
    assert math.isfinite(json.loads((out / "summary.json").read_text())["nll_oracle"]["seqgan"])


def test_torchrun_two_processes(tmp_path):
    """The real launcher: two gloo processes fit V through DDP (each its share of the batch)."""
    from test_ddp import torchrun

    proc = torchrun("oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--set",
                    "train.reward_estimator=rollout_baseline", "--set", "train.adv_rounds=2",
                    "--out", str(tmp_path / "run"))
    assert proc.stdout.count("| SeqGAN |") == 1
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["processes"] == 2 and math.isfinite(summary["nll_oracle"]["seqgan"])
    assert sum("value/loss" in r for r in strip_time(tmp_path / "run" / "metrics.jsonl")) == 2
