"""Welch's and the paired t-test and standard errors, through SciPy, with clear errors.

Used to say whether one training setup beats another over a handful of seeds or sequences.
:func:`welch_ttest` is ``scipy.stats.ttest_ind(a, b, equal_var=False)`` and :func:`paired_ttest`
``scipy.stats.ttest_rel(a, b)``; what this module adds is the checks SciPy leaves to the caller
(fewer than 2 values, NaN or infinity, zero variance), each a :class:`SeqGANError` that says what
to change, where SciPy would return NaN or warn.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from seqgan.errors import SeqGANError

__all__ = ["mean_and_stderr", "paired_ttest", "welch_ttest"]


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


def _scipy_test(test, *samples: np.ndarray, **kwargs) -> tuple[float, float]:
    from scipy import stats  # imported here: it is slow to import, and most commands never test

    with warnings.catch_warnings():  # "precision loss" for a constant sample: the checks above cover it
        warnings.simplefilter("ignore", RuntimeWarning)
        result = getattr(stats, test)(*samples, **kwargs)
    return float(result.statistic), float(result.pvalue)


def welch_ttest(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Welch's unequal-variance t-test: ``(t statistic, two-sided p-value)``.

    ``scipy.stats.ttest_ind(a, b, equal_var=False)``. ``t > 0`` means the mean of ``a`` is larger.
    Raises :class:`SeqGANError` for samples with fewer than 2 values, non-finite values, or zero
    variance in both (the test is undefined).
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    if np.var(xa, ddof=1) + np.var(xb, ddof=1) == 0.0:
        raise SeqGANError("Welch's t-test is undefined: both samples have zero variance "
                          "(every value identical); compare the values directly or vary the seeds")
    return _scipy_test("ttest_ind", xa, xb, equal_var=False)


def paired_ttest(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """The paired t-test: ``(t statistic, two-sided p-value)`` of the differences ``a[i] - b[i]``.

    ``scipy.stats.ttest_rel(a, b)``. For two methods run under the same seeds (same oracle, training
    set and pre-training per seed), it tests the mean difference against the spread of the
    differences over seeds, with ``n - 1`` degrees of freedom. ``t > 0`` means ``a`` is larger. Raises
    :class:`SeqGANError` for fewer than 2 pairs, samples of different lengths, non-finite values, or
    differences that are all equal (the test is undefined).
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    if xa.size != xb.size:
        raise SeqGANError(f"a paired t-test needs one value of each sample per pair, got {xa.size} and {xb.size}")
    d = xa - xb
    if np.var(d, ddof=1) == 0.0:
        raise SeqGANError("the paired t-test is undefined: every difference is the same "
                          f"({float(d[0])}); compare the values directly")
    return _scipy_test("ttest_rel", xa, xb)
