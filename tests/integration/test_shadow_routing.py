"""End to end: an app's primary and shadow spans -> the real collector -> OTLP backends and a real Prometheus.

The SPEC §15 rule under test: shadow spans (``llm.shadow`` boolean true, or the string "true" copied from
baggage by a downstream service) never reach the primary destination; in tag mode all of them reach the shadow
destination tagged ``llm.route=shadow``; in drop mode none is exported; span metrics count shadow traffic only
under ``llm_route="shadow"``; no primary span is lost.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pytest
from opentelemetry.trace import Link, SpanKind

from otel_llm import attributes as A
from tests.integration.conftest import collector_env
from tests.integration.harness import DROP_CONFIG, wait_until
from tests.integration.traffic import llm_attributes, sdk_tracer_provider, shadow_baggage

pytestmark = pytest.mark.integration

REQUESTS = 12
SHADOW_EVERY = 2  # every second request is mirrored to the candidate
SHADOW_REQUESTS = REQUESTS // SHADOW_EVERY


@dataclass
class SentTraffic:
    """Span ids the app exported, split by what the collector must do with them."""

    experiment_id: str
    app_service: str
    candidate_service: str
    trace_ids: set[str] = field(default_factory=set)
    primary: set[str] = field(default_factory=set)
    shadow: set[str] = field(default_factory=set)


def _hex(span) -> str:
    return f"{span.get_span_context().span_id:016x}"


def send_app_traffic(collector, protocol: str) -> SentTraffic:
    """An app handling REQUESTS requests; every SHADOW_EVERY-th is mirrored to a candidate model.

    Per request (primary): server span, the primary LLM call, the HTTP span below it.
    Per shadowed request (shadow): the shadow LLM call (``llm.shadow=True``), the HTTP span below it (marked by
    the SDK with ``llm.shadow=True`` only), and two spans of the instrumented candidate service that only carry
    the baggage-derived string attributes (``llm.shadow="true"``).
    """
    tag = uuid.uuid4().hex[:10]
    sent = SentTraffic(f"exp-{tag}", f"app-{tag}", f"candidate-{tag}")
    app = sdk_tracer_provider(collector, protocol, sent.app_service)
    candidate = sdk_tracer_provider(collector, protocol, sent.candidate_service, baggage_to_attributes=True)
    tracer = app.get_tracer("app")
    candidate_tracer = candidate.get_tracer("candidate-service")
    try:
        for i in range(REQUESTS):
            with tracer.start_as_current_span("POST /extract", kind=SpanKind.SERVER) as root:
                sent.trace_ids.add(f"{root.get_span_context().trace_id:032x}")
                sent.primary.add(_hex(root))
                with tracer.start_as_current_span(
                    "chat gpt-4o-mini",
                    kind=SpanKind.CLIENT,
                    attributes=llm_attributes(sent.experiment_id, shadow=False),
                ) as primary_call:
                    sent.primary.add(_hex(primary_call))
                    with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as http:
                        sent.primary.add(_hex(http))
                if i % SHADOW_EVERY:
                    continue
                with tracer.start_as_current_span(
                    "chat ft:gpt-4o-mini:candidate",
                    kind=SpanKind.CLIENT,
                    attributes=llm_attributes(sent.experiment_id, shadow=True, model="ft:gpt-4o-mini:candidate"),
                    links=[Link(primary_call.get_span_context())],
                ) as shadow_call:
                    sent.shadow.add(_hex(shadow_call))
                    with tracer.start_as_current_span(
                        "POST", kind=SpanKind.CLIENT, attributes={A.LLM_SHADOW: True}
                    ) as http:
                        sent.shadow.add(_hex(http))
                        with shadow_baggage(sent.experiment_id, "candidate"):
                            with candidate_tracer.start_as_current_span(
                                "POST /v1/chat/completions", kind=SpanKind.SERVER
                            ) as served:
                                sent.shadow.add(_hex(served))
                                with candidate_tracer.start_as_current_span("retrieve context") as inner:
                                    sent.shadow.add(_hex(inner))
        assert app.force_flush(10_000)
        assert candidate.force_flush(10_000)
    finally:
        app.shutdown()
        candidate.shutdown()
    assert len(sent.primary) == 3 * REQUESTS
    assert len(sent.shadow) == 4 * SHADOW_REQUESTS
    return sent


def settle(seconds: float = 1.0) -> None:
    """Give anything still in flight (batch timeout is 200 ms in tests) the chance to arrive, then assert."""
    time.sleep(seconds)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_tag_mode_splits_primary_and_shadow_spans(llm_stack, protocol: str) -> None:
    sent = send_app_traffic(llm_stack.collector, protocol)

    llm_stack.primary.recorder.wait_for_count(len(sent.primary), trace_ids=sent.trace_ids)
    llm_stack.shadow.recorder.wait_for_count(len(sent.shadow), trace_ids=sent.trace_ids)
    settle()

    primary = llm_stack.primary.recorder.matching(sent.trace_ids)
    shadow = llm_stack.shadow.recorder.matching(sent.trace_ids)
    # Exactly the primary spans in the primary destination: none lost, none duplicated, no shadow span.
    assert sorted(s.span_id for s in primary) == sorted(sent.primary)
    assert not {s.span_id for s in primary} & sent.shadow
    # Exactly the shadow spans in the shadow destination, every one tagged and normalised to a boolean.
    assert sorted(s.span_id for s in shadow) == sorted(sent.shadow)
    assert all(s.attributes[A.LLM_ROUTE] == A.ROUTE_SHADOW for s in shadow)
    assert all(s.attributes[A.LLM_SHADOW] is True for s in shadow)
    # The candidate service's spans were marked only by the baggage string and still went the shadow way.
    candidate = [s for s in shadow if s.resource["service.name"] == sent.candidate_service]
    assert len(candidate) == 2 * SHADOW_REQUESTS
    # Primary spans keep their own route; nothing in the primary destination says shadow.
    assert all(s.attributes.get(A.LLM_ROUTE) in (None, A.ROUTE_PRIMARY) for s in primary)
    assert all(A.LLM_SHADOW not in s.attributes for s in primary)


def test_tag_mode_span_metrics_in_prometheus(llm_stack) -> None:
    sent = send_app_traffic(llm_stack.collector, "grpc")
    prom = llm_stack.prometheus

    # LLM calls of the experiment: live calls under primary, every shadow-side span only under shadow.
    prom.wait_for_values(
        f'sum by (llm_route, llm_variant) (llm_span_calls_total{{llm_experiment_id="{sent.experiment_id}"}})',
        {("primary", "control"): REQUESTS, ("shadow", "candidate"): 3 * SHADOW_REQUESTS},
        by=("llm_route", "llm_variant"),
    )
    # Per service: the app's non-LLM spans carry no route; its shadow call and the HTTP span below it are shadow.
    prom.wait_for_values(
        f'sum by (llm_route) (llm_span_calls_total{{service_name="{sent.app_service}"}})',
        {("",): 2 * REQUESTS, ("primary",): REQUESTS, ("shadow",): 2 * SHADOW_REQUESTS},
        by=("llm_route",),
    )
    prom.wait_for_values(
        f'sum by (llm_route) (llm_span_calls_total{{service_name="{sent.candidate_service}"}})',
        {("shadow",): 2 * SHADOW_REQUESTS},
        by=("llm_route",),
    )
    # The duration histogram counts the same calls, with the model label, in seconds.
    prom.wait_for_values(
        f'sum by (gen_ai_request_model) (llm_span_duration_seconds_count{{llm_experiment_id="{sent.experiment_id}", llm_route="primary"}})',
        {("gpt-4o-mini",): REQUESTS},
        by=("gen_ai_request_model",),
    )
    # Shadow traffic is not counted under any other route.
    assert (
        prom.query(
            f'llm_span_calls_total{{llm_variant="candidate", llm_experiment_id="{sent.experiment_id}", llm_route!="shadow"}}'
        )
        == []
    )


def test_drop_mode_exports_no_shadow_span(start_collector, grpc_backend, start_prometheus) -> None:
    primary_backend = grpc_backend()
    collector = start_collector(DROP_CONFIG, collector_env(primary_backend))
    prom = start_prometheus({"otelcol-llm": [collector.prometheus_target]})

    sent = send_app_traffic(collector, "grpc")
    primary_backend.recorder.wait_for_count(len(sent.primary), trace_ids=sent.trace_ids)
    settle()

    received = primary_backend.recorder.matching(sent.trace_ids)
    assert sorted(s.span_id for s in received) == sorted(sent.primary)
    assert not {s.span_id for s in received} & sent.shadow

    # The filter processor's own counter shows every shadow span was dropped on purpose.
    wait_until(
        lambda: collector.own_metric_sum("otelcol_processor_filter_spans_filtered") == len(sent.shadow),
        timeout=15,
        what="filter processor counted every shadow span",
    )

    prom.wait_for_values(
        f'sum by (llm_route, llm_variant) (llm_span_calls_total{{llm_experiment_id="{sent.experiment_id}"}})',
        {("primary", "control"): REQUESTS},
        by=("llm_route", "llm_variant"),
    )
    assert prom.query('llm_span_calls_total{llm_route="shadow"}') == []
    assert prom.query(f'llm_span_calls_total{{service_name="{sent.candidate_service}"}}') == []
