"""Welch's t-test and interval for a difference of means (latency, cost, tokens per request).

Welch does not assume equal variances, which matters here: a self-hosted candidate's latency spread is
rarely the API's. Delta is ``mean(b) - mean(a)`` with ``a`` the control sample and ``b`` the candidate sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from otel_llm.stats._results import TestResult
from otel_llm.stats._validate import as_sample, check_confidence


@dataclass(frozen=True, slots=True)
class WelchParts:
    """Welch's estimate, its standard error and the Welch–Satterthwaite degrees of freedom."""

    estimate: float
    se: float
    df: float


def welch_parts(*, mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int) -> WelchParts:
    """Welch's ingredients from summary statistics (``var_*`` are sample variances with ``ddof=1``)."""
    va = var_a / n_a
    vb = var_b / n_b
    se2 = va + vb
    if se2 == 0:
        return WelchParts(estimate=mean_b - mean_a, se=0.0, df=float(n_a + n_b - 2))
    df = se2 * se2 / (va * va / (n_a - 1) + vb * vb / (n_b - 1))
    return WelchParts(estimate=mean_b - mean_a, se=math.sqrt(se2), df=df)


def welch_from_samples(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> WelchParts:
    """Welch's ingredients from two validated samples."""
    return welch_parts(
        mean_a=float(a.mean()),
        var_a=float(a.var(ddof=1)),
        n_a=a.size,
        mean_b=float(b.mean()),
        var_b=float(b.var(ddof=1)),
        n_b=b.size,
    )


def welch_test(
    a: Sequence[float] | npt.ArrayLike, b: Sequence[float] | npt.ArrayLike, confidence: float = 0.95
) -> TestResult:
    """Welch's two-sided t-test and t interval for ``mean(b) - mean(a)``.

    ``a`` is the control sample, ``b`` the candidate sample; each needs at least two finite values. When both
    samples are constant the standard error is 0: the interval collapses to the observed difference and the
    p-value is 1.0 if the means are equal, else 0.0.
    """
    check_confidence(confidence)
    xa = as_sample(a, "a (control)", minimum=2)
    xb = as_sample(b, "b (candidate)", minimum=2)
    parts = welch_from_samples(xa, xb)
    if parts.se == 0:
        p_value = 1.0 if parts.estimate == 0 else 0.0
        return TestResult(parts.estimate, parts.estimate, parts.estimate, p_value)
    t_crit = float(stats.t.isf((1 - confidence) / 2, parts.df))
    t_stat = parts.estimate / parts.se
    p_value = float(2 * stats.t.sf(abs(t_stat), parts.df))
    return TestResult(
        estimate=parts.estimate,
        ci_low=parts.estimate - t_crit * parts.se,
        ci_high=parts.estimate + t_crit * parts.se,
        p_value=min(1.0, p_value),
    )
