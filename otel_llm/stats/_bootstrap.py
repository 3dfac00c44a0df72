"""Bootstrap intervals for means and latency percentiles (p50/p95/p99): one sample, or candidate - control.

Method: the *expanded percentile* bootstrap (Hesterberg, "What Teachers Should Know About the Bootstrap",
2015). The plain percentile interval is too narrow in small samples, because the bootstrap distribution of
a mean has variance ``(n-1)/n`` times the usual estimate and uses normal rather than t tails; the expanded
version reads the bootstrap distribution at the tail probability ``Phi(-sqrt(n/(n-1)) * t_{n-1, 1-alpha/2})``
instead of ``alpha/2``. For large n (typical latency samples) the two coincide. For a difference, ``n`` is
the smaller arm.

Percentiles are numpy's default (linear interpolation), matching how the report computes p50/p95/p99 (SPEC
§15). Resampling is vectorised in chunks so memory stays bounded (about 4 million indices at a time)
whatever the sample size. ``seed`` makes every result reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from otel_llm.stats._results import TestResult
from otel_llm.stats._validate import as_sample, check_confidence

Statistic = Literal["mean", "p50", "p95", "p99"] | Callable[[npt.NDArray[np.float64]], float]
"""A named statistic or a callable taking a 1-D sample and returning a number."""

_PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0}
_CHUNK_ELEMENTS = 4_000_000


def _rows_statistic(samples: npt.NDArray[np.float64], statistic: Statistic) -> npt.NDArray[np.float64]:
    """The statistic of every row of a 2-D array of resamples."""
    if callable(statistic):
        return np.array([float(statistic(row)) for row in samples], dtype=np.float64)
    if statistic == "mean":
        means: npt.NDArray[np.float64] = samples.mean(axis=1)
        return means
    if statistic in _PERCENTILES:
        return np.percentile(samples, _PERCENTILES[statistic], axis=1)
    raise ValueError(f"statistic must be 'mean', 'p50', 'p95', 'p99' or a callable, got {statistic!r}")


def point_statistic(values: npt.NDArray[np.float64], statistic: Statistic) -> float:
    """The statistic on the observed sample."""
    return float(_rows_statistic(values[np.newaxis, :], statistic)[0])


def _chunks(n_resamples: int, n: int) -> Iterator[int]:
    per_chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < n_resamples:
        size = min(per_chunk, n_resamples - done)
        yield size
        done += size


def bootstrap_distribution(
    values: npt.NDArray[np.float64], statistic: Statistic, n_resamples: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """``n_resamples`` bootstrap replicates of the statistic."""
    parts = [
        _rows_statistic(values[rng.integers(0, values.size, size=(size, values.size))], statistic)
        for size in _chunks(n_resamples, values.size)
    ]
    return np.concatenate(parts)


def expanded_tail(confidence: float, n: int) -> float:
    """Tail probability (each side) at which to read the bootstrap distribution for this sample size."""
    alpha = 1 - confidence
    if n < 2:
        return alpha / 2
    return float(stats.norm.cdf(-math.sqrt(n / (n - 1)) * stats.t.isf(alpha / 2, n - 1)))


def _check(statistic: Statistic, confidence: float, n_resamples: int) -> None:
    check_confidence(confidence)
    if not callable(statistic) and statistic not in ("mean", *_PERCENTILES):
        raise ValueError(f"statistic must be 'mean', 'p50', 'p95', 'p99' or a callable, got {statistic!r}")
    if n_resamples < 100:
        raise ValueError(f"n_resamples must be at least 100, got {n_resamples}")


def bootstrap_interval(
    values: Sequence[float] | npt.ArrayLike,
    statistic: Statistic = "mean",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Expanded-percentile bootstrap interval of ``statistic`` of one sample."""
    _check(statistic, confidence, n_resamples)
    x = as_sample(values, "values", minimum=2)
    replicates = bootstrap_distribution(x, statistic, n_resamples, np.random.default_rng(seed))
    tail = expanded_tail(confidence, x.size)
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return (float(low), float(high))


def bootstrap_diff(
    a: Sequence[float] | npt.ArrayLike,
    b: Sequence[float] | npt.ArrayLike,
    statistic: Statistic = "mean",
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> TestResult:
    """Bootstrap comparison of ``statistic(b) - statistic(a)`` (candidate minus control).

    Each arm is resampled independently. The interval is the expanded percentile interval of the replicated
    differences. The p-value is the two-sided achieved significance level that matches the interval: the
    smallest ``1 - confidence`` at which the interval would exclude 0 (floored at about ``2 /
    n_resamples``, the resolution of the bootstrap).
    """
    _check(statistic, confidence, n_resamples)
    xa = as_sample(a, "a (control)", minimum=2)
    xb = as_sample(b, "b (candidate)", minimum=2)
    rng = np.random.default_rng(seed)
    diffs = bootstrap_distribution(xb, statistic, n_resamples, rng) - bootstrap_distribution(
        xa, statistic, n_resamples, rng
    )
    n_small = min(xa.size, xb.size)
    tail = expanded_tail(confidence, n_small)
    low, high = np.quantile(diffs, [tail, 1 - tail])
    estimate = point_statistic(xb, statistic) - point_statistic(xa, statistic)
    below = (int(np.count_nonzero(diffs <= 0)) + 1) / (n_resamples + 1)
    above = (int(np.count_nonzero(diffs >= 0)) + 1) / (n_resamples + 1)
    tail_at_zero = min(below, above, 0.5)
    # Undo the expansion: the interval excludes 0 exactly when tail_at_zero < expanded_tail(1 - p).
    z = float(stats.norm.isf(tail_at_zero))
    p_value = float(2 * stats.t.sf(z / math.sqrt(n_small / (n_small - 1)), n_small - 1))
    return TestResult(estimate=estimate, ci_low=float(low), ci_high=float(high), p_value=min(1.0, p_value))
