"""Each finished call's histogram records: in the next collection (streams included), counted once, with
exemplars that carry the LLM span's trace, and a bad measurement never raised into the app nor losing the
others. Calls finished on the app's thread are recorded by the drainer thread, never by the app's thread; a
collection drains first, uninstrument() stops the drainer, a full queue records in place, a fork starts empty."""

from __future__ import annotations

import os
import threading
import time

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import otel_llm
from otel_llm import _metrics, _state
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


def _record_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads on which the instrumentation hands calls' measurements to the SDK."""
    state = _state.get()
    assert state is not None
    pending = state.instruments.pending
    threads: list[str] = []
    sink = pending.sink

    def spy(*item: object) -> None:
        threads.append(threading.current_thread().name)
        sink(*item)

    monkeypatch.setattr(pending, "sink", spy)
    return threads


def test_the_app_thread_does_not_record_the_drainer_does_soon_after(instrumented, server, monkeypatch):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    threads = _record_threads(monkeypatch)
    with _client(server) as client:
        for _ in range(3):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    deadline = time.monotonic() + 10
    while len(threads) < 3 and time.monotonic() < deadline:  # no collection in between: only the drainer records
        time.sleep(0.005)
    assert threads == ["otel-llm-metrics"] * 3
    assert threading.current_thread().name not in threads


def test_a_collection_without_any_flush_includes_calls_still_waiting(instrumented, server, monkeypatch):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    monkeypatch.setattr(_metrics, "_BATCH_S", 3600.0)  # the drainer would wait an hour: only the collection drains
    with _client(server) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    state = _state.get()
    assert state is not None
    assert len(state.instruments.pending) == 2
    [duration] = _points(instrumented.reader)["gen_ai.client.operation.duration"]  # reader.get_metrics_data() only
    assert duration.count == 2  # type: ignore[attr-defined]
    assert len(state.instruments.pending) == 0


def test_uninstrument_stops_the_drainer_and_records_what_was_waiting(telemetry, server, monkeypatch):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    monkeypatch.setattr(_metrics, "_BATCH_S", 3600.0)
    otel_llm.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        with _client(server) as client:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert [t for t in threading.enumerate() if t.name == "otel-llm-metrics"]
    finally:
        otel_llm.uninstrument()
    assert not [t for t in threading.enumerate() if t.name == "otel-llm-metrics"]
    [duration] = _points(telemetry.reader)["gen_ai.client.operation.duration"]
    assert duration.count == 1  # type: ignore[attr-defined]


def test_a_full_queue_records_where_the_call_finishes(instrumented, server, monkeypatch):
    server.route("/v1/chat/completions", Reply.json(openai_chat()))
    monkeypatch.setattr(_metrics, "_MAX_PENDING", 0)
    threads = _record_threads(monkeypatch)
    with _client(server) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert threads == [threading.current_thread().name]


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs os.register_at_fork")
def test_a_forked_child_starts_with_nothing_waiting_and_no_drainer(monkeypatch):
    monkeypatch.setattr(_metrics, "_BATCH_S", 3600.0)
    recorded: list[object] = []
    pending = _metrics.PendingRecords(lambda *item: recorded.append(item))
    pending.add(("parent's call",))
    assert len(pending) == 1
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the parent's record is not there to be sent twice
        ok = len(pending) == 0 and pending._thread is None
        pending.add(("child's call",))
        pending.drain()
        os._exit(0 if ok and recorded == [("child's call",)] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    pending.stop()
    assert recorded == [("parent's call",)]
