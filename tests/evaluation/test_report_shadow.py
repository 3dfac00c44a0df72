"""`otel-llm report`: paired shadow comparisons and the shadow-basis decision on synthetic OTLP with known effects.

The live candidate gets a few percent of the traffic (too little to show the guardrails within their margins);
every control request is mirrored to the candidate as shadow, so the paired comparisons have thousands of pairs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_report import RATES, generate, write

from otel_llm.report import build_report
from otel_llm.report._compare import _ratio_test

SPLIT = {"control": 95, "candidate": 5}
CONTROL = {**RATES["control"], "error": 0.01, "schema": 0.99, "halluc": 0.02}
BETTER = {**RATES["candidate"], "error": 0.0, "schema": 1.0, "halluc": 0.0}  # better on every metric
ROW_KEYS = {"metric", "control", "candidate", "delta", "ci_low", "ci_high", "p_value", "significant", "basis"}


def _build(tmp_path: Path, candidate: dict, *, split: float = 0.05, shadow: bool = True, seed: int = 11) -> dict:
    lines, truth, _ = generate(
        n=3000, split=split, rates={"control": CONTROL, "candidate": candidate}, shadow=shadow, seed=seed
    )
    spans, truth_file = write(tmp_path, lines, truth)
    weights = {"control": round(100 * (1 - split)), "candidate": round(100 * split)}
    return build_report([spans], truth=truth_file, split=weights).data


def _rows(data: dict, block: str = "shadow") -> dict[str, dict]:
    rows = data["shadow"]["comparisons"] if block == "shadow" else data["comparisons"]
    return {row["metric"]: row for row in rows}


@pytest.fixture(scope="module")
def better(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _build(tmp_path_factory.mktemp("better"), BETTER, seed=14)


def test_better_candidate_ships_on_shadow_basis(better: dict) -> None:
    live = _rows(better, "live")
    assert better["variants"]["candidate"]["requests"] < 200
    assert any(not row["significant"] for row in live.values())
    assert better["shadow"]["decisions"]["candidate"]["decision"] == "ship"
    assert better["decision"] == "ship" and better["decision_basis"] == "shadow"
    n_pairs = better["shadow"]["decisions"]["candidate"]["n_pairs"]
    assert n_pairs == better["shadow"]["variants"]["candidate"]["requests"] > 2500
    assert "decision based on shadow traffic" in better["reasons"][0] and f"{n_pairs:,} pairs" in better["reasons"][0]
    assert "live comparison of candidate" in better["reasons"][0] and "inconclusive" in better["reasons"][0]
    assert all(row["basis"] == "live" for row in better["comparisons"])


def test_shadow_comparisons_have_the_comparison_row_shape_and_recover_the_injected_effects(better: dict) -> None:
    rows = _rows(better)
    assert set(rows) == {
        "field_accuracy",
        "error_rate",
        "latency_p50",
        "latency_p99",
        "cost_per_1k_requests_usd",
        "hallucination_rate",
        "schema_pass_rate",
    }
    for row in rows.values():
        assert set(row) >= ROW_KEYS and row["basis"] == "shadow-paired" and row["variant"] == "candidate"
        assert row["ci_low"] <= row["delta"] <= row["ci_high"]
        assert row["delta"] == pytest.approx(row["candidate"] - row["control"])
    inside = lambda truth, row: row["ci_low"] <= truth <= row["ci_high"]  # noqa: E731
    assert inside(BETTER["halluc"] - CONTROL["halluc"], rows["hallucination_rate"])
    assert inside(BETTER["error"] - CONTROL["error"], rows["error_rate"])
    assert inside(1000 * (BETTER["cost"] - CONTROL["cost"]), rows["cost_per_1k_requests_usd"])
    assert inside(BETTER["p50"] - CONTROL["p50"], rows["latency_p50"])
    assert inside(BETTER["p99"] - CONTROL["p99"], rows["latency_p99"])
    assert rows["field_accuracy"]["significant"] and rows["field_accuracy"]["ci_low"] > 0
    # The shadow block's own per-variant figures are the candidate side of the pairs (every shadow call paired).
    figures = better["shadow"]["variants"]["candidate"]
    assert rows["error_rate"]["candidate"] == pytest.approx(figures["error_rate"])
    assert rows["latency_p50"]["candidate"] == pytest.approx(figures["latency_ms"]["p50"])


def test_shadow_verdict_is_stats_decide_on_the_shadow_rows(better: dict) -> None:
    from otel_llm.stats import Comparison, decide

    rows = _rows(better)
    decision = decide(
        [
            Comparison(
                metric=row["metric"],
                control=row["control"],
                candidate=row["candidate"],
                delta=row["delta"],
                ci_low=row["ci_low"],
                ci_high=row["ci_high"],
                p_value=row["p_value"],
                higher_is_better=row["higher_is_better"],
                margin=row["margin"] if row["guardrail"] else None,
                guardrail=row["guardrail"],
            )
            for row in rows.values()
        ]
    )
    assert better["shadow"]["decisions"]["candidate"]["reasons"] == decision.reasons
    assert better["reasons"][1:] == decision.reasons
    assert {metric: row["significant"] for metric, row in rows.items()} == decision.significant


def test_hallucinating_candidate_rolls_back_on_shadow_basis(tmp_path: Path) -> None:
    # Everything else is better, but null fields are filled 6 % of the time against 2 %: beyond
    # the 0.5-point margin on ~1,100 paired null fields, not yet visible on the ~150 live candidate calls.
    data = _build(tmp_path, {**BETTER, "halluc": 0.06})
    live = _rows(data, "live")
    assert live["hallucination_rate"]["ci_low"] <= live["hallucination_rate"]["margin"]  # live cannot tell
    shadow = _rows(data)["hallucination_rate"]
    assert shadow["ci_low"] > shadow["margin"]
    assert data["decision"] == "rollback" and data["decision_basis"] == "shadow"
    assert any("hallucination_rate" in reason and "beyond its margin" in reason for reason in data["reasons"])


def test_small_live_sample_without_shadow_holds_as_before(tmp_path: Path) -> None:
    data = _build(tmp_path, BETTER, shadow=False)
    assert data["shadow"]["comparisons"] == [] and data["shadow"]["decisions"] == {}
    assert data["decision"] == "hold" and data["decision_basis"] == "live"
    assert data["reasons"][-1] == "not enough evidence yet: keep collecting data"


def test_sample_ratio_mismatch_still_holds_with_shadow_data(tmp_path: Path) -> None:
    lines, truth, _ = generate(n=3000, split=0.10, rates={"control": CONTROL, "candidate": BETTER}, seed=12)
    spans, truth_file = write(tmp_path, lines, truth)
    data = build_report([spans], truth=truth_file, split=SPLIT).data  # 10 % observed, 5 % declared
    assert data["srm"]["ok"] is False
    assert data["shadow"]["decisions"]["candidate"]["decision"] == "ship"  # shown, but not used
    assert data["decision"] == "hold" and data["decision_basis"] == "live"
    assert data["reasons"][0].startswith("sample ratio mismatch")


def test_decisive_live_verdict_is_kept(tmp_path: Path) -> None:
    # Half the traffic live: the live comparison is conclusive by itself and stands.
    data = _build(tmp_path, BETTER, split=0.5)
    assert data["decision"] == "ship" and data["decision_basis"] == "live"
    assert not any("shadow traffic" in reason for reason in data["reasons"])


def test_shadow_only_candidate_is_decided_on_shadow(tmp_path: Path) -> None:
    lines, truth, _ = generate(n=2000, split=0.0, rates={"control": CONTROL, "candidate": BETTER}, seed=13)
    spans, truth_file = write(tmp_path, lines, truth)
    data = build_report([spans], truth=truth_file).data
    assert set(data["variants"]) == {"control"} and data["comparisons"] == []
    assert data["decision"] == "ship" and data["decision_basis"] == "shadow"
    assert "has no live traffic" in data["reasons"][0]


def test_paired_interval_accounts_for_fields_clustered_within_a_call() -> None:
    # Five fields per call, all right or all wrong together: the information is per call, not per field, so the
    # interval must be about sqrt(5) wider than a test that treats the 5n fields as independent.
    rng = np.random.default_rng(0)
    n, k = 2000, 5
    control = (rng.random(n) < 0.90) * k
    candidate = (rng.random(n) < 0.93) * k
    totals = np.full(n, float(k))
    _, _, result = _ratio_test(control.astype(float), totals, candidate.astype(float), totals)
    width = result.ci_high - result.ci_low
    per_call_se = math.sqrt((0.9 * 0.1 + 0.93 * 0.07) / n)
    assert width == pytest.approx(2 * 1.96 * per_call_se, rel=0.12)
    naive_se = per_call_se / math.sqrt(k)
    assert width > 2 * 1.96 * naive_se * 1.8
