"""The real openai SDK (3.x, on httpx2) against a loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price

import otel_llm
from tests.instrumentation.loopback import Reply
from tests.instrumentation.payloads import openai_chat, openai_stream_chunks

MODEL = "gpt-4o-mini"


def _client(server, **kw):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test-secret-key-0123456789", max_retries=0, **kw)


def _aclient(server):
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-test-secret-key-0123456789", max_retries=0)


def _expected_cost(inp: int, out: int, model: str = "gpt-4o-mini-2024-07-18") -> float:
    return float(
        calc_price(GUsage(input_tokens=inp, output_tokens=out), model_ref=model, provider_id="openai").total_price
    )


def test_chat_sync_span_attributes_and_metrics(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    resp = _client(server).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.2,
        max_tokens=50,
        top_p=0.9,
        seed=7,
    )
    assert resp.choices[0].message.content == "Hello!"
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert span.kind.name == "CLIENT"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == MODEL
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.id"] == "chatcmpl-abc123"
    assert list(a["gen_ai.response.finish_reasons"]) == ["stop"]
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.seed"] == 7
    assert a["gen_ai.usage.input_tokens"] == 1600
    assert a["gen_ai.usage.output_tokens"] == 300
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == server.port
    assert a["http.response.status_code"] == 200
    assert a["llm.route"] == "primary"
    assert a["llm.usage.source"] == "provider"
    assert a["llm.cost.source"] == "genai-prices"
    assert a["llm.cost.usd"] == pytest.approx(_expected_cost(1600, 300), rel=1e-9)
    assert a["llm.redaction.status"] == "skipped"
    assert "error.type" not in a
    # no secrets anywhere
    assert "sk-test-secret" not in json.dumps(dict(a), default=str)

    metrics = instrumented.metrics()
    [dur] = metrics["gen_ai.client.operation.duration"]
    assert dur.count == 1
    assert dur.attributes["gen_ai.request.model"] == MODEL
    assert dur.attributes["llm.route"] == "primary"
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"]}
    assert tokens == {"input": 1600, "output": 300}
    [cost] = metrics["llm.client.cost"]
    assert cost.value == pytest.approx(_expected_cost(1600, 300), rel=1e-9)
    for points in metrics.values():
        for p in points:
            assert "gen_ai.response.id" not in p.attributes
            assert "llm.subject.hash" not in p.attributes


def test_experiment_context_tags_span_and_event(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    with otel_llm.experiment(
        "invoice-extractor-ft",
        variant="candidate",
        prompt_version="v7",
        rag_index_version="2026-11-01",
        subject="session-42",
    ):
        _client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert a["llm.experiment.id"] == "invoice-extractor-ft"
    assert a["llm.variant"] == "candidate"
    assert a["llm.prompt.version"] == "v7"
    assert a["llm.rag.index_version"] == "2026-11-01"
    assert a["llm.subject.hash"] and "session-42" not in a["llm.subject.hash"]
    [event] = [e for e in span.events if e.name == "feature_flag.evaluation"]
    assert event.attributes["feature_flag.key"] == "invoice-extractor-ft"
    assert event.attributes["feature_flag.result.variant"] == "candidate"
    assert event.attributes["feature_flag.provider.name"] == "otel-llm"
    [dur] = instrumented.metrics()["gen_ai.client.operation.duration"]
    assert dur.attributes["llm.variant"] == "candidate"
    assert dur.attributes["llm.experiment.id"] == "invoice-extractor-ft"


def test_headers_are_a_context_source_and_removed(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    _client(server).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"X-LLM-Experiment": "exp-h", "X-LLM-Variant": "control", "X-LLM-Prompt-Version": "v6"},
    )
    [span] = instrumented.llm_spans()
    assert span.attributes["llm.experiment.id"] == "exp-h"
    assert span.attributes["llm.variant"] == "control"
    assert span.attributes["llm.prompt.version"] == "v6"
    seen = server.requests[-1].headers
    assert not any(k.startswith("x-llm-") for k in seen)


def test_context_follows_asyncio_tasks(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))

    async def main():
        client = _aclient(server)
        with otel_llm.experiment("exp-async", variant="control"):
            await asyncio.gather(
                *[
                    asyncio.create_task(
                        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
                    )
                    for _ in range(3)
                ]
            )
        await client.close()

    asyncio.run(main())
    spans = instrumented.llm_spans()
    assert len(spans) == 3
    assert {s.attributes["llm.experiment.id"] for s in spans} == {"exp-async"}


def test_stream_sync_usage_injected_and_hidden(instrumented, server):
    def handler(seen):
        body = seen.json()
        include = (body.get("stream_options") or {}).get("include_usage", False)
        return Reply.sse(openai_stream_chunks(with_usage=include))

    server.route("/v1/chat/completions", handler)
    stream = _client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    # The app sees exactly what it would without instrumentation: no usage-only chunk.
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello!"
    assert server.requests[-1].json()["stream_options"] == {"include_usage": True}
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert a["gen_ai.usage.input_tokens"] == 12
    assert a["gen_ai.usage.output_tokens"] == 3
    assert list(a["gen_ai.response.finish_reasons"]) == ["stop"]
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert a["llm.cost.usd"] == pytest.approx(_expected_cost(12, 3), rel=1e-9)
    metrics = instrumented.metrics()
    assert metrics["gen_ai.client.operation.time_to_first_chunk"][0].count == 1
    assert metrics["gen_ai.client.operation.time_per_output_chunk"][0].count == 1


def test_stream_with_app_requested_usage_is_passed_on(instrumented, server):
    server.route("/v1/chat/completions", lambda seen: Reply.sse(openai_stream_chunks(with_usage=True)))
    chunks = list(
        _client(server).chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 12
    [span] = instrumented.llm_spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 12


def test_stream_include_usage_off(telemetry, server):
    otel_llm.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        stream_include_usage=False,
    )
    try:
        server.route("/v1/chat/completions", lambda seen: Reply.sse(openai_stream_chunks(with_usage=False)))
        list(
            _client(server).chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
    finally:
        otel_llm.uninstrument()
    assert "stream_options" not in server.requests[-1].json()
    [span] = telemetry.llm_spans()
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert span.attributes["llm.usage.source"] == "unknown"
    assert "llm.cost.usd" not in span.attributes
    assert span.attributes["llm.cost.source"] == "unknown"


def test_stream_async(instrumented, server):
    server.route(
        "/v1/chat/completions",
        lambda seen: Reply.sse(openai_stream_chunks(with_usage="stream_options" in seen.json())),
    )

    async def main():
        client = _aclient(server)
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        out = [c async for c in stream]
        await client.close()
        return out

    chunks = asyncio.run(main())
    assert all(c.usage is None for c in chunks)
    [span] = instrumented.llm_spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == 3


def test_stream_closed_early_ends_span_once(instrumented, server):
    server.route(
        "/v1/chat/completions",
        lambda seen: Reply.sse(openai_stream_chunks(words=tuple("abcdefghij"), with_usage=True)),
    )
    stream = _client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    it = iter(stream)
    next(it)
    next(it)
    stream.close()
    [span] = instrumented.llm_spans()
    assert span.end_time is not None
    assert "error.type" not in span.attributes


def test_stream_context_manager_exit(instrumented, server):
    server.route("/v1/chat/completions", lambda seen: Reply.sse(openai_stream_chunks(with_usage=True)))
    with _client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    ) as stream:
        next(iter(stream))
    assert len(instrumented.llm_spans()) == 1


def test_stream_garbage_collected(instrumented, server):
    import gc

    server.route("/v1/chat/completions", lambda seen: Reply.sse(openai_stream_chunks(with_usage=True)))
    client = _client(server)
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True)
    del stream
    gc.collect()
    assert len(instrumented.llm_spans()) == 1


def test_embeddings(instrumented, server):
    server.route(
        "/v1/embeddings",
        Reply.json(
            {
                "object": "list",
                "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": 8, "total_tokens": 8},
            }
        ),
    )
    _client(server).embeddings.create(model="text-embedding-3-small", input="hello")
    [span] = instrumented.llm_spans()
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["gen_ai.usage.input_tokens"] == 8
    assert span.attributes["llm.cost.usd"] == pytest.approx(
        float(calc_price(GUsage(input_tokens=8), model_ref="text-embedding-3-small", provider_id="openai").total_price)
    )


@pytest.mark.parametrize(
    ("status", "body", "ctype"),
    [
        (429, b'{"error": {"message": "slow down", "type": "rate_limit_error"}}', "application/json"),
        (500, b"<html><body>Internal error</body></html>", "text/html"),
        (502, b"", "text/plain"),
    ],
)
def test_http_errors_reach_app_unchanged(instrumented, server, status, body, ctype):
    server.route("/v1/chat/completions", Reply(status=status, body=body, content_type=ctype))
    with pytest.raises(openai.APIStatusError) as info:
        _client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == status
    [span] = instrumented.llm_spans()
    assert span.attributes["error.type"] == str(status)
    assert span.status.status_code.name == "ERROR"
    assert "llm.cost.usd" not in span.attributes


def test_connect_error_recorded_and_reraised(instrumented):
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    [span] = instrumented.llm_spans()
    assert span.attributes["error.type"] == "ConnectError"


def test_unknown_model_has_no_cost(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat(model="my-finetune-9000")))
    _client(server).chat.completions.create(model="my-finetune-9000", messages=[{"role": "user", "content": "hi"}])
    [span] = instrumented.llm_spans()
    assert "llm.cost.usd" not in span.attributes
    assert span.attributes["llm.cost.source"] == "unknown"


@pytest.mark.parametrize("usage", [None, {"prompt_tokens": 5}, {}])
def test_usage_absent_or_partial_never_zero(instrumented, server, usage):
    server.route("/v1/chat/completions", Reply.json(openai_chat(usage=usage)))
    _client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    [span] = instrumented.llm_spans()
    a = span.attributes
    assert "gen_ai.usage.output_tokens" not in a
    if usage and "prompt_tokens" in usage:
        assert a["gen_ai.usage.input_tokens"] == 5
    else:
        assert "gen_ai.usage.input_tokens" not in a
        assert a["llm.usage.source"] == "unknown"


def test_non_llm_requests_pass_through_unmeasured(instrumented, server):
    import httpx2

    server.route("/health", Reply.json({"ok": True}))
    with httpx2.Client() as c:
        assert c.get(server.url + "/health").json() == {"ok": True}
    assert instrumented.spans() == []


def test_uninstrument_restores(telemetry, server):
    import httpx2

    original = httpx2.Client._send_single_request
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    assert httpx2.Client._send_single_request is not original
    otel_llm.uninstrument()
    assert httpx2.Client._send_single_request is original
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    _client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert telemetry.spans() == []


def test_instrumentor_and_api_share_one_state(telemetry, server):
    """opentelemetry-instrument's LLMInstrumentor and otel_llm.instrument()/uninstrument() see one state: what
    one turns on, the other reports and can turn off, and on again."""
    from otel_llm._instrumentor import LLMInstrumentor

    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    providers = {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}

    def call() -> None:
        _client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])

    LLMInstrumentor().instrument(**providers)
    try:
        assert otel_llm.is_instrumented() and LLMInstrumentor().is_instrumented_by_opentelemetry
        otel_llm.uninstrument()
        assert not LLMInstrumentor().is_instrumented_by_opentelemetry
        call()
        assert telemetry.llm_spans() == []
        LLMInstrumentor().instrument(**providers)  # not refused as "already instrumented"
        call()
        assert len(telemetry.llm_spans()) == 1
    finally:
        LLMInstrumentor().uninstrument()
    assert not otel_llm.is_instrumented()


def test_instrument_again_with_other_settings_warns_and_keeps_the_first(telemetry, server, caplog):
    providers = {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}
    otel_llm.instrument(**providers)
    try:
        with caplog.at_level("WARNING", logger="otel_llm"):
            otel_llm.instrument(**providers)  # the same: silently idempotent
            assert caplog.records == []
            otel_llm.instrument(**providers, provider_hosts={"127.0.0.1": "vllm"})
        assert "already instrumented with other settings" in caplog.text
        server.route("/v1/chat/completions", Reply.json(openai_chat()))
        _client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        [span] = telemetry.llm_spans()
        assert span.attributes["gen_ai.provider.name"] == "openai"
    finally:
        otel_llm.uninstrument()


def test_instrument_does_not_import_the_instrumentor_machinery():
    """otel_llm.instrument() needs neither opentelemetry-instrumentation's BaseInstrumentor (with the packaging
    and wrapt modules it imports) nor PyYAML (only for a prices file): less memory in every instrumented app."""
    import subprocess
    import sys

    code = (
        "import sys, openai, otel_llm\n"
        "otel_llm.instrument()\n"
        "otel_llm.uninstrument()\n"
        "print(sorted(m for m in ('opentelemetry.instrumentation.instrumentor', 'opentelemetry.instrumentation.utils',"
        " 'yaml', 'wrapt') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_with_raw_response_and_streaming_response(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    client = _client(server)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert raw.parse().choices[0].message.content == "Hello!"
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}]
    ) as resp:
        data = b"".join(resp.iter_bytes())
    assert json.loads(data)["id"] == "chatcmpl-abc123"
    spans = instrumented.llm_spans()
    assert len(spans) == 2
    assert all(s.attributes["gen_ai.usage.input_tokens"] == 1600 for s in spans)


def test_enrichers_see_raw_call_and_failures_are_contained(telemetry, server):
    seen = []

    def judge(span, call):
        seen.append(call)
        span.set_attribute("llm.eval.fields_correct", 3)

    def broken(span, call):
        raise RuntimeError("enricher bug")

    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    otel_llm.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, enrichers=[broken, judge]
    )
    try:
        with _client(server) as client:
            assert (
                client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
                .choices[0]
                .message.content
                == "Hello!"
            )
    finally:
        otel_llm.uninstrument()
    [span] = telemetry.llm_spans()
    assert span.attributes["llm.eval.fields_correct"] == 3
    [call] = seen
    assert call.provider == "openai"
    assert call.request.model == MODEL
    assert call.response.input_tokens == 1600
    assert call.error_type is None
    errors = telemetry.metrics()["otel_llm.internal.errors"]
    assert {p.attributes["location"] for p in errors} == {"enricher"}
