"""The report's only door to :mod:`otel_llm.stats` (and to scipy): every statistical call goes through here.

Shapes the report needs: intervals as ``(low, high)`` or ``None`` when there is nothing to estimate, tests as
:class:`otel_llm.stats.TestResult` (candidate minus control). The sample-ratio check, Holm's correction, the
sequential monitor and the ship/hold/rollback rule are :mod:`otel_llm.stats`' own, re-exported here unchanged
so that the report has one import for statistics.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats

from otel_llm import stats
from otel_llm.stats import (
    DEFAULT_SRM_THRESHOLD,
    Comparison,
    Decision,
    SequentialMonitor,
    SRMResult,
    TestResult,
    Verdict,
    decide,
    srm_test,
)

__all__ = [
    "DEFAULT_SRM_THRESHOLD",
    "Comparison",
    "Decision",
    "SRMResult",
    "SequentialMonitor",
    "TestResult",
    "Verdict",
    "compare_means",
    "compare_percentiles",
    "compare_rates",
    "decide",
    "mean_ci",
    "paired_bootstrap",
    "paired_mean",
    "percentile_ci",
    "rate_ci",
    "srm_test",
]

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


IndexRows = npt.NDArray[np.intp]


def paired_bootstrap(
    n: int,
    replicate: Callable[[IndexRows], FloatArray],
    estimate: float,
    *,
    confidence: float = 0.95,
    seed: int = 0,
) -> TestResult | None:
    """Bootstrap over *pairs* (one request seen by both variants): a whole pair is resampled, so per-call
    correlation between the two variants and the clustering of fields within a call are kept.

    ``replicate`` gets a ``(resamples, n)`` array of pair indices and returns the statistic (shadow minus
    primary) for each row. The interval is the expanded percentile interval (as :func:`otel_llm.stats.
    bootstrap_diff`, same tail rule, n = pairs) and the p-value the matching achieved significance level, floored
    at the bootstrap's resolution. Rows may drop resamples where the statistic is undefined (a ratio with no
    denominator); ``None`` with fewer than two pairs or fewer than 100 usable resamples.
    """
    if n < 2:
        return None
    resamples = int(min(_MAX_RESAMPLES, max(_MIN_RESAMPLES, _BOOTSTRAP_BUDGET // n)))
    rng = np.random.default_rng(seed)
    per_chunk = max(1, 4_000_000 // n)
    parts = []
    done = 0
    while done < resamples:
        size = min(per_chunk, resamples - done)
        parts.append(np.asarray(replicate(rng.integers(0, n, size=(size, n))), dtype=np.float64))
        done += size
    diffs = np.concatenate(parts)
    if diffs.size < 100:
        return None
    alpha = 1 - confidence
    t_crit = float(scipy_stats.t.isf(alpha / 2, n - 1))
    tail = float(scipy_stats.norm.cdf(-math.sqrt(n / (n - 1)) * t_crit))
    low, high = np.quantile(diffs, [tail, 1 - tail])
    below = (int(np.count_nonzero(diffs <= 0)) + 1) / (diffs.size + 1)
    above = (int(np.count_nonzero(diffs >= 0)) + 1) / (diffs.size + 1)
    z = float(scipy_stats.norm.isf(min(below, above, 0.5)))
    p_value = float(2 * scipy_stats.t.sf(z / math.sqrt(n / (n - 1)), n - 1))
    return TestResult(float(estimate), float(low), float(high), min(1.0, p_value))
