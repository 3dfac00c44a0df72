"""RedactionWorker end to end with the real SDK: redacted attributes, fail-closed drops, shutdown."""

from __future__ import annotations

import json
import threading
import time

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_llm import attributes as A
from otel_llm.redaction import DROPPED_PLACEHOLDER, RedactionWorker
from tests.redaction.conftest import dropped_counts
from tests.redaction.corpus import ENTITIES


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


def _submit(worker, tracer_provider, content, name="chat m"):
    span = tracer_provider.get_tracer("test").start_span(name)
    end = time.time_ns()
    worker.submit(span, end, content)
    return end


def test_corpus_end_to_end_leaks_nothing_into_otlp_bytes(telemetry, corpus, redactor):
    tracer_provider, exporter, meter_provider, reader = telemetry
    worker = RedactionWorker(redactor, meter_provider=meter_provider, queue_size=4096, item_timeout_s=30)
    texts = corpus[:300]
    ends = [_submit(worker, tracer_provider, _content(t.text), name=f"chat {i}") for i, t in enumerate(texts)]
    assert worker.flush(120)
    spans = exporter.get_finished_spans()
    assert len(spans) == len(texts)
    assert sorted(s.end_time for s in spans) == sorted(ends)  # original end times
    for s in spans:
        assert s.attributes[A.LLM_REDACTION_STATUS] == A.REDACTION_REDACTED
        messages = json.loads(s.attributes[A.GEN_AI_INPUT_MESSAGES])
        assert messages[0]["role"] == "user"
        json.loads(s.attributes[A.GEN_AI_OUTPUT_MESSAGES])
    payload = encode_spans(spans).SerializeToString()
    planted = {v for t in texts for e, v in t.values() if e in ENTITIES}
    assert len(planted) > 250
    leaked = [v for v in planted if v.encode() in payload]
    assert leaked == []
    # The tool-call arguments carried the same text serialised as JSON (escaped newlines in PEM blocks):
    # the key bodies must not appear in any form.
    bodies = [v.splitlines()[1] for t in texts for e, v in t.values() if e == "PRIVATE_KEY"]
    assert bodies and not [b for b in bodies if b.encode() in payload]
    assert dropped_counts(reader) == {}
    assert worker.shutdown(5)


def test_binary_parts_keep_only_type_mime_type_and_size(telemetry, redactor):
    tracer_provider, exporter, meter_provider, _ = telemetry
    worker = RedactionWorker(redactor, meter_provider=meter_provider)
    blob = {"type": "blob", "mime_type": "image/png", "size": 3_000_000, "content": "iVBORw0KGgo" * 100}
    _submit(worker, tracer_provider, {A.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [blob]}]})
    assert worker.flush(10)
    (span,) = exporter.get_finished_spans()
    assert json.loads(span.attributes[A.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "blob", "mime_type": "image/png", "size": 3_000_000}]}
    ]
    worker.shutdown(1)


def test_tool_arguments_as_list_and_numbers_are_redacted(telemetry, redactor):
    tracer_provider, exporter, meter_provider, _ = telemetry
    worker = RedactionWorker(redactor, meter_provider=meter_provider)
    part = {
        "type": "tool_call",
        "id": "c",
        "name": "pay",
        "arguments": [4111111111111111, {"iban": "DE89370400440532013000"}],
    }
    response = {"type": "tool_call_response", "id": "c", "response": {"ok": True, "email": "x@example.com"}}
    _submit(
        worker,
        tracer_provider,
        {A.GEN_AI_INPUT_MESSAGES: [{"role": "assistant", "parts": [part]}, {"role": "tool", "parts": [response]}]},
    )
    assert worker.flush(10)
    value = exporter.get_finished_spans()[0].attributes[A.GEN_AI_INPUT_MESSAGES]
    assert "4111111111111111" not in value and "DE8937" not in value and "x@example.com" not in value
    messages = json.loads(value)
    assert messages[0]["parts"][0]["arguments"] == '[<CREDIT_CARD>,{"iban":"<IBAN_CODE>"}]'
    worker.shutdown(1)


class _Raising:
    def redact(self, text: str) -> str:
        raise RuntimeError("boom")


class _Slow:
    def __init__(self) -> None:
        self.release = threading.Event()

    def redact(self, text: str) -> str:
        self.release.wait(10)
        return text


def _assert_dropped(span, reason_counts, reason):
    for name in (A.GEN_AI_INPUT_MESSAGES, A.GEN_AI_OUTPUT_MESSAGES, A.GEN_AI_SYSTEM_INSTRUCTIONS):
        assert span.attributes[name] == DROPPED_PLACEHOLDER
    assert span.attributes[A.LLM_REDACTION_STATUS] == A.REDACTION_DROPPED
    assert reason_counts.get(reason, 0) >= 1


SECRET = "sk-proj-" + "Z" * 40


def test_exception_in_redactor_fails_closed(telemetry):
    tracer_provider, exporter, meter_provider, reader = telemetry
    worker = RedactionWorker(_Raising(), meter_provider=meter_provider)
    end = _submit(worker, tracer_provider, _content(f"key {SECRET}"))
    assert worker.flush(5)
    (span,) = exporter.get_finished_spans()
    _assert_dropped(span, dropped_counts(reader), "error")
    assert span.end_time == end
    assert SECRET.encode() not in encode_spans([span]).SerializeToString()
    worker.shutdown(1)


def test_timeout_fails_closed_and_the_worker_keeps_going(telemetry, redactor):
    tracer_provider, exporter, meter_provider, reader = telemetry
    slow = _Slow()
    worker = RedactionWorker(slow, meter_provider=meter_provider, item_timeout_s=0.2)
    started = time.monotonic()
    _submit(worker, tracer_provider, _content(f"key {SECRET}"))
    assert worker.flush(5)
    assert time.monotonic() - started < 3
    (span,) = exporter.get_finished_spans()
    _assert_dropped(span, dropped_counts(reader), "timeout")
    slow.release.set()  # the abandoned call returns; its result must be ignored
    time.sleep(0.1)
    assert exporter.get_finished_spans()[0].attributes[A.LLM_REDACTION_STATUS] == A.REDACTION_DROPPED
    worker.shutdown(1)


class _SlowFor:
    """Hangs on texts containing ``marker`` until released; redacts the rest with ``redactor``."""

    def __init__(self, redactor, marker: str) -> None:
        self.redactor = redactor
        self.marker = marker
        self.release = threading.Event()

    def redact(self, text: str) -> str:
        if self.marker in text:
            self.release.wait(10)
        return self.redactor.redact(text)


def test_after_a_timeout_a_fresh_runner_redacts_the_next_items(telemetry, redactor):
    tracer_provider, exporter, meter_provider, reader = telemetry
    slow = _SlowFor(redactor, "HANG")
    worker = RedactionWorker(slow, meter_provider=meter_provider, item_timeout_s=0.2)
    _submit(worker, tracer_provider, _content(f"HANG {SECRET}"), name="hung")
    _submit(worker, tracer_provider, _content("mail jane@example.com"), name="next")
    assert worker.flush(5)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    _assert_dropped(spans["hung"], dropped_counts(reader), "timeout")
    assert spans["next"].attributes[A.LLM_REDACTION_STATUS] == A.REDACTION_REDACTED
    assert "jane@example.com" not in spans["next"].attributes[A.GEN_AI_INPUT_MESSAGES]
    slow.release.set()
    worker.shutdown(1)


def test_with_every_runner_hung_items_are_dropped_without_waiting_their_timeout(telemetry, redactor):
    tracer_provider, exporter, meter_provider, reader = telemetry
    slow = _SlowFor(redactor, "HANG")
    worker = RedactionWorker(slow, meter_provider=meter_provider, item_timeout_s=0.2)
    for i in range(2):  # MAX_STUCK_RUNNERS hung calls
        _submit(worker, tracer_provider, _content(f"HANG {i}"), name=f"hung{i}")
        assert worker.flush(5)
    started = time.monotonic()
    for i in range(3):
        _submit(worker, tracer_provider, _content(f"HANG later {i}"), name=f"later{i}")
    assert worker.flush(5)
    assert time.monotonic() - started < 0.5  # not one timeout after another
    assert dropped_counts(reader)["timeout"] == 5
    # Once the hung calls return, a runner is started again and redaction resumes.
    slow.release.set()
    time.sleep(0.5)
    _submit(worker, tracer_provider, _content("mail jane@example.com"), name="after")
    assert worker.flush(5)
    after = next(s for s in exporter.get_finished_spans() if s.name == "after")
    assert after.attributes[A.LLM_REDACTION_STATUS] == A.REDACTION_REDACTED
    worker.shutdown(1)


def test_queue_overflow_drops_synchronously_without_blocking(telemetry):
    tracer_provider, exporter, meter_provider, reader = telemetry
    slow = _Slow()
    worker = RedactionWorker(slow, meter_provider=meter_provider, queue_size=1, item_timeout_s=5)
    started = time.monotonic()
    for _ in range(5):
        _submit(worker, tracer_provider, _content(f"key {SECRET}"))
    assert time.monotonic() - started < 0.5  # submit never blocks
    overflowed = list(exporter.get_finished_spans())
    assert len(overflowed) >= 3  # ended right there, on the submitting thread
    for span in overflowed:
        _assert_dropped(span, dropped_counts(reader), "queue_full")
    slow.release.set()
    assert worker.flush(10)
    assert len(exporter.get_finished_spans()) == 5
    worker.shutdown(1)


def test_over_long_input_fails_closed(telemetry, redactor):
    tracer_provider, exporter, meter_provider, reader = telemetry
    worker = RedactionWorker(redactor, meter_provider=meter_provider)
    text = f"{SECRET} " + "a" * 1_000_500
    _submit(worker, tracer_provider, _content(text))
    assert worker.flush(10)
    (span,) = exporter.get_finished_spans()
    _assert_dropped(span, dropped_counts(reader), "too_long")
    assert SECRET.encode() not in encode_spans([span]).SerializeToString()
    worker.shutdown(1)


def test_input_cap_counts_every_text_and_the_redactor_never_sees_text_beyond_it(telemetry):
    tracer_provider, exporter, meter_provider, reader = telemetry
    seen: list[str] = []

    class Recording:
        def redact(self, text: str) -> str:
            seen.append(text)
            return text

    worker = RedactionWorker(Recording(), meter_provider=meter_provider, max_input_chars=100)
    content = {A.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [{"type": "text", "content": "x" * 60}]}] * 3}
    _submit(worker, tracer_provider, content)
    assert worker.flush(5)
    (span,) = exporter.get_finished_spans()
    assert span.attributes[A.GEN_AI_INPUT_MESSAGES] == DROPPED_PLACEHOLDER
    assert dropped_counts(reader)["too_long"] == 1
    assert sum(len(t) for t in seen) <= 100
    worker.shutdown(1)


def test_shutdown_returns_within_its_timeout_and_ends_the_rest_as_dropped(telemetry):
    tracer_provider, exporter, meter_provider, reader = telemetry
    slow = _Slow()
    worker = RedactionWorker(slow, meter_provider=meter_provider, queue_size=10, item_timeout_s=30)
    for _ in range(4):
        _submit(worker, tracer_provider, _content("hello"))
    started = time.monotonic()
    assert worker.shutdown(0.5) is False
    assert time.monotonic() - started < 1.5
    spans = exporter.get_finished_spans()
    assert len(spans) == 4
    assert {s.attributes[A.LLM_REDACTION_STATUS] for s in spans} == {A.REDACTION_DROPPED}
    assert dropped_counts(reader)["shutdown"] == 4
    # After shutdown, submissions are ended at once as dropped.
    _submit(worker, tracer_provider, _content("late"))
    assert len(exporter.get_finished_spans()) == 5
    slow.release.set()


def test_shutdown_drains_pending_work(telemetry, redactor):
    tracer_provider, exporter, meter_provider, _ = telemetry
    worker = RedactionWorker(redactor, meter_provider=meter_provider)
    for i in range(20):
        _submit(worker, tracer_provider, _content(f"mail user{i}@example.com"))
    assert worker.shutdown(10) is True
    spans = exporter.get_finished_spans()
    assert len(spans) == 20
    assert {s.attributes[A.LLM_REDACTION_STATUS] for s in spans} == {A.REDACTION_REDACTED}


def test_submit_never_raises_even_with_a_broken_span(telemetry, redactor):
    _, _, meter_provider, _ = telemetry

    class Broken:
        def set_attribute(self, *a):
            raise RuntimeError("nope")

        def end(self, end_time=None):
            raise RuntimeError("nope")

    worker = RedactionWorker(redactor, meter_provider=meter_provider)
    worker.submit(Broken(), 1, {A.GEN_AI_INPUT_MESSAGES: []})  # type: ignore[arg-type]
    assert worker.flush(5)
    worker.shutdown(1)


def test_attribute_budget_is_respected(telemetry, redactor):
    tracer_provider, exporter, meter_provider, _ = telemetry
    worker = RedactionWorker(redactor, meter_provider=meter_provider, max_attribute_bytes=4096)
    _submit(worker, tracer_provider, _content("é" * 200_000))
    assert worker.flush(20)
    span = exporter.get_finished_spans()[0]
    for name in (A.GEN_AI_INPUT_MESSAGES, A.GEN_AI_OUTPUT_MESSAGES):
        value = span.attributes[name]
        assert len(value.encode()) <= 4096
        assert "truncated" in value
        json.loads(value)
    worker.shutdown(1)


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_queue_size_is_rejected(redactor, bad):
    with pytest.raises(ValueError):
        RedactionWorker(redactor, queue_size=bad)
