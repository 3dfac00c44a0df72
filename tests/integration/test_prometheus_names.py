"""The app's SDK metrics (SPEC §4.2) and the span metrics reach a real Prometheus under the pinned names.

``collector/metric_names.json`` is the one place that records the Prometheus series the bundled collector
exposes; dashboards and alert rules read it. These tests scrape a live collector and fail if a pinned name is
not what Prometheus really ingests.
"""

from __future__ import annotations

import json
import uuid

import pytest

from otel_llm import attributes as A
from tests.integration.harness import METRIC_NAMES_FILE, wait_until
from tests.integration.traffic import llm_attributes, sdk_meter_provider, sdk_tracer_provider

pytestmark = pytest.mark.integration

NAMES = json.loads(METRIC_NAMES_FILE.read_text())

# (variant, route, model, duration s, input tokens, output tokens, cost USD, time to first chunk s or None)
CALLS = [
    ("control", "primary", "gpt-4o-mini", 0.8, 120, 40, 0.0012, None),
    ("control", "primary", "gpt-4o-mini", 1.3, 200, 60, 0.0020, 0.21),
    ("control", "primary", "gpt-4o-mini", 2.6, 90, 30, 0.0009, 0.35),
    ("candidate", "shadow", "ft:gpt-4o-mini:candidate", 3.2, 120, 55, 0.0031, None),
]


def _send_sdk_metrics(collector, experiment_id: str) -> None:
    """Record CALLS with the OTel metrics SDK, the instrument names and units otel-llm uses, and flush."""
    provider = sdk_meter_provider(collector, f"metrics-app-{experiment_id}")
    meter = provider.get_meter("otel_llm")
    duration = meter.create_histogram(
        A.METRIC_OPERATION_DURATION, unit="s", explicit_bucket_boundaries_advisory=list(A.DURATION_BUCKETS)
    )
    tokens = meter.create_histogram(
        A.METRIC_TOKEN_USAGE, unit="{token}", explicit_bucket_boundaries_advisory=list(A.TOKEN_BUCKETS)
    )
    ttfc = meter.create_histogram(
        A.METRIC_TIME_TO_FIRST_CHUNK, unit="s", explicit_bucket_boundaries_advisory=list(A.TTFC_BUCKETS)
    )
    per_chunk = meter.create_histogram(
        A.METRIC_TIME_PER_OUTPUT_CHUNK, unit="s", explicit_bucket_boundaries_advisory=list(A.TTFC_BUCKETS)
    )
    cost = meter.create_counter(A.METRIC_COST, unit="USD")
    try:
        for variant, route, model, seconds, tokens_in, tokens_out, usd, first_chunk in CALLS:
            attrs = {
                A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
                A.GEN_AI_PROVIDER_NAME: A.PROVIDER_OPENAI,
                A.GEN_AI_REQUEST_MODEL: model,
                A.GEN_AI_RESPONSE_MODEL: model,
                A.LLM_EXPERIMENT_ID: experiment_id,
                A.LLM_VARIANT: variant,
                A.LLM_ROUTE: route,
                A.LLM_PROMPT_VERSION: "v3",
            }
            duration.record(seconds, attrs)
            tokens.record(tokens_in, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_INPUT})
            tokens.record(tokens_out, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_OUTPUT})
            cost.add(usd, attrs)
            if first_chunk is not None:
                ttfc.record(first_chunk, attrs)
                per_chunk.record(0.02, attrs)
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()


def test_sdk_metrics_reach_prometheus_under_pinned_names(llm_stack) -> None:
    experiment_id = f"exp-{uuid.uuid4().hex[:10]}"
    _send_sdk_metrics(llm_stack.collector, experiment_id)
    prom = llm_stack.prometheus
    sdk = NAMES["sdk_metrics"]
    sel = f'{{llm_experiment_id="{experiment_id}"}}'

    duration = sdk[A.METRIC_OPERATION_DURATION]["series"]
    prom.wait_for_values(
        f"sum by (llm_variant, llm_route) ({duration['count']}{sel})",
        {("control", "primary"): 3, ("candidate", "shadow"): 1},
        by=("llm_variant", "llm_route"),
    )
    sums = prom.values(f"sum by (llm_variant) ({duration['sum']}{sel})", ("llm_variant",))
    assert sums[("control",)] == pytest.approx(0.8 + 1.3 + 2.6)
    # Buckets are cumulative with otel-llm's advisory boundaries (semconv): 0.8 s <= 1.28 < 1.3 s <= 2.56 < 2.6 s.
    buckets = prom.values(
        f'sum by (le) ({duration["bucket"]}{{llm_experiment_id="{experiment_id}", llm_variant="control"}})', ("le",)
    )
    assert (buckets[("1.28",)], buckets[("2.56",)], buckets[("+Inf",)]) == (1.0, 2.0, 3.0)

    tokens = sdk[A.METRIC_TOKEN_USAGE]["series"]
    token_sums = prom.values(f"sum by (gen_ai_token_type) ({tokens['sum']}{sel})", ("gen_ai_token_type",))
    assert token_sums == {("input",): 530.0, ("output",): 185.0}

    cost = sdk[A.METRIC_COST]["series"]["total"]
    by_variant = prom.values(f"sum by (llm_variant) ({cost}{sel})", ("llm_variant",))
    assert by_variant[("control",)] == pytest.approx(0.0041)
    assert by_variant[("candidate",)] == pytest.approx(0.0031)

    ttfc = sdk[A.METRIC_TIME_TO_FIRST_CHUNK]["series"]
    assert prom.values(f"sum({ttfc['count']}{sel})") == {(): 2.0}
    per_chunk = sdk[A.METRIC_TIME_PER_OUTPUT_CHUNK]["series"]
    assert prom.values(f"sum({per_chunk['count']}{sel})") == {(): 2.0}

    # The labels are the attribute names with "." -> "_", and every one is present.
    series = prom.query(f"{duration['count']}{sel}")
    for attribute, label in NAMES["labels"].items():
        if attribute == A.GEN_AI_TOKEN_TYPE:
            continue
        assert all(label in s["metric"] for s in series), (attribute, label)


def test_every_pinned_name_is_in_a_live_scrape(llm_stack) -> None:
    """Every series name in metric_names.json is one Prometheus has really ingested from the collector."""
    experiment_id = f"exp-{uuid.uuid4().hex[:10]}"
    _send_sdk_metrics(llm_stack.collector, experiment_id)
    tracer_provider = sdk_tracer_provider(llm_stack.collector, "grpc", f"names-app-{experiment_id}")
    with tracer_provider.get_tracer("app").start_as_current_span(
        "chat gpt-4o-mini", attributes=llm_attributes(experiment_id, shadow=False)
    ):
        pass
    assert tracer_provider.force_flush(10_000)
    tracer_provider.shutdown()
    pinned = set()
    for group in ("span_metrics", "sdk_metrics", "collector"):
        for entry in NAMES[group].values():
            pinned.update(entry["series"].values())

    def all_present() -> bool:
        return pinned <= llm_stack.prometheus.metric_names()

    try:
        wait_until(all_present, timeout=30, interval=0.5, what="every pinned metric name in Prometheus")
    except Exception:
        missing = pinned - llm_stack.prometheus.metric_names()
        pytest.fail(f"pinned names Prometheus never ingested: {sorted(missing)}")
    # Label names are valid Prometheus label names (no dots survive).
    assert all("." not in label and label.replace("_", "a").isalnum() for label in NAMES["labels"].values())
