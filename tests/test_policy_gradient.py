import pytest
import torch

from seqgan.models.generator import Generator
from seqgan.rollout import mean_reward
from seqgan.train.policy_gradient import pg_loss, pg_step


def test_pg_loss_is_authors_formula_on_hand_case():
    # two sequences of two tokens: -sum log p * Q
    logp = torch.log(torch.tensor([[0.5, 0.25], [0.125, 1.0]]))
    q = torch.tensor([[1.0, 2.0], [0.5, 3.0]])
    expected = -(1.0 * torch.log(torch.tensor(0.5)) + 2.0 * torch.log(torch.tensor(0.25))
                 + 0.5 * torch.log(torch.tensor(0.125)) + 3.0 * 0.0)
    torch.testing.assert_close(pg_loss(logp, q), expected)


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
