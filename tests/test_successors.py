"""MaliGAN and RankGAN (seqgan.train.maligan, seqgan.train.rankgan): their weights and rewards against
a direct computation of the papers' formulas, every parameter they train changes, and a resumed run
equals an uninterrupted one."""

import json

import pytest
import torch

from seqgan.cli import main
from seqgan.config import resolve
from seqgan.errors import SeqGANError
from seqgan.experiments import oracle as oracle_exp
from seqgan.experiments.oracle import build_oracle
from seqgan.experiments.run import build_discriminator, build_generator
from seqgan.train.algorithm import Models
from seqgan.train.maligan import maligan, normalised_weights, ratio_scorer
from seqgan.train.rankgan import expected_rank, features, rank_loss, rank_scorer
from seqgan.train.registry import get_algorithm
from run_helpers import Quiet, assert_same_checkpoint, strip_time

pytestmark = pytest.mark.usefixtures("restore_threads")


def tiny(algorithm: str):
    cfg = resolve("tiny", overrides=[f"train.algorithm={algorithm}"])
    torch.manual_seed(cfg.seed)
    real = build_oracle(cfg).sample(cfg.data.num_train)
    alg = get_algorithm(algorithm)
    return cfg, real, Models.create(build_generator(cfg), build_discriminator(cfg), cfg.train, alg.optimizers), alg


# --------------------------------------------------------------------------------- MaliGAN


def test_maligan_weights_equal_the_papers_estimator():
    """r_D(Y) = D / (1 - D), normalised over the batch at each position, minus b = 1/m."""
    torch.manual_seed(0)
    d = torch.rand(6, 4, dtype=torch.float64) * 0.98 + 0.01     # D of 6 sequences' roll-outs at 4 positions
    ratios = ratio_scorer(lambda seqs: d.reshape(-1))(torch.zeros(24, 3, dtype=torch.long)).view(6, 4)
    for b in range(6):
        for t in range(4):
            assert ratios[b, t].item() == pytest.approx(d[b, t].item() / (1 - d[b, t].item()), rel=1e-12)
    for baseline in (True, False):
        w = normalised_weights(ratios, baseline)
        for t in range(4):
            total = sum(ratios[b, t].item() for b in range(6))
            for b in range(6):
                want = ratios[b, t].item() / total - (1 / 6 if baseline else 0.0)
                assert w[b, t].item() == pytest.approx(want, abs=1e-7)
        assert w.dtype == torch.float32
    assert normalised_weights(ratios, True).sum(dim=0).abs().max() < 1e-6  # each position's weights sum to 0


def test_maligan_ratio_stays_finite_when_d_is_certain():
    r = ratio_scorer(lambda seqs: torch.ones(seqs.shape[0]))(torch.zeros(3, 2, dtype=torch.long))
    assert torch.isfinite(r).all() and (r > 1e5).all()
    zero = ratio_scorer(lambda seqs: torch.zeros(seqs.shape[0]))(torch.zeros(3, 2, dtype=torch.long))
    w = normalised_weights(zero.view(3, 1), baseline=False)   # D(Y) underflowed to 0 for the whole batch
    assert torch.isfinite(w).all() and torch.allclose(w, torch.full_like(w, 1 / 3))


# --------------------------------------------------------------------------------- RankGAN


def naive_expected_rank(y, y_refs, gamma, group):
    """Eqs. 1-3 of Lin et al. written out: cosines, a softmax over each comparison set per reference,
    the mean over the references."""
    out = []
    for lo in range(0, y.shape[0], group):
        block = y[lo:lo + group]
        for s in range(block.shape[0]):
            per_ref = []
            for u in range(y_refs.shape[0]):
                cos = [float(block[k] @ y_refs[u] / (block[k].norm() * y_refs[u].norm())) for k in range(block.shape[0])]
                den = sum(torch.exp(torch.tensor(gamma * c, dtype=torch.float64)).item() for c in cos)
                per_ref.append(torch.exp(torch.tensor(gamma * cos[s], dtype=torch.float64)).item() / den)
            out.append(sum(per_ref) / len(per_ref))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("gamma, group", [(1.0, 4), (2.5, 8)])
def test_expected_rank_equals_the_papers_formula(gamma, group):
    torch.manual_seed(1)
    y, refs = torch.randn(8, 5, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    got = expected_rank(y, refs, gamma, group)
    assert torch.allclose(got, naive_expected_rank(y, refs, gamma, group), rtol=0, atol=1e-12)
    assert torch.allclose(got.view(-1, group).sum(dim=1), torch.ones(8 // group, dtype=torch.float64), rtol=0, atol=1e-12)


def test_rank_scorer_equals_the_rankers_own_features():
    """The table-based reward scorer gives R of the ranker's features, comparison sets of B rows."""
    cfg, real, m, _ = tiny("rankgan")
    m.disc.eval()
    seqs = m.gen.sample(4 * 3)
    torch.manual_seed(5)
    scorer = rank_scorer(m.disc, real, 4, cfg.rankgan)
    got = scorer(seqs)
    torch.manual_seed(5)  # the same reference set
    refs = real[torch.randint(real.shape[0], (cfg.rankgan.references,))]
    with torch.no_grad():
        want = expected_rank(features(m.disc, seqs), features(m.disc, refs), cfg.rankgan.gamma, 4)
    assert torch.allclose(got, want, atol=1e-5)


def test_rank_loss_pushes_real_up_and_generated_down():
    cfg, real, m, _ = tiny("rankgan")
    fake = m.gen.sample(16)
    tokens, is_real = torch.cat([real[:16], fake]), torch.cat([torch.ones(16, dtype=torch.bool),
                                                               torch.zeros(16, dtype=torch.bool)])
    refs = real[16:32]
    m.disc.eval()
    loss = rank_loss(m.disc, tokens, is_real, refs, 1.0)
    with torch.no_grad():
        log_r = expected_rank(features(m.disc, tokens), features(m.disc, refs), 1.0).log()
    assert loss.item() == pytest.approx(-(log_r[:16].mean() - log_r[16:].mean()).item(), rel=1e-5)


def test_rankgan_ranker_passes_follow_the_authors(monkeypatch):
    """A ranker step takes train.d_epochs passes in the ranker's pre-training (authors: 3) and
    rankgan.adv_epochs in the rounds (authors: 1)."""
    from seqgan.train import rankgan

    cfg, real, m, alg = tiny("rankgan")
    cfg.train.adv_rounds, cfg.train.g_pretrain_epochs, cfg.train.d_pretrain_steps, cfg.train.d_steps = 1, 0, 2, 2
    cfg.train.d_epochs, cfg.rankgan.adv_epochs = 3, 1
    seen = []
    monkeypatch.setattr(rankgan, "ranker_step", lambda *a: seen.append(a[4]) or 0.0)
    alg.train(m, real, cfg, Quiet(), alg.position())
    assert seen == [3, 3, 1, 1]
    with pytest.raises(SeqGANError, match="rankgan.adv_epochs must be an integer >= 1"):
        resolve("tiny", overrides=["train.algorithm=rankgan", "rankgan.adv_epochs=0"])


def test_a_process_without_rows_of_a_short_batch_adds_nothing_to_the_ranker(monkeypatch):
    """Process 1 of 2 has no row of a one-row batch and ranks shard_batch's stand-in row (process 0's) at
    full weight: harmless only because a comparison set of one row has R = 1, so loss 0. Batch size 1."""
    from seqgan import distributed as dist
    from seqgan.train import rankgan

    cfg, real, m, _ = tiny("rankgan")
    cfg.model.d_dropout_keep = 1.0
    monkeypatch.setattr(dist, "world", lambda: dist.World(rank=1, size=2))
    monkeypatch.setattr(dist, "share", lambda n: n)  # as if the other process drew them
    monkeypatch.setattr(dist, "gather_rows", lambda x: x)
    monkeypatch.setattr(dist, "all_reduce_sum", lambda t: t)
    before = {n: p.detach().clone() for n, p in m.disc.named_parameters()}
    loss = rankgan.ranker_step(m.gen_replica, m.disc_replica, m.opts["d"], real[:3], 1, 1, cfg.rankgan)
    assert loss == 0.0
    assert all(torch.equal(p, before[n]) for n, p in m.disc.named_parameters())


# ------------------------------------------------------------------- both: they train


@pytest.mark.parametrize("name, untouched", [("maligan", set()), ("rankgan", {"output.weight", "output.bias"})])
def test_every_trained_parameter_changes(name, untouched):
    """After pre-training and one round, every parameter of G and D changes, but RankGAN's D output
    layer, which the ranking loss does not use (it scores features, not classes)."""
    torch.set_num_threads(1)
    cfg, real, m, alg = tiny(name)
    cfg.train.adv_rounds = 1
    cfg.train.g_pretrain_epochs = cfg.train.d_pretrain_steps = 0
    g0 = {n: p.detach().clone() for n, p in m.gen.named_parameters()}
    d0 = {n: p.detach().clone() for n, p in m.disc.named_parameters()}
    alg.train(m, real, cfg, Quiet(), alg.position())
    assert {n for n, p in m.gen.named_parameters() if not torch.equal(p, g0[n])} == set(g0)
    assert {n for n, p in m.disc.named_parameters() if not torch.equal(p, d0[n])} == set(d0) - untouched


def test_maligan_basic_gives_one_weight_per_sequence():
    """maligan.rollouts = false: every position of a sequence has the weight of the whole sequence."""
    cfg, real, m, alg = tiny("maligan")
    cfg.maligan.rollouts = False
    cfg.train.adv_rounds, cfg.train.g_pretrain_epochs, cfg.train.d_pretrain_steps = 1, 0, 0
    seen = []
    from seqgan.train import policy_gradient

    original = policy_gradient.pg_step

    def spy(gen, opt, seqs, weights, clip):
        with torch.no_grad():  # r_D of each sequence itself, by the D of this g-step
            seen.append((ratio_scorer(m.disc.frozen_scorer())(seqs), weights.clone()))
        return original(gen, opt, seqs, weights, clip)

    def no_rollouts(*args, **kwargs):
        raise AssertionError("MaliGAN-basic uses r_D of Y itself: it needs no roll-outs")

    policy_gradient.pg_step, mc = spy, policy_gradient.mc_rewards
    policy_gradient.mc_rewards = no_rollouts
    try:
        m.disc.eval()
        maligan(m, real, cfg, Quiet(), alg.position())
    finally:
        policy_gradient.pg_step, policy_gradient.mc_rewards = original, mc
    own, w = seen[0]
    assert torch.equal(w, w[:, :1].expand_as(w)) and w.sum(dim=0).abs().max() < 1e-6
    # the weight is r_D of the sequence itself (not a roll-out's estimate), normalised, minus 1/m
    torch.testing.assert_close(w, normalised_weights(own.unsqueeze(1).expand_as(w), True))


def results(out, name):
    summary = json.loads((out / "summary.json").read_text())
    return summary["nll_oracle"], summary["nll_test"], (out / "samples" / f"{name}.txt").read_text()


@pytest.mark.parametrize("flags, name, phase, step", [
    (["--algorithm", "maligan"], "maligan", "maligan", 2),
    (["--algorithm", "rankgan"], "rankgan", "ranker_pretrain", 1),
    (["--algorithm", "rankgan"], "rankgan", "rankgan", 1),
    (["--algorithm", "relgan"], "relgan", "mle", 2),
    (["--algorithm", "relgan"], "relgan", "relgan", 1),
    (["--algorithm", "leakgan"], "leakgan", "mle", 2),
    (["--algorithm", "leakgan"], "leakgan", "leakgan", 1),
    (["--set", "train.reward_estimator=value"], "seqgan", "adversarial", 1),
    (["--algorithm", "seqgan_rollout_baseline"], "seqgan_rollout_baseline", "adversarial", 1),
])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch, capsys, flags, name, phase, step):
    """Interrupted in a phase of an algorithm of its own (or with a model of its own, SeqGAN's V) and
    resumed: the metrics, the results and every model's weights are those of an uninterrupted run."""
    args = ["oracle", "--preset", "tiny", "--threads", "1", "--no-progress", *flags]
    ref = tmp_path / "ref"
    assert main([*args, "--out", str(ref)]) == 0
    original = oracle_exp.OracleRun.step_done

    def interrupting(self, ph, st, metrics):
        if (ph, st) == (phase, step):
            self.interrupt.requested = True  # as if Ctrl-C arrived during this step
        return original(self, ph, st, metrics)

    out = tmp_path / "run"
    monkeypatch.setattr(oracle_exp.OracleRun, "step_done", interrupting)
    assert main([*args, "--out", str(out)]) == 130
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(oracle_exp.OracleRun, "step_done", original)
    assert main(["oracle", "--resume", "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    assert results(out, name) == results(ref, name)
    assert strip_time(out / "metrics.jsonl") == strip_time(ref / "metrics.jsonl")
    assert_same_checkpoint(ref / "checkpoints" / "latest.pt", out / "checkpoints" / "latest.pt")


@pytest.mark.parametrize("name, phase, step", [("relgan", "mle", 2), ("relgan", "relgan", 2),
                                               ("leakgan", "mle", 3), ("leakgan", "leakgan", 2)])
def test_an_interrupted_table1_method_resumes_to_the_same_result(tmp_path, monkeypatch, name, phase, step):
    """A method with its own pre-training in table1, stopped in it or in its adversarial phase and
    resumed, ends where the uninterrupted method ends."""
    from seqgan.experiments.table1 import MethodRun

    args = ["table1", "--preset", "tiny", "--threads", "1", "--no-progress", "--methods", name]
    ref = tmp_path / "ref"
    assert main([*args, "--out", str(ref)]) == 0
    original = MethodRun.step_done

    def stop(self, ph, st, metrics):
        self.interrupt.requested = (ph, st) == (phase, step)
        original(self, ph, st, metrics)

    out = tmp_path / "run"
    monkeypatch.setattr(MethodRun, "step_done", stop)
    assert main([*args, "--out", str(out)]) == 130
    assert not (out / name / "result.json").exists()
    monkeypatch.setattr(MethodRun, "step_done", original)
    assert main(["table1", "--resume", "--methods", name, "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    got, want = (json.loads((d / name / "result.json").read_text()) for d in (out, ref))
    assert (got["nll_oracle"], got["stderr"]) == (want["nll_oracle"], want["stderr"])
    assert strip_time(out / name / "metrics.jsonl") == strip_time(ref / name / "metrics.jsonl")
