"""The fused, chunked output layer + cross-entropy equals the plain computation."""

import torch
from torch.nn import functional as F

from seqgan.models import linear_ce
from seqgan.models.generator import Generator
from seqgan.train.policy_gradient import pg_loss


def test_weighted_linear_ce_matches_plain_autograd(monkeypatch):
    monkeypatch.setattr(linear_ce, "CHUNK_ROWS", 7)  # several chunks, a ragged last one
    h = torch.randn(30, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(11, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(11, dtype=torch.float64, requires_grad=True)
    y, q = torch.randint(0, 11, (30,)), torch.rand(30, dtype=torch.float64)
    fused = linear_ce.weighted_linear_ce(h, w, b, y, q) * 1.7
    grads = torch.autograd.grad(fused, (h, w, b))
    plain = (F.cross_entropy(F.linear(h, w, b), y, reduction="none") * q).sum() * 1.7
    expected = torch.autograd.grad(plain, (h, w, b))
    torch.testing.assert_close(fused, plain)
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e)
    torch.testing.assert_close(linear_ce.linear_nll(h, w, b, y),
                               F.cross_entropy(F.linear(h, w, b), y, reduction="none"))


def test_generator_pg_loss_fused_equals_formula_with_eos():
    gen = Generator(9, 4, 6, 6, start_token=1, eos_token=1, pad_token=0).double()
    seqs = torch.tensor([[3, 1, 0, 0, 0, 0], [2, 3, 4, 5, 2, 3]])
    q = torch.rand(2, 6, dtype=torch.float64)
    mask = gen.valid_mask(seqs)
    fused = gen.weighted_nll(seqs, torch.where(mask, q, 0.0))
    g_fused = torch.autograd.grad(fused, list(gen.parameters()))
    formula = pg_loss(gen.log_probs(seqs), q, mask)
    g_formula = torch.autograd.grad(formula, list(gen.parameters()))
    torch.testing.assert_close(fused, formula)
    for a, e in zip(g_fused, g_formula):
        torch.testing.assert_close(a, e)
    with torch.no_grad():  # the no-grad chunked path gives the same log-probabilities
        lp = gen.log_probs(seqs)
    torch.testing.assert_close(torch.where(mask, lp, 0.0), torch.where(mask, gen.log_probs(seqs), 0.0).detach())
