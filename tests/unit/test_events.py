"""SSE, NDJSON and streamed-JSON-array decoders: framing rules and bytes split anywhere."""

from __future__ import annotations

import json

import pytest

from otel_llm.providers._events import JSONStreamDecoder, NDJSONDecoder, SSEDecoder, SSEEvent


def sse_all(chunks: list[bytes]) -> list[SSEEvent]:
    dec = SSEDecoder()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(dec.feed(c))
    out.extend(dec.flush())
    return out


def splits(data: bytes) -> list[list[bytes]]:
    """Every two-piece split, plus byte-by-byte."""
    ways = [[data[:i], data[i:]] for i in range(len(data) + 1)]
    ways.append([data[i : i + 1] for i in range(len(data))])
    return ways


ANTHROPIC_STREAM = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_1","model":"claude-sonnet-4-5"}}\n'
    b"\n"
    b"event: ping\n"
    b'data: {"type": "ping"}\n'
    b"\n"
    b": a comment line\n"
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n'
    b"\n"
)


def test_sse_event_names_data_and_comments() -> None:
    events = sse_all([ANTHROPIC_STREAM])
    assert [e[0] for e in events] == ["message_start", "ping", "content_block_delta"]
    assert json.loads(events[2][1])["delta"]["text"] == "Hi"
    assert events[1][1] == b'{"type": "ping"}'


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_sse_every_split_and_every_line_ending(eol: bytes) -> None:
    stream = ANTHROPIC_STREAM.replace(b"\n", eol)
    expected = sse_all([ANTHROPIC_STREAM])
    for chunks in splits(stream):
        assert sse_all(chunks) == expected


def test_sse_multiline_data_joined_with_newline() -> None:
    stream = b"data: first\ndata:second\ndata:  third\n\n"
    assert sse_all([stream]) == [("", b"first\nsecond\n third")]


def test_sse_field_without_colon_and_unknown_fields() -> None:
    stream = b"id: 7\nretry: 100\nfoo: bar\ndata\n\nevent: x\n\ndata: y\n\n"
    # "data" alone is an empty data line; an event with no data is not dispatched (and resets the name)
    assert sse_all([stream]) == [("", b""), ("", b"y")]


def test_sse_final_event_without_blank_line_comes_from_flush() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: [DONE]") == []
    assert dec.flush() == [("", b"[DONE]")]
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n") == []
    assert dec.flush() == [("", b"a")]
    assert dec.flush() == []


def test_sse_mixed_line_endings_in_one_stream() -> None:
    stream = b"data: a\r\n\r\ndata: b\r\rdata: c\n\r\n"
    for chunks in splits(stream):
        assert sse_all(chunks) == [("", b"a"), ("", b"b"), ("", b"c")]


def test_sse_invalid_utf8_in_event_name_is_replaced() -> None:
    assert sse_all([b"event: \xff\xfe\ndata: x\n\n"]) == [("\ufffd\ufffd", b"x")]


def ndjson_all(chunks: list[bytes]) -> list[bytes]:
    dec = NDJSONDecoder()
    out: list[bytes] = []
    for c in chunks:
        out.extend(dec.feed(c))
    out.extend(dec.flush())
    return out


OLLAMA_STREAM = (
    b'{"model":"llama3.2","message":{"role":"assistant","content":"The"},"done":false}\n'
    b'{"model":"llama3.2","message":{"role":"assistant","content":" sky"},"done":false}\n'
    b"\n"
    b'{"model":"llama3.2","message":{"role":"assistant","content":""},"done":true,"eval_count":2}'
)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_ndjson_every_split(eol: bytes) -> None:
    stream = OLLAMA_STREAM.replace(b"\n", eol)
    expected = [line for line in OLLAMA_STREAM.split(b"\n") if line]
    assert len(expected) == 3
    for chunks in splits(stream):
        assert ndjson_all(chunks) == expected


def json_objects(chunks: list[bytes]) -> list[bytes]:
    dec = JSONStreamDecoder()
    out: list[bytes] = []
    for c in chunks:
        out.extend(dec.feed(c))
    out.extend(dec.flush())
    return out


GEMINI_ARRAY = (
    b'[{\n  "candidates": [{"content": {"parts": [{"text": "a {brace} and \\"quote\\" \\\\"}],'
    b' "role": "model"}}],\n  "modelVersion": "gemini-2.0-flash"\n}\n,\r\n'
    b'{\n  "candidates": [{"content": {"parts": [{"text": "}}]]"}], "role": "model"},'
    b' "finishReason": "STOP"}],\n  "usageMetadata": {"promptTokenCount": 3}\n}\n]'
)


def test_json_array_every_split() -> None:
    expected = json_objects([GEMINI_ARRAY])
    assert [json.loads(o) for o in expected] == json.loads(GEMINI_ARRAY)
    for chunks in splits(GEMINI_ARRAY):
        assert json_objects(chunks) == expected


def test_json_array_unterminated_object_is_dropped() -> None:
    assert json_objects([b'[{"a": 1}, {"b": ']) == [b'{"a": 1}']
