"""seqgan.fastexp: exp(x - max) through exp2, against float64."""

import torch

from seqgan.fastexp import exp_shifted_


def test_matches_float64_exp():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5000, generator=g) * 4
    x[0, :7] = float("-inf")
    want = torch.exp(x.double() - x.double().amax(1, keepdim=True))
    y = x.clone()
    top = exp_shifted_(y)
    assert torch.equal(top, x.amax(1, keepdim=True))
    assert (y[0, :7] == 0).all()
    rel = ((y.double() - want).abs() / want.clamp_min(1e-300))[want > 1e-8]  # arguments above ~ -18
    assert rel.max().item() < 2e-6
    assert (y.double() - want).abs().max().item() < 1e-6


def test_softmax_and_log_sum_exp_agree_with_torch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 5000, generator=g) * 3
    y = x.clone()
    top = exp_shifted_(y)
    s = y.sum(1, keepdim=True)
    torch.testing.assert_close(top + s.log(), torch.logsumexp(x, 1, keepdim=True), rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(y / s, torch.softmax(x, 1), rtol=1e-5, atol=1e-8)
