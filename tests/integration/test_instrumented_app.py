"""The whole product path: ``otel_llm.instrument()`` + the experiment router with a shadow -> the collector.

An app calls an OpenAI-compatible loopback server through the router (100 % control, every call mirrored to the
candidate). The candidate server is itself instrumented the way a downstream service is: it extracts the W3C
baggage the shadow request carries and copies it onto its own span. Everything goes over OTLP to the real
collector (tag mode), and Prometheus scrapes it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import otel_llm
from otel_llm import attributes as A
from otel_llm.routing import Router, parse
from tests.integration.harness import wait_until
from tests.integration.traffic import sdk_meter_provider, sdk_tracer_provider

pytestmark = pytest.mark.integration

CALLS = 6
PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


class FakeOpenAI:
    """OpenAI-compatible ``/<variant>/v1/chat/completions`` on loopback; spans for the candidate path."""

    def __init__(self, candidate_tracer: Any) -> None:
        tracer = candidate_tracer
        self.baggage_headers: list[str] = []
        seen = self.baggage_headers

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                if self.path.startswith("/candidate/"):
                    seen.append(self.headers.get("baggage", ""))
                    carrier = {k.lower(): v for k, v in self.headers.items()}
                    with tracer.start_as_current_span(
                        "POST /v1/chat/completions", context=PROPAGATOR.extract(carrier), kind=SpanKind.SERVER
                    ):
                        payload = self._completion(body["model"])
                else:
                    payload = self._completion(body["model"])
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            @staticmethod
            def _completion(model: str) -> dict[str, Any]:
                return {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
                }

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _experiments(experiment_id: str, url: str) -> str:
    return f"""\
experiments:
  - id: {experiment_id}
    assign_by: header:X-Session-Id
    variants:
      - {{name: control, weight: 100, model: gpt-4o-mini, base_url: {url}/control/v1, prompt_version: v6}}
      - {{name: candidate, weight: 0, model: llama-3.1-8b-extract-v4, base_url: {url}/candidate/v1,
         prompt_version: v6-ft}}
    shadow: {{variant: candidate, sample: 1.0, max_in_flight: 4, timeout_s: 5}}
    enabled: true
"""


@dataclass(frozen=True)
class ShadowedRun:
    """What ``shadowed_traffic`` sent: the experiment, both service names and the candidate's baggage headers."""

    experiment_id: str
    app_service: str
    candidate_service: str
    baggage_headers: list[str]


def shadowed_traffic(collector: Any, prefix: str, calls: int, also_to: SpanExporter | None = None) -> ShadowedRun:
    """``calls`` requests of an instrumented app, each in its own server span, through the router (100 % control,
    every call mirrored to the candidate), exported to ``collector`` (the app over gRPC, the candidate service
    over HTTP) and, when given, to ``also_to`` too. Returns once every shadow has reached the candidate and every
    provider is flushed and shut down."""
    tag = uuid.uuid4().hex[:10]
    experiment_id, app_service, candidate_service = f"{prefix}-{tag}", f"app-{tag}", f"candidate-{tag}"
    app_tp = sdk_tracer_provider(collector, "grpc", app_service)
    app_mp = sdk_meter_provider(collector, app_service)
    candidate_tp = sdk_tracer_provider(collector, "http", candidate_service, baggage_to_attributes=True)
    if also_to is not None:
        for tp in (app_tp, candidate_tp):
            tp.add_span_processor(SimpleSpanProcessor(also_to))
    server = FakeOpenAI(candidate_tp.get_tracer("candidate-service"))
    router = Router(parse(_experiments(experiment_id, server.url)), environ={})
    if otel_llm.is_instrumented():
        otel_llm.uninstrument()
    otel_llm.instrument(tracer_provider=app_tp, meter_provider=app_mp)
    try:
        with httpx.Client(transport=router.transport(), base_url=f"{server.url}/control/v1") as client:
            for i in range(calls):
                with app_tp.get_tracer("app").start_as_current_span("POST /extract", kind=SpanKind.SERVER):
                    response = client.post(
                        "/chat/completions",
                        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                        headers={"X-Session-Id": f"user-{i}"},
                    )
                    assert response.status_code == 200
            wait_until(lambda: router.shadows_in_flight() == 0 and len(server.baggage_headers) == calls, timeout=10)
    finally:
        otel_llm.uninstrument()
        router.close()
        server.close()
        for provider in (app_tp, candidate_tp, app_mp):
            provider.force_flush(10_000)
            provider.shutdown()
    return ShadowedRun(experiment_id, app_service, candidate_service, list(server.baggage_headers))


def test_instrumented_app_with_router_shadow_through_the_collector(llm_stack) -> None:
    run = shadowed_traffic(llm_stack.collector, "it", CALLS)
    experiment_id, app_service, candidate_service = run.experiment_id, run.app_service, run.candidate_service
    assert all("llm.shadow=true" in header for header in run.baggage_headers)

    def of(recorder, service: str) -> list:
        return [s for s in recorder.snapshot() if s.resource.get("service.name") == service]

    wait_until(
        lambda: (
            len(of(llm_stack.primary.recorder, app_service)) >= 2 * CALLS
            and len(of(llm_stack.shadow.recorder, app_service)) >= CALLS
            and len(of(llm_stack.shadow.recorder, candidate_service)) >= CALLS
        ),
        timeout=20,
        what="app and candidate spans at their destinations",
    )
    time.sleep(0.5)
    primary = of(llm_stack.primary.recorder, app_service)
    shadow = of(llm_stack.shadow.recorder, app_service) + of(llm_stack.shadow.recorder, candidate_service)
    assert of(llm_stack.primary.recorder, candidate_service) == []
    primary_llm = [s for s in primary if A.GEN_AI_OPERATION_NAME in s.attributes]
    assert len(primary_llm) == CALLS and len(primary) == 2 * CALLS
    assert {s.attributes[A.LLM_ROUTE] for s in primary_llm} == {A.ROUTE_PRIMARY}
    assert all(A.LLM_SHADOW not in s.attributes for s in primary)
    assert len(shadow) == 2 * CALLS
    assert all(s.attributes[A.LLM_ROUTE] == A.ROUTE_SHADOW and s.attributes[A.LLM_SHADOW] is True for s in shadow)

    prom = llm_stack.prometheus
    prom.wait_for_values(
        f'sum by (llm_route, llm_variant) (llm_span_calls_total{{llm_experiment_id="{experiment_id}"}})',
        {("primary", "control"): CALLS, ("shadow", "candidate"): CALLS},
        by=("llm_route", "llm_variant"),
    )
    prom.wait_for_values(
        f'sum by (llm_route, llm_variant) (gen_ai_client_operation_duration_seconds_count{{llm_experiment_id="{experiment_id}"}})',
        {("primary", "control"): CALLS, ("shadow", "candidate"): CALLS},
        by=("llm_route", "llm_variant"),
    )
    tokens = prom.values(
        f'sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum{{llm_experiment_id="{experiment_id}"}})',
        ("gen_ai_token_type",),
    )
    assert tokens == {("input",): 2 * CALLS * 120.0, ("output",): 2 * CALLS * 30.0}
    # gpt-4o-mini is priced, so the live calls carry a cost; the fine-tuned candidate is not (no cost, never 0).
    cost = prom.values(
        f'sum by (llm_variant) (llm_client_cost_USD_total{{llm_experiment_id="{experiment_id}"}})', ("llm_variant",)
    )
    assert cost[("control",)] > 0
    assert ("candidate",) not in cost or cost[("candidate",)] > 0
