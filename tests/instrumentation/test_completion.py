"""Where a call completes (inline or on the background thread), the cost counter's totals, and
``otel_llm.testing.capture_spans()`` nested in an app's own instrumentation."""

from __future__ import annotations

import gc
import threading
import warnings

import httpx2
import openai
import pytest

import otel_llm
from otel_llm import _call
from otel_llm.testing import capture_spans
from tests.instrumentation.loopback import Reply
from tests.instrumentation.payloads import openai_chat, openai_stream_chunks

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


def _client(server: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test-0123456789", max_retries=0)  # type: ignore[attr-defined]


@pytest.fixture
def end_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads that ran each call's completion."""
    seen: list[str] = []
    original = _call.Call._complete

    def spy(self: _call.Call, *args: object) -> None:
        seen.append(threading.current_thread().name)
        original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_call.Call, "_complete", spy)
    return seen


def test_small_response_completes_inline_with_the_span_ended_before_the_call_returns(instrumented, server, end_threads):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    _client(server).chat.completions.create(model=MODEL, messages=MESSAGES)
    # no flush(): the span is already exported when create() returns
    spans = [s for s in instrumented.exporter.get_finished_spans() if "gen_ai.operation.name" in (s.attributes or {})]
    assert len(spans) == 1
    assert spans[0].attributes["gen_ai.usage.input_tokens"] == 1600
    assert end_threads == [threading.current_thread().name]


def test_large_response_completes_on_the_background_thread(instrumented, server, end_threads):
    filler = "x" * (_call.INLINE_BYTES + 1024)
    server.route("/v1/chat/completions", Reply.json(openai_chat(content=filler)))
    resp = _client(server).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert resp.choices[0].message.content == filler
    [span] = instrumented.llm_spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == 300
    assert end_threads == ["otel-llm"]


def test_stream_dropped_unread_is_ended_by_gc_on_the_background_thread(instrumented, server, end_threads):
    with warnings.catch_warnings():  # earlier tests' unclosed clients: collected now, not in this test's collect
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    server.route("/v1/chat/completions", Reply.sse(openai_stream_chunks(words=("a", "b", "c"), with_usage=True)))
    client = httpx2.Client()
    req = client.build_request(
        "POST", server.url + "/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True}
    )
    response = client.send(req, stream=True)
    del response  # never read, never closed
    gc.collect()
    [span] = instrumented.llm_spans()
    assert span.attributes["http.response.status_code"] == 200
    assert end_threads == ["otel-llm"]
    client.close()


def test_cost_counter_totals_match_the_spans_per_variant(instrumented, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    client = _client(server)
    for variant, n in (("control", 3), ("candidate", 2)):
        for _ in range(n):
            with otel_llm.experiment("exp-cost", variant=variant):
                client.chat.completions.create(model=MODEL, messages=MESSAGES)
    per_span: dict[str, float] = {}
    for s in instrumented.llm_spans():
        per_span[s.attributes["llm.variant"]] = (
            per_span.get(s.attributes["llm.variant"], 0.0) + s.attributes["llm.cost.usd"]
        )
    points = instrumented.metrics()["llm.client.cost"]
    per_point = {p.attributes["llm.variant"]: p.value for p in points}
    assert set(per_point) == {"control", "candidate"}
    for variant, total in per_span.items():
        assert per_point[variant] == pytest.approx(total, rel=1e-12)
    # a second collection reports the same cumulative totals, and further calls add to them
    again = {p.attributes["llm.variant"]: p.value for p in instrumented.metrics()["llm.client.cost"]}
    assert again == per_point
    with otel_llm.experiment("exp-cost", variant="control"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    later = {p.attributes["llm.variant"]: p.value for p in instrumented.metrics()["llm.client.cost"]}
    assert later["control"] > per_point["control"]
    assert later["candidate"] == per_point["candidate"]


def test_capture_spans_puts_the_apps_instrumentation_back_as_it_was(telemetry, server):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    client = _client(server)
    otel_llm.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        provider_hosts={f"127.0.0.1:{server.port}": "vllm"},
    )
    try:
        with capture_spans() as captured:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert len(captured) == 1
        assert telemetry.llm_spans() == []  # the block's call went to the captured providers only
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        [span] = telemetry.llm_spans()  # the app's providers again ...
        assert span.attributes["gen_ai.provider.name"] == "vllm"  # ... and its settings
    finally:
        otel_llm.uninstrument()


def test_span_dropped_by_the_sampler_still_gets_metrics_but_no_content_work(server, monkeypatch):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from otel_llm._setup import flush

    gathered: list[object] = []
    original = _call.Call._content

    def spy(self: _call.Call, resp: object) -> dict[str, object]:
        gathered.append(resp)
        return original(self, resp)  # type: ignore[arg-type]

    monkeypatch.setattr(_call.Call, "_content", spy)
    exporter = InMemorySpanExporter()
    tp = TracerProvider(sampler=ALWAYS_OFF)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    server.route("/v1/chat/completions", Reply.json(openai_chat(content="call me at +1 415 555 0100")))
    otel_llm.instrument(tracer_provider=tp, meter_provider=MeterProvider(metric_readers=[reader]), capture_content=True)
    try:
        with otel_llm.experiment("exp-sampled", variant="control"):
            resp = _client(server).chat.completions.create(model=MODEL, messages=MESSAGES)
        assert resp.choices[0].message.content == "call me at +1 415 555 0100"
        flush()
    finally:
        otel_llm.uninstrument()
    assert exporter.get_finished_spans() == ()
    assert gathered == []  # no content gathered, nothing handed to redaction
    data = reader.get_metrics_data()
    points = {
        m.name: list(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert tokens == {"input": 1600, "output": 300}
    [duration] = points["gen_ai.client.operation.duration"]
    assert duration.count == 1 and duration.attributes["llm.variant"] == "control"


def test_enrichers_run_on_the_background_thread_never_delaying_the_app(telemetry, server, end_threads):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    seen: list[str] = []

    def judge(span: object, call: object) -> None:
        seen.append(threading.current_thread().name)

    otel_llm.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, enrichers=[judge]
    )
    try:
        _client(server).chat.completions.create(model=MODEL, messages=MESSAGES)
        [span] = telemetry.llm_spans()
    finally:
        otel_llm.uninstrument()
    assert span.attributes["gen_ai.usage.output_tokens"] == 300
    assert end_threads == ["otel-llm"]
    assert seen == ["otel-llm"]


def test_shadow_copies_complete_on_the_background_thread(instrumented, server, end_threads):
    from otel_llm.enrich.experiment import ExperimentContext, use

    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    with use(ExperimentContext(experiment_id="exp-s", variant="candidate", route="shadow", shadow=True)):
        _client(server).chat.completions.create(model=MODEL, messages=MESSAGES)
    [span] = instrumented.llm_spans()
    assert span.attributes["llm.shadow"] is True
    assert end_threads == ["otel-llm"]


def test_suppressed_instrumentation_records_nothing(instrumented, server):
    from opentelemetry import context
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN, suppress_instrumentation

    from otel_llm import _transport

    assert _SUPPRESS_INSTRUMENTATION_KEY_PLAIN in _transport._SUPPRESS_KEYS  # the name otel-llm reads is theirs

    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    client = _client(server)
    with suppress_instrumentation():
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    # the API's own key alone (what other instrumentations set) suppresses too
    token = context.attach(context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        context.detach(token)
    assert instrumented.llm_spans() == []
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(instrumented.llm_spans()) == 1
