"""Scheduled Sampling and PG-BLEU (seqgan.train.scheduled_sampling, seqgan.train.pg_bleu): the edge cases that define them, a direct
BLEU computation of the reward, and that each training step changes every parameter of G."""

import math

import pytest
import torch

from seqgan.config import resolve
from seqgan.errors import SeqGANError
from seqgan.experiments.oracle import build_oracle
from seqgan.experiments.run import build_generator
from seqgan.models.generator import Generator, token_nll
from seqgan.rollout import mc_rewards, rollout_sequences
from seqgan.experiments.run import build_discriminator
from seqgan.train.algorithm import Models
from seqgan.train.pg_bleu import bleu_scorer
from seqgan.train.policy_gradient import generator_update
from seqgan.train.scheduled_sampling import (SS_SCHEDULES, scheduled_sampling_forward, scheduled_sampling_loss,
                                              ss_epoch, ss_probability)
from seqgan.train.mle import mle_epoch, mle_weights


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These shapes are tiny: one thread avoids OpenMP's spinning on a shared 2-core machine (10-50x here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny():
    cfg = resolve("tiny")
    torch.manual_seed(cfg.seed)
    real = build_oracle(cfg).sample(cfg.data.num_train)
    return cfg, build_generator(cfg), real


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# ------------------------------------------------------------------------ the schedule


@pytest.mark.parametrize("schedule", SS_SCHEDULES)
def test_schedule_rises_to_its_maximum(schedule):
    probs = [ss_probability(schedule, e, 20, 0.4, 8.0) for e in range(1, 21)]
    assert all(b > a for a, b in zip(probs, probs[1:]))
    assert 0.0 < probs[0] < 0.2 and probs[-1] == pytest.approx(0.4, abs=1e-12)


def test_schedule_shapes():
    assert [ss_probability("linear", e, 4, 1.0) for e in range(1, 5)] == [0.25, 0.5, 0.75, 1.0]
    # exponential rises fast then saturates; inverse sigmoid is slow, fast, slow, and symmetric about mid-run
    assert ss_probability("exponential", 1, 10, 1.0, 8.0) == pytest.approx((1 - math.exp(-0.8)) / (1 - math.exp(-8)))
    assert ss_probability("inverse_sigmoid", 5, 10, 1.0, 8.0) == pytest.approx(0.5)
    assert ss_probability("inverse_sigmoid", 1, 10, 1.0, 8.0) < ss_probability("linear", 1, 10, 1.0)
    assert ss_probability("inverse_sigmoid", 1, 1, 0.3) == pytest.approx(0.3)  # one epoch: the maximum at once


@pytest.mark.parametrize("setting, message", [
    ("ss.schedule=cosine", "ss.schedule must be one of"),
    ("ss.max_prob=1.5", "ss.max_prob must be in"),
    ("ss.steepness=0.0", "ss.steepness must be positive"),
    ("pg_bleu.order=0", "pg_bleu.order must be an integer >= 1"),
])
def test_baseline_config_rules(setting, message):
    with pytest.raises(SeqGANError, match=message):
        resolve("tiny", overrides=[setting])
    with pytest.raises(SeqGANError, match="epoch must be in"):
        ss_probability("linear", 0, 5, 0.5)


# -------------------------------------------------------------------- Scheduled Sampling


def test_probability_zero_is_teacher_forcing():
    """p = 0 feeds the true previous token: the logits are G's teacher-forced logits and no draw is made."""
    cfg, gen, real = tiny()
    batch = real[:16]
    g = torch.Generator().manual_seed(1)
    state = g.get_state()
    logits, inputs = scheduled_sampling_forward(gen, batch, 0.0, g)
    assert torch.equal(inputs, gen.shift_right(batch))
    torch.testing.assert_close(logits, gen(batch), atol=1e-5, rtol=1e-5)
    assert torch.equal(g.get_state(), state)


def test_probability_zero_epoch_equals_mle_epoch():
    """One epoch of Scheduled Sampling at p = 0 is one epoch of MLE: same batches, same loss, same update
    (in float64, so that the two code paths' rounding cannot hide a different batch or update)."""
    cfg, gen, real = tiny()
    gen, twin = gen.double(), build_generator(cfg).double()
    twin.load_state_dict(gen.state_dict())
    opt_a, opt_b = (torch.optim.Adam(m.parameters(), lr=cfg.train.g_lr) for m in (gen, twin))
    torch.manual_seed(7)
    loss_mle = mle_epoch(gen, opt_a, real, cfg.train.batch_size, cfg.train.g_grad_clip)
    torch.manual_seed(7)
    loss_ss = ss_epoch(twin, opt_b, real, cfg.train.batch_size, cfg.train.g_grad_clip, 0.0, torch.Generator())
    assert loss_ss == pytest.approx(loss_mle, rel=1e-7)
    for (name, a), b in zip(gen.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=0, msg=name)


def test_probability_one_feeds_only_own_samples():
    """p = 1: every input after the start token is G's own sample (exactly G.sample's draws given the same
    RNG), so the logits do not depend on the true tokens at all."""
    cfg, gen, real = tiny()
    B, T = 32, cfg.model.seq_len
    logits, inputs = scheduled_sampling_forward(gen, real[:B], 1.0, torch.Generator().manual_seed(3))
    free = gen.sample(B, generator=torch.Generator().manual_seed(3))
    assert torch.equal(inputs[:, 0], torch.full((B,), cfg.model.start_token))
    assert torch.equal(inputs[:, 1:], free[:, :T - 1])
    other, inputs2 = scheduled_sampling_forward(gen, real[B:2 * B], 1.0, torch.Generator().manual_seed(3))
    assert not torch.equal(real[:B], real[B:2 * B])
    assert torch.equal(inputs2, inputs) and torch.equal(other, logits)


def test_intermediate_probability_mixes_per_token():
    """p = 0.2: about a fifth of the fed tokens are G's samples, drawn per row and position independently
    (p = 0.5 could not tell p from 1 - p, and one draw per row gave the same shares)."""
    gen = Generator(400, 8, 8, 12)
    batch = torch.randint(0, 400, (3000, 12))
    _, inputs = scheduled_sampling_forward(gen, batch, 0.2, torch.Generator().manual_seed(0))
    own = (inputs[:, 1:] != batch[:, :-1]).float()  # a sample equal to the true token (rare) counts as true
    assert 0.18 < own.mean().item() < 0.21
    assert (own.mean(dim=0) - 0.2).abs().max() < 0.04
    both = (own[:, :-1] * own[:, 1:]).mean().item()  # two neighbours both G's: p^2 = 0.04 if independent
    assert 0.03 < both < 0.05


def test_ss_epoch_trains_every_parameter():
    cfg, gen, real = tiny()
    opt = torch.optim.Adam(gen.parameters(), lr=cfg.train.g_lr)
    before = snapshot(gen)
    t = cfg.train
    losses = [ss_epoch(gen, opt, real, t.batch_size, t.g_grad_clip, 0.25, torch.Generator().manual_seed(e))
              for e in range(3)]
    assert {n for n, p in gen.named_parameters() if not torch.equal(p, before[n])} == set(before)
    assert losses[-1] < losses[0] and all(math.isfinite(x) for x in losses)


def variable_length_rows():
    """G with <eos> = 1 and <pad> = 0, and rows that end early (padded after <eos>), at the last position,
    or never."""
    torch.manual_seed(0)
    gen = Generator(9, 8, 8, 6, start_token=2, eos_token=1, pad_token=0)
    batch = torch.tensor([[3, 4, 1, 0, 0, 0], [5, 6, 3, 4, 5, 7], [1, 0, 0, 0, 0, 0], [8, 3, 4, 5, 6, 1]])
    return gen, batch


@pytest.mark.parametrize("prob", [0.0, 0.5, 1.0])
def test_scheduled_sampling_on_variable_length_rows_counts_tokens_up_to_eos(prob):
    """Real text: the <pad>s after <eos> have NLL +inf (G's <pad> logit is -inf); the loss is the mean NLL
    of the tokens up to and including each row's <eos>, as MLE's, finite and with finite gradients."""
    gen, batch = variable_length_rows()
    loss = scheduled_sampling_loss(gen, batch, None, prob, torch.Generator().manual_seed(4))
    logits, _ = scheduled_sampling_forward(gen, batch, prob, torch.Generator().manual_seed(4))  # the same draws
    nll = -torch.log_softmax(logits, dim=-1).gather(2, batch.unsqueeze(2)).squeeze(2)
    valid = torch.tensor([[1, 1, 1, 0, 0, 0], [1] * 6, [1, 0, 0, 0, 0, 0], [1] * 6], dtype=torch.bool)
    assert torch.isinf(nll[~valid]).all()
    assert math.isfinite(loss.item())
    torch.testing.assert_close(loss, nll[valid].mean())
    # explicit weights (a distributed process's share) select the pads out too, rather than inf * 0 = nan
    weighted = scheduled_sampling_loss(gen, batch, mle_weights(gen, batch), prob, torch.Generator().manual_seed(4))
    torch.testing.assert_close(weighted, loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in gen.parameters())
    if prob == 0.0:  # teacher forcing: MLE's loss, and two processes' shares (as ss_epoch weighs them) add up to it
        torch.testing.assert_close(loss, gen.weighted_nll(batch, mle_weights(gen, batch)), atol=1e-5, rtol=1e-5)
        shares = [scheduled_sampling_loss(gen, batch[rows], mle_weights(gen, batch)[rows] * 2, 0.0)
                  for rows in (slice(0, 2), slice(2, 4))]
        torch.testing.assert_close(sum(shares) / 2, loss)


def test_ss_epoch_trains_on_variable_length_data():
    """An epoch on rows with <eos> and <pad>s is finite (an infinite loss was a skipped step, an error)."""
    gen, batch = variable_length_rows()
    data = batch.repeat(4, 1)
    opt = torch.optim.Adam(gen.parameters(), lr=0.01)
    losses = [ss_epoch(gen, opt, data, 8, 5.0, 0.25, torch.Generator().manual_seed(e)) for e in range(3)]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


def test_scheduled_sampling_loss_at_fixed_length_is_the_mean_over_all_tokens():
    """The oracle (no <eos>): every position counts; the loss is the plain mean, bit for bit."""
    cfg, gen, real = tiny()
    batch = real[:16]
    loss = scheduled_sampling_loss(gen, batch, None, 0.25, torch.Generator().manual_seed(2))
    logits, _ = scheduled_sampling_forward(gen, batch, 0.25, torch.Generator().manual_seed(2))
    assert torch.equal(loss, token_nll(logits, batch).mean())


# --------------------------------------------------------------------------------- PG-BLEU


def test_bleu_reward_equals_direct_nltk_bleu():
    """Q of Eq. 4 with the BLEU scorer = the mean over the N completions of NLTK's sentence BLEU against
    the training set, computed here one completion at a time; Q at t = T is the BLEU of Y itself."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    gen = Generator(12, 6, 8, 6).double()
    refs = torch.randint(0, 12, (40, 6))
    seqs = torch.cat([refs[:1], torch.randint(0, 12, (2, 6))])  # one sequence from S, two others
    order, N = 3, 3
    B, T = seqs.shape
    uniforms = torch.rand(T - 1, N, B, T, dtype=torch.float64)
    q = mc_rewards(gen, seqs, bleu_scorer(refs, order), N, uniforms=uniforms)
    rolled = rollout_sequences(gen, seqs, N, uniforms=uniforms)
    references = refs.tolist()
    smooth = SmoothingFunction().method1

    def direct(seq: torch.Tensor) -> float:
        return sentence_bleu(references, seq.tolist(), weights=(1 / order,) * order, smoothing_function=smooth)

    for b in range(B):
        for t in range(1, T):
            expected = sum(direct(rolled[t - 1, n, b]) for n in range(N)) / N
            assert q[b, t - 1].item() == pytest.approx(expected, abs=1e-6)
        assert q[b, T - 1].item() == pytest.approx(direct(seqs[b]), abs=1e-6)
    assert q[0, -1].item() == pytest.approx(1.0)  # a training sequence matches itself exactly
    assert q.dtype == torch.float32


def test_bleu_reward_on_real_data_scores_words_only():
    """On real data rows end in <eos> and <pad>s: the reward is NLTK's BLEU of the words before <eos>
    against S's words, so an empty sample (<eos> at once) scores 0, not the pads' free matches."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    eos, pad, T = 1, 0, 8
    gen = torch.Generator().manual_seed(3)

    def rows(n: int) -> torch.Tensor:
        ids = torch.randint(2, 9, (n, T), generator=gen)
        ends = torch.randint(0, T, (n,), generator=gen)
        ids[torch.arange(n), ends] = eos
        after = torch.arange(T)[None, :] > ends[:, None]
        return ids.masked_fill(after, pad)

    refs, seqs = rows(30), rows(12)
    refs[0, 1:] = pad
    refs[0, :2] = torch.tensor([5, eos])  # a one-word line
    seqs[0] = pad
    seqs[0, 0] = eos                       # an empty sample
    def strip(row: torch.Tensor) -> list[int]:
        out = row.tolist()
        return out[:out.index(eos)] if eos in out else out

    smooth = SmoothingFunction().method1
    references = [strip(r) for r in refs]
    got = bleu_scorer(refs, 2, eos_token=eos)(seqs)
    for b in range(len(seqs)):
        hyp = strip(seqs[b])
        expected = sentence_bleu(references, hyp, weights=(0.5, 0.5), smoothing_function=smooth) if hyp else 0.0
        assert got[b].item() == pytest.approx(expected, abs=1e-6), b
    assert got[0].item() == 0.0
    assert bleu_scorer(refs, 2)(seqs)[0].item() > 0.5  # counted as tokens, <pad>s match each other


def test_pg_bleu_step_trains_every_parameter():
    cfg, gen, real = tiny()
    m = Models.create(gen, build_discriminator(cfg), cfg.train)
    before = snapshot(gen)
    scorer = bleu_scorer(real, 2)
    loss, _, rewards = generator_update(m, cfg.train, lambda: scorer)
    assert {n for n, p in gen.named_parameters() if not torch.equal(p, before[n])} == set(before)
    assert 0.0 < rewards.mean().item() <= 1.0 and 0.0 < rewards[:, -1].mean().item() <= 1.0
    assert math.isfinite(loss)


def test_oracle_run_of_a_baseline_logs_no_accuracy_of_the_d_it_leaves_alone(tmp_path):
    """MLE / SS / PG-BLEU leave D as pre-training left it: their own phase logs no disc/acc_* (nor draws the
    samples for it), as table1 does; the shared pre-training still logs D's accuracy."""
    import json

    from seqgan.cli import main

    out = tmp_path / "mle"
    assert main(["oracle", "--preset", "tiny", "--threads", "1", "--no-progress", "--algorithm", "mle",
                 "--set", "train.adv_rounds=5", "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("disc/acc_real" in r for r in records if r["phase"] == "mle")
    assert any("disc/acc_real" in r for r in records if r["phase"] == "d_pretrain")
    own = [r for r in records if r["phase"] not in ("mle", "d_pretrain")]
    assert own and "eval/nll_oracle" in own[-1]
    assert not any(k.startswith("disc/acc") for r in own for k in r)
