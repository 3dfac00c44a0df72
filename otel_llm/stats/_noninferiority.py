"""Non-inferiority: "the candidate is not worse than the control by more than a margin".

The seed's pass criterion "task completion rate within 3 % of GPT-4" is a non-inferiority test, not a
difference test: failing to find a significant difference is not evidence of equivalence (a tiny sample never
finds one). Here the null hypothesis is "the candidate is worse by at least ``margin``"; rejecting it at
``alpha`` (one-sided) is the evidence needed to pass. Equivalently, the worse-side bound of the two-sided
``1 - 2*alpha`` interval (90 % for alpha = 0.05) lies inside the margin.

- ``margin`` is in the metric's units (0.03 = 3 points of accuracy) or, with ``relative=True``, a fraction of
  the control's observed value (0.03 = 3 % of the control's accuracy). The relative form treats the control's
  value as known, a standard simplification when the control arm is large.
- ``higher_is_better=False`` for rates and amounts where lower is better (hallucination, errors, latency,
  cost): then "worse" means higher.
- Proportions use the Newcombe interval, and the p-value is obtained by inverting it (the smallest ``alpha``
  at which its bound clears the margin), so ``passed`` and ``p_value < alpha`` always agree. Means use
  Welch's t with the null shifted by the margin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from otel_llm.stats._means import welch_from_samples
from otel_llm.stats._proportions import newcombe_interval
from otel_llm.stats._results import NonInferiorityResult
from otel_llm.stats._validate import as_sample, check_counts, check_probability

_P_FLOOR = 1e-12


def _absolute_margin(margin: float, relative: bool, control_value: float) -> float:
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    return margin * abs(control_value) if relative else margin


def _bound_p_value(bound_gap: object) -> float:
    """Smallest alpha in (0, 0.5] whose bound gap is positive; bound_gap increases with alpha."""
    assert callable(bound_gap)
    if float(bound_gap(_P_FLOOR)) > 0:
        return 0.0
    if float(bound_gap(0.5 - 1e-12)) <= 0:
        return 0.5
    return float(optimize.brentq(lambda a: float(bound_gap(a)), _P_FLOOR, 0.5 - 1e-12, xtol=1e-14))


def non_inferiority_proportions(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    *,
    margin: float,
    relative: bool = False,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Is the candidate's rate (``x2/n2``) no worse than the control's (``x1/n1``) by more than ``margin``?"""
    check_counts(x1, n1, "control")
    check_counts(x2, n2, "candidate")
    check_probability("alpha", alpha, open_high=False)
    if alpha > 0.5:
        raise ValueError(f"alpha must be at most 0.5 for a one-sided test, got {alpha}")
    if n1 == 0 or n2 == 0:
        raise ValueError(f"both arms need at least one observation, got n1={n1}, n2={n2}")
    m = _absolute_margin(margin, relative, x1 / n1)
    estimate = x2 / n2 - x1 / n1
    # Work on the "good" outcome so that higher is better: complementing counts negates the Newcombe interval.
    g1, g2 = (x1, x2) if higher_is_better else (n1 - x1, n2 - x2)

    def lower_gap(a: float) -> float:
        return newcombe_interval(g1, n1, g2, n2, 1 - 2 * a)[0] + m

    good_estimate = estimate if higher_is_better else -estimate
    if good_estimate + m <= 0:
        # The estimate itself is beyond the margin: p >= 0.5, from the other bound by symmetry.
        def upper_gap(a: float) -> float:
            return -(newcombe_interval(g1, n1, g2, n2, 1 - 2 * a)[1] + m)

        p_value = 1.0 - _bound_p_value(upper_gap)
    else:
        p_value = _bound_p_value(lower_gap)
    low, high = newcombe_interval(x1, n1, x2, n2, 1 - 2 * alpha)
    return NonInferiorityResult(estimate, low, high, p_value, m, p_value < alpha)


def non_inferiority_means(
    a: Sequence[float] | npt.ArrayLike,
    b: Sequence[float] | npt.ArrayLike,
    *,
    margin: float,
    relative: bool = False,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Is ``mean(b)`` (candidate) no worse than ``mean(a)`` (control) by more than ``margin``? Welch's t."""
    check_probability("alpha", alpha)
    if alpha > 0.5:
        raise ValueError(f"alpha must be at most 0.5 for a one-sided test, got {alpha}")
    xa = as_sample(a, "a (control)", minimum=2)
    xb = as_sample(b, "b (candidate)", minimum=2)
    parts = welch_from_samples(xa, xb)
    m = _absolute_margin(margin, relative, float(xa.mean()))
    good = parts.estimate if higher_is_better else -parts.estimate
    if parts.se == 0:
        p_value = 0.0 if good + m > 0 else 1.0
        half = 0.0
    else:
        p_value = float(stats.t.sf((good + m) / parts.se, parts.df))
        half = float(stats.t.isf(alpha, parts.df)) * parts.se
    return NonInferiorityResult(
        parts.estimate, parts.estimate - half, parts.estimate + half, p_value, m, p_value < alpha
    )


def non_inferiority(
    control: tuple[int, int] | Sequence[float] | npt.NDArray[np.float64],
    candidate: tuple[int, int] | Sequence[float] | npt.NDArray[np.float64],
    *,
    margin: float,
    relative: bool = False,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Non-inferiority for rates or means, chosen by the argument type.

    A ``tuple`` ``(successes, n)`` on both sides means rates (:func:`non_inferiority_proportions`); anything
    else (lists, arrays of observations) means means (:func:`non_inferiority_means`).
    """
    if isinstance(control, tuple) and isinstance(candidate, tuple):
        if len(control) != 2 or len(candidate) != 2:
            raise ValueError("rates are given as (successes, n) tuples")
        x1, n1 = (int(v) for v in control)
        x2, n2 = (int(v) for v in candidate)
        return non_inferiority_proportions(
            x1, n1, x2, n2, margin=margin, relative=relative, higher_is_better=higher_is_better, alpha=alpha
        )
    return non_inferiority_means(
        control, candidate, margin=margin, relative=relative, higher_is_better=higher_is_better, alpha=alpha
    )
