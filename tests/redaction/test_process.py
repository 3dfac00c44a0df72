"""ProcessRedactionWorker: the redactor in a child process, same output and same fail-closed contract."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

import otel_llm
from otel_llm import attributes as A
from otel_llm import config
from otel_llm.errors import ConfigurationError
from otel_llm.redaction import DROPPED_PLACEHOLDER, ProcessRedactionWorker, RedactionWorker
from tests.instrumentation.loopback import LoopbackServer, Reply
from tests.instrumentation.payloads import openai_chat
from tests.redaction._redactors import BrokenStart, Hang, Slow
from tests.redaction.conftest import dropped_counts
from tests.redaction.corpus import ENTITIES

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-proj-" + "Q7vX2mN9pL4kR8sT1wY6zB3cD5fG0hJ2"


@pytest.fixture(autouse=True)
def _child_imports_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child process unpickles the test redactors: it must find this package wherever pytest runs."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def _content(text: str) -> dict[str, object]:
    return {
        A.GEN_AI_SYSTEM_INSTRUCTIONS: [{"type": "text", "content": "You are helpful."}],
        A.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [{"type": "text", "content": text}]}],
        A.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "finish_reason": "tool_call",
                "parts": [{"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"q": text}}],
            }
        ],
    }


def _submit(worker, tracer_provider, text: str, name: str = "chat m") -> None:
    span = tracer_provider.get_tracer("test").start_span(name)
    worker.submit(span, time.time_ns(), _content(text))


def _alive(pid: int) -> bool:
    """True while the process exists, zombies included (a zombie would mean nobody reaped it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _status(span) -> str:
    return str(span.attributes[A.LLM_REDACTION_STATUS])


@pytest.fixture
def workers() -> Iterator[list[ProcessRedactionWorker]]:
    """Workers made by a test, shut down even when it fails."""
    made: list[ProcessRedactionWorker] = []
    yield made
    for worker in made:
        worker.shutdown(2)


def test_same_output_as_the_in_process_worker_and_nothing_leaks(telemetry, corpus, redactor, workers):
    tracer_provider, exporter, meter_provider, reader = telemetry
    texts = corpus[:200]
    in_process = RedactionWorker(redactor, meter_provider=meter_provider, queue_size=4096, item_timeout_s=30)
    for i, t in enumerate(texts):
        _submit(in_process, tracer_provider, t.text, name=f"thread {i}")
    assert in_process.flush(120)
    in_process.shutdown(1)
    worker = ProcessRedactionWorker(redactor, meter_provider=meter_provider, queue_size=4096, item_timeout_s=30)
    workers.append(worker)
    assert worker.wait_ready(60)
    for i, t in enumerate(texts):
        _submit(worker, tracer_provider, t.text, name=f"process {i}")
    assert worker.flush(120)
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    names = (A.GEN_AI_SYSTEM_INSTRUCTIONS, A.GEN_AI_INPUT_MESSAGES, A.GEN_AI_OUTPUT_MESSAGES)
    for i in range(len(texts)):
        ours, theirs = by_name[f"process {i}"], by_name[f"thread {i}"]
        assert _status(ours) == A.REDACTION_REDACTED
        assert {n: ours.attributes[n] for n in names} == {n: theirs.attributes[n] for n in names}
    process_spans = [s for s in spans if s.name.startswith("process ")]
    payload = encode_spans(process_spans).SerializeToString()
    planted = {v for t in texts for e, v in t.values() if e in ENTITIES}
    assert len(planted) > 150
    assert [v for v in planted if v.encode() in payload] == []
    assert dropped_counts(reader) == {}
    assert worker.shutdown(5)


def test_child_killed_mid_flight_drops_what_it_held_then_restarts(telemetry, workers):
    tracer_provider, exporter, meter_provider, reader = telemetry
    worker = ProcessRedactionWorker(Slow(0.1), meter_provider=meter_provider, item_timeout_s=30)
    workers.append(worker)
    assert worker.wait_ready(60)
    first = worker.child_pid
    assert first is not None
    for i in range(6):  # 3 texts per item, 0.1 s each: ~2 s of work
        _submit(worker, tracer_provider, f"mail jane{i}@example.org, key {SECRET}", name=f"before {i}")
    time.sleep(0.5)  # sent and in progress
    os.kill(first, signal.SIGKILL)
    assert worker.flush(10)
    before = exporter.get_finished_spans()
    assert len(before) == 6
    dropped = [s for s in before if _status(s) == A.REDACTION_DROPPED]
    assert dropped
    assert all(s.attributes[A.GEN_AI_INPUT_MESSAGES] == DROPPED_PLACEHOLDER for s in dropped)
    assert all(_status(s) in (A.REDACTION_REDACTED, A.REDACTION_DROPPED) for s in before)
    assert SECRET.encode() not in encode_spans(before).SerializeToString()
    assert b"jane" not in encode_spans(before).SerializeToString()
    assert dropped_counts(reader) == {"process_exit": len(dropped)}
    assert not _alive(first)  # killed and reaped

    _submit(worker, tracer_provider, f"again jane@example.org {SECRET}", name="after")
    assert worker.flush(60)
    (after,) = [s for s in exporter.get_finished_spans() if s.name == "after"]
    assert _status(after) == A.REDACTION_REDACTED
    assert "<EMAIL_ADDRESS>" in after.attributes[A.GEN_AI_INPUT_MESSAGES]
    assert worker.child_pid not in (None, first)


def test_hanging_child_times_out_items_and_is_replaced(telemetry, workers):
    tracer_provider, exporter, meter_provider, reader = telemetry
    worker = ProcessRedactionWorker(Hang(), meter_provider=meter_provider, item_timeout_s=0.5)
    workers.append(worker)
    assert worker.wait_ready(60)
    pid = worker.child_pid
    assert pid is not None
    started = time.monotonic()
    _submit(worker, tracer_provider, f"key {SECRET}")
    _submit(worker, tracer_provider, f"key {SECRET}")
    assert worker.flush(10)
    assert time.monotonic() - started < 5
    spans = exporter.get_finished_spans()
    assert [_status(s) for s in spans] == [A.REDACTION_DROPPED] * 2
    assert SECRET.encode() not in encode_spans(spans).SerializeToString()
    assert dropped_counts(reader) == {"timeout": 2}
    assert not _alive(pid)


def test_overflow_is_dropped_at_submit(telemetry, workers):
    tracer_provider, exporter, meter_provider, reader = telemetry
    worker = ProcessRedactionWorker(Hang(), meter_provider=meter_provider, queue_size=2, item_timeout_s=60)
    workers.append(worker)
    assert worker.wait_ready(60)
    for _ in range(10):
        _submit(worker, tracer_provider, f"key {SECRET}")
    spans = exporter.get_finished_spans()  # the overflow was ended at once, on this thread
    assert len(spans) == 8
    assert all(s.attributes[A.GEN_AI_INPUT_MESSAGES] == DROPPED_PLACEHOLDER for s in spans)
    assert dropped_counts(reader) == {"queue_full": 8}


def test_shutdown_returns_within_its_timeout_and_leaves_no_process_or_thread(telemetry):
    tracer_provider, exporter, meter_provider, reader = telemetry
    threads_before = set(threading.enumerate())
    worker = ProcessRedactionWorker(Hang(), meter_provider=meter_provider, item_timeout_s=60)
    assert worker.wait_ready(60)
    pid = worker.child_pid
    assert pid is not None
    for _ in range(3):
        _submit(worker, tracer_provider, f"key {SECRET}")
    time.sleep(0.2)
    started = time.monotonic()
    assert worker.shutdown(1.0) is False  # could not drain: the child hangs
    assert time.monotonic() - started < 1.3
    assert not _alive(pid)
    assert set(threading.enumerate()) == threads_before
    spans = exporter.get_finished_spans()
    assert [_status(s) for s in spans] == [A.REDACTION_DROPPED] * 3
    assert dropped_counts(reader) == {"shutdown": 3}
    # after shutdown, submissions are dropped at once (and start nothing)
    _submit(worker, tracer_provider, f"key {SECRET}")
    assert dropped_counts(reader) == {"shutdown": 4}
    assert set(threading.enumerate()) == threads_before


def test_child_that_cannot_start_fails_closed_and_warns_once(telemetry, workers, caplog):
    tracer_provider, exporter, meter_provider, reader = telemetry
    caplog.set_level(logging.WARNING, logger="otel_llm.redaction._process")
    worker = ProcessRedactionWorker(BrokenStart(), meter_provider=meter_provider)
    workers.append(worker)
    assert worker.wait_ready(60) is False
    for _ in range(3):
        _submit(worker, tracer_provider, f"key {SECRET}")
        assert worker.flush(60)
    spans = exporter.get_finished_spans()
    assert [_status(s) for s in spans] == [A.REDACTION_DROPPED] * 3
    assert SECRET.encode() not in encode_spans(spans).SerializeToString()
    assert sum(dropped_counts(reader).values()) == 3
    starts = [r for r in caplog.records if "did not start" in r.getMessage()]
    assert len(starts) == 1
    assert any("no engine here" in r.getMessage() for r in caplog.records)  # the child's stderr, logged here


def test_setting_from_keyword_and_environment():
    assert config.resolve(environ={}).redaction_process is None  # auto: the child, else a thread
    assert config.resolve(environ={"OTEL_LLM_REDACTION_PROCESS": "auto"}).redaction_process is None
    assert config.resolve(environ={"OTEL_LLM_REDACTION_PROCESS": "false"}).redaction_process is False
    assert config.resolve(environ={"OTEL_LLM_REDACTION_PROCESS": "true"}).redaction_process is True
    assert (
        config.resolve(redaction_process=False, environ={"OTEL_LLM_REDACTION_PROCESS": "1"}).redaction_process is False
    )
    with pytest.raises(ConfigurationError, match="OTEL_LLM_REDACTION_PROCESS"):
        config.resolve(environ={"OTEL_LLM_REDACTION_PROCESS": "sometimes"})
    with pytest.raises(ConfigurationError, match="redaction_process"):
        config.resolve(redaction_process="yes", environ={})  # type: ignore[arg-type]


def test_openai_sdk_call_redacted_in_the_child_process(telemetry):
    tracer_provider, exporter, meter_provider, _reader = telemetry
    threads_before = set(threading.enumerate())
    with LoopbackServer() as server:
        server.route("/v1/chat/completions", Reply.json(openai_chat(content="Write to bob@example.com")))
        otel_llm.instrument(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            capture_content=True,
            redaction_process=True,
        )
        try:
            from otel_llm import _state

            worker = _state.get().redaction_worker
            assert isinstance(worker, ProcessRedactionWorker)
            pid = worker.child_pid
            assert pid is not None
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test-0123456789", max_retries=0)
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"my key is {SECRET}, mail jane@x.org"}]
            )
            assert reply.choices[0].message.content == "Write to bob@example.com"
        finally:
            otel_llm.uninstrument()
    assert not _alive(pid)
    (span,) = [s for s in exporter.get_finished_spans() if "gen_ai.operation.name" in (s.attributes or {})]
    assert _status(span) == A.REDACTION_REDACTED
    inputs = json.loads(span.attributes[A.GEN_AI_INPUT_MESSAGES])
    assert inputs[0]["parts"][0]["content"] == "my key is <OPENAI_API_KEY>, mail <EMAIL_ADDRESS>"
    assert "<EMAIL_ADDRESS>" in span.attributes[A.GEN_AI_OUTPUT_MESSAGES]
    payload = encode_spans([span]).SerializeToString()
    assert SECRET.encode() not in payload and b"bob@example.com" not in payload
    assert {t for t in threading.enumerate() if t.name.startswith("otel-llm-redaction")} <= {
        t for t in threads_before if t.name.startswith("otel-llm-redaction")
    }


def _redact_one_call(telemetry, **settings) -> tuple[object, object]:
    """One openai call with a secret through ``instrument(capture_content=True, **settings)``: (worker, span)."""
    tracer_provider, exporter, meter_provider, _reader = telemetry
    with LoopbackServer() as server:
        server.route("/v1/chat/completions", Reply.json(openai_chat(content="ok")))
        otel_llm.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, capture_content=True, **settings
        )
        try:
            from otel_llm import _state

            worker = _state.get().redaction_worker
            with openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test-0123456789", max_retries=0) as client:
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"{SECRET}"}])
        finally:
            otel_llm.uninstrument()
    (span,) = [s for s in exporter.get_finished_spans() if "gen_ai.operation.name" in (s.attributes or {})]
    return worker, span


def test_capture_content_redacts_in_a_child_process_by_default(telemetry, monkeypatch):
    monkeypatch.delenv("OTEL_LLM_REDACTION_PROCESS", raising=False)
    worker, span = _redact_one_call(telemetry)
    assert isinstance(worker, ProcessRedactionWorker)
    assert _status(span) == A.REDACTION_REDACTED
    assert SECRET.encode() not in encode_spans([span]).SerializeToString()


def test_default_falls_back_to_a_thread_when_the_child_cannot_start(telemetry, monkeypatch, caplog):
    from otel_llm.redaction import _process

    def no_processes(*args: object, **kwargs: object) -> None:
        raise OSError("process creation refused here")

    monkeypatch.delenv("OTEL_LLM_REDACTION_PROCESS", raising=False)
    monkeypatch.setattr(_process.subprocess, "Popen", no_processes)
    with caplog.at_level(logging.WARNING):
        worker, span = _redact_one_call(telemetry)
    assert type(worker) is RedactionWorker
    assert _status(span) == A.REDACTION_REDACTED  # still redacted, in this process
    assert json.loads(span.attributes[A.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]["content"] == "<OPENAI_API_KEY>"
    assert any("on a thread of this process instead" in r.getMessage() for r in caplog.records)
    assert not [t for t in threading.enumerate() if t.name == "otel-llm-redaction-sender" and t.is_alive()]


def test_asking_for_the_child_keeps_it_even_when_it_cannot_start(telemetry, monkeypatch):
    from otel_llm.redaction import _process

    def no_processes(*args: object, **kwargs: object) -> None:
        raise OSError("process creation refused here")

    monkeypatch.setattr(_process.subprocess, "Popen", no_processes)
    worker, span = _redact_one_call(telemetry, redaction_process=True)
    assert isinstance(worker, ProcessRedactionWorker)
    assert _status(span) == A.REDACTION_DROPPED  # fail closed: never exported unredacted
    assert SECRET.encode() not in encode_spans([span]).SerializeToString()


def test_redaction_process_false_keeps_redaction_on_a_thread(telemetry):
    worker, span = _redact_one_call(telemetry, redaction_process=False)
    assert type(worker) is RedactionWorker
    assert _status(span) == A.REDACTION_REDACTED
