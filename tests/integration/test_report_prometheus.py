"""``otel-llm report --prometheus URL`` against a real Prometheus scraping the real collector (SPEC §10, §12).

The app's SDK metrics (the instrument names, units, buckets and attributes otel-llm records) go over OTLP to
the bundled collector; Prometheus scrapes its exporter. The live calls come from two app instances, so the
series carry two ``exported_job`` values (the exporter's ``job`` label renamed by Prometheus) that the report
must add up; shadow calls share the experiment and must stay out of the A/B figures.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from otel_llm import attributes as A
from otel_llm.cli import _register_all, app
from otel_llm.report import _prometheus
from otel_llm.stats import srm_test, two_proportion_test
from tests.integration.harness import METRIC_NAMES_FILE
from tests.integration.traffic import sdk_meter_provider

pytestmark = pytest.mark.integration

NAMES = json.loads(METRIC_NAMES_FILE.read_text())
PRICE_IN, PRICE_OUT = 0.15e-6, 0.60e-6  # USD per token (gpt-4o-mini)


@dataclass(frozen=True)
class Call:
    instance: str
    variant: str
    route: str
    seconds: float
    input_tokens: int
    output_tokens: int
    error: str | None


def _calls(seed: int) -> list[Call]:
    """Control: 170 primary (5 failed) + 3 fallback; candidate: 27 primary (2 failed); 173 shadow calls."""
    rng = random.Random(seed)
    calls = []
    plan = [("control", "primary", 170, 5), ("control", "fallback", 3, 0), ("candidate", "primary", 27, 2)]
    for variant, route, n, failed in plan:
        for i in range(n):
            low, high = (0.33, 0.63) if variant == "control" else (0.17, 0.31)  # one duration bucket each
            calls.append(
                Call(
                    instance=f"app-{i % 2}",
                    variant=variant,
                    route=route,
                    seconds=rng.uniform(low, high),
                    input_tokens=rng.randint(1200, 2000),
                    output_tokens=rng.randint(225, 375),
                    error="500" if i < failed else None,
                )
            )
    calls += [Call("app-0", "candidate", "shadow", 0.2, 1500, 300, None) for _ in range(173)]
    return calls


def _record(collector, experiment_id: str, calls: list[Call]) -> None:
    """Record ``calls`` as otel-llm does (SPEC §4.2): failed calls have error.type and neither usage nor cost."""
    providers = {name: sdk_meter_provider(collector, f"{name}-{experiment_id}") for name in ("app-0", "app-1")}
    instruments = {}
    for name, provider in providers.items():
        meter = provider.get_meter("otel_llm")
        instruments[name] = (
            meter.create_histogram(
                A.METRIC_OPERATION_DURATION, unit="s", explicit_bucket_boundaries_advisory=list(A.DURATION_BUCKETS)
            ),
            meter.create_histogram(
                A.METRIC_TOKEN_USAGE, unit="{token}", explicit_bucket_boundaries_advisory=list(A.TOKEN_BUCKETS)
            ),
            meter.create_counter(A.METRIC_COST, unit="USD"),
        )
    try:
        for call in calls:
            duration, tokens, cost = instruments[call.instance]
            attrs = {
                A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
                A.GEN_AI_PROVIDER_NAME: A.PROVIDER_OPENAI,
                A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                A.LLM_EXPERIMENT_ID: experiment_id,
                A.LLM_VARIANT: call.variant,
                A.LLM_PROMPT_VERSION: "v6",
                A.LLM_ROUTE: call.route,
            }
            if call.error is not None:
                duration.record(call.seconds, {**attrs, A.ERROR_TYPE: call.error})
                continue
            attrs[A.GEN_AI_RESPONSE_MODEL] = "gpt-4o-mini"
            duration.record(call.seconds, attrs)
            tokens.record(call.input_tokens, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_INPUT})
            tokens.record(call.output_tokens, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_OUTPUT})
            cost.add(call.input_tokens * PRICE_IN + call.output_tokens * PRICE_OUT, attrs)
        for provider in providers.values():
            assert provider.force_flush(10_000)
    finally:
        for provider in providers.values():
            provider.shutdown()


def test_report_queries_use_the_pinned_series_and_label_names() -> None:
    sdk = NAMES["sdk_metrics"]
    assert f"{_prometheus.DURATION}_count" == sdk[A.METRIC_OPERATION_DURATION]["series"]["count"]
    assert f"{_prometheus.DURATION}_bucket" == sdk[A.METRIC_OPERATION_DURATION]["series"]["bucket"]
    assert f"{_prometheus.TOKENS}_sum" == sdk[A.METRIC_TOKEN_USAGE]["series"]["sum"]
    assert f"{_prometheus.TOKENS}_count" == sdk[A.METRIC_TOKEN_USAGE]["series"]["count"]
    assert sdk[A.METRIC_COST]["series"]["total"] == _prometheus.COST
    labels = NAMES["labels"]
    for attribute in (A.LLM_VARIANT, A.LLM_EXPERIMENT_ID, A.LLM_ROUTE, A.GEN_AI_TOKEN_TYPE):
        assert labels[attribute] in _prometheus.LABELS.values()


def test_report_from_a_real_prometheus_fed_by_the_collector(llm_stack, tmp_path) -> None:
    experiment_id = f"rp-{uuid.uuid4().hex[:10]}"
    calls = _calls(seed=4)
    _record(llm_stack.collector, experiment_id, calls)
    count = NAMES["sdk_metrics"][A.METRIC_OPERATION_DURATION]["series"]["count"]
    prom = llm_stack.prometheus
    prom.wait_for_values(
        f'sum by (llm_variant, llm_route) ({count}{{llm_experiment_id="{experiment_id}"}})',
        {
            ("control", "primary"): 170,
            ("control", "fallback"): 3,
            ("candidate", "primary"): 27,
            ("candidate", "shadow"): 173,
        },
        by=("llm_variant", "llm_route"),
    )
    # The quirk the report must cope with: one series per app instance, told apart by exported_job.
    jobs = prom.values(f'sum by (exported_job) ({count}{{llm_experiment_id="{experiment_id}"}})', ("exported_job",))
    assert set(jobs) == {(f"app-0-{experiment_id}",), (f"app-1-{experiment_id}",)}
    cost_series = NAMES["sdk_metrics"][A.METRIC_COST]["series"]["total"]
    prom.wait_for_values(
        f'count by (llm_variant) ({cost_series}{{llm_experiment_id="{experiment_id}", llm_route!="shadow"}})',
        {("control",): 4.0, ("candidate",): 2.0},  # (primary|fallback) x two instances for control
        by=("llm_variant",),
    )

    _register_all()
    out = tmp_path / "report.json"
    args = ["report", "--prometheus", prom.url, "--experiment", experiment_id, "--split", "control=90,candidate=10"]
    result = CliRunner().invoke(app, [*args, "--format", "json", "--output", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())

    assert data["experiment"] == experiment_id and data["control"] == "control"
    assert set(data["variants"]) == {"control", "candidate"}
    for name, figures in data["variants"].items():
        live = [c for c in calls if c.variant == name and c.route != "shadow"]
        ok = [c for c in live if c.error is None]
        assert figures["requests"] == len(live)  # shadow calls never counted, both instances summed
        assert figures["errors"] == len(live) - len(ok)
        assert figures["error_rate"] == pytest.approx((len(live) - len(ok)) / len(live))
        assert figures["input_tokens"] == sum(c.input_tokens for c in ok)
        assert figures["output_tokens"] == sum(c.output_tokens for c in ok)
        cost = sum(c.input_tokens * PRICE_IN + c.output_tokens * PRICE_OUT for c in ok)
        assert figures["cost_usd"] == pytest.approx(cost, rel=1e-9)
        # SPEC §15: mean over the calls that have a cost (failed calls carry none), not over all calls.
        assert figures["cost_per_1k_requests_usd"] == pytest.approx(1000 * cost / len(ok), rel=1e-9)
        assert figures["fallback_rate"] == pytest.approx(sum(c.route == "fallback" for c in live) / len(live))
        low, high = (320, 640) if name == "control" else (160, 320)
        assert all(low <= figures["latency_ms"][q] <= high for q in ("p50", "p95", "p99")), figures["latency_ms"]
    assert data["variants"]["control"]["cost_per_1k_requests_usd"] == pytest.approx(0.42, abs=0.02)

    srm = srm_test({"control": 170, "candidate": 27}, {"control": 90, "candidate": 10})
    assert data["srm"]["observed"] == {"control": 170, "candidate": 27}
    assert data["srm"]["p_value"] == pytest.approx(srm.p_value) and data["srm"]["ok"] is True
    [row] = data["comparisons"]
    test = two_proportion_test(5, 173, 2, 27)
    assert (row["metric"], row["delta"], row["p_value"]) == (
        "error_rate",
        pytest.approx(test.estimate),
        pytest.approx(test.p_value),
    )
    assert row["significant"] is False
    assert data["decision"] == "hold"  # aggregates have no judge figures: no primary metric to ship on
    assert "no primary metric to decide on" in data["reasons"]
    assert CliRunner().invoke(app, [*args, "--fail-on", "rollback", "--format", "json"]).exit_code == 0
    assert CliRunner().invoke(app, [*args, "--fail-on", "hold", "--format", "json"]).exit_code == 1
