"""``otel_llm.httpx_hooks()`` with the real opentelemetry-instrumentation-httpx, without ``otel_llm.instrument()``.

opentelemetry-instrumentation-httpx 0.66 ships both ``HTTPXClientInstrumentor`` (httpx) and
``HTTPX2ClientInstrumentor`` (httpx2, which openai 3.x is built on); both are exercised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price
from opentelemetry.instrumentation.httpx import (
    HTTPX2ClientInstrumentor,
    HTTPXClientInstrumentor,
    SyncOpenTelemetryTransport,
)

import otel_llm
from tests.instrumentation.loopback import Reply
from tests.instrumentation.payloads import openai_chat

MODEL = "gpt-4o-mini"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3, "max_tokens": 40}


@pytest.fixture
def httpx2_instrumentor(telemetry) -> Iterator[None]:
    HTTPX2ClientInstrumentor().instrument(tracer_provider=telemetry.tracer_provider, **otel_llm.httpx_hooks())
    try:
        yield
    finally:
        HTTPX2ClientInstrumentor().uninstrument()


@pytest.fixture
def httpx_instrumentor(telemetry) -> Iterator[None]:
    hooks = otel_llm.httpx_hooks(provider_hosts={"127.0.0.1": "vllm"})
    HTTPXClientInstrumentor().instrument(tracer_provider=telemetry.tracer_provider, **hooks)
    try:
        yield
    finally:
        HTTPXClientInstrumentor().uninstrument()


def _only_span(telemetry):
    [span] = telemetry.spans()
    return span


def test_openai3_sync_on_httpx2_instrumentor(telemetry, httpx2_instrumentor, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    with openai.OpenAI(base_url=server.url + "/v1", api_key="sk-hook-secret-0123", max_retries=0) as client:
        with otel_llm.experiment("exp-h", variant="candidate", prompt_version="v4"):
            resp = client.chat.completions.create(**BODY)
    assert resp.choices[0].message.content == "Hello!"
    span = _only_span(telemetry)
    a = span.attributes
    assert span.name == "POST"  # the instrumentor's HTTP span, with our attributes on it
    assert a.get("http.request.method", a.get("http.method")) == "POST"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == MODEL
    assert a["gen_ai.request.temperature"] == 0.3
    assert a["gen_ai.request.max_tokens"] == 40
    assert a["llm.experiment.id"] == "exp-h"
    assert a["llm.variant"] == "candidate"
    assert a["llm.prompt.version"] == "v4"
    [event] = [e for e in span.events if e.name == "feature_flag.evaluation"]
    assert event.attributes["feature_flag.result.variant"] == "candidate"
    # the instrumentor ends its span when the headers arrive, before the SDK reads the body: no tokens to add
    assert "gen_ai.usage.input_tokens" not in a
    assert a["llm.usage.source"] == "unknown"
    assert a["llm.cost.source"] == "unknown"
    assert "sk-hook-secret" not in repr(dict(a))


def test_openai3_async_on_httpx2_instrumentor_and_header_tags_removed(telemetry, httpx2_instrumentor, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))

    async def main():
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)
        async with client:
            return await client.chat.completions.create(
                **BODY, extra_headers={"X-LLM-Experiment": "exp-hdr", "X-LLM-Variant": "control"}
            )

    assert asyncio.run(main()).id == "chatcmpl-abc123"
    [seen] = server.requests
    assert "x-llm-experiment" not in seen.headers and "x-llm-variant" not in seen.headers
    a = _only_span(telemetry).attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["llm.experiment.id"] == "exp-hdr"
    assert a["llm.variant"] == "control"


def test_plain_httpx_instrumentor_provider_hosts(telemetry, httpx_instrumentor, server):
    server.route("/v1/embeddings", Reply.json({"object": "list", "data": [], "model": "bge-m3"}))
    with httpx.Client() as client:
        r = client.post(server.url + "/v1/embeddings", json={"model": "bge-m3", "input": "hi"})
    assert r.status_code == 200
    a = _only_span(telemetry).attributes
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.provider.name"] == "vllm"
    assert a["gen_ai.request.model"] == "bge-m3"


def test_non_llm_request_span_untouched(telemetry, httpx_instrumentor, server):
    server.route("/health", Reply.json({"ok": True}))
    with httpx.Client() as client:
        client.get(server.url + "/health", headers={"X-LLM-Experiment": "kept"})
    assert server.requests[0].headers["x-llm-experiment"] == "kept"
    a = _only_span(telemetry).attributes
    assert not any(k.startswith(("gen_ai.", "llm.")) for k in a)


def test_tokens_and_cost_when_the_body_is_in_memory(telemetry):
    """A transport that hands back a buffered body (here httpx.MockTransport under the instrumentor's own
    transport wrapper): the response hook can read it, so tokens and cost are on the span."""
    hooks = otel_llm.httpx_hooks()
    transport = SyncOpenTelemetryTransport(
        httpx.MockTransport(lambda request: httpx.Response(200, json=openai_chat())),
        tracer_provider=telemetry.tracer_provider,
        request_hook=hooks["request_hook"],
        response_hook=hooks["response_hook"],
    )
    with httpx.Client(transport=transport) as client:
        r = client.post("https://api.openai.com/v1/chat/completions", json=BODY)
    assert r.json() == openai_chat()  # the app still reads the same body
    a = _only_span(telemetry).attributes
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.id"] == "chatcmpl-abc123"
    assert list(a["gen_ai.response.finish_reasons"]) == ["stop"]
    assert a["gen_ai.usage.input_tokens"] == 1600
    assert a["gen_ai.usage.output_tokens"] == 300
    assert a["llm.usage.source"] == "provider"
    expected = calc_price(
        GUsage(input_tokens=1600, output_tokens=300), model_ref="gpt-4o-mini-2024-07-18", provider_id="openai"
    ).total_price
    assert a["llm.cost.usd"] == pytest.approx(float(expected), rel=1e-9)


def test_hooks_never_raise(telemetry, monkeypatch):
    from otel_llm.providers import registry

    def boom(*args, **kwargs):
        raise RuntimeError("registry exploded")

    monkeypatch.setattr(registry, "match", boom)
    hooks = otel_llm.httpx_hooks()
    transport = SyncOpenTelemetryTransport(
        httpx.MockTransport(lambda request: httpx.Response(200, json=openai_chat())),
        tracer_provider=telemetry.tracer_provider,
        request_hook=hooks["request_hook"],
        response_hook=hooks["response_hook"],
    )
    with httpx.Client(transport=transport) as client:
        r = client.post("https://api.openai.com/v1/chat/completions", json=BODY)
    assert r.json() == openai_chat()
    assert "gen_ai.operation.name" not in _only_span(telemetry).attributes


def test_bad_setting_raises_at_setup():
    with pytest.raises(otel_llm.ConfigurationError):
        otel_llm.httpx_hooks(prices="/nonexistent/prices.yaml")
