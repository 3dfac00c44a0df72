"""Long streams without content capture are parsed at their head and tail only: the result must equal a full
parse, however the HTTP chunks cut the events, whatever the size of the last events, for every SSE/NDJSON wire
format — and a body without event structure is parsed whole."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llm
from otel_llm import _call, _transport
from otel_llm._setup import flush
from tests.instrumentation.payloads import anthropic_stream, openai_chat, openai_stream_chunks

COMPARED = (
    "gen_ai.response.model",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "llm.usage.source",
)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    otel_llm.instrument(tracer_provider=tp, meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))
    try:
        yield exp
    finally:
        otel_llm.uninstrument()


def _record(exporter: InMemorySpanExporter, url: str, body: dict[str, Any], parts: list[bytes], ctype: str) -> Any:
    exporter.clear()
    begun = _transport._begin(httpx2.Request("POST", url, json=body))
    assert begun is not None
    call, _ = begun
    call.on_response(200, ctype, False)
    for p in parts:
        call.feed(p)
    call.finish(None)
    flush()
    [span] = exporter.get_finished_spans()
    return span.attributes


def _cut(data: bytes, rng: random.Random, largest: int) -> list[bytes]:
    parts, i = [], 0
    while i < len(data):
        n = rng.randint(1, largest)
        parts.append(data[i : i + n])
        i += n
    return parts


def _sse(events: list[Any], names: list[str] | None = None, *, crlf: bool = False, done: bool = True) -> bytes:
    out = []
    for i, ev in enumerate(events):
        prefix = f"event: {names[i]}\n" if names else ""
        out.append(f"{prefix}data: {json.dumps(ev)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    text = "".join(out)
    return (text.replace("\n", "\r\n") if crlf else text).encode()


def _openai(n: int, *, pad: int = 0) -> bytes:
    chunks = openai_stream_chunks(words=tuple(f" w{i}" for i in range(n)), with_usage=True)
    if pad:
        chunks[-1]["system_fingerprint"] = "x" * pad  # a final event bigger than any fixed tail window
    return _sse(chunks)


def _anthropic(n: int) -> bytes:
    events, names = anthropic_stream()
    delta = events[3]
    body = events[:3] + [delta] * n + events[5:]
    body_names = names[:3] + [names[3]] * n + names[5:]
    return _sse(body, body_names, done=False)


def _ollama(n: int) -> bytes:
    lines = [
        {
            "model": "llama3.1:8b",
            "created_at": "2026-11-30T12:00:00Z",
            "message": {"role": "assistant", "content": f"t{i}"},
            "done": False,
        }
        for i in range(n)
    ]
    lines.append(
        {
            "model": "llama3.1:8b",
            "created_at": "2026-11-30T12:00:01Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 21,
            "eval_count": n,
        }
    )
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


OPENAI = ("http://127.0.0.1:9/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [], "stream": True})
ANTHROPIC = (
    "http://127.0.0.1:9/v1/messages",
    {"model": "claude-3-5-haiku-20241022", "max_tokens": 64, "messages": [], "stream": True},
)
OLLAMA = ("http://127.0.0.1:11434/api/chat", {"model": "llama3.1:8b", "messages": []})

CASES = {
    "openai": (OPENAI, _openai(400), "text/event-stream"),
    "openai-crlf": (
        OPENAI,
        _sse(openai_stream_chunks(words=("a",) * 300, with_usage=True), crlf=True),
        "text/event-stream",
    ),
    "openai-big-final-event": (OPENAI, _openai(300, pad=40_000), "text/event-stream"),
    "anthropic": (ANTHROPIC, _anthropic(400), "text/event-stream"),
    "ollama": (OLLAMA, _ollama(400), "application/x-ndjson"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("largest", [7, 120, 900])
def test_long_stream_head_and_tail_equal_a_full_parse(exporter, name, largest):
    (url, body), data, ctype = CASES[name]
    full = _record(exporter, url, body, [data], ctype)  # one part: parsed whole
    assert full["llm.usage.source"] == "provider"
    rng = random.Random(f"{name}-{largest}")
    parts = _cut(data, rng, largest)
    assert len(parts) > _call._MIN_SKIP_PARTS
    cut = _record(exporter, url, body, parts, ctype)
    assert {k: cut.get(k) for k in COMPARED} == {k: full.get(k) for k in COMPARED}


def test_the_middle_is_counted_as_chunks(exporter, monkeypatch):
    """Time per output chunk divides by the number of content events, skipped ones included."""
    (url, body), data, ctype = CASES["openai"]
    events = [e + b"\n\n" for e in data.split(b"\n\n") if e]
    seen: list[int] = []
    original = _call.Call._finish

    def spy(self: _call.Call, *args: Any) -> None:
        original(self, *args)
        seen.append(self._skipped)

    monkeypatch.setattr(_call.Call, "_finish", spy)
    _record(exporter, url, body, events, ctype)  # one event per part
    # head: the role event and the first content event; tail: the last _TAIL_EVENTS + 1 events
    assert seen == [len(events) - 2 - (_call._TAIL_EVENTS + 1)]


def test_a_json_document_on_a_streamed_request_is_parsed_whole(exporter):
    """A server that ignored "stream": true answers one JSON document; cut into many parts, it has no event
    boundaries to find a tail by, so nothing is skipped."""
    (url, body), _, _ = CASES["openai"]
    doc = json.dumps(openai_chat(content="y" * 20_000), indent=1).encode()
    parts = _cut(doc, random.Random(3), 200)
    assert len(parts) > _call._MIN_SKIP_PARTS
    attrs = _record(exporter, url, body, parts, "application/json")
    assert attrs["gen_ai.usage.input_tokens"] == 1600
    assert attrs["gen_ai.usage.output_tokens"] == 300
