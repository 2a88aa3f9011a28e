import copy

import pytest
import torch

from seqgan.models.generator import Generator
from seqgan.rollout import mean_reward
from seqgan.train.policy_gradient import pg_loss, pg_step
from seqgan.train.step import NO_CLIP


def test_pg_loss_is_authors_formula_on_hand_case():
    # two sequences of two tokens: -sum log p * Q
    logp = torch.log(torch.tensor([[0.5, 0.25], [0.125, 1.0]]))
    q = torch.tensor([[1.0, 2.0], [0.5, 3.0]])
    expected = -(1.0 * torch.log(torch.tensor(0.5)) + 2.0 * torch.log(torch.tensor(0.25))
                 + 0.5 * torch.log(torch.tensor(0.125)) + 3.0 * 0.0)
    torch.testing.assert_close(pg_loss(logp, q), expected)


@pytest.mark.parametrize("eos", [False, True])
def test_pg_step_is_one_gradient_step_on_the_authors_loss(eos):
    """pg_step's own weights (the <eos> mask, the fused loss) against Eq. 8's loss -sum Q log G computed
    on G's log-probabilities: the same loss, and with SGD (lr 1, no clipping) the same step. A baseline,
    a normalisation or the <pad>s' rewards would each change both."""
    kw = {"eos_token": 1, "pad_token": 0} if eos else {}
    gen = Generator(20, 8, 8, 5, init_std=1.0, **kw).double()
    seqs = torch.randint(2, 20, (6, 5))
    if eos:
        seqs[0, 1:], seqs[3, 3:] = torch.tensor([1, 0, 0, 0]), torch.tensor([1, 0])
    rewards = torch.rand(6, 5, dtype=torch.float64)
    ref = copy.deepcopy(gen)
    want = pg_loss(ref.log_probs(seqs), rewards, ref.valid_mask(seqs) if eos else None)
    want.backward()
    loss = pg_step(gen, torch.optim.SGD(gen.parameters(), lr=1.0), seqs, rewards, grad_clip=NO_CLIP)
    assert loss == pytest.approx(want.item(), rel=1e-9)
    for (name, p), q in zip(gen.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p, q.detach() - q.grad, msg=name)


def test_pg_step_raises_probability_of_rewarded_tokens():
    gen = Generator(20, 8, 8, 5)
    seqs = gen.sample(16)
    rewards = torch.zeros(16, 5)
    rewards[:8] = 1.0  # reward the first half only
    opt = torch.optim.Adam(gen.parameters(), lr=0.01)
    with torch.no_grad():
        before = gen.log_probs(seqs).sum(1)
    for _ in range(5):
        pg_step(gen, opt, seqs, rewards, grad_clip=5.0)
    with torch.no_grad():
        after = gen.log_probs(seqs).sum(1)
    # the objective sum_{b,t} Q_bt log G(y_bt) rises, and with it most rewarded sequences' likelihood
    assert after[:8].sum() > before[:8].sum() + 1.0
    assert (after[:8] > before[:8]).float().mean() >= 0.75


def test_mean_reward_is_over_the_positions_up_to_eos():
    """gen/mean_reward: every position at fixed length (the plain mean, unchanged); with variable length
    the positions up to and including each row's <eos>, not the <pad>s after it."""
    seqs = torch.tensor([[3, 1, 0, 0], [4, 5, 3, 2]])
    rewards = torch.tensor([[0.2, 0.9, 0.9, 0.9], [0.1, 0.1, 0.1, 0.5]])
    assert mean_reward(Generator(6, 4, 4, 4), seqs, rewards) == rewards.mean().item()
    text = Generator(6, 4, 4, 4, eos_token=1, pad_token=0)
    assert mean_reward(text, seqs, rewards) == pytest.approx((0.2 + 0.9 + 0.1 + 0.1 + 0.1 + 0.5) / 6)
