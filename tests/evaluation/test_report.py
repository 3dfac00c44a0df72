"""`otel-llm report` on OTLP JSON lines produced by the real OpenTelemetry SDK with known injected figures."""

from __future__ import annotations

import base64
import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from typer.testing import CliRunner

from otel_llm import attributes as A
from otel_llm.cli import _register_all, app
from otel_llm.report import build_report, collect_files

FIELDS = ("invoice_number", "vendor", "total", "issue_date", "po_number")
RATES = {  # injected truth per variant
    "control": {
        "error": 0.03,
        "acc": 0.94,
        "halluc": 0.05,
        "p50": 480.0,
        "p99": 1800.0,
        "cost": 0.00042,
        "schema": 0.99,
    },
    "candidate": {
        "error": 0.01,
        "acc": 0.97,
        "halluc": 0.15,
        "p50": 190.0,
        "p99": 410.0,
        "cost": 0.00012,
        "schema": 0.95,
    },
}
Z99 = 2.3263478740408408


def _hex_ids(node: object) -> None:
    """protobuf's JSON mapping writes bytes as base64; OTLP/JSON (the file exporter) writes ids as hex."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"traceId", "spanId", "parentSpanId"} and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def otlp_lines(spans: list, batch: int = 400) -> list[str]:
    lines = []
    for start in range(0, len(spans), batch):
        document = MessageToDict(encode_spans(spans[start : start + batch]), use_integers_for_enums=True)
        _hex_ids(document)
        lines.append(json.dumps(document))
    return lines


def make_truth(rng: np.random.Generator, n_docs: int) -> dict[str, dict]:
    truth = {}
    for i in range(n_docs):
        truth[f"doc-{i}"] = {
            "invoice_number": f"INV-{i:05d}",
            "vendor": f"Vendor {i % 37}",
            "total": round(float(rng.uniform(10, 5000)), 2),
            "issue_date": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "po_number": None if rng.random() < 0.4 else f"PO-{i}",
        }
    return truth


def _predict(rng: np.random.Generator, reference: dict, rates: dict) -> dict:
    out = {}
    for name in FIELDS:
        value = reference[name]
        if value is None:
            out[name] = "PO-made-up" if rng.random() < rates["halluc"] else None
        else:
            out[name] = value if rng.random() < rates["acc"] else "wrong"
    return out


def generate(
    n: int = 2000,
    split: float = 0.10,
    seed: int = 3,
    rates: dict | None = None,
    shadow: bool = True,
    n_docs: int = 400,
) -> tuple[list[str], dict[str, dict], dict]:
    """Spans through the real SDK: a request span, its primary LLM call and (for control) a shadow call."""
    rates = rates or RATES
    rng = np.random.default_rng(seed)
    truth = make_truth(rng, n_docs)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    counts = {"live": {"control": 0, "candidate": 0}, "shadow": 0}
    t0 = 1_700_000_000_000_000_000
    for i in range(n):
        variant = "candidate" if rng.random() < split else "control"
        counts["live"][variant] += 1
        start = t0 + i * 5_000_000
        root = tracer.start_span("POST /extract", start_time=start)
        calls = [(variant, A.ROUTE_PRIMARY)]
        if shadow and variant == "control":
            calls.append(("candidate", A.ROUTE_SHADOW))
            counts["shadow"] += 1
        from opentelemetry import trace

        with trace.use_span(root, end_on_exit=False):
            for served, route in calls:
                r = rates[served]
                sigma = math.log(r["p99"] / r["p50"]) / Z99
                latency_ns = int(r["p50"] * math.exp(sigma * rng.standard_normal()) * 1e6)
                doc = f"doc-{rng.integers(n_docs)}"
                attrs = {
                    A.GEN_AI_OPERATION_NAME: "chat",
                    A.GEN_AI_REQUEST_MODEL: served,
                    A.LLM_EXPERIMENT_ID: "invoice-extractor-ft",
                    A.LLM_VARIANT: served,
                    A.LLM_ROUTE: route,
                    A.LLM_VARIANT_WEIGHT: 100 * split if served == "candidate" else 100 * (1 - split),
                    A.LLM_DOCUMENT_ID: doc,
                    A.GEN_AI_USAGE_INPUT_TOKENS: int(rng.integers(1400, 1800)),
                    A.GEN_AI_USAGE_OUTPUT_TOKENS: int(rng.integers(250, 350)),
                }
                if route == A.ROUTE_SHADOW:
                    attrs[A.LLM_SHADOW] = True
                span = tracer.start_span(f"chat {served}", start_time=start + 1000, attributes=attrs)
                if rng.random() < r["error"]:
                    span.set_attribute(A.ERROR_TYPE, "500")
                    span.set_status(Status(StatusCode.ERROR))
                else:
                    prediction = _predict(rng, truth[doc], r)
                    message = [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": json.dumps(prediction)}],
                            "finish_reason": "stop",
                        }
                    ]
                    span.set_attribute(A.GEN_AI_OUTPUT_MESSAGES, json.dumps(message))
                    span.set_attribute(A.LLM_COST_USD, float(r["cost"] * rng.uniform(0.5, 1.5)))
                    span.set_attribute(A.LLM_SCHEMA_VALID, bool(rng.random() < r["schema"]))
                span.end(end_time=start + 1000 + latency_ns)
        root.end(end_time=start + 3_000_000_000)
    return otlp_lines(list(exporter.get_finished_spans())), truth, counts


def write(tmp_path: Path, lines: list[str], truth: dict) -> tuple[Path, Path]:
    spans = tmp_path / "spans.jsonl"
    spans.write_text("\n".join(lines) + "\n")
    truth_file = tmp_path / "truth.jsonl"
    truth_file.write_text("".join(json.dumps({"id": k, "fields": v}) + "\n" for k, v in truth.items()))
    return spans, truth_file


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    lines, truth, counts = generate()
    spans, truth_file = write(tmp_path_factory.mktemp("report"), lines, truth)
    return spans, truth_file, counts


@pytest.fixture(scope="module")
def report(scenario: tuple[Path, Path, dict]) -> dict:
    spans, truth_file, _ = scenario
    return build_report([spans], truth=truth_file, split={"control": 90, "candidate": 10}).data


def _inside(value: float, ci: list[float]) -> bool:
    return ci[0] <= value <= ci[1]


def test_injected_figures_fall_inside_the_reports_intervals(report: dict, scenario) -> None:
    _, _, counts = scenario
    for name, rates in RATES.items():
        figures = report["variants"][name]
        assert figures["requests"] == counts["live"][name]  # shadow calls never counted here
        assert _inside(rates["error"], figures["error_rate_ci"])
        assert _inside(rates["p50"], figures["latency_ms_ci"]["p50"])
        assert _inside(rates["p99"], figures["latency_ms_ci"]["p99"])
        assert _inside(rates["cost"] * 1000, figures["cost_per_1k_requests_usd_ci"])
        assert _inside(rates["halluc"], figures["hallucination_rate_ci"])
        assert _inside(rates["schema"], figures["schema_pass_rate_ci"])
        n, n_null = figures["n_fields"], figures["n_null_fields"]
        expected_accuracy = ((n - n_null) * rates["acc"] + n_null * (1 - rates["halluc"])) / n
        assert _inside(expected_accuracy, figures["field_accuracy_ci"])
        assert figures["fallback_rate"] == 0.0


def test_shadow_block_is_separate_and_paired_by_trace(report: dict, scenario) -> None:
    _, _, counts = scenario
    shadow = report["shadow"]
    assert shadow["variants"]["candidate"]["requests"] == counts["shadow"]
    [pair] = shadow["paired"]
    assert (pair["primary_variant"], pair["shadow_variant"]) == ("control", "candidate")
    assert pair["n_pairs"] == counts["shadow"]  # every shadow call found its primary in the same trace
    assert pair["latency_ms_mean_diff"]["ci"][1] < 0  # the candidate is faster on the same requests


def test_json_has_the_spec_shape(report: dict) -> None:
    assert set(report) >= {"experiment", "variants", "comparisons", "srm", "decision", "reasons", "shadow"}
    assert report["decision_basis"] in {"live", "shadow"}
    assert set(report["shadow"]) >= {"variants", "paired", "comparisons", "decisions"}
    figures = report["variants"]["control"]
    assert set(figures) >= {
        "requests",
        "errors",
        "error_rate",
        "latency_ms",
        "ttft_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "cost_per_1k_requests_usd",
        "field_accuracy",
        "hallucination_rate",
        "schema_pass_rate",
        "fallback_rate",
        "error_rate_ci",
        "field_accuracy_ci",
        "n_fields",
        "n_null_fields",
    }
    assert set(figures["latency_ms"]) == {"p50", "p95", "p99"}
    for row in report["comparisons"]:
        assert set(row) >= {"metric", "control", "candidate", "delta", "ci_low", "ci_high", "p_value", "significant"}
    assert {row["metric"] for row in report["comparisons"]} >= {
        "error_rate",
        "latency_p50",
        "latency_p99",
        "cost_per_1k_requests_usd",
        "field_accuracy",
        "hallucination_rate",
        "schema_pass_rate",
    }
    assert report["decision"] in {"ship", "hold", "rollback"}
    json.dumps(report, allow_nan=False)


def test_srm_flags_a_planted_imbalance(tmp_path: Path) -> None:
    lines, truth, _ = generate(n=2000, split=0.15, shadow=False)
    spans, _ = write(tmp_path, lines, truth)
    declared = build_report([spans], split={"control": 90, "candidate": 10}).data
    assert declared["srm"]["ok"] is False and declared["srm"]["p_value"] < 0.001
    assert declared["decision"] == "hold"
    from_spans = build_report([spans]).data  # llm.variant.weight says 85/15: no mismatch
    assert from_spans["srm"]["ok"] is True and from_spans["srm"]["source"] == "span-attribute"


def test_cli_fail_on_rollback_and_html_is_self_contained(tmp_path: Path) -> None:
    bad = {**RATES, "candidate": {**RATES["candidate"], "error": 0.30}}
    lines, truth, _ = generate(n=1500, split=0.5, rates=bad, shadow=False, seed=5)
    spans, truth_file = write(tmp_path, lines, truth)
    _register_all()
    runner = CliRunner()
    out = tmp_path / "r.json"
    args = ["report", str(spans), "--truth", str(truth_file), "--format", "json", "--output", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    assert json.loads(out.read_text())["decision"] == "rollback"
    assert runner.invoke(app, [*args, "--fail-on", "rollback"]).exit_code == 1
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(spans), "--format", "html", "--output", str(html)])
    assert result.exit_code == 0, result.output
    text = html.read_text()
    assert "<svg" in text and "http://" not in text and "https://" not in text
    bad_file = tmp_path / "bad.jsonl"
    bad_file.write_text(lines[0] + "\n{not json\n")
    result = runner.invoke(app, ["report", str(bad_file)])
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output


def test_only_llm_spans_count_and_judge_attributes_on_spans(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for i in range(40):
        variant = "control" if i % 2 else "candidate"
        with tracer.start_as_current_span("not an llm call", attributes={A.LLM_VARIANT: variant}):
            tracer.start_span(
                "chat m",
                attributes={
                    A.GEN_AI_OPERATION_NAME: "chat",
                    A.LLM_EXPERIMENT_ID: "e",
                    A.LLM_VARIANT: variant,
                    A.LLM_EVAL_FIELDS_TOTAL: 10,
                    A.LLM_EVAL_FIELDS_CORRECT: 9,
                    A.LLM_EVAL_NULL_FIELDS: 2,
                    A.LLM_EVAL_NULL_FILLED: 1,
                },
            ).end()
    spans = tmp_path / "s.jsonl"
    spans.write_text("\n".join(otlp_lines(list(exporter.get_finished_spans()))))
    data = build_report([spans]).data
    assert data["variants"]["control"]["requests"] == 20 and data["input"]["llm_spans"] == 40
    assert data["variants"]["control"]["field_accuracy"] == pytest.approx(0.9)
    assert data["variants"]["control"]["hallucination_rate"] == pytest.approx(0.5)
    assert data["variants"]["control"]["n_null_fields"] == 40


def test_memory_stays_bounded_on_a_large_file(tmp_path: Path) -> None:
    lines, _, _ = generate(n=400, shadow=False, seed=9)
    padding = "x" * 2000
    line = lines[0].replace(
        '"attributes": [', f'"attributes": [{{"key": "pad", "value": {{"stringValue": "{padding}"}}}}, '
    )
    big = tmp_path / "big.jsonl"
    with big.open("w") as handle:
        for _ in range(max(1, 30_000_000 // len(line))):
            handle.write(line + "\n")
    size = big.stat().st_size
    tracemalloc.start()
    try:
        collection = collect_files([big])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(len(columns) for columns in collection.live["invoice-extractor-ft"].values()) > 5_000
    # Streaming keeps one line plus ~100 bytes per call. (The statistics afterwards resample in chunks of a
    # fixed size, about 64 MB at most, whatever the input size.)
    assert peak < size / 4, (peak, size)


def _rows(report: dict, variant: str = "candidate") -> dict[str, dict]:
    return {row["metric"]: row for row in report["comparisons"] if row["variant"] == variant}


def test_significance_and_verdict_come_from_stats_decide(report: dict) -> None:
    from otel_llm.stats import Comparison, SRMResult, decide

    rows = _rows(report)
    comparisons = [
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
    srm = report["srm"]
    decision = decide(comparisons, SRMResult(srm["p_value"], srm["ok"], 0.0, 1, {}, {}))
    assert report["decision"] == decision.decision
    assert report["reasons"] == decision.reasons
    assert {metric: row["significant"] for metric, row in rows.items()} == decision.significant
    # Holm runs over the primary metrics only (one here), guardrails keep their own p-values.
    assert all(row["p_value_holm"] == row["p_value"] for row in rows.values())
    # Injected: the candidate hallucinates 15 % against 5 %, far beyond the 0.5-point margin -> rollback.
    assert rows["hallucination_rate"]["significant"] and report["decision"] == "rollback"
    # A decisive live verdict stands even though paired shadow comparisons exist.
    assert report["decision_basis"] == "live" and report["shadow"]["comparisons"]


def test_primary_metric_significantly_worse_rolls_back(tmp_path: Path) -> None:
    worse = {
        "control": RATES["control"],
        "candidate": {**RATES["control"], "acc": 0.80, "cost": 0.00012, "p50": 190.0, "p99": 410.0},
    }
    lines, truth, _ = generate(n=1500, split=0.5, rates=worse, shadow=False, seed=21)
    spans, truth_file = write(tmp_path, lines, truth)
    data = build_report([spans], truth=truth_file, split={"control": 50, "candidate": 50}).data
    rows = _rows(data)
    assert rows["field_accuracy"]["significant"] and rows["field_accuracy"]["ci_high"] < 0
    assert data["decision"] == "rollback"
    assert any(reason.startswith("primary metric field_accuracy") for reason in data["reasons"]), data["reasons"]


def test_sample_ratio_mismatch_holds_even_when_a_guardrail_looks_worse(tmp_path: Path) -> None:
    bad = {**RATES, "candidate": {**RATES["candidate"], "error": 0.30}}
    lines, truth, _ = generate(n=2000, split=0.25, rates=bad, shadow=False, seed=8)
    spans, truth_file = write(tmp_path, lines, truth)
    data = build_report([spans], truth=truth_file, split={"control": 90, "candidate": 10}).data
    assert data["srm"]["ok"] is False
    assert _rows(data)["error_rate"]["significant"]
    assert data["decision"] == "hold"
    assert data["reasons"][0].startswith("sample ratio mismatch")
    assert any("error_rate" in reason and "unreliable under SRM" in reason for reason in data["reasons"])


def test_split_without_a_weight_for_an_observed_variant_is_an_error(scenario) -> None:
    spans, _, _ = scenario
    with pytest.raises(ValueError, match=r"no expected weight for variant.*candidate"):
        build_report([spans], split={"control": 100})


def test_sequential_chart_is_the_stats_msprt_on_cumulative_counts(report: dict) -> None:
    from otel_llm.stats import msprt_proportions

    [errors] = [s for s in report["sequential"] if s["metric"] == "error_rate"]
    points = errors["points"]
    assert len(points) == 20 and points[-1]["n_control"] + points[-1]["n_candidate"] == sum(
        report["variants"][name]["requests"] for name in ("control", "candidate")
    )
    p_values = [point["p_value"] for point in points]
    assert p_values == sorted(p_values, reverse=True)  # always-valid p-values never go back up
    assert all(point["ci"] is None or point["ci"][0] <= point["delta"] <= point["ci"][1] for point in points)
    # The last look agrees with msprt_proportions on the final counts at the same tuning (the whole sample).
    c, k = report["variants"]["control"], report["variants"]["candidate"]
    n_total = c["requests"] + k["requests"]
    final = msprt_proportions([(c["errors"], c["requests"], k["errors"], k["requests"])], tuning_n=n_total)[-1]
    assert points[-1]["p_value"] <= final.p_value + 1e-12
    assert points[-1]["ci"][0] >= final.ci_low - 1e-12 and points[-1]["ci"][1] <= final.ci_high + 1e-12
    assert points[-1]["delta"] == pytest.approx(final.estimate)
    # Field accuracy (judged) is monitored too; 3 points on ~1,000 fields per arm is detected by the end.
    [accuracy] = [s for s in report["sequential"] if s["metric"] == "field_accuracy"]
    assert accuracy["points"][-1]["significant"] is True
