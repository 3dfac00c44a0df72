"""Sample-ratio mismatch and Holm's correction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from otel_llm.stats import holm, holm_significant, srm_test


def test_srm_matches_scipy_chisquare_and_accepts_percent_weights() -> None:
    result = srm_test({"control": 8950, "candidate": 1050}, {"control": 90, "candidate": 10})
    ref = sps.chisquare([8950, 1050], [9000, 1000])
    assert result.p_value == pytest.approx(ref.pvalue)
    assert result.chi2 == pytest.approx(ref.statistic)
    assert result.expected == {"control": 9000.0, "candidate": 1000.0}
    assert result.ok
    assert srm_test({"control": 8950, "candidate": 1050}, {"control": 90, "candidate": 10}, 0.1).ok is False


def test_srm_detects_a_planted_88_12_split_of_a_90_10_experiment() -> None:
    result = srm_test({"control": 8800, "candidate": 1200}, {"control": 0.9, "candidate": 0.1})
    assert not result.ok
    assert result.p_value < 1e-6


def test_srm_power_and_false_alarm_rate_by_simulation() -> None:
    rng = np.random.default_rng(11)
    weights = {"control": 90, "candidate": 10}
    planted = rng.binomial(10_000, 0.12, 500)  # observed share drifts to 88/12
    detected = np.mean([not srm_test({"control": 10_000 - k, "candidate": int(k)}, weights).ok for k in planted])
    honest = rng.binomial(10_000, 0.10, 2000)
    false_alarms = np.mean([not srm_test({"control": 10_000 - k, "candidate": int(k)}, weights).ok for k in honest])
    assert detected >= 0.99
    assert false_alarms <= 0.005


def test_srm_edge_cases() -> None:
    assert srm_test({}, {"control": 50, "candidate": 50}).ok
    assert srm_test({"control": 10}, {"control": 50, "candidate": 50}).p_value < 0.01  # missing arm = 0
    zero_weight = srm_test({"control": 10, "candidate": 1}, {"control": 100, "candidate": 0})
    assert (zero_weight.ok, zero_weight.p_value) == (False, 0.0)
    with pytest.raises(ValueError, match="no expected weight"):
        srm_test({"shadow": 3}, {"control": 50, "candidate": 50})


def test_holm_hand_computed_example() -> None:
    # p sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> running max 0.06).
    p_values = [0.03, 0.01, 0.04, 0.02]
    assert holm(p_values) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm_significant(p_values) == [False, True, False, False]
    assert holm_significant(p_values, alpha=0.1) == [True, True, True, True]
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_holm_matches_statsmodels() -> None:
    p_values = list(np.random.default_rng(4).uniform(0, 0.2, 12))
    assert holm(p_values) == pytest.approx(list(multipletests(p_values, method="holm")[1]))
    with pytest.raises(ValueError, match="p-values"):
        holm([0.1, 1.5])
