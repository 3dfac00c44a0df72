"""Anthropic Messages API: request, response, SSE with usage split across events, cache tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from otel_llm.providers import anthropic

JPEG = base64.b64encode(b"\xff\xd8\xff" + b"\x10" * 997).decode()  # 1000 bytes

REQUEST = {
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 1024,
    "temperature": 0.5,
    "top_p": 0.95,
    "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": JPEG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                {"type": "text", "text": "Describe this image."},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"location": "SF"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": [{"type": "text", "text": "65F"}]},
            ],
        },
    ],
    "stream": True,
}


def test_request_parameters_and_content() -> None:
    body = json.dumps(REQUEST).encode()
    req = anthropic.parse_request(body, operation="chat", path="/v1/messages", capture_content=False)
    assert (req.model, req.max_tokens, req.temperature, req.top_p, req.stream, req.seed) == (
        "claude-sonnet-4-5-20250929",
        1024,
        0.5,
        0.95,
        True,
        None,
    )
    assert req.input_messages is None
    req = anthropic.parse_request(body, operation="chat", path="/v1/messages", capture_content=True)
    assert req.system_instructions == [{"type": "text", "content": "You are terse."}]
    assert req.input_messages == [
        {
            "role": "user",
            "parts": [
                {"type": "blob", "mime_type": "image/jpeg", "size": 1000, "modality": "image"},
                {"type": "uri", "uri": "https://example.com/cat.png", "modality": "image"},
                {"type": "text", "content": "Describe this image."},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me check."},
                {"type": "tool_call", "id": "toolu_01A", "name": "get_weather", "arguments": {"location": "SF"}},
            ],
        },
        {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_01A", "response": "65F"}]},
    ]
    req = anthropic.parse_request(
        b'{"model":"claude-3-5-haiku-latest","max_tokens":10,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}',
        operation="chat",
        path="/v1/messages",
        capture_content=True,
    )
    assert req.stream is False
    assert req.system_instructions == [{"type": "text", "content": "Be brief."}]
    assert req.input_messages == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]


RESPONSE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "The user wants weather.", "signature": "EqQBCgIYAh"},
        {"type": "text", "text": "I'll check."},
        {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"location": "San Francisco"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 2000,
        "output_tokens": 71,
        "service_tier": "standard",
    },
}


def test_response_exact_with_cache_tokens_counted_in_input() -> None:
    resp = anthropic.parse_response(json.dumps(RESPONSE).encode(), operation="chat", capture_content=True)
    assert (resp.response_id, resp.model) == ("msg_01XFDUDYJgAACzvnptvVoYEL", "claude-sonnet-4-5-20250929")
    assert resp.finish_reasons == ["tool_use"]
    assert (resp.input_tokens, resp.output_tokens) == (2112, 71)
    assert (resp.cache_read_input_tokens, resp.cache_creation_input_tokens) == (2000, 100)
    assert resp.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "The user wants weather."},
                {"type": "text", "content": "I'll check."},
                {
                    "type": "tool_call",
                    "id": "toolu_02",
                    "name": "get_weather",
                    "arguments": {"location": "San Francisco"},
                },
            ],
            "finish_reason": "tool_use",
        }
    ]


def test_error_body_and_partial_usage() -> None:
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}'
    resp = anthropic.parse_response(body, operation="chat", capture_content=True)
    assert resp.error_type == "overloaded_error"
    assert (resp.input_tokens, resp.output_tokens) == (None, None)
    resp = anthropic.parse_response(b'{"id":"m","usage":{"output_tokens":5}}', operation="chat", capture_content=False)
    assert (resp.input_tokens, resp.output_tokens, resp.cache_read_input_tokens) == (None, 5, None)


def sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)


STREAM_EVENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5-20250929",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 472,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 1800,
                    "output_tokens": 2,
                },
            },
        },
    ),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Okay"}},
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ", let's check."}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"location": "San Fra'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'ncisco, CA"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


@pytest.mark.parametrize("capture", [False, True])
def test_stream_usage_split_across_events(capture: bool) -> None:
    data = sse(STREAM_EVENTS)
    p = anthropic.stream_parser(operation="chat", capture_content=capture)
    firsts = [p.feed(data[i : i + 50]) for i in range(0, len(data), 50)]
    assert firsts.count(True) == 1
    resp = p.result()
    assert resp.response_id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    assert resp.model == "claude-sonnet-4-5-20250929"
    assert resp.finish_reasons == ["tool_use"]
    assert (resp.input_tokens, resp.output_tokens) == (2272, 89)
    assert (resp.cache_read_input_tokens, resp.cache_creation_input_tokens) == (1800, 0)
    assert resp.chunks == 4
    if capture:
        assert resp.output_messages == [
            {
                "role": "assistant",
                "parts": [
                    {"type": "text", "content": "Okay, let's check."},
                    {
                        "type": "tool_call",
                        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                        "name": "get_weather",
                        "arguments": {"location": "San Francisco, CA"},
                    },
                ],
                "finish_reason": "tool_use",
            }
        ]


def test_stream_first_content_event_marks_ttfc_at_any_split() -> None:
    data = sse(STREAM_EVENTS)
    first_delta_end = data.index(b"Okay") + data[data.index(b"Okay") :].index(b"\n\n") + 2
    for i in range(0, len(data) + 1, 13):
        p = anthropic.stream_parser(operation="chat", capture_content=False)
        a, b = p.feed(data[:i]), p.feed(data[i:])
        assert (a, b) == ((True, False) if i >= first_delta_end else (False, True))


def test_stream_later_message_delta_usage_overrides() -> None:
    events = [
        *STREAM_EVENTS[:-2],
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"input_tokens": 500, "cache_read_input_tokens": 1800, "output_tokens": 90},
            },
        ),
    ]
    p = anthropic.stream_parser(operation="chat", capture_content=False)
    p.feed(sse(events))
    resp = p.result()
    assert (resp.input_tokens, resp.output_tokens, resp.finish_reasons) == (2300, 90, ["end_turn"])


def test_stream_error_event_and_truncation() -> None:
    data = (
        sse(STREAM_EVENTS[:4])
        + b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    )
    p = anthropic.stream_parser(operation="chat", capture_content=True)
    p.feed(data)
    resp = p.result()
    assert resp.error_type == "overloaded_error"
    assert resp.finish_reasons == []
    assert resp.output_tokens == 2  # message_start's running count: what was reported
    p = anthropic.stream_parser(operation="chat", capture_content=True)
    p.feed(sse(STREAM_EVENTS)[:-30])
    resp = p.result()
    assert resp.finish_reasons == ["tool_use"]


def test_thinking_stream() -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_t",
                    "model": "claude-opus-4-1",
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Let me think"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"},
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "42"}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 30}},
        ),
    ]
    for capture in (False, True):
        p = anthropic.stream_parser(operation="chat", capture_content=capture)
        p.feed(sse(events))
        resp = p.result()
        assert (resp.chunks, resp.input_tokens, resp.output_tokens) == (2, 10, 30)
    assert resp.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "Let me think"}, {"type": "text", "content": "42"}],
            "finish_reason": "end_turn",
        }
    ]
