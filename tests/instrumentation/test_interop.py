"""``otel_llm.instrument()`` together with opentelemetry-instrumentation-httpx: the instrumentor's HTTP span is a
child of our GenAI span, and there is exactly one LLM span per call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import pytest
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor

from tests.instrumentation.loopback import Reply
from tests.instrumentation.payloads import openai_chat, openai_stream_chunks

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def both(instrumented) -> Iterator[object]:
    """otel_llm.instrument() first, then the httpx and httpx2 instrumentors on the same tracer provider."""
    for instrumentor in (HTTPXClientInstrumentor(), HTTPX2ClientInstrumentor()):
        instrumentor.instrument(tracer_provider=instrumented.tracer_provider)
    try:
        yield instrumented
    finally:
        for instrumentor in (HTTPXClientInstrumentor(), HTTPX2ClientInstrumentor()):
            instrumentor.uninstrument()


def _pair(telemetry):
    spans = telemetry.spans()
    [llm] = telemetry.llm_spans()
    [http] = [s for s in spans if s is not llm]
    assert len(spans) == 2
    assert http.parent is not None and http.parent.span_id == llm.context.span_id
    assert http.context.trace_id == llm.context.trace_id
    assert http.kind.name == "CLIENT" and llm.kind.name == "CLIENT"
    assert "gen_ai.operation.name" not in http.attributes
    return llm, http


def _openai(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)


def test_openai3_sync_http_span_nests_under_genai_span(both, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    with _openai(server) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    llm, http = _pair(both)
    assert llm.attributes["gen_ai.usage.input_tokens"] == 1600
    assert llm.start_time <= http.start_time and http.end_time <= llm.end_time
    # the propagated trace context names the HTTP span, so a server-side span would join the same trace
    traceparent = server.requests[0].headers["traceparent"]
    assert traceparent.split("-")[2] == format(http.context.span_id, "016x")


def test_openai3_stream_one_llm_span(both, server):
    server.route("/v1/chat/completions", Reply.sse(openai_stream_chunks(with_usage=True)))
    with _openai(server) as client:
        text = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            if c.choices
        )
    assert text == "Hello!"
    llm, _ = _pair(both)
    assert llm.attributes["gen_ai.usage.output_tokens"] == 3


def test_openai3_async_http_span_nests(both, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))

    async def main():
        async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0) as client:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    asyncio.run(main())
    _pair(both)


def test_plain_httpx_http_span_nests(both, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    with httpx.Client() as client:
        client.post(server.url + "/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES})
    llm, _ = _pair(both)
    assert llm.attributes["gen_ai.provider.name"] == "openai"


def test_non_llm_request_only_http_span(both, server):
    server.route("/health", Reply.json({"ok": True}))
    with httpx.Client() as client:
        client.get(server.url + "/health")
    [span] = both.spans()
    assert both.llm_spans() == []
    assert span.parent is None
