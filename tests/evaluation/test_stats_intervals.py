"""Intervals and two-sample tests: agreement with statsmodels/scipy and coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, proportions_ztest

from otel_llm.stats import (
    bootstrap_diff,
    bootstrap_interval,
    newcombe_interval,
    two_proportion_test,
    welch_test,
    wilson_interval,
)

N_EXPERIMENTS = 2000


@pytest.mark.parametrize(("x", "n"), [(0, 10), (1, 10), (5, 100), (94, 100), (100, 100), (3, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(x: int, n: int, confidence: float) -> None:
    low, high = wilson_interval(x, n, confidence)
    ref_low, ref_high = proportion_confint(x, n, alpha=1 - confidence, method="wilson")
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)


def test_wilson_edge_cases_and_errors() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 50)[0] == 0.0
    assert wilson_interval(50, 50)[1] == 1.0
    for bad in [(-1, 10), (11, 10), (1.5, 10)]:
        with pytest.raises(ValueError, match="successes"):
            wilson_interval(bad[0], bad[1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 10, confidence=95)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(50, 100, 60, 100), (941, 1000, 97, 100), (0, 30, 2, 40)])
def test_newcombe_matches_statsmodels_with_candidate_minus_control(x1: int, n1: int, x2: int, n2: int) -> None:
    low, high = newcombe_interval(x1, n1, x2, n2)
    # statsmodels computes p_first - p_second, so the candidate goes first there.
    ref_low, ref_high = confint_proportions_2indep(x2, n2, x1, n1, method="newcomb", compare="diff")
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)
    assert low < x2 / n2 - x1 / n1 < high


def test_newcombe_with_an_empty_arm_is_the_interval_arithmetic_bound() -> None:
    low2, high2 = wilson_interval(7, 10)
    assert newcombe_interval(0, 0, 7, 10) == pytest.approx((low2 - 1.0, high2))


def test_two_proportion_test_matches_the_pooled_z_test() -> None:
    result = two_proportion_test(941, 1000, 973, 1000)
    _, ref_p = proportions_ztest([973, 941], [1000, 1000])
    assert result.estimate == pytest.approx(0.032)
    assert result.p_value == pytest.approx(ref_p, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx(newcombe_interval(941, 1000, 973, 1000))
    assert two_proportion_test(10, 10, 20, 20).p_value == 1.0
    with pytest.raises(ValueError, match="at least one observation"):
        two_proportion_test(0, 0, 1, 10)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.lognormal(6.2, 0.6, 90)
    b = rng.lognormal(5.2, 0.3, 40)
    result = welch_test(a, b)
    ref = sps.ttest_ind(b, a, equal_var=False)
    ref_ci = ref.confidence_interval(0.95)
    assert result.estimate == pytest.approx(b.mean() - a.mean())
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx((ref_ci.low, ref_ci.high), rel=1e-9)


def test_welch_constant_samples_and_errors() -> None:
    same = welch_test([2.0, 2.0], [2.0, 2.0])
    assert (same.estimate, same.p_value) == (0.0, 1.0)
    shifted = welch_test([2.0, 2.0], [3.0, 3.0])
    assert (shifted.ci_low, shifted.ci_high, shifted.p_value) == (1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        welch_test([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        welch_test([1.0, math.nan], [1.0, 2.0])


def test_bootstrap_percentiles_use_linear_interpolation_and_are_seeded() -> None:
    rng = np.random.default_rng(5)
    values = rng.lognormal(6, 0.5, 500)
    first = bootstrap_interval(values, "p99", seed=11)
    assert first == bootstrap_interval(values, "p99", seed=11)
    assert first[0] < np.percentile(values, 99) < first[1]
    result = bootstrap_diff(values, values * 0.5, "p50", seed=1)
    assert result.estimate == pytest.approx(-0.5 * np.percentile(values, 50))
    assert result.ci_high < 0
    assert result.p_value < 0.01
    custom = bootstrap_interval(values, lambda s: float(np.max(s)), n_resamples=200)
    assert custom[1] == pytest.approx(values.max())
    with pytest.raises(ValueError, match="statistic"):
        bootstrap_interval(values, "p90")  # type: ignore[arg-type]


def test_bootstrap_diff_of_identical_populations_is_not_significant() -> None:
    rng = np.random.default_rng(8)
    a = rng.normal(100, 10, 300)
    b = rng.normal(100, 10, 300)
    result = bootstrap_diff(a, b, "mean", seed=2)
    welch = welch_test(a, b)
    assert result.ci_low < 0 < result.ci_high
    # The bootstrap interval of a difference of means agrees with Welch's within Monte Carlo noise.
    assert result.ci_low == pytest.approx(welch.ci_low, abs=0.3)
    assert result.p_value == pytest.approx(welch.p_value, abs=0.06)


# --- coverage by simulation: 2,000 simulated experiments each, nominal 95 %, must reach >= 94 % ---


def test_wilson_coverage() -> None:
    rng = np.random.default_rng(101)
    n, p = 400, 0.06
    hits = 0
    for x in rng.binomial(n, p, N_EXPERIMENTS):
        low, high = wilson_interval(int(x), n)
        hits += low <= p <= high
    assert hits / N_EXPERIMENTS >= 0.94


def test_newcombe_coverage_with_the_seed_accuracies_and_a_90_10_split() -> None:
    rng = np.random.default_rng(102)
    n1, n2, p1, p2 = 900, 100, 0.941, 0.973
    hits = 0
    for x1, x2 in zip(rng.binomial(n1, p1, N_EXPERIMENTS), rng.binomial(n2, p2, N_EXPERIMENTS), strict=True):
        low, high = newcombe_interval(int(x1), n1, int(x2), n2)
        hits += low <= p2 - p1 <= high
    assert hits / N_EXPERIMENTS >= 0.94


def test_welch_coverage_on_log_normal_latencies() -> None:
    rng = np.random.default_rng(103)
    true_delta = math.exp(math.log(190) + 0.3**2 / 2) - math.exp(math.log(480) + 0.6**2 / 2)
    hits = 0
    for _ in range(N_EXPERIMENTS):
        result = welch_test(rng.lognormal(math.log(480), 0.6, 200), rng.lognormal(math.log(190), 0.3, 100))
        hits += result.ci_low <= true_delta <= result.ci_high
    assert hits / N_EXPERIMENTS >= 0.94


def test_bootstrap_mean_coverage_on_log_normal_latencies() -> None:
    rng = np.random.default_rng(104)
    true_mean = math.exp(math.log(480) + 0.4**2 / 2)
    hits = 0
    for i in range(N_EXPERIMENTS):
        low, high = bootstrap_interval(rng.lognormal(math.log(480), 0.4, 100), "mean", n_resamples=1000, seed=i)
        hits += low <= true_mean <= high
    assert hits / N_EXPERIMENTS >= 0.94


def test_coverage_check_detects_a_too_narrow_interval() -> None:
    # The same simulation with an 80 % Wilson interval must fall below the bar: the coverage checks can fail.
    rng = np.random.default_rng(101)
    n, p = 400, 0.06
    hits = sum(low <= p <= high for low, high in (wilson_interval(int(x), n, 0.8) for x in rng.binomial(n, p, 2000)))
    assert hits / 2000 < 0.94
