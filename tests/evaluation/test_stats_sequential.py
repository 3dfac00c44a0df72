"""Always-valid sequential monitoring: A/A false positives under peeking, power, and the p-value's contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otel_llm.stats import SequentialMonitor, msprt_proportions
from otel_llm.stats._sequential import optimal_mixing_ratio

RUNS = 3000
LOOKS = 10
PER_LOOK = 300  # per arm between looks


def _aa_runs(seed: int) -> tuple[float, float]:
    """(mSPRT false-positive rate, naive repeated z-test false-positive rate) over A/A runs with 10 looks."""
    rng = np.random.default_rng(seed)
    x1 = rng.binomial(PER_LOOK, 0.9, size=(RUNS, LOOKS)).cumsum(axis=1)
    x2 = rng.binomial(PER_LOOK, 0.9, size=(RUNS, LOOKS)).cumsum(axis=1)
    msprt_hits = 0
    naive_hits = 0
    for run in range(RUNS):
        monitor = SequentialMonitor(0.05, tuning_n=2 * PER_LOOK * LOOKS)
        naive = False
        for look in range(LOOKS):
            n = PER_LOOK * (look + 1)
            a, b = int(x1[run, look]), int(x2[run, look])
            monitor.update_proportions(a, n, b, n)
            pooled = (a + b) / (2 * n)
            z = (b - a) / n / math.sqrt(pooled * (1 - pooled) * 2 / n)
            naive = naive or math.erfc(abs(z) / math.sqrt(2)) < 0.05
        msprt_hits += monitor.history[-1].significant
        naive_hits += naive
    return msprt_hits / RUNS, naive_hits / RUNS


def test_aa_false_positive_rate_with_ten_looks_stays_below_alpha() -> None:
    msprt_rate, naive_rate = _aa_runs(seed=20240)
    # The simulation is sensitive enough to catch peeking: stopping at the first p < 0.05 of a fixed-horizon
    # test is rejected well above alpha in the very same runs.
    assert naive_rate > 0.12
    assert msprt_rate <= 0.05


def test_a_real_difference_is_detected_and_covered() -> None:
    rng = np.random.default_rng(7)
    p1, p2, per_look = 0.941, 0.973, 500
    x1 = x2 = 0
    looks = []
    for look in range(1, LOOKS + 1):
        x1 += int(rng.binomial(per_look, p1))
        x2 += int(rng.binomial(per_look, p2))
        looks.append((x1, per_look * look, x2, per_look * look))
    results = msprt_proportions(looks, 0.05, tuning_n=2 * per_look * LOOKS)
    assert results[-1].significant
    assert all(r.ci_low <= p2 - p1 <= r.ci_high for r in results)
    p_values = [r.p_value for r in results]
    assert p_values == sorted(p_values, reverse=True)  # never increases
    widths = [r.ci_high - r.ci_low for r in results]
    assert widths == sorted(widths, reverse=True)  # never widens
    # The confidence sequence is wider than a fixed-horizon 95 % interval: the price of peeking.
    fixed_half = 1.96 * math.sqrt(results[-1].variance)
    assert widths[-1] > 2 * fixed_half


def test_tuning_parameter() -> None:
    r = optimal_mixing_ratio(0.05)
    assert r == pytest.approx(2 * math.log(20) + math.log1p(r))
    assert 8 < r < 9
    fixed = SequentialMonitor(0.05, tau=0.02).update_proportions(900, 1000, 940, 1000)
    tuned = SequentialMonitor(0.05, tuning_n=2000).update_proportions(900, 1000, 940, 1000)
    assert fixed.significant and tuned.significant
    assert fixed.p_value != tuned.p_value
    with pytest.raises(ValueError, match="tau"):
        SequentialMonitor(tau=0.0)
    with pytest.raises(ValueError, match="at least one observation"):
        SequentialMonitor().update_proportions(0, 0, 1, 1)


def test_means_and_degenerate_variance() -> None:
    monitor = SequentialMonitor(0.05, tuning_n=400)
    same = monitor.update_proportions(10, 10, 20, 20)  # zero variance: no evidence, nothing changes
    assert (same.p_value, same.ci_low, same.ci_high) == (1.0, -math.inf, math.inf)
    result = monitor.update_means(mean_a=480.0, var_a=120.0**2, n_a=200, mean_b=190.0, var_b=40.0**2, n_b=200)
    assert result.significant
    assert result.ci_high < 0
