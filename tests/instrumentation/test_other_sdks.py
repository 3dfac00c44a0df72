"""Real anthropic, google-genai and ollama SDK clients against loopback servers speaking their wire formats."""

from __future__ import annotations

import asyncio

import anthropic
import ollama
import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price
from google import genai
from google.genai import types as gtypes

import otel_llm
from tests.instrumentation.loopback import Reply
from tests.instrumentation.payloads import anthropic_message, anthropic_stream, gemini_response, ollama_chat

CLAUDE = "claude-3-5-haiku-20241022"


def _price(model: str, provider: str, inp: int, out: int) -> float:
    return float(
        calc_price(GUsage(input_tokens=inp, output_tokens=out), model_ref=model, provider_id=provider).total_price
    )


def _anthropic(server, **kw):
    return anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test-0123456789", max_retries=0, **kw)


def test_anthropic_sync(instrumented, server):
    server.route("/v1/messages", Reply.json(anthropic_message()))
    with otel_llm.experiment("exp-a", variant="candidate"):
        with _anthropic(server) as client:
            msg = client.messages.create(model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].text == "Hi there"
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == CLAUDE
    assert a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.response.id"] == "msg_01ABC"
    assert list(a["gen_ai.response.finish_reasons"]) == ["end_turn"]
    assert a["gen_ai.usage.input_tokens"] == 25
    assert a["gen_ai.usage.output_tokens"] == 7
    assert a["llm.variant"] == "candidate"
    assert a["llm.cost.usd"] == pytest.approx(_price(CLAUDE, "anthropic", 25, 7), rel=1e-9)


def test_anthropic_stream_async(instrumented, server):
    events, names = anthropic_stream()
    server.route("/v1/messages", Reply.sse(events, done=False, event_names=names))

    async def main():
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="sk-ant-x", max_retries=0)
        text = []
        async with client.messages.stream(
            model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            async for t in stream.text_stream:
                text.append(t)
        await client.close()
        return "".join(text)

    assert asyncio.run(main()) == "Hi there"
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert a["gen_ai.usage.input_tokens"] == 25
    assert a["gen_ai.usage.output_tokens"] == 9
    assert list(a["gen_ai.response.finish_reasons"]) == ["end_turn"]
    assert a["gen_ai.response.time_to_first_chunk"] > 0


def test_anthropic_native_span_is_enriched_not_duplicated(instrumented, server):
    """anthropic >= 2 makes its own GenAI span: we add our tags and cost to it instead of a second span."""
    server.route("/v1/messages", Reply.json(anthropic_message()))
    client = _anthropic(server, open_telemetry={"tracer_provider": instrumented.tracer_provider})
    with otel_llm.experiment("exp-a", variant="control", prompt_version="v3"):
        client.messages.create(model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    client.close()
    spans = instrumented.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    [span] = spans
    a = span.attributes
    assert span.instrumentation_scope.name != "otel_llm"
    assert a["llm.experiment.id"] == "exp-a"
    assert a["llm.variant"] == "control"
    assert a["llm.prompt.version"] == "v3"
    assert a["llm.cost.usd"] == pytest.approx(_price(CLAUDE, "anthropic", 25, 7), rel=1e-9)
    assert list(a["gen_ai.response.finish_reasons"]) == ["end_turn"]
    [dur] = instrumented.metrics()["gen_ai.client.operation.duration"]
    assert dur.attributes["llm.variant"] == "control"


def _gemini(server):
    return genai.Client(
        api_key="AIzaTestKey0123456789",
        http_options=gtypes.HttpOptions(base_url=server.url, api_version="v1beta"),
    )


def test_gemini_generate_content(instrumented, server):
    server.route("/v1beta/models/gemini-2.0-flash:generateContent", Reply.json(gemini_response()))
    client = _gemini(server)
    resp = client.models.generate_content(model="gemini-2.0-flash", contents="hi")
    client.close()
    assert resp.text == "Bonjour"
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert a["gen_ai.provider.name"] == "gcp.gemini"
    assert a["gen_ai.operation.name"] == "generate_content"
    assert a["gen_ai.request.model"] == "gemini-2.0-flash"
    assert a["gen_ai.usage.input_tokens"] == 11
    assert a["gen_ai.usage.output_tokens"] == 4
    assert a["gen_ai.response.id"] == "gem-resp-1"
    assert a["llm.cost.usd"] == pytest.approx(_price("gemini-2.0-flash", "google", 11, 4), rel=1e-9)
    # the API key travels in a header: it must not be in any attribute
    assert "AIzaTestKey" not in repr(dict(a))


def test_gemini_stream(instrumented, server):
    chunks = [
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Bon"}]}, "index": 0}],
            "modelVersion": "gemini-2.0-flash",
        },
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": "jour"}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 4, "totalTokenCount": 15},
            "modelVersion": "gemini-2.0-flash",
        },
    ]
    server.route("/v1beta/models/gemini-2.0-flash:streamGenerateContent", Reply.sse(chunks, done=False))
    client = _gemini(server)
    text = "".join(c.text or "" for c in client.models.generate_content_stream(model="gemini-2.0-flash", contents="hi"))
    client.close()
    assert text == "Bonjour"
    [span] = instrumented.llm_spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == 4
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0


def test_ollama_chat_and_stream(instrumented, server):
    def handler(seen):
        body = seen.json()
        if body.get("stream"):
            return Reply.ndjson(
                [
                    {
                        "model": "llama3.1:8b",
                        "created_at": "x",
                        "message": {"role": "assistant", "content": "Hal"},
                        "done": False,
                    },
                    {
                        "model": "llama3.1:8b",
                        "created_at": "x",
                        "message": {"role": "assistant", "content": "lo"},
                        "done": False,
                    },
                    {**ollama_chat(), "message": {"role": "assistant", "content": ""}},
                ]
            )
        return Reply.json(ollama_chat())

    server.route("/api/chat", handler)
    client = ollama.Client(host=server.url)
    r = client.chat(model="llama3.1:8b", messages=[{"role": "user", "content": "hi"}])
    assert r.message.content == "Hallo"
    parts = [
        p.message.content
        for p in client.chat(model="llama3.1:8b", messages=[{"role": "user", "content": "hi"}], stream=True)
    ]
    client._client.close()
    assert "".join(parts) == "Hallo"
    spans = instrumented.llm_spans()
    assert len(spans) == 2
    for s in spans:
        assert s.attributes["gen_ai.provider.name"] == "ollama"
        assert s.attributes["gen_ai.usage.input_tokens"] == 21
        assert s.attributes["gen_ai.usage.output_tokens"] == 5
        assert list(s.attributes["gen_ai.response.finish_reasons"]) == ["stop"]
        assert s.attributes["llm.cost.source"] == "unknown"
