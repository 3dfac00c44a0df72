"""The report's only door to :mod:`otel_llm.stats` (and to scipy): every statistical call goes through here.

Shapes the report needs: intervals as ``(low, high)`` or ``None`` when there is nothing to estimate, tests as
:class:`otel_llm.stats.TestResult` (candidate minus control).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats

from otel_llm import stats
from otel_llm.stats import TestResult

FloatArray = npt.NDArray[np.float64]
Interval = tuple[float, float]

# Bootstrap work budget (resamples × observations) so that a 1M-call report stays quick.
_BOOTSTRAP_BUDGET = 40_000_000
_MAX_RESAMPLES = 2000
_MIN_RESAMPLES = 200


def rate_ci(successes: int, n: int) -> Interval | None:
    """Wilson 95 % interval; ``None`` when ``n == 0``."""
    return None if n == 0 else stats.wilson_interval(successes, n)


def mean_ci(values: FloatArray) -> Interval | None:
    """Student-t 95 % interval of a mean; ``None`` with fewer than two values."""
    n = values.size
    if n < 2:
        return None
    mean = float(values.mean())
    se = float(values.std(ddof=1)) / math.sqrt(n)
    half = float(scipy_stats.t.isf(0.025, n - 1)) * se
    return (mean - half, mean + half)


def percentile_ci(values: FloatArray, q: float) -> Interval | None:
    """Distribution-free 95 % interval of the ``q``-th percentile from order statistics (binomial ranks).

    Coverage ≥ 95 % for any continuous distribution, and O(n log n), so it works on millions of calls.
    """
    n = values.size
    if n < 2:
        return None
    ordered = np.sort(values)
    p = q / 100.0
    low_rank = int(scipy_stats.binom.ppf(0.025, n, p))  # 0-based index of the lower order statistic
    high_rank = int(scipy_stats.binom.ppf(0.975, n, p))
    low_rank = min(max(low_rank - 1, 0), n - 1)
    high_rank = min(max(high_rank, 0), n - 1)
    return (float(ordered[low_rank]), float(ordered[high_rank]))


def compare_rates(x1: int, n1: int, x2: int, n2: int) -> TestResult:
    """Two-proportion z-test with a Newcombe interval (control first)."""
    return stats.two_proportion_test(x1, n1, x2, n2)


def compare_means(a: FloatArray, b: FloatArray) -> TestResult:
    """Welch's t-test (control first)."""
    return stats.welch_test(a, b)


def compare_percentiles(a: FloatArray, b: FloatArray, statistic: str) -> TestResult:
    """Bootstrap comparison of a percentile (``"p50"``/``"p95"``/``"p99"``), resamples scaled to the data."""
    resamples = int(min(_MAX_RESAMPLES, max(_MIN_RESAMPLES, _BOOTSTRAP_BUDGET // max(a.size + b.size, 1))))
    if statistic not in {"p50", "p95", "p99", "mean"}:
        raise ValueError(f"unknown statistic {statistic!r}")
    return stats.bootstrap_diff(a, b, statistic, n_resamples=resamples)  # type: ignore[arg-type]


def paired_mean(differences: FloatArray) -> TestResult | None:
    """One-sample t-test and interval of paired differences (shadow minus primary)."""
    n = differences.size
    if n < 2:
        return None
    mean = float(differences.mean())
    se = float(differences.std(ddof=1)) / math.sqrt(n)
    if se == 0:
        return TestResult(mean, mean, mean, 1.0 if mean == 0 else 0.0)
    t_crit = float(scipy_stats.t.isf(0.025, n - 1))
    p_value = float(2 * scipy_stats.t.sf(abs(mean / se), n - 1))
    return TestResult(mean, mean - t_crit * se, mean + t_crit * se, min(1.0, p_value))


@dataclass(frozen=True, slots=True)
class SRM:
    p_value: float
    ok: bool


SRM_ALPHA = 0.001


def srm(observed: Mapping[str, int], expected_weights: Mapping[str, float]) -> SRM:
    """Sample-ratio-mismatch chi-square of observed assignments against expected weights."""
    names = [name for name in expected_weights if expected_weights[name] > 0]
    counts = np.array([observed.get(name, 0) for name in names], dtype=np.float64)
    weights = np.array([expected_weights[name] for name in names], dtype=np.float64)
    if len(names) < 2 or counts.sum() == 0:
        return SRM(1.0, True)
    expected = weights / weights.sum() * counts.sum()
    p_value = float(scipy_stats.chisquare(counts, expected).pvalue)
    return SRM(p_value, p_value >= SRM_ALPHA)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def sequential_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Always-valid p-value for a difference of two rates at one look (mSPRT, normal mixture)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 1.0
    tau2 = 1e-4  # mixing variance of the effect (rates differ by about 1 percentage point)
    delta = p2 - p1
    log_lr = 0.5 * math.log(variance / (variance + tau2)) + delta * delta * tau2 / (2 * variance * (variance + tau2))
    return float(min(1.0, math.exp(-log_lr)))


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: str
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class ComparisonInput:
    """What the decision rule needs about one metric comparison (candidate minus control)."""

    metric: str
    control: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    higher_is_better: bool
    margin: float | None
    guardrail: bool


def decide(comparisons: Sequence[ComparisonInput], srm_result: SRM) -> Verdict:
    """Ship / hold / rollback (interim rule until :func:`otel_llm.stats.decide` lands)."""
    reasons: list[str] = []
    if not srm_result.ok:
        reasons.append(f"sample ratio mismatch (p = {srm_result.p_value:.2g}): assignment is broken, hold")
        return Verdict("hold", reasons)
    worse = []
    for comparison in comparisons:
        if not comparison.guardrail:
            continue
        margin = comparison.margin or 0.0
        bad = comparison.ci_high < -margin if comparison.higher_is_better else comparison.ci_low > margin
        if bad:
            worse.append(comparison.metric)
    if worse:
        reasons.extend(f"guardrail {metric} is significantly worse than control" for metric in worse)
        return Verdict("rollback", reasons)
    primary = [comparison for comparison in comparisons if not comparison.guardrail]
    better = [
        comparison.metric
        for comparison in primary
        if (comparison.ci_low > 0 if comparison.higher_is_better else comparison.ci_high < 0)
    ]
    if primary and len(better) == len(primary):
        reasons.extend(f"{metric} is significantly better than control" for metric in better)
        return Verdict("ship", reasons)
    reasons.append("no significant improvement on the primary metric yet")
    return Verdict("hold", reasons)
