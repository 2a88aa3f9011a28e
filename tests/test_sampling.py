"""The two-level inverse-CDF draw of seqgan.sampling against a float64 inverse CDF and softmax frequencies."""

import numpy as np
import pytest
import torch
from scipy import stats

from seqgan.errors import SeqGANError
from seqgan.sampling import layout, sample_categorical, sample_from_hidden


def reference_draw(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Plain inverse CDF in float64: the first token whose cumulative probability exceeds u."""
    p = torch.softmax(logits.double(), dim=1)
    return torch.searchsorted(p.cumsum(1), u.double().unsqueeze(1), right=True).squeeze(1).clamp_(max=p.shape[1] - 1)


@pytest.mark.parametrize("vocab", [1, 2, 37, 100, 5000])
def test_layout_covers_the_vocabulary(vocab):
    blocks, size = layout(vocab)
    assert blocks * size >= vocab and (blocks - 1) * size < vocab  # the last block holds real tokens


@pytest.mark.parametrize("vocab", [37, 5000])  # 37: padded last block; 5000 = 70 x 72 - 40
def test_matches_float64_inverse_cdf(vocab):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20_000, vocab, generator=g) * 2
    u = torch.rand(20_000, generator=g, dtype=torch.float64)
    got, want = sample_categorical(logits, uniforms=u), reference_draw(logits, u)
    # Differences only from float32 rounding of the sums, i.e. for u within ~1e-6 of a boundary.
    assert (got != want).sum().item() <= 20  # 0.1%
    cdf = torch.softmax(logits.double(), 1).cumsum(1)
    for r in (got != want).nonzero().flatten().tolist():
        assert (cdf[r] - u[r]).abs().min().item() < 1e-5


def test_from_hidden_equals_categorical_on_its_logits():
    g = torch.Generator().manual_seed(1)
    h, w, b = torch.randn(3000, 8, generator=g), torch.randn(37, 8, generator=g), torch.randn(37, generator=g)
    u = torch.rand(3000, generator=g, dtype=torch.float64)
    assert torch.equal(sample_from_hidden(h, w, b, uniforms=u),
                       sample_categorical(torch.nn.functional.linear(h, w, b), uniforms=u))


@pytest.mark.parametrize("u_value", [0.0, 0.5, 1 - 2**-53])
def test_never_draws_a_zero_probability_token(u_value):
    vocab = 5000
    blocks, size = layout(vocab)
    logits = torch.randn(6, vocab)
    banned = [0, size - 1, size, vocab - 1, 3 * size + 5]  # first, block edges, last token
    logits[:, banned] = float("-inf")
    logits[1, :] = float("-inf")
    logits[1, 1234] = 0.0                               # all mass on one token
    logits[2, size:] = float("-inf")                    # all mass in the first block
    logits[3, :vocab - 2] = float("-inf")               # all mass on token vocab - 2
    u = torch.full((6,), u_value, dtype=torch.float64)
    tok = sample_categorical(logits, uniforms=u)
    assert torch.isfinite(logits[torch.arange(6), tok]).all(), tok
    assert tok[1].item() == 1234 and tok[2].item() < size and tok[3].item() == vocab - 2
    # The padded-weight path: -inf in the bias bans a token for every row.
    bias = torch.zeros(vocab)
    bias[banned] = float("-inf")
    tok = sample_from_hidden(torch.randn(6, 4), torch.randn(vocab, 4), bias, uniforms=u)
    assert torch.isfinite(bias[tok]).all(), tok


def test_frequencies_follow_softmax():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(1, 37, generator=g)
    logits[0, 5] = float("-inf")
    n = 200_000
    tok = sample_categorical(logits.expand(n, -1), generator=g)
    counts = np.bincount(tok.numpy(), minlength=37)
    assert counts[5] == 0
    p = torch.softmax(logits[0].double(), 0).numpy()
    keep = p > 0
    chi2 = stats.chisquare(counts[keep], p[keep] * n)
    assert chi2.pvalue > 1e-3, chi2


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "all -inf"])
def test_undefined_logits_are_one_clear_error(bad):
    """A NaN, a +inf or a row of -inf used to end in an index error deep in the search (or in garbage)."""
    logits = torch.randn(300, 50, generator=torch.Generator().manual_seed(0))  # two chunks of rows
    if bad == "all -inf":
        logits[270] = float("-inf")
    else:
        logits[270, 7] = bad
    with pytest.raises(SeqGANError, match="1 row.s. of logits hold NaN or \\+inf, or are all -inf"):
        sample_categorical(logits)
    h, w, b = torch.randn(4, 8), torch.randn(50, 8), torch.zeros(50)
    b[3] = float("nan")
    with pytest.raises(SeqGANError, match="4 row"):
        sample_from_hidden(h, w, b)
    logits[270] = 0.0
    logits[:, :10] = float("-inf")  # zero-probability tokens are fine
    assert sample_categorical(logits).min() >= 10
