"""LLM calls made with aiohttp directly: google-genai's async client (which picks aiohttp when it is importable)
and plain aiohttp to an OpenAI-compatible server, against loopback servers."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import aiohttp
import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price
from google import genai
from google.genai import types as gtypes

import otel_llm
from tests.instrumentation.loopback import Reply
from tests.instrumentation.payloads import gemini_response, openai_chat, openai_stream_chunks

# google-genai subclasses aiohttp.ClientSession, which aiohttp warns about (not ours to fix).
_GENAI_SUBCLASS_WARNING = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession is discouraged:DeprecationWarning"
)

GEMINI = "gemini-2.0-flash"
GEMINI_STREAM = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Bon"}]}, "index": 0}], "modelVersion": GEMINI},
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "jour"}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 4, "totalTokenCount": 15},
        "modelVersion": GEMINI,
    },
]


def _gemini_price(inp: int, out: int) -> float:
    usage = GUsage(input_tokens=inp, output_tokens=out)
    return float(calc_price(usage, model_ref=GEMINI, provider_id="google").total_price)


def _gemini(server):
    return genai.Client(
        api_key="AIzaTestKey0123456789",
        http_options=gtypes.HttpOptions(base_url=server.url, api_version="v1beta"),
    )


def _aiohttp_request_seen(monkeypatch) -> list[str]:
    """Record the URLs google-genai sends through aiohttp, so a test fails if the SDK took another path."""
    seen: list[str] = []
    patched = aiohttp.ClientSession._request

    async def spy(self, method, str_or_url, **kwargs):
        seen.append(str(str_or_url))
        return await patched(self, method, str_or_url, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "_request", spy)
    return seen


@_GENAI_SUBCLASS_WARNING
def test_gemini_async_generate_content(instrumented, server, monkeypatch):
    server.route(f"/v1beta/models/{GEMINI}:generateContent", Reply.json(gemini_response()))
    seen = _aiohttp_request_seen(monkeypatch)

    async def main():
        client = _gemini(server)
        try:
            with otel_llm.experiment("exp-g", variant="candidate", prompt_version="v2"):
                return await client.aio.models.generate_content(model=GEMINI, contents="hi")
        finally:
            await client.aio.aclose()

    resp = asyncio.run(main())
    assert resp.text == "Bonjour"
    assert seen and seen[0].endswith(f"{GEMINI}:generateContent")  # the SDK really went through aiohttp
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert a["gen_ai.provider.name"] == "gcp.gemini"
    assert a["gen_ai.operation.name"] == "generate_content"
    assert a["gen_ai.request.model"] == GEMINI
    assert a["gen_ai.response.model"] == GEMINI
    assert a["gen_ai.response.id"] == "gem-resp-1"
    assert a["gen_ai.usage.input_tokens"] == 11
    assert a["gen_ai.usage.output_tokens"] == 4
    assert a["http.response.status_code"] == 200
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == server.port
    assert a["llm.experiment.id"] == "exp-g"
    assert a["llm.variant"] == "candidate"
    assert a["llm.prompt.version"] == "v2"
    assert a["llm.cost.usd"] == pytest.approx(_gemini_price(11, 4), rel=1e-9)
    assert "AIzaTestKey" not in repr(dict(a))
    [dur] = instrumented.metrics()["gen_ai.client.operation.duration"]
    assert dur.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert dur.attributes["llm.variant"] == "candidate"


@_GENAI_SUBCLASS_WARNING
def test_gemini_async_stream(instrumented, server):
    server.route(f"/v1beta/models/{GEMINI}:streamGenerateContent", Reply.sse(GEMINI_STREAM, done=False))

    async def main():
        client = _gemini(server)
        try:
            parts = []
            async for chunk in await client.aio.models.generate_content_stream(model=GEMINI, contents="hi"):
                parts.append(chunk.text or "")
            return "".join(parts)
        finally:
            await client.aio.aclose()

    assert asyncio.run(main()) == "Bonjour"
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert a["gen_ai.operation.name"] == "generate_content"
    assert a["gen_ai.usage.input_tokens"] == 11
    assert a["gen_ai.usage.output_tokens"] == 4
    assert list(a["gen_ai.response.finish_reasons"]) == ["STOP"]
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert a["llm.cost.usd"] == pytest.approx(_gemini_price(11, 4), rel=1e-9)


@_GENAI_SUBCLASS_WARNING
def test_gemini_async_http_error_is_recorded_and_raised_untouched(instrumented, server):
    err = {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
    server.route(f"/v1beta/models/{GEMINI}:generateContent", Reply.json(err, status=429))

    async def main():
        client = _gemini(server)
        try:
            await client.aio.models.generate_content(model=GEMINI, contents="hi")
        finally:
            await client.aio.aclose()

    with pytest.raises(genai.errors.ClientError) as info:
        asyncio.run(main())
    assert info.value.code == 429
    [span] = instrumented.llm_spans()
    assert span.attributes["error.type"] == "429"
    assert span.attributes["http.response.status_code"] == 429


async def _post(url: str, body: dict, *, headers: dict | None = None, how: str = "json") -> bytes:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as resp:
            if how == "json":
                return await resp.read()
            if how == "lines":
                return b"".join([line async for line in resp.content])
            if how == "chunked":
                return b"".join([c async for c in resp.content.iter_chunked(7)])
            if how == "chunks":
                return b"".join([c async for c, _ in resp.content.iter_chunks()])
            raise AssertionError(how)


def test_plain_aiohttp_openai_compatible(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    headers = {"X-LLM-Experiment": "exp-o", "X-LLM-Variant": "control", "Authorization": "Bearer sk-secret-123"}
    raw = asyncio.run(_post(f"{server.url}/v1/chat/completions", body, headers=headers))
    assert json.loads(raw) == openai_chat()
    # our experiment headers are taken off the request; everything else arrives as sent
    [seen] = server.requests
    assert "x-llm-experiment" not in seen.headers and "x-llm-variant" not in seen.headers
    assert seen.headers["authorization"] == "Bearer sk-secret-123"
    assert seen.json() == body
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.response.id"] == "chatcmpl-abc123"
    assert a["gen_ai.usage.input_tokens"] == 1600
    assert a["gen_ai.usage.output_tokens"] == 300
    assert a["llm.experiment.id"] == "exp-o"
    assert a["llm.variant"] == "control"
    assert "sk-secret" not in repr(dict(a))


@pytest.mark.parametrize("how", ["lines", "chunked", "chunks"])
def test_plain_aiohttp_openai_stream_every_read_style(instrumented, server, how):
    chunks = openai_stream_chunks(with_usage=True)
    reply = Reply.sse(chunks)
    server.route("/v1/chat/completions", reply)
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    raw = asyncio.run(_post(f"{server.url}/v1/chat/completions", body, how=how))
    assert raw == b"".join(reply.chunks)  # byte-identical to what the server sent
    assert server.requests[0].json() == body
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.usage.input_tokens"] == 12
    assert a["gen_ai.usage.output_tokens"] == 3
    assert list(a["gen_ai.response.finish_reasons"]) == ["stop"]
    assert a["gen_ai.response.time_to_first_chunk"] > 0


def _usage_on_request(split: int | None = None):
    """A handler that streams usage only when the request asks for it (as OpenAI does), its SSE bytes cut into
    ``split``-byte HTTP chunks (so events straddle reads) when given."""

    def handler(seen):
        include = bool((seen.json().get("stream_options") or {}).get("include_usage"))
        reply = Reply.sse(openai_stream_chunks(with_usage=include))
        if split:
            whole = b"".join(reply.chunks)
            reply.chunks = [whole[i : i + split] for i in range(0, len(whole), split)]
        return reply

    return handler


_WITHOUT_USAGE = b"".join(Reply.sse(openai_stream_chunks(with_usage=False)).chunks)
_STREAM_BODY = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def _read_stream(url: str, how: str, **post: Any) -> bytes:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, **post) as resp:
            content = resp.content
            if how == "read":
                return await resp.read()
            if how == "lines":
                return b"".join([line async for line in content])
            if how == "chunked":
                return b"".join([c async for c in content.iter_chunked(7)])
            if how == "chunks":
                return b"".join([c async for c, _ in content.iter_chunks()])
            if how == "any":
                return b"".join([c async for c in content.iter_any()])
            if how == "exactly":  # 10 bytes at a time, then the short rest from IncompleteReadError
                out = b""
                while True:
                    try:
                        out += await content.readexactly(10)
                    except asyncio.IncompleteReadError as exc:
                        assert content.at_eof()
                        return out + exc.partial
            if how == "events":  # a two-byte separator, which the 5-byte HTTP chunks cut in half
                out = b""
                while event := await content.readuntil(b"\n\n"):
                    assert event.endswith(b"\n\n") or content.at_eof()
                    out += event
                return out
            if how == "read-n":
                out = b""
                while piece := await content.read(5):
                    assert len(piece) <= 5
                    out += piece
                assert content.at_eof()
                return out
            raise AssertionError(how)


@pytest.mark.parametrize("split", [None, 5])
@pytest.mark.parametrize("how", ["read", "lines", "events", "chunked", "chunks", "any", "exactly", "read-n"])
def test_plain_aiohttp_stream_usage_injected_and_hidden(instrumented, server, how, split):
    """A stream that did not ask for usage gets include_usage added; the app reads, by every read method, exactly
    the bytes it would have had without it (the usage event taken out), and the span has the tokens."""
    server.route("/v1/chat/completions", _usage_on_request(split))
    raw = asyncio.run(_read_stream(f"{server.url}/v1/chat/completions", how, json=_STREAM_BODY))
    assert raw == _WITHOUT_USAGE
    [seen] = server.requests
    assert seen.json() == {**_STREAM_BODY, "stream_options": {"include_usage": True}}
    assert seen.headers["content-type"] == "application/json"
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert a["gen_ai.usage.input_tokens"] == 12
    assert a["gen_ai.usage.output_tokens"] == 3
    assert a["llm.usage.source"] == "provider"
    assert list(a["gen_ai.response.finish_reasons"]) == ["stop"]
    assert a["gen_ai.response.time_to_first_chunk"] > 0


def test_plain_aiohttp_stream_line_over_the_limit_raises_as_aiohttp_does(telemetry, server):
    """A line longer than aiohttp's limit raises aiohttp's own LineTooLong with the usage event hidden too: the
    hidden-usage reader does not buffer a line without end."""
    from aiohttp.http_exceptions import LineTooLong

    huge = {"id": "x", "object": "chat.completion.chunk", "model": "m", "choices": [], "pad": "y" * 700_000}
    server.route("/v1/chat/completions", Reply.sse([huge]))
    url = f"{server.url}/v1/chat/completions"
    with pytest.raises(LineTooLong):  # uninstrumented
        asyncio.run(_read_stream(url, "lines", json=_STREAM_BODY))
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        with pytest.raises(LineTooLong):
            asyncio.run(_read_stream(url, "lines", json=_STREAM_BODY))
    finally:
        otel_llm.uninstrument()
    assert server.requests[-1].json()["stream_options"] == {"include_usage": True}  # the hidden-usage reader
    [span] = telemetry.llm_spans()
    assert span.attributes["gen_ai.request.model"] == "gpt-4o-mini"


def test_plain_aiohttp_stream_bytes_body_keeps_the_apps_headers(instrumented, server):
    """A body given as bytes, with the app's own Content-Type and Content-Length: the rewritten body goes out
    with a Content-Length that fits it, and the app's Content-Type."""
    server.route("/v1/chat/completions", _usage_on_request())
    data = json.dumps(_STREAM_BODY).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(data))}
    raw = asyncio.run(_read_stream(f"{server.url}/v1/chat/completions", "lines", data=data, headers=headers))
    assert raw == _WITHOUT_USAGE
    [seen] = server.requests
    assert seen.json()["stream_options"] == {"include_usage": True}
    assert seen.headers["content-type"] == "application/json; charset=utf-8"
    assert int(seen.headers["content-length"]) == len(seen.body)
    [span] = instrumented.llm_spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == 3


def test_plain_aiohttp_stream_not_rewritten_when_switched_off(telemetry, server):
    server.route("/v1/chat/completions", _usage_on_request())
    otel_llm.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, stream_include_usage=False
    )
    try:
        raw = asyncio.run(_read_stream(f"{server.url}/v1/chat/completions", "lines", json=_STREAM_BODY))
    finally:
        otel_llm.uninstrument()
    assert raw == _WITHOUT_USAGE
    assert server.requests[0].json() == _STREAM_BODY
    [span] = telemetry.llm_spans()
    assert list(span.attributes["gen_ai.response.finish_reasons"]) == ["stop"]
    assert span.attributes["llm.usage.source"] == "unknown"


def test_plain_aiohttp_stream_usage_error_status_body_untouched(instrumented, server):
    err = {"error": {"type": "invalid_request_error", "message": "bad"}}
    server.route("/v1/chat/completions", Reply.json(err, status=400))
    raw = asyncio.run(_read_stream(f"{server.url}/v1/chat/completions", "read", json=_STREAM_BODY))
    assert json.loads(raw) == err
    [span] = instrumented.llm_spans()
    assert span.attributes["error.type"] == "400"


@pytest.mark.parametrize("asked_for_usage", [True, False], ids=["app-asked-usage", "usage-added"])
@pytest.mark.parametrize("settle", [0.0, 0.2], ids=["reading-early", "whole-body-arrived"])
def test_stream_released_early_ends_span_once(instrumented, server, asked_for_usage, settle):
    """The call ends when the app has read the body or releases it, even when the whole body has already arrived
    (with and without the usage event being hidden from the app)."""
    server.route("/v1/chat/completions", _usage_on_request())
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    if asked_for_usage:
        body["stream_options"] = {"include_usage": True}

    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{server.url}/v1/chat/completions", json=body) as resp:
                await asyncio.sleep(settle)
                first = await resp.content.readline()
                assert instrumented.llm_spans() == []
            return first

    assert asyncio.run(main()).startswith(b"data: ")
    [span] = instrumented.llm_spans()  # ended on release, and only once
    assert span.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert "error.type" not in span.attributes


def test_unread_response_dropped_ends_span_on_gc(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

    async def main():
        async with aiohttp.ClientSession() as session:
            resp = await session.post(f"{server.url}/v1/chat/completions", json=body)
            status = resp.status
            resp.release()
            del resp
            gc.collect()
            return status

    assert asyncio.run(main()) == 200
    assert len(instrumented.llm_spans()) == 1


def test_connection_error_recorded_and_reraised(instrumented):
    async def main():
        async with aiohttp.ClientSession() as session:
            await session.post("http://127.0.0.1:9/v1/chat/completions", json={"model": "m", "messages": []})

    with pytest.raises(aiohttp.ClientConnectorError):
        asyncio.run(main())
    [span] = instrumented.llm_spans()
    assert span.attributes["error.type"] == "ClientConnectorError"


def test_reset_mid_stream_error_reaches_app_and_span(instrumented, server):
    chunks = openai_stream_chunks(with_usage=True)
    reply = Reply.sse(chunks)
    reply.reset_after = 2
    server.route("/v1/chat/completions", reply)
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}

    with pytest.raises(aiohttp.ClientPayloadError):
        asyncio.run(_post(f"{server.url}/v1/chat/completions", body, how="lines"))
    [span] = instrumented.llm_spans()
    assert span.attributes["error.type"] == "ClientPayloadError"


def test_non_llm_url_passes_through_untouched(instrumented, server):
    server.route("/v1/models", Reply.json({"data": []}))
    headers = {"X-LLM-Experiment": "kept"}

    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/v1/models", headers=headers) as resp:
                assert type(resp.content) is aiohttp.StreamReader
                return await resp.json()

    assert asyncio.run(main()) == {"data": []}
    assert server.requests[0].headers["x-llm-experiment"] == "kept"
    assert instrumented.spans() == []


def test_uninstrument_restores_aiohttp(telemetry, server):
    original = aiohttp.ClientSession._request
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        assert aiohttp.ClientSession._request is not original
    finally:
        otel_llm.uninstrument()
    assert aiohttp.ClientSession._request is original
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    asyncio.run(_post(f"{server.url}/v1/chat/completions", {"model": "m", "messages": []}))
    assert telemetry.spans() == []


def test_openai_default_aiohttp_client_recorded_once(instrumented, server):
    """openai's DefaultAioHttpClient is an httpx2 client on an aiohttp transport: the call is recorded at the
    httpx2 layer, and the aiohttp layer below must not record it a second time (spans or metrics)."""
    import openai

    server.route("/v1/chat/completions", Reply.json(openai_chat()))

    async def main():
        async with openai.AsyncOpenAI(
            base_url=server.url + "/v1", api_key="sk-x", max_retries=0, http_client=openai.DefaultAioHttpClient()
        ) as client:
            with otel_llm.experiment("exp-d", variant="control"):
                return await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )

    assert asyncio.run(main()).choices[0].message.content == "Hello!"
    [span] = instrumented.llm_spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 1600
    assert span.attributes["llm.variant"] == "control"
    [dur] = instrumented.metrics()["gen_ai.client.operation.duration"]
    assert dur.count == 1


def test_internal_failure_never_reaches_the_app(instrumented, server, monkeypatch):
    from otel_llm import _transport

    def boom(request):
        raise RuntimeError("otel-llm bug")

    monkeypatch.setattr(_transport, "_begin", boom)
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    raw = asyncio.run(_post(f"{server.url}/v1/chat/completions", {"model": "m", "messages": []}))
    assert json.loads(raw) == openai_chat()
    assert instrumented.llm_spans() == []
