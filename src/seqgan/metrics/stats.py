"""Welch's t-test and standard errors, without scipy.

Used to say whether one training setup beats another over a handful of seeds.
:func:`welch_ttest` matches ``scipy.stats.ttest_ind(a, b, equal_var=False)`` and
:func:`paired_ttest` ``scipy.stats.ttest_rel(a, b)``; the
Student-t tail comes from the regularized incomplete beta function, evaluated by
its continued fraction on whichever side converges fast, so that p-values as
small as 1e-30 keep their relative accuracy (no ``1 - cdf`` cancellation).

Accuracy of :func:`student_t_sf` against 40-digit mpmath: relative error below
1e-13 for df <= 3000, 1e-11 for df <= 3e5 and 1e-10 for df <= 3e6, at every t
(tails down to 1e-300 included). Beyond that the continued fraction is
ill-conditioned near the distribution's centre and the error grows roughly in
proportion to df; Welch's df never exceeds the total sample size minus 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from seqgan.errors import SeqGANError

__all__ = ["mean_and_stderr", "paired_ttest", "student_t_sf", "welch_ttest"]

_EPS = 1e-16
_TINY = 1e-300
_MAX_ITERATIONS = 100_000


def _sample(x: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """``x`` as a 1-D float64 array (n,) of at least 2 finite values."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SeqGANError(f"sample {name} must be a sequence of numbers: {exc}") from None
    arr = arr.reshape(-1) if arr.ndim == 0 else arr
    if arr.ndim != 1:
        raise SeqGANError(f"sample {name} must be 1-D (one value per run), got shape {arr.shape}")
    if arr.size < 2:
        raise SeqGANError(f"sample {name} has {arr.size} value(s); a variance needs at least 2 (run more seeds)")
    if not np.all(np.isfinite(arr)):
        raise SeqGANError(f"sample {name} contains NaN or infinity; drop the failed runs first")
    return arr


def mean_and_stderr(x: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation, ddof=1, over sqrt(n))."""
    arr = _sample(x, "x")
    return float(np.mean(arr)), math.sqrt(float(np.var(arr, ddof=1)) / arr.size)


def welch_ttest(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Welch's unequal-variance t-test: ``(t statistic, two-sided p-value)``.

    Equal to ``scipy.stats.ttest_ind(a, b, equal_var=False)``. ``t > 0`` means the
    mean of ``a`` is larger. Raises :class:`SeqGANError` for samples with fewer than
    2 values, non-finite values, or zero variance in both (the test is undefined).
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    na, nb = xa.size, xb.size
    va = float(np.var(xa, ddof=1)) / na  # squared standard errors
    vb = float(np.var(xb, ddof=1)) / nb
    if va + vb == 0.0:
        raise SeqGANError("Welch's t-test is undefined: both samples have zero variance "
                          "(every value identical); compare the values directly or vary the seeds")
    t = (float(np.mean(xa)) - float(np.mean(xb))) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return t, 2.0 * student_t_sf(abs(t), df)


def paired_ttest(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """The paired t-test: ``(t statistic, two-sided p-value)`` of the differences ``a[i] - b[i]``.

    Equal to ``scipy.stats.ttest_rel(a, b)``. For two methods run under the same seeds (same oracle,
    training set and pre-training per seed), it tests the mean difference against the spread of the
    differences over seeds, with ``n - 1`` degrees of freedom. ``t > 0`` means ``a`` is larger. Raises
    :class:`SeqGANError` for fewer than 2 pairs, samples of different lengths, non-finite values, or
    differences that are all equal (the test is undefined).
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    if xa.size != xb.size:
        raise SeqGANError(f"a paired t-test needs one value of each sample per pair, got {xa.size} and {xb.size}")
    d = xa - xb
    var = float(np.var(d, ddof=1))
    if var == 0.0:
        raise SeqGANError("the paired t-test is undefined: every difference is the same "
                          f"({float(d[0])}); compare the values directly")
    t = float(np.mean(d)) / math.sqrt(var / d.size)
    return t, 2.0 * student_t_sf(abs(t), d.size - 1)


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` > 0 degrees of freedom, accurate in the far tail."""
    if not df > 0 or math.isnan(t):
        raise SeqGANError(f"Student-t needs df > 0 and a number t, got t={t}, df={df}")
    if t < 0:
        return 1.0 - student_t_sf(-t, df)
    if t == 0:
        return 0.5
    if math.isinf(t):
        return 0.0
    # P(|T| > t) = I_x(df/2, 1/2) with x = df / (df + t^2); 1 - x = t^2 / (df + t^2).
    t2 = t * t
    log_x = -math.log1p(t2 / df)
    log_y = 2.0 * math.log(t) - math.log(df + t2)
    return 0.5 * _regularized_beta(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2), log_x, log_y)


def _regularized_beta(a: float, b: float, x: float, y: float, log_x: float, log_y: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, given y = 1 - x and both logs.

    The caller supplies ``y``, ``log x`` and ``log y`` computed without cancellation.
    The continued fraction converges fast for x < (a + 1) / (a + b + 2); beyond that
    the symmetry I_x(a, b) = 1 - I_y(b, a) is used.
    """
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = a * log_x + b * log_y - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, y) / b


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function, by the modified Lentz method."""

    def nonzero(v: float) -> float:
        return v if abs(v) >= _TINY else _TINY

    c = 1.0
    d = 1.0 / nonzero(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, _MAX_ITERATIONS + 1):
        m2 = 2 * m
        # even step: m (b - m) x / ((a + 2m - 1)(a + 2m))
        coef = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2))
        d = 1.0 / nonzero(1.0 + coef * d)
        c = nonzero(1.0 + coef / c)
        h *= d * c
        # odd step: -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
        coef = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))
        d = 1.0 / nonzero(1.0 + coef * d)
        c = nonzero(1.0 + coef / c)
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise SeqGANError(f"incomplete beta did not converge for a={a}, b={b}, x={x}; report this input")


def _log_beta(a: float, b: float) -> float:
    """log B(a, b), keeping its absolute accuracy when one argument is large.

    ``lgamma(a) - lgamma(a + b)`` for large ``a`` subtracts two big numbers; Stirling's
    series for the difference avoids that (used for the many-degrees-of-freedom case).
    """
    small, large = min(a, b), max(a, b)
    if large < 20.0:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    # lgamma(L) - lgamma(L + s) = -(L - 1/2) log1p(s / L) - s log(L + s) + s + c(L) - c(L + s)
    diff = -(large - 0.5) * math.log1p(small / large) - small * math.log(large + small) + small
    diff += _stirling_correction(large) - _stirling_correction(large + small)
    return math.lgamma(small) + diff


def _stirling_correction(x: float) -> float:
    """lgamma(x) - ((x - 1/2) log x - x + log(2 pi) / 2), for x >= 20 (error < 2e-15)."""
    inv = 1.0 / x
    inv2 = inv * inv
    return inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 / 1680.0)))
