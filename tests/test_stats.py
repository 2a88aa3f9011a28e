"""Welch's and the paired t-test agree with their equations computed here (Student's t tail from
scipy.special), and bad samples are refused with a clear error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqgan.errors import SeqGANError
from seqgan.metrics.stats import mean_and_stderr, paired_ttest, welch_ttest

import scipy.stats as scipy_stats
from scipy.special import stdtr

RTOL = 1e-8


def two_sided(t: float, df: float) -> float:
    """2 P(T_df <= -|t|): the two-sided p-value, accurate far into the tail."""
    return float(2.0 * stdtr(df, -abs(t)))


def welch_reference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Welch (1947): t = (mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b), Welch-Satterthwaite degrees of freedom."""
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    return float(t), two_sided(t, df)


def assert_matches_scipy(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    t, p = welch_ttest(a, b)
    want_t, want_p = welch_reference(a, b)
    assert t == pytest.approx(want_t, rel=1e-10, abs=0)
    assert p == pytest.approx(want_p, rel=RTOL, abs=0)
    return t, p


@pytest.mark.parametrize("seed", range(12))
def test_welch_matches_scipy_on_random_samples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    na, nb = rng.integers(2, 40, size=2)
    a = rng.normal(rng.uniform(-1, 1), rng.uniform(0.05, 3.0), size=na)
    b = rng.normal(rng.uniform(-1, 1), rng.uniform(0.05, 3.0), size=nb)
    assert_matches_scipy(a, b)


@pytest.mark.parametrize(("n", "gap_in_stderrs"), [(5, 10), (20, 10), (50, 10), (200, 10), (30, 25), (1000, 40)])
def test_welch_keeps_tiny_p_values_accurate(n: int, gap_in_stderrs: float) -> None:
    rng = np.random.default_rng(n)
    a = rng.normal(0.0, 1.0, size=n)
    b = rng.normal(0.0, 2.0, size=n + 3)
    b += a.mean() - b.mean() + gap_in_stderrs * math.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / (n + 3))
    t, p = assert_matches_scipy(a, b)
    assert t == pytest.approx(-gap_in_stderrs, rel=1e-9)
    assert 0.0 < p < 1e-6


def test_welch_p_value_of_1e_minus_30() -> None:
    rng = np.random.default_rng(99)
    a = rng.normal(0.0, 1.0, size=100)
    b = rng.normal(2.2, 1.0, size=100)
    _, p = assert_matches_scipy(a, b)
    assert 1e-40 < p < 1e-30


def test_welch_sign_and_symmetry() -> None:
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.5, 3.5, 4.5, 6.0, 7.0])
    t_ab, p_ab = welch_ttest(a, b)
    t_ba, p_ba = welch_ttest(b, a)
    assert t_ab < 0 and t_ba == -t_ab and p_ab == p_ba
    t_same, p_same = welch_ttest(a, a)
    assert t_same == 0.0 and p_same == 1.0


@pytest.mark.filterwarnings("error")
def test_welch_one_constant_sample_is_fine() -> None:
    """scipy warns of precision loss on a constant sample; the test is defined, so no warning escapes."""
    t, p = welch_ttest(np.array([1.0, 1.0, 1.0]), np.array([0.2, 0.9, 1.7, 0.4]))
    assert math.isfinite(t) and 0.0 < p < 1.0


def test_welch_accepts_lists() -> None:
    assert welch_ttest([1, 2, 3], [2, 3, 5]) == welch_ttest(np.array([1.0, 2, 3]), np.array([2.0, 3, 5]))


def test_mean_and_stderr() -> None:
    x = np.array([2.0, 4.0, 4.0, 5.0, 7.0, 9.0])
    mean, stderr = mean_and_stderr(x)
    assert mean == pytest.approx(x.mean(), rel=1e-15)
    assert stderr == pytest.approx(float(scipy_stats.sem(x)), rel=1e-14)
    assert mean_and_stderr([3.0, 3.0]) == (3.0, 0.0)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([1.0], [1.0, 2.0], "at least 2"),
        ([1.0, 2.0], [], "at least 2"),
        ([1.0, 1.0], [2.0, 2.0, 2.0], "zero variance"),
        ([1.0, float("nan")], [1.0, 2.0], "NaN"),
        ([1.0, 2.0], [1.0, math.inf], "NaN or infinity"),
        ([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0], "1-D"),
        (["a", "b"], [1.0, 2.0], "numbers"),
    ],
)
def test_welch_bad_input_is_refused(a: list, b: list, message: str) -> None:
    with pytest.raises(SeqGANError, match=message):
        welch_ttest(a, b)


def test_mean_and_stderr_needs_two_values() -> None:
    with pytest.raises(SeqGANError, match="at least 2"):
        mean_and_stderr([1.0])


@pytest.mark.parametrize("n", [2, 3, 5, 30])
def test_paired_matches_scipy(n: int) -> None:
    rng = np.random.default_rng(n)
    shared = rng.normal(9.0, 0.3, n)  # what the seed does to both methods: large, and cancels in the pairs
    a, b = shared + rng.normal(0.05, 0.02, n), shared + rng.normal(0.0, 0.02, n)
    d = a - b  # the paired test is the one-sample test of the differences, n - 1 degrees of freedom
    want_t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    t, p = paired_ttest(a, b)
    assert t == pytest.approx(want_t, rel=1e-10)
    assert p == pytest.approx(two_sided(want_t, n - 1), rel=1e-9)
    if n >= 5:  # the pairing removes the seed's shared spread that Welch's test has to carry
        assert p < welch_ttest(a, b)[1]


@pytest.mark.parametrize("a, b, message", [
    ([1.0], [2.0], "at least 2"),
    ([1.0, 2.0, 3.0], [1.0, 2.0], "one value of each sample per pair"),
    ([1.0, 2.0], [0.0, 1.0], "every difference is the same"),
    ([1.0, float("nan")], [0.0, 1.0], "NaN"),
])
def test_paired_bad_input_is_refused(a: list, b: list, message: str) -> None:
    with pytest.raises(SeqGANError, match=message):
        paired_ttest(a, b)
