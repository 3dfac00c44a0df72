"""Holm's step-down correction across the metrics of one experiment.

Holm controls the family-wise error rate (the chance of *any* false "significant") like Bonferroni does, under
any dependence between the tests, and is never less powerful than Bonferroni. Adjusted p-values: sort
ascending, multiply the i-th smallest (0-based) by ``m - i``, take the running maximum, cap at 1; a metric is
significant when its adjusted p-value is below ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from otel_llm.stats._validate import check_probability


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[float]:
    """Holm-adjusted p-values, in the order given.

    ``alpha`` does not change adjusted p-values; it is accepted (and checked) so that ``holm`` and
    :func:`holm_significant` take the same arguments.
    """
    check_probability("alpha", alpha)
    for p in p_values:
        if not (math.isfinite(p) and 0 <= p <= 1):
            raise ValueError(f"p-values must be in [0, 1], got {p!r}")
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def holm_significant(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Which hypotheses Holm rejects at family-wise level ``alpha`` (adjusted p-value < ``alpha``)."""
    return [p < alpha for p in holm(p_values, alpha)]
