"""Non-inferiority tests and the ship / hold / rollback rule."""

from __future__ import annotations

import numpy as np
import pytest

from otel_llm.stats import (
    Comparison,
    decide,
    newcombe_interval,
    non_inferiority,
    non_inferiority_means,
    non_inferiority_proportions,
    srm_test,
)


def test_non_inferiority_of_rates_within_three_points() -> None:
    passed = non_inferiority((941, 1000), (930, 1000), margin=0.03)
    assert passed.passed
    assert passed.ci_low > -0.03
    assert (passed.ci_low, passed.ci_high) == pytest.approx(newcombe_interval(941, 1000, 930, 1000, 0.9))
    failed = non_inferiority_proportions(941, 1000, 900, 1000, margin=0.03)
    assert not failed.passed
    assert failed.p_value > 0.5  # the estimate itself is beyond the margin


def test_non_inferiority_p_value_and_interval_agree() -> None:
    for x2 in range(900, 960, 3):
        result = non_inferiority_proportions(941, 1000, x2, 1000, margin=0.03)
        assert result.passed == (result.ci_low > -0.03)
        assert result.passed == (result.p_value < 0.05)


def test_non_inferiority_relative_margin_and_lower_is_better() -> None:
    # Hallucination rate 0.3 % -> 1.1 %: not within a 0.5-point margin, as the seed warns.
    worse = non_inferiority_proportions(3, 1000, 11, 1000, margin=0.005, higher_is_better=False)
    assert not worse.passed
    fine = non_inferiority_proportions(3, 1000, 4, 1000, margin=0.01, higher_is_better=False)
    assert fine.passed
    relative = non_inferiority_proportions(900, 1000, 890, 1000, margin=0.03, relative=True)
    assert relative.margin == pytest.approx(0.027)
    rng = np.random.default_rng(2)
    latency_a = rng.lognormal(6.2, 0.4, 20_000)
    latency_b = rng.lognormal(6.2 + 0.01, 0.4, 20_000)  # 1 % slower
    means = non_inferiority_means(latency_a, latency_b, margin=0.05, relative=True, higher_is_better=False)
    assert means.passed
    assert means.ci_high < means.margin
    slower = rng.lognormal(6.2 + 0.1, 0.4, 20_000)  # 10 % slower
    assert not non_inferiority_means(latency_a, slower, margin=0.05, relative=True, higher_is_better=False).passed


def test_non_inferiority_type_one_error_at_the_margin() -> None:
    # True difference exactly at the margin: the test may pass in at most ~alpha of experiments.
    rng = np.random.default_rng(9)
    passes = 0
    for _ in range(600):
        x1 = int(rng.binomial(1000, 0.94))
        x2 = int(rng.binomial(1000, 0.91))
        passes += non_inferiority_proportions(x1, 1000, x2, 1000, margin=0.03).passed
    assert passes / 600 <= 0.07
    # Just inside the margin it passes most of the time: the check is not vacuous.
    near = sum(
        non_inferiority_proportions(
            int(rng.binomial(1000, 0.94)), 1000, int(rng.binomial(1000, 0.94)), 1000, margin=0.03
        ).passed
        for _ in range(100)
    )
    assert near >= 80


def _primary(delta: float, low: float, high: float, p: float, **kw: object) -> Comparison:
    return Comparison("field_accuracy", 0.941, 0.941 + delta, delta, low, high, p, **kw)  # type: ignore[arg-type]


def _latency(low: float, high: float, margin: float | None = 50.0) -> Comparison:
    return Comparison(
        "latency_p50_ms",
        480,
        480 + (low + high) / 2,
        (low + high) / 2,
        low,
        high,
        0.5,
        higher_is_better=False,
        margin=margin,
        guardrail=True,
    )


def test_ship_when_primary_better_and_guardrails_non_inferior() -> None:
    decision = decide(
        [_primary(0.032, 0.02, 0.044, 1e-6)], srm_test({"c": 900, "t": 100}, {"c": 9, "t": 1}), [_latency(-300, -280)]
    )
    assert decision.decision == "ship"
    assert any("significantly better" in r for r in decision.reasons)
    assert decision.significant == {"field_accuracy": True, "latency_p50_ms": False}


def test_rollback_when_a_guardrail_is_worse_beyond_its_margin() -> None:
    hallucination = Comparison(
        "hallucination_rate",
        0.003,
        0.011,
        0.008,
        0.0018,
        0.0151,
        0.01,
        higher_is_better=False,
        margin=0.001,
        guardrail=True,
    )
    decision = decide([_primary(0.032, 0.02, 0.044, 1e-6), hallucination])
    assert decision.decision == "rollback"
    assert "hallucination_rate" in decision.reasons[0]


def test_hold_when_srm_fails_even_if_everything_looks_good() -> None:
    srm = srm_test({"control": 8800, "candidate": 1200}, {"control": 90, "candidate": 10})
    decision = decide([_primary(0.032, 0.02, 0.044, 1e-6)], srm, [_latency(-300, -280)])
    assert decision.decision == "hold"
    assert "sample ratio mismatch" in decision.reasons[0]


def test_hold_when_not_enough_evidence() -> None:
    inconclusive = decide([_primary(0.01, -0.005, 0.025, 0.2)], None, [_latency(-300, -280)])
    assert inconclusive.decision == "hold"
    assert any("not enough evidence" in r for r in inconclusive.reasons)
    guard_unproven = decide([_primary(0.032, 0.02, 0.044, 1e-6)], None, [_latency(-20, 80)])
    assert guard_unproven.decision == "hold"
    assert any("latency_p50_ms" in r for r in guard_unproven.reasons)


def test_holm_is_applied_across_primary_metrics() -> None:
    a = Comparison("accuracy", 0.9, 0.92, 0.02, 0.001, 0.039, 0.04)
    b = Comparison("schema_pass_rate", 0.95, 0.96, 0.01, -0.01, 0.03, 0.30)
    decision = decide([a, b])
    # 0.04 alone would be significant; with two primaries Holm makes it 0.08.
    assert decision.adjusted_p_values == pytest.approx({"accuracy": 0.08, "schema_pass_rate": 0.30})
    assert decision.decision == "hold"


def test_primary_significantly_worse_rolls_back() -> None:
    decision = decide([_primary(-0.03, -0.045, -0.015, 1e-4)])
    assert decision.decision == "rollback"
    assert "primary metric" in decision.reasons[0]


def test_guardrail_without_margin_only_needs_not_to_be_worse() -> None:
    errors = Comparison("error_rate", 0.002, 0.003, 0.001, -0.001, 0.003, 0.4, higher_is_better=False, guardrail=True)
    assert decide([_primary(0.032, 0.02, 0.044, 1e-6), errors]).decision == "ship"
    worse = Comparison("error_rate", 0.002, 0.02, 0.018, 0.01, 0.026, 1e-5, higher_is_better=False, guardrail=True)
    assert decide([_primary(0.032, 0.02, 0.044, 1e-6), worse]).decision == "rollback"
