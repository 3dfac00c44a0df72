"""Each finished call's histogram records: in the next collection (streams included), counted once, with
exemplars that carry the LLM span's trace, and a bad measurement never raised into the app nor losing the
others."""

from __future__ import annotations

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import otel_llm
from otel_llm import _metrics
from tests.instrumentation.loopback import Reply
from tests.instrumentation.payloads import openai_chat, openai_stream_chunks

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


def _client(server: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test-0123456789", max_retries=0)  # type: ignore[attr-defined]


def _points(reader: InMemoryMetricReader) -> dict[str, list[object]]:
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {
        m.name: list(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }


def test_a_collection_right_after_the_calls_counts_every_one_of_them(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    with _client(server) as client:
        for _ in range(5):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
            metrics = instrumented.metrics()
        [duration] = metrics["gen_ai.client.operation.duration"]
        assert duration.count == 5
        tokens = {p.attributes["gen_ai.token.type"]: (p.count, p.sum) for p in metrics["gen_ai.client.token.usage"]}
        assert tokens == {"input": (5, 5 * 1600), "output": (5, 5 * 300)}
        # the next collection does not count them again, and counts the calls made since
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    [duration] = instrumented.metrics()["gen_ai.client.operation.duration"]
    assert duration.count == 6


def test_streamed_calls_record_their_chunk_histograms(instrumented, server):
    server.route("/v1/chat/completions", Reply.sse(openai_stream_chunks(words=("a", "b", "c"), with_usage=True)))
    with _client(server) as client:
        for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            pass
    metrics = instrumented.metrics()
    assert [p.count for p in metrics["gen_ai.client.operation.time_to_first_chunk"]] == [1]
    assert [p.count for p in metrics["gen_ai.client.operation.time_per_output_chunk"]] == [1]


def test_exemplars_carry_the_trace_of_the_llm_span(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    tracer = instrumented.tracer_provider.get_tracer("app")
    with _client(server) as client, tracer.start_as_current_span("handle request") as app_span:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    [span] = instrumented.llm_spans()
    assert span.parent.span_id == app_span.get_span_context().span_id
    metrics = instrumented.metrics()
    for name in ("gen_ai.client.operation.duration", "gen_ai.client.token.usage"):
        exemplars = [e for p in metrics[name] for e in p.exemplars]
        assert exemplars, name
        assert {e.trace_id for e in exemplars} == {span.context.trace_id}  # the trace a dashboard link opens


def test_calls_made_before_uninstrument_stay_counted(telemetry, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        with _client(server) as client:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        otel_llm.uninstrument()
    assert sum(p.count for p in telemetry.metrics()["gen_ai.client.operation.duration"]) == 1


def test_a_bad_record_is_reported_and_the_rest_still_reach_the_sdk(caplog: pytest.LogCaptureFixture):
    reader = InMemoryMetricReader()
    instruments = _metrics.create(MeterProvider(metric_readers=[reader]))
    attrs = {"gen_ai.operation.name": "chat"}
    instruments.record(attrs, 0.1, None, None, None, None, None)
    instruments.record(attrs, 0.2, "not a number", None, None, None, None)  # type: ignore[arg-type]
    instruments.record(attrs, 0.3, None, None, None, None, None)  # none of them raised
    [duration] = _points(reader)["gen_ai.client.operation.duration"]
    assert duration.count == 3  # type: ignore[attr-defined]
