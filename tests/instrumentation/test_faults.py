"""SPEC §14: bad input and faults. The app sees exactly what it would see without instrumentation."""

from __future__ import annotations

import asyncio
import json

import httpx
import httpx2
import openai
import pytest

import otel_llm
from otel_llm import _call, _transport
from otel_llm.providers import registry
from tests.instrumentation.loopback import Reply
from tests.instrumentation.payloads import openai_chat, openai_stream_chunks

MODEL = "gpt-4o-mini"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def _raw(server, path, body, *, module=httpx2, stream=False):
    """What a plain client receives: status, headers of interest, body bytes, or the exception type."""
    with module.Client() as client:
        try:
            if stream:
                with client.stream("POST", server.url + path, json=body) as r:
                    return r.status_code, b"".join(r.iter_raw())
            r = client.post(server.url + path, json=body)
            return r.status_code, r.content
        except Exception as exc:  # the exception class is what the app would see
            return type(exc), None


STREAM_CASES = {
    "delta_null": [b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":null}]}\n\n', b"data: [DONE]\n\n"],
    "empty_choices": [b'data: {"id":"c","model":"m","choices":[]}\n\n', b"data: [DONE]\n\n"],
    "usage_null_every_chunk": [
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}\n\n',
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n',
        b"data: [DONE]\n\n",
    ],
    "truncated_event": [b'data: {"id":"c","model":"m","choi'],
    "invalid_utf8": [b'data: {"id":"c\xff\xfe","model":"m","choices":[]}\n\n', b"data: [DONE]\n\n"],
    "lone_surrogate": [b'data: {"id":"\\ud800","model":"m","choices":[]}\n\n', b"data: [DONE]\n\n"],
    "not_json": [b"data: this is not json\n\n", b"data: [DONE]\n\n"],
    "tool_call_args_dict": [
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1",'
        b'"function":{"name":"f","arguments":{"a":[1,2]}}}]}}]}\n\n',
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
        b'"function":{"arguments":["x"]}}]}}]}\n\n',
        b"data: [DONE]\n\n",
    ],
}

BODY_CASES = {
    "error_object_in_200": (200, b'{"error": {"message": "overloaded", "type": "overloaded_error"}}'),
    "malformed_json": (200, b'{"id": "x", "choices": [ {"message": '),
    "html_500": (500, b"<html>oops</html>"),
    "empty_502": (502, b""),
    "invalid_utf8": (200, b'{"id": "\xff\xfe", "model": "m", "choices": []}'),
    "usage_null": (200, json.dumps(openai_chat(usage=None)).encode()),
    "huge_body": (200, json.dumps(openai_chat(content="x" * 3_000_000)).encode()),
}


@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
@pytest.mark.parametrize("case", sorted(STREAM_CASES))
def test_stream_bytes_identical(telemetry, server, case, module):
    server.route("/v1/chat/completions", Reply(chunks=STREAM_CASES[case], content_type="text/event-stream"))
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    plain = _raw(server, "/v1/chat/completions", body, module=module, stream=True)
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        observed = _raw(server, "/v1/chat/completions", body, module=module, stream=True)
    finally:
        otel_llm.uninstrument()
    assert observed == plain
    assert len(telemetry.llm_spans()) == 1


@pytest.mark.parametrize("case", sorted(BODY_CASES))
def test_body_bytes_identical(telemetry, server, case):
    status, payload = BODY_CASES[case]
    server.route("/v1/chat/completions", Reply(status=status, body=payload))
    plain = _raw(server, "/v1/chat/completions", CHAT)
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        observed = _raw(server, "/v1/chat/completions", CHAT)
    finally:
        otel_llm.uninstrument()
    assert observed == plain
    [span] = telemetry.llm_spans()
    if status >= 400:
        assert span.attributes["error.type"] == str(status)
    if case == "error_object_in_200":
        assert span.attributes["error.type"] == "overloaded_error"
    if case in ("usage_null", "malformed_json"):
        assert "gen_ai.usage.input_tokens" not in span.attributes


@pytest.mark.parametrize("reset_after", [0, 2])
def test_peer_reset_same_exception(telemetry, server, reset_after):
    chunks = [f"data: {json.dumps(c)}\n\n".encode() for c in openai_stream_chunks(with_usage=True)]
    server.route(
        "/v1/chat/completions", Reply(chunks=chunks, content_type="text/event-stream", reset_after=reset_after)
    )
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)

    def consume():
        try:
            return [c.id for c in client.chat.completions.create(**CHAT, stream=True)]
        except Exception as exc:
            return type(exc)

    plain = consume()
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        observed = consume()
    finally:
        otel_llm.uninstrument()
        client.close()
    assert observed == plain
    assert isinstance(plain, type) and issubclass(plain, Exception)
    [span] = telemetry.llm_spans()
    assert "error.type" in span.attributes
    assert span.status.status_code.name == "ERROR"


def test_secrets_never_in_attributes(instrumented, server):
    server.route(
        "/v1beta/models/gemini-2.0-flash:generateContent",
        Reply.json({"candidates": [], "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}}),
    )
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    with httpx2.Client() as c:
        c.post(
            server.url + "/v1beta/models/gemini-2.0-flash:generateContent?key=AIzaSECRETSECRET",
            json={"contents": []},
            headers={"x-goog-api-key": "AIzaSECRETHEADER"},
        )
        c.post(
            server.url + "/v1/chat/completions?api_key=sk-SECRETQUERY",
            json=CHAT,
            headers={"Authorization": "Bearer sk-SECRETBEARER", "api-key": "SECRETAZURE", "x-api-key": "sk-ant-SECRET"},
        )
    spans = instrumented.llm_spans()
    assert len(spans) == 2
    dump = json.dumps(
        [{**dict(s.attributes), "events": [dict(e.attributes) for e in s.events]} for s in spans], default=str
    )
    assert "SECRET" not in dump


def test_our_failures_never_reach_the_app(instrumented, server, monkeypatch):
    """Every stage of ours raising: the app still gets its response; failures are counted."""
    server.route(
        "/v1/chat/completions",
        lambda seen: (
            Reply.sse(openai_stream_chunks(with_usage=True)) if seen.json().get("stream") else Reply.json(openai_chat())
        ),
    )
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    expected = client.chat.completions.create(**CHAT).model_dump()

    def boom(*a, **k):
        raise RuntimeError("injected")

    for target, name in [
        (registry.Provider, "parse_request"),
        (registry.Provider, "parse_response"),
        (registry.Provider, "stream_parser"),
        (_call.Call, "on_response"),
        (_call.Call, "_finish"),
        (_transport, "_begin"),
    ]:
        with monkeypatch.context() as m:
            m.setattr(target, name, boom)
            assert client.chat.completions.create(**CHAT).model_dump() == expected, name
            assert (
                "".join(
                    c.choices[0].delta.content or ""
                    for c in client.chat.completions.create(**CHAT, stream=True)
                    if c.choices
                )
                == "Hello!"
            ), name
    client.close()
    errors = instrumented.metrics()["otel_llm.internal.errors"]
    locations = {p.attributes["location"] for p in errors}
    assert {"begin", "finish", "response"} <= locations


def test_cost_lookup_failure_is_contained(instrumented, server, monkeypatch):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    from otel_llm.enrich import cost

    monkeypatch.setattr(cost.CostCalculator, "cost", lambda *a, **k: 1 / 0)
    with openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0) as client:
        assert client.chat.completions.create(**CHAT).choices[0].message.content == "Hello!"
    [span] = instrumented.llm_spans()
    assert span.end_time is not None


@pytest.mark.parametrize("size_mb", [1, 10])
def test_huge_prompts_pass_through(instrumented, server, size_mb):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    big = "lorem ipsum " * (size_mb * 1024 * 1024 // 12)
    with openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0) as client:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": big}])
    assert len(server.requests[-1].body) > size_mb * 1024 * 1024 * 0.99
    [span] = instrumented.llm_spans()
    assert span.attributes["gen_ai.request.model"] == MODEL
    assert sum(len(str(v)) for v in span.attributes.values()) < 10_000


def test_dead_collector_shutdown_returns_in_time():
    """A hanging/dead OTLP endpoint must not hold the app at exit beyond the exporter's timeout."""
    import time

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tp = TracerProvider()
    tp.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces", timeout=1), export_timeout_millis=1000
        )
    )
    otel_llm.instrument(tracer_provider=tp)
    try:
        with tp.get_tracer("t").start_as_current_span("x"):
            pass
    finally:
        otel_llm.uninstrument()
    t0 = time.monotonic()
    tp.shutdown()
    assert time.monotonic() - t0 < 5


def test_async_stream_cancelled(instrumented, server):
    server.route(
        "/v1/chat/completions", lambda seen: Reply.sse(openai_stream_chunks(words=tuple("abcdef"), with_usage=True))
    )

    async def main():
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        stream = await client.chat.completions.create(**CHAT, stream=True)
        async for _ in stream:
            break
        await stream.close()
        await client.close()

    asyncio.run(main())
    [span] = instrumented.llm_spans()
    assert span.end_time is not None
