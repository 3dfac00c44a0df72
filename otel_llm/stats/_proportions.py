"""Intervals and tests for rates: Wilson (one rate), Newcombe (difference of two), two-proportion z-test.

Argument order is always *control first*: ``(x1, n1)`` control, ``(x2, n2)`` candidate; differences are
``p2 - p1``.

Choices at the edges (documented because the report turns them into JSON, where NaN is not valid):

- ``wilson_interval(0, 0)`` returns ``(0.0, 1.0)``: with no observations the rate can be anything.
- ``newcombe_interval`` with an empty arm returns the interval-arithmetic bound
  ``(low2 - high1, high2 - low1)`` built from the two Wilson intervals,
  e.g. ``(low2 - 1, high2)`` when the control is empty.
- ``two_proportion_test`` needs at least one observation in each arm (``ValueError`` otherwise); when both
  arms are all-success or all-failure the pooled variance is 0 and the p-value is 1.0 (no evidence of a
  difference).
"""

from __future__ import annotations

import math

from scipy import stats

from otel_llm.stats._results import TestResult
from otel_llm.stats._validate import check_confidence, check_counts


def _z(confidence: float) -> float:
    return float(stats.norm.isf((1.0 - confidence) / 2.0))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``.

    Unlike the Wald interval it stays inside [0, 1] and keeps close to nominal coverage for rates near 0 or 1
    (hallucination rates of 0.3 % are exactly that case). ``n == 0`` gives ``(0.0, 1.0)``.
    """
    check_counts(successes, n)
    check_confidence(confidence)
    if n == 0:
        return (0.0, 1.0)
    z = _z(confidence)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for ``p2 - p1`` (candidate minus control).

    Combines the two Wilson intervals: ``d - sqrt((p2 - l2)^2 + (u1 - p1)^2)`` to
    ``d + sqrt((u2 - p2)^2 + (p1 - l1)^2)`` with ``d = p2 - p1``.
    """
    check_counts(x1, n1, "control")
    check_counts(x2, n2, "candidate")
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    if n1 == 0 or n2 == 0:
        return (l2 - u1, u2 - l1)
    p1 = x1 / n1
    p2 = x2 / n2
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return (max(-1.0, low), min(1.0, high))


def two_proportion_test(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> TestResult:
    """Two-sided pooled z-test of ``p1 == p2`` with a Newcombe interval for ``p2 - p1``.

    ``x1`` of ``n1`` control calls succeeded, ``x2`` of ``n2`` candidate calls. The p-value is the classical
    pooled-variance z-test (identical to the 2x2 chi-square test without continuity correction); the
    interval is Newcombe's, whose coverage holds up far better than the Wald interval's for rates near 0 or 1.
    """
    check_counts(x1, n1, "control")
    check_counts(x2, n2, "candidate")
    if n1 == 0 or n2 == 0:
        raise ValueError(f"both arms need at least one observation, got n1={n1}, n2={n2}")
    p1 = x1 / n1
    p2 = x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 1.0 if se == 0 else float(2 * stats.norm.sf(abs(p2 - p1) / se))
    low, high = newcombe_interval(x1, n1, x2, n2, confidence)
    return TestResult(estimate=p2 - p1, ci_low=low, ci_high=high, p_value=min(1.0, p_value))
