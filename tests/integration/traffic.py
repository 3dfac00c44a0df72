"""Telemetry that integration tests send to a collector: real OpenTelemetry SDK pipelines and raw OTLP.

`sdk_tracer_provider` / `sdk_meter_provider` build non-global SDK providers that export over OTLP gRPC or HTTP
(what an app does). `synthetic_spans` and `export_raw` build and send exact OTLP payloads when a test needs
control over trace ids and request sizes (bulk, faults, load balancing, benchmarks).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import grpc
from opentelemetry import baggage, context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from otel_llm import attributes as A

Protocol = Literal["grpc", "http"]


class BaggageToAttributes(SpanProcessor):
    """Copies every W3C baggage entry onto each new span as a string attribute.

    This is what a downstream service does with a baggage span processor: a candidate service called by a shadow
    request gets ``llm.shadow="true"`` (a string, not a boolean) on all of its spans.
    """

    def on_start(self, span: Any, parent_context: context.Context | None = None) -> None:
        for key, value in baggage.get_all(parent_context).items():
            span.set_attribute(key, str(value))


def sdk_tracer_provider(
    collector: Any, protocol: Protocol, service_name: str, *, baggage_to_attributes: bool = False
) -> TracerProvider:
    """A (non-global) TracerProvider exporting over OTLP ``protocol`` to ``collector`` (a harness.Collector)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if baggage_to_attributes:
        provider.add_span_processor(BaggageToAttributes())
    exporter: Any
    if protocol == "grpc":
        exporter = GrpcSpanExporter(endpoint=collector.grpc_endpoint, insecure=True, timeout=10)
    else:
        exporter = HttpSpanExporter(endpoint=f"{collector.http_endpoint}/v1/traces", timeout=10)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    return provider


def sdk_meter_provider(collector: Any, service_name: str) -> MeterProvider:
    """A (non-global) MeterProvider exporting cumulative OTLP/gRPC metrics to ``collector`` on flush."""
    exporter = GrpcMetricExporter(endpoint=collector.grpc_endpoint, insecure=True, timeout=10)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    return MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": service_name}))


@contextmanager
def shadow_baggage(experiment_id: str, variant: str) -> Iterator[None]:
    """Attach the W3C baggage a shadow request carries (``llm.shadow=true`` plus the experiment context)."""
    ctx = baggage.set_baggage(A.BAGGAGE_SHADOW, "true")
    ctx = baggage.set_baggage(A.BAGGAGE_EXPERIMENT_ID, experiment_id, ctx)
    ctx = baggage.set_baggage(A.BAGGAGE_VARIANT, variant, ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


# --- exact OTLP payloads -------------------------------------------------------------------------------------

_SCOPE = InstrumentationScope("otel-llm-integration-tests")


@dataclass(frozen=True)
class SyntheticTrace:
    """Ids of one generated trace: the root (primary request), its primary LLM call and its shadow call."""

    trace_id: int
    root: int
    primary: int
    shadow: int

    @property
    def trace_hex(self) -> str:
        return f"{self.trace_id:032x}"


def _span(
    name: str,
    trace_id: int,
    span_id: int,
    parent_id: int | None,
    attributes: Mapping[str, Any],
    resource: Resource,
    kind: SpanKind = SpanKind.CLIENT,
    padding: int = 0,
) -> ReadableSpan:
    now = time.time_ns()
    attrs = dict(attributes)
    if padding:
        attrs["test.padding"] = "x" * padding
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        parent=(
            SpanContext(trace_id, parent_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
            if parent_id
            else None
        ),
        resource=resource,
        attributes=attrs,
        kind=kind,
        start_time=now - 5_000_000,
        end_time=now,
        instrumentation_scope=_SCOPE,
    )


def llm_attributes(experiment_id: str, *, shadow: bool, model: str = "gpt-4o-mini") -> dict[str, Any]:
    """The span attributes of one LLM call as otel-llm sets them (primary/control or shadow/candidate)."""
    attrs: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
        A.GEN_AI_PROVIDER_NAME: A.PROVIDER_OPENAI,
        A.GEN_AI_REQUEST_MODEL: model,
        A.GEN_AI_USAGE_INPUT_TOKENS: 120,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 40,
        A.LLM_EXPERIMENT_ID: experiment_id,
        A.LLM_VARIANT: "candidate" if shadow else "control",
        A.LLM_ROUTE: A.ROUTE_SHADOW if shadow else A.ROUTE_PRIMARY,
    }
    if shadow:
        attrs[A.LLM_SHADOW] = True
    return attrs


def synthetic_traces(
    count: int,
    experiment_id: str,
    service_name: str,
    *,
    seed: int = 0,
    padding: int = 0,
    extra_llm_attributes: Mapping[str, Any] | None = None,
) -> tuple[list[SyntheticTrace], list[ReadableSpan], list[ReadableSpan]]:
    """``count`` traces, each a request root span + a primary LLM call + a shadow LLM call.

    Returns (traces, primary spans, shadow spans); ``padding`` adds that many bytes to every span and
    ``extra_llm_attributes`` go on both LLM calls.
    """
    extra = dict(extra_llm_attributes or {})
    rng = random.Random(seed)
    resource = Resource.create({"service.name": service_name})
    traces: list[SyntheticTrace] = []
    primary: list[ReadableSpan] = []
    shadow: list[ReadableSpan] = []
    for _ in range(count):
        t = SyntheticTrace(rng.getrandbits(128) | 1, rng.getrandbits(64) | 1, rng.getrandbits(64) | 1, 0)
        t = SyntheticTrace(t.trace_id, t.root, t.primary, rng.getrandbits(64) | 1)
        traces.append(t)
        primary.append(_span("POST /extract", t.trace_id, t.root, None, {}, resource, SpanKind.SERVER, padding))
        primary.append(
            _span(
                "chat gpt-4o-mini",
                t.trace_id,
                t.primary,
                t.root,
                {**llm_attributes(experiment_id, shadow=False), **extra},
                resource,
                padding=padding,
            )
        )
        shadow.append(
            _span(
                "chat ft:gpt-4o-mini:candidate",
                t.trace_id,
                t.shadow,
                t.root,
                {**llm_attributes(experiment_id, shadow=True, model="ft:gpt-4o-mini:candidate"), **extra},
                resource,
                padding=padding,
            )
        )
    return traces, primary, shadow


def encode_request(spans: Sequence[ReadableSpan]) -> trace_service_pb2.ExportTraceServiceRequest:
    """The OTLP request the Python exporter would send for ``spans``."""
    return encode_spans(spans)


def export_raw(
    endpoint: str, request: trace_service_pb2.ExportTraceServiceRequest | bytes, timeout: float = 30.0
) -> None:
    """Send one OTLP/gRPC trace export request as is (raises grpc.RpcError on a refusal)."""
    payload = request if isinstance(request, bytes) else request.SerializeToString()
    with grpc.insecure_channel(endpoint, options=[("grpc.max_send_message_length", 256 * 1024 * 1024)]) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
        )
        export(payload, timeout=timeout)


def trace_service_stub(channel: grpc.Channel) -> trace_service_pb2_grpc.TraceServiceStub:
    return trace_service_pb2_grpc.TraceServiceStub(channel)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
