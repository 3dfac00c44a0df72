"""Always-valid sequential monitoring: the normal-mixture sequential probability ratio test (mSPRT).

Looking at a fixed-horizon p-value at every rollout phase and stopping at the first p < 0.05 inflates the
false-positive rate far above 5 % (about 20 % with ten looks). The mSPRT (Robbins 1970; Johari, Koomen,
Pekelis & Walsh, "Always Valid Inference", Operations Research 2022) gives a p-value and a confidence
sequence that stay valid however often, and whenever, you look.

At each look the difference ``theta_hat`` (candidate minus control) has estimated variance ``V`` (plug-in:
``p(1-p)/n`` per arm for rates, ``s^2/n`` for means). With a normal mixing distribution ``N(0, tau^2)`` over
the effect, the mixture likelihood ratio against "no difference" is::

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 * theta_hat^2 / (2 V (V + tau^2)))

The always-valid p-value is the running minimum of ``min(1, 1 / Lambda)``; the confidence sequence is the
running intersection of ``theta_hat ± sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V)))``
(the effects ``theta`` whose own mixture ratio stays below ``1/alpha``). Validity is asymptotic (normal
approximation of ``theta_hat``), like every z-test on rates.

Tuning parameter
----------------
``tau`` is the spread of effects the test is tuned for. Too small, and large effects are confirmed slowly;
too large, and small effects need a very large sample. The false-positive guarantee holds for every ``tau``;
only power depends on it. You can set ``tau`` directly (in the metric's units, e.g. 0.02 for two points of
accuracy), or, by default, give ``tuning_n``: the total sample (both arms) at which the confidence sequence
should be narrowest. Then ``tau^2 = r * V(tuning_n)``, where ``V(tuning_n)`` is the current variance estimate
scaled to ``tuning_n`` observations and ``r`` solves ``r = 2 log(1/alpha) + log(1 + r)`` (minimising the
width ``V (1 + 1/r)(2 log(1/alpha) + log(1 + r))``; about 8.5 for alpha = 0.05). Set ``tuning_n`` to the
sample you expect to reach, e.g. the phase size of the rollout, or :func:`sample_size_proportions`' total.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from otel_llm.stats._validate import check_counts, check_probability

DEFAULT_TUNING_N = 5000


def optimal_mixing_ratio(alpha: float) -> float:
    """``r`` with ``r = 2 log(1/alpha) + log(1 + r)``: the ``tau^2 / V`` that makes the sequence narrowest."""
    two_l = 2 * math.log(1 / alpha)
    r = two_l
    for _ in range(50):
        r = two_l + math.log1p(r)
    return r


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """State after one look.

    Attributes:
        look: 1 for the first update.
        estimate: candidate minus control at this look.
        variance: estimated variance of ``estimate``.
        p_value: always-valid p-value (non-increasing over looks).
        ci_low, ci_high: always-valid confidence sequence (non-widening over looks).
        significant: ``p_value < alpha``; safe to act on at any look.
    """

    look: int
    estimate: float
    variance: float
    p_value: float
    ci_low: float
    ci_high: float
    significant: bool


class SequentialMonitor:
    """An mSPRT that is updated with *cumulative* data at every look (see the module doc for ``tau``)."""

    def __init__(self, alpha: float = 0.05, *, tuning_n: int = DEFAULT_TUNING_N, tau: float | None = None):
        check_probability("alpha", alpha)
        if tau is not None and not (math.isfinite(tau) and tau > 0):
            raise ValueError(f"tau must be > 0, got {tau!r}")
        if tuning_n < 2:
            raise ValueError(f"tuning_n must be at least 2, got {tuning_n!r}")
        self.alpha = alpha
        self.tuning_n = tuning_n
        self.tau = tau
        self._ratio = optimal_mixing_ratio(alpha)
        self._p_value = 1.0
        self._low = -math.inf
        self._high = math.inf
        self.history: list[SequentialResult] = []

    def _tau2(self, variance: float, n_total: int) -> float:
        if self.tau is not None:
            return self.tau * self.tau
        return self._ratio * variance * n_total / self.tuning_n

    def update(self, estimate: float, variance: float, n_total: int) -> SequentialResult:
        """One look with the cumulative ``estimate``, its ``variance`` and the total sample ``n_total``."""
        if not (math.isfinite(estimate) and math.isfinite(variance) and variance >= 0):
            raise ValueError(f"need a finite estimate and variance >= 0, got {estimate!r}, {variance!r}")
        if variance > 0:
            tau2 = self._tau2(variance, n_total)
            log_lr = 0.5 * math.log(variance / (variance + tau2)) + tau2 * estimate * estimate / (
                2 * variance * (variance + tau2)
            )
            self._p_value = min(self._p_value, math.exp(-log_lr) if log_lr > 0 else 1.0)
            half = math.sqrt(
                variance
                * (variance + tau2)
                / tau2
                * (2 * math.log(1 / self.alpha) + math.log((variance + tau2) / variance))
            )
            self._low = max(self._low, estimate - half)
            self._high = min(self._high, estimate + half)
        result = SequentialResult(
            look=len(self.history) + 1,
            estimate=estimate,
            variance=variance,
            p_value=self._p_value,
            ci_low=self._low,
            ci_high=self._high,
            significant=self._p_value < self.alpha,
        )
        self.history.append(result)
        return result

    def update_proportions(self, x1: int, n1: int, x2: int, n2: int) -> SequentialResult:
        """One look with cumulative counts: ``x1`` of ``n1`` control successes, ``x2`` of ``n2`` candidate."""
        check_counts(x1, n1, "control")
        check_counts(x2, n2, "candidate")
        if n1 == 0 or n2 == 0:
            raise ValueError("both arms need at least one observation before the first look")
        p1 = x1 / n1
        p2 = x2 / n2
        variance = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        return self.update(p2 - p1, variance, n1 + n2)

    def update_means(
        self, *, mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int
    ) -> SequentialResult:
        """One look with cumulative summaries (``a`` control, ``b`` candidate, ``ddof=1`` variances)."""
        if n_a < 2 or n_b < 2:
            raise ValueError("both arms need at least two observations before the first look")
        return self.update(mean_b - mean_a, var_a / n_a + var_b / n_b, n_a + n_b)


def msprt_proportions(
    looks: Iterable[tuple[int, int, int, int]],
    alpha: float = 0.05,
    *,
    tuning_n: int = DEFAULT_TUNING_N,
    tau: float | None = None,
) -> list[SequentialResult]:
    """Run a :class:`SequentialMonitor` over cumulative looks ``(x1, n1, x2, n2)``; one result per look."""
    monitor = SequentialMonitor(alpha, tuning_n=tuning_n, tau=tau)
    return [monitor.update_proportions(*look) for look in looks]
