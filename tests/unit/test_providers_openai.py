"""OpenAI-compatible wire format: chat/completions, completions, responses, embeddings; SSE streams."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from otel_llm.providers import openai
from otel_llm.providers.base import LLMResponse


def sse(*objs: Any, done: bool = True) -> list[bytes]:
    chunks = [b"data: " + json.dumps(o).encode() + b"\n\n" for o in objs]
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return chunks


def run_stream(chunks: list[bytes], *, op: str = "chat", capture: bool = False) -> tuple[list[bool], LLMResponse]:
    p = openai.stream_parser(operation=op, capture_content=capture)
    firsts = [p.feed(c) for c in chunks]
    return firsts, p.result()


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 1000).decode()  # 1008 bytes
WAV = base64.b64encode(b"RIFF" + b"\x01" * 2045).decode()  # 2049 bytes, padded

CHAT_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You extract invoices."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "18C and sunny"},
    ],
    "temperature": 0.2,
    "top_p": 0.9,
    "max_completion_tokens": 256,
    "seed": 42,
    "stream": True,
}


def test_chat_request_parameters_without_content() -> None:
    req = openai.parse_request(
        json.dumps(CHAT_REQUEST).encode(), operation="chat", path="/v1/chat/completions", capture_content=False
    )
    assert (req.operation, req.model, req.stream) == ("chat", "gpt-4o-mini", True)
    assert (req.temperature, req.top_p, req.max_tokens, req.seed) == (0.2, 0.9, 256, 42)
    assert req.input_messages is None
    assert req.system_instructions is None


def test_chat_request_content_in_semconv_shape_with_blobs() -> None:
    req = openai.parse_request(
        json.dumps(CHAT_REQUEST).encode(), operation="chat", path="/v1/chat/completions", capture_content=True
    )
    assert req.input_messages == [
        {"role": "system", "parts": [{"type": "text", "content": "You extract invoices."}]},
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is in this image?"},
                {"type": "blob", "mime_type": "image/png", "size": 1008, "modality": "image"},
                {"type": "uri", "uri": "https://example.com/a.jpg", "modality": "image"},
                {"type": "blob", "mime_type": "audio/wav", "size": 2049, "modality": "audio"},
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_abc", "name": "get_weather", "arguments": '{"city":"Paris"}'}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_abc", "response": "18C and sunny"}]},
    ]


def test_multi_mb_base64_image_becomes_a_blob_with_exact_size() -> None:
    raw = b"\xff\xd8" + b"\x07" * (5 * 1024 * 1024)
    url = "data:image/jpeg;base64," + base64.b64encode(raw).decode()
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
        }
    ).encode()
    req = openai.parse_request(body, operation="chat", path="/v1/chat/completions", capture_content=True)
    assert req.input_messages is not None
    assert req.input_messages[0]["parts"] == [
        {"type": "blob", "mime_type": "image/jpeg", "size": len(raw), "modality": "image"}
    ]


def test_max_tokens_legacy_and_defaults() -> None:
    body = b'{"model":"m","messages":[],"max_tokens":100}'
    req = openai.parse_request(body, operation="chat", path="/v1/chat/completions", capture_content=False)
    assert (req.max_tokens, req.stream, req.temperature, req.seed) == (100, False, None, None)


def test_azure_deployment_path_gives_the_model_when_body_has_none() -> None:
    req = openai.parse_request(
        b'{"messages":[{"role":"user","content":"hi"}]}',
        operation="chat",
        path="/openai/deployments/gpt-4o-prod/chat/completions",
        capture_content=False,
    )
    assert req.model == "gpt-4o-prod"


CHAT_RESPONSE = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The image shows a cat.",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}


def test_chat_response_exact() -> None:
    resp = openai.parse_response(json.dumps(CHAT_RESPONSE).encode(), operation="chat", capture_content=True)
    assert resp.model == "gpt-4o-mini-2024-07-18"
    assert resp.response_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert resp.finish_reasons == ["stop"]
    assert (resp.input_tokens, resp.output_tokens, resp.cache_read_input_tokens) == (1117, 46, 1024)
    assert resp.cache_creation_input_tokens is None
    assert resp.error_type is None
    assert resp.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "The image shows a cat."}], "finish_reason": "stop"}
    ]


@pytest.mark.parametrize("arguments", ['{"city": "Paris"}', {"city": "Paris"}, ["Paris", 2]])
def test_chat_response_tool_call_arguments_string_dict_or_list(arguments: Any) -> None:
    body = {
        "id": "chatcmpl-1",
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": arguments}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    resp = openai.parse_response(json.dumps(body).encode(), operation="chat", capture_content=True)
    assert resp.finish_reasons == ["tool_calls"]
    assert resp.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "weather", "arguments": arguments}],
            "finish_reason": "tool_calls",
        }
    ]
    assert resp.input_tokens is None  # usage absent: not 0


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (None, (None, None, None)),
        ({}, (None, None, None)),
        ({"prompt_tokens": 12}, (12, None, None)),
        ({"prompt_tokens": 12, "completion_tokens": None, "prompt_tokens_details": None}, (12, None, None)),
        ({"prompt_tokens": 0, "completion_tokens": 0}, (0, 0, None)),
        ({"prompt_tokens": "12", "completion_tokens": True}, (None, None, None)),
    ],
)
def test_usage_absent_null_partial_never_becomes_zero(usage: Any, expected: tuple[Any, ...]) -> None:
    body: dict[str, Any] = {"id": "x", "model": "m", "choices": []}
    if usage is not None:
        body["usage"] = usage
    resp = openai.parse_response(json.dumps(body).encode(), operation="chat", capture_content=False)
    assert (resp.input_tokens, resp.output_tokens, resp.cache_read_input_tokens) == expected


def test_200_with_error_object() -> None:
    body = b'{"error":{"message":"Rate limit reached","type":"rate_limit_error","param":null,"code":null}}'
    assert openai.parse_response(body, operation="chat", capture_content=False).error_type == "rate_limit_error"
    body = b'{"error":{"message":"upstream","code":502}}'
    assert openai.parse_response(body, operation="chat", capture_content=False).error_type == "502"
    body = b'{"error":{"message":"bad","code":"context_length_exceeded"}}'
    resp = openai.parse_response(body, operation="chat", capture_content=False)
    assert resp.error_type == "context_length_exceeded"


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"<html>502 Bad Gateway</html>", b'{"id": "x", "choices": [', b"[1,2]", b"null"]
)
def test_malformed_bodies_give_empty_results(body: bytes) -> None:
    resp = openai.parse_response(body, operation="chat", capture_content=True)
    assert resp == LLMResponse() or resp.output_messages in (None, [])
    req = openai.parse_request(body, operation="chat", path="/v1/chat/completions", capture_content=True)
    assert req.model is None


def test_lone_surrogates_and_invalid_utf8_are_made_encodable() -> None:
    body = b'{"id":"x","model":"m\\ud800","choices":[{"index":0,"message":{"role":"assistant","content":"a\\udc00b"},'
    body += b'"finish_reason":"stop"}]}'
    resp = openai.parse_response(body, operation="chat", capture_content=True)
    assert resp.model is not None
    resp.model.encode("utf-8")
    assert resp.output_messages is not None
    text = resp.output_messages[0]["parts"][0]["content"]
    text.encode("utf-8")
    assert text.startswith("a") and text.endswith("b")
    bad = b'{"id":"x","model":"gpt-\xff","choices":[]}'
    assert openai.parse_response(bad, operation="chat", capture_content=False).model == "gpt-\ufffd"


# --- chat streaming ----------------------------------------------------------------------------------------


def chunk(delta: Any, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


USAGE_EVENT = {
    "id": "chatcmpl-123",
    "object": "chat.completion.chunk",
    "created": 1694268190,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [],
    "usage": {
        "prompt_tokens": 9,
        "completion_tokens": 3,
        "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 0},
    },
}

CHAT_STREAM = sse(
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "Hello"}),
    chunk({"content": " there"}),
    chunk({"content": "!"}),
    chunk({}, "stop"),
    USAGE_EVENT,
)


@pytest.mark.parametrize("capture", [False, True])
def test_chat_stream_usage_ttfc_and_chunks(capture: bool) -> None:
    firsts, resp = run_stream(CHAT_STREAM, capture=capture)
    assert firsts == [False, True, False, False, False, False, False]
    assert resp.model == "gpt-4o-mini-2024-07-18"
    assert resp.response_id == "chatcmpl-123"
    assert resp.finish_reasons == ["stop"]
    assert (resp.input_tokens, resp.output_tokens, resp.cache_read_input_tokens) == (9, 3, 0)
    assert resp.chunks == 3
    if capture:
        assert resp.output_messages == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Hello there!"}], "finish_reason": "stop"}
        ]
    else:
        assert resp.output_messages is None


def test_chat_stream_split_at_every_offset_gives_the_same_result() -> None:
    data = b"".join(CHAT_STREAM)
    _, expected = run_stream(CHAT_STREAM, capture=True)
    for i in range(len(data) + 1):
        _, got = run_stream([data[:i], data[i:]], capture=True)
        assert got == expected, i


def test_chat_stream_python_style_spacing_and_usage_null_everywhere() -> None:
    # vLLM / Python servers: '": "' separators and "usage": null on every chunk.
    objs = [chunk({"role": "assistant"}, usage=None), chunk({"content": "Hi"}, usage=None)]
    objs += [chunk({"content": "!"}, usage=None), chunk({}, "length", usage=None)]
    objs.append({**USAGE_EVENT, "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    chunks = [b"data: " + json.dumps(o, separators=(", ", ": ")).encode() + b"\r\n\r\n" for o in objs]
    firsts, resp = run_stream(chunks)
    assert firsts == [False, True, False, False, False]
    assert (resp.chunks, resp.finish_reasons, resp.input_tokens, resp.output_tokens) == (2, ["length"], 5, 2)


def test_chat_stream_delta_null_empty_choices_and_azure_filter_chunk() -> None:
    azure_first = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": []}
    chunks = sse(
        azure_first,
        chunk(None),
        {**chunk({"content": "ok"}), "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": None}]},
        {"id": "chatcmpl-123", "model": "gpt-4o", "choices": [{"index": 0, "delta": None, "finish_reason": "stop"}]},
    )
    firsts, resp = run_stream(chunks)
    assert firsts == [False, False, True, False, False]
    assert resp.model == "gpt-4o-mini-2024-07-18"  # the first non-empty model
    assert resp.finish_reasons == ["stop"]
    assert (resp.input_tokens, resp.output_tokens, resp.chunks) == (None, None, 1)


def test_chat_stream_tool_call_arguments_accumulated() -> None:
    tc0 = {"index": 0, "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "type": "function"}
    chunks = sse(
        chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{**tc0, "function": {"name": "get_weather", "arguments": ""}}],
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'location": "Paris"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "get_time", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    )
    for capture in (False, True):
        firsts, resp = run_stream(chunks, capture=capture)
        assert firsts[0] is True
        assert resp.chunks == 4
        assert resp.finish_reasons == ["tool_calls"]
    assert resp.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                    "name": "get_weather",
                    "arguments": '{"location": "Paris"}',
                },
                {"type": "tool_call", "id": "call_2", "name": "get_time", "arguments": "{}"},
            ],
            "finish_reason": "tool_calls",
        }
    ]


def test_chat_stream_two_choices() -> None:
    def two(d0: Any, d1: Any, f0: Any = None, f1: Any = None) -> dict[str, Any]:
        return {
            "id": "c",
            "model": "m",
            "choices": [
                {"index": 0, "delta": d0, "finish_reason": f0},
                {"index": 1, "delta": d1, "finish_reason": f1},
            ],
        }

    chunks = sse(
        two({"content": "A"}, {"content": "B"}), two({}, {"content": "b"}, "stop"), two({}, {}, None, "length")
    )
    for capture in (False, True):
        _, resp = run_stream(chunks, capture=capture)
        assert resp.finish_reasons == ["stop", "length"]
        assert resp.chunks == 2
    assert resp.output_messages is not None
    assert [m["parts"] for m in resp.output_messages] == [
        [{"type": "text", "content": "A"}],
        [{"type": "text", "content": "Bb"}],
    ]


def test_chat_stream_truncated_mid_event_keeps_what_was_read() -> None:
    data = b"".join(CHAT_STREAM[:3]) + CHAT_STREAM[3][:20]
    _, resp = run_stream([data], capture=True)
    assert resp.chunks == 2
    assert resp.finish_reasons == []
    assert resp.input_tokens is None
    assert resp.output_messages == [{"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}]}]


def test_chat_stream_error_event_mid_stream() -> None:
    chunks = sse(chunk({"content": "Hi"}), {"error": {"message": "overloaded", "type": "server_error"}}, done=False)
    _, resp = run_stream(chunks)
    assert resp.error_type == "server_error"


def test_stream_request_answered_with_plain_json_error() -> None:
    body = b'{"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}'
    p = openai.stream_parser(operation="chat", capture_content=False)
    assert p.feed(body[:10]) is False
    assert p.feed(body[10:]) is False
    assert p.result().error_type == "invalid_request_error"


def test_stream_without_trailing_blank_line() -> None:
    data = b"".join(CHAT_STREAM).rstrip(b"\n")
    _, resp = run_stream([data])
    assert resp.input_tokens == 9


# --- completions -------------------------------------------------------------------------------------------


def test_completions_request_response_and_stream() -> None:
    body = b'{"model":"gpt-3.5-turbo-instruct","prompt":["Say this is a test","again"],"max_tokens":7,"temperature":0}'
    req = openai.parse_request(body, operation="text_completion", path="/v1/completions", capture_content=True)
    assert (req.operation, req.model, req.max_tokens, req.temperature) == (
        "text_completion",
        "gpt-3.5-turbo-instruct",
        7,
        0.0,
    )
    assert req.input_messages == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "Say this is a test"}, {"type": "text", "content": "again"}],
        }
    ]
    resp_body = {
        "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
        "object": "text_completion",
        "created": 1589478378,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"text": "\n\nThis is indeed a test", "index": 0, "logprobs": None, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    resp = openai.parse_response(json.dumps(resp_body).encode(), operation="text_completion", capture_content=True)
    assert (resp.response_id, resp.input_tokens, resp.output_tokens, resp.finish_reasons) == (
        "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
        5,
        7,
        ["length"],
    )
    assert resp.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "\n\nThis is indeed a test"}],
            "finish_reason": "length",
        }
    ]

    def c(text: str, finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "model": "gpt-3.5-turbo-instruct",
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
        }

    chunks = sse(
        c("This"),
        c(" is"),
        c("", "stop"),
        {"id": "cmpl-1", "model": "x", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
    )
    for capture in (False, True):
        firsts, sresp = run_stream(chunks, op="text_completion", capture=capture)
        assert firsts == [True, False, False, False, False]
        assert (sresp.chunks, sresp.finish_reasons, sresp.input_tokens, sresp.output_tokens) == (2, ["stop"], 4, 2)
    assert sresp.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "This is"}], "finish_reason": "stop"}
    ]


# --- responses -----------------------------------------------------------------------------------------------


def test_responses_request() -> None:
    body = {
        "model": "gpt-4.1",
        "instructions": "Talk like a pirate.",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is in this image?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                ],
            },
            {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "nothing"},
        ],
        "max_output_tokens": 500,
        "temperature": 1,
        "stream": True,
    }
    req = openai.parse_request(
        json.dumps(body).encode(), operation="responses", path="/v1/responses", capture_content=True
    )
    assert (req.operation, req.model, req.max_tokens, req.temperature, req.stream) == (
        "chat",
        "gpt-4.1",
        500,
        1.0,
        True,
    )
    assert req.system_instructions == [{"type": "text", "content": "Talk like a pirate."}]
    assert req.input_messages == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "what is in this image?"},
                {"type": "blob", "mime_type": "image/png", "size": 1008, "modality": "image"},
            ],
        },
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": "{}"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "nothing"}]},
    ]
    req = openai.parse_request(
        b'{"model":"o3","input":"hi"}', operation="responses", path="/v1/responses", capture_content=True
    )
    assert req.input_messages == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]


RESPONSE_OBJ = {
    "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    "object": "response",
    "created_at": 1741476542,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "model": "gpt-4.1-2025-04-14",
    "output": [
        {
            "type": "message",
            "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "In a peaceful grove...", "annotations": []}],
        }
    ],
    "usage": {
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 123,
    },
}


def test_responses_response() -> None:
    resp = openai.parse_response(json.dumps(RESPONSE_OBJ).encode(), operation="responses", capture_content=True)
    assert resp.response_id == "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
    assert (resp.model, resp.input_tokens, resp.output_tokens, resp.cache_read_input_tokens) == (
        "gpt-4.1-2025-04-14",
        36,
        87,
        0,
    )
    assert resp.finish_reasons == ["stop"]
    assert resp.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "In a peaceful grove..."}], "finish_reason": "stop"}
    ]
    call = {
        **RESPONSE_OBJ,
        "output": [{"type": "function_call", "call_id": "call_9", "name": "f", "arguments": '{"a":1}'}],
    }
    resp = openai.parse_response(json.dumps(call).encode(), operation="responses", capture_content=False)
    assert resp.finish_reasons == ["tool_calls"]
    inc = {**RESPONSE_OBJ, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    assert openai.parse_response(
        json.dumps(inc).encode(), operation="responses", capture_content=False
    ).finish_reasons == ["length"]


def test_responses_stream() -> None:
    created = {**RESPONSE_OBJ, "status": "in_progress", "output": [], "usage": None}
    events = [
        ("response.created", {"type": "response.created", "sequence_number": 0, "response": created}),
        ("response.in_progress", {"type": "response.in_progress", "sequence_number": 1, "response": created}),
        (
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {"type": "message", "role": "assistant", "content": []},
            },
        ),
        (
            "response.output_text.delta",
            {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "In a"},
        ),
        (
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "output_index": 0,
                "content_index": 0,
                "delta": " peaceful grove...",
            },
        ),
        (
            "response.output_text.done",
            {"type": "response.output_text.done", "output_index": 0, "text": "In a peaceful grove..."},
        ),
        ("response.completed", {"type": "response.completed", "sequence_number": 9, "response": RESPONSE_OBJ}),
    ]
    data = b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)
    for capture in (False, True):
        p = openai.stream_parser(operation="responses", capture_content=capture)
        firsts = [p.feed(data[i : i + 97]) for i in range(0, len(data), 97)]
        assert firsts.count(True) == 1
        resp = p.result()
        assert resp.chunks == 2
        assert (resp.model, resp.input_tokens, resp.output_tokens, resp.finish_reasons) == (
            "gpt-4.1-2025-04-14",
            36,
            87,
            ["stop"],
        )
        assert resp.response_id == RESPONSE_OBJ["id"]
    assert resp.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "In a peaceful grove..."}], "finish_reason": "stop"}
    ]
    # broken off before response.completed: what was read, no finish reason, no usage
    cut = data[: data.index(b"event: response.completed")]
    p = openai.stream_parser(operation="responses", capture_content=True)
    p.feed(cut)
    resp = p.result()
    assert (resp.chunks, resp.finish_reasons, resp.input_tokens) == (2, [], None)
    assert resp.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "In a peaceful grove..."}]}
    ]
    err = (
        b'event: error\ndata: {"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null}\n\n'
    )
    p = openai.stream_parser(operation="responses", capture_content=False)
    p.feed(err)
    assert p.result().error_type == "ERR_SOMETHING"


# --- embeddings ------------------------------------------------------------------------------------------------


def embeddings_body(n: int, dims: int) -> bytes:
    return json.dumps(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.0023064255 * (i + 1)] * dims} for i in range(n)
            ],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8 * n, "total_tokens": 8 * n},
        }
    ).encode()


def test_embeddings_small_and_large_bodies() -> None:
    req = openai.parse_request(
        b'{"input":["a","b"],"model":"text-embedding-3-small","encoding_format":"float"}',
        operation="embeddings",
        path="/v1/embeddings",
        capture_content=True,
    )
    assert (req.operation, req.model, req.stream, req.input_messages) == (
        "embeddings",
        "text-embedding-3-small",
        False,
        None,
    )
    for n in (1, 200):
        body = embeddings_body(n, 1536)
        resp = openai.parse_response(body, operation="embeddings", capture_content=False)
        assert (resp.model, resp.input_tokens, resp.output_tokens) == ("text-embedding-3-small", 8 * n, None)
    assert len(body) > 65536  # the tail fast path was taken for the large one


# --- include_usage ---------------------------------------------------------------------------------------------


def test_inject_include_usage_byte_level() -> None:
    body = b'  {"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    out = openai.inject_include_usage(body)
    assert (
        out
        == b'  {"stream_options":{"include_usage":true},"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    )
    assert json.loads(out)["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"m","messages":[]}',
        b'{"model":"m","stream":false}',
        b'{"model":"m","stream":true,"stream_options":{"include_usage":true}}',
        b'{"model":"m","stream":true,"stream_options":{"include_usage":false}}',
        b"[1]",
        b"garbage",
        b"",
        '{"model":"m","stream":true}'.encode("utf-16"),
    ],
)
def test_inject_include_usage_nothing_to_do(body: bytes) -> None:
    assert openai.inject_include_usage(body) is None


def test_inject_include_usage_into_existing_stream_options() -> None:
    out = openai.inject_include_usage(b'{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}')
    assert out is not None
    assert json.loads(out) == {
        "model": "m",
        "stream": True,
        "stream_options": {"include_obfuscation": False, "include_usage": True},
    }
    out = openai.inject_include_usage(b'{"model":"m","stream":true,"stream_options":null}')
    assert out is not None and json.loads(out)["stream_options"] == {"include_usage": True}


def strip_all(chunks: list[bytes]) -> bytes:
    s = openai.UsageChunkStripper()
    return b"".join(s.feed(c) for c in chunks) + s.flush()


def test_stripper_removes_exactly_the_usage_event() -> None:
    with_usage = b"".join(CHAT_STREAM)
    without = b"".join(c for c in CHAT_STREAM if b'"usage"' not in c)
    assert with_usage != without
    assert strip_all(CHAT_STREAM) == without
    for i in range(len(with_usage) + 1):
        assert strip_all([with_usage[:i], with_usage[i:]]) == without, i
    assert strip_all([with_usage[i : i + 1] for i in range(len(with_usage))]) == without


@pytest.mark.parametrize("eol", [b"\r\n", b"\r"])
def test_stripper_other_line_endings(eol: bytes) -> None:
    with_usage = b"".join(CHAT_STREAM).replace(b"\n", eol)
    without = b"".join(c for c in CHAT_STREAM if b'"usage"' not in c).replace(b"\n", eol)
    for i in range(0, len(with_usage) + 1, 7):
        assert strip_all([with_usage[:i], with_usage[i:]]) == without, i


def test_stripper_passes_usage_null_chunks_and_streams_without_usage_event() -> None:
    chunks = [b"data: " + json.dumps(chunk({"content": "x"}, usage=None)).encode() + b"\n\n"] * 3
    chunks.append(b": keep-alive\n\n")
    assert strip_all(chunks) == b"".join(chunks)
    no_usage = [c for c in CHAT_STREAM if b'"usage"' not in c]
    assert strip_all(no_usage) == b"".join(no_usage)


def test_stripper_holds_back_only_the_incomplete_event() -> None:
    s = openai.UsageChunkStripper()
    first = CHAT_STREAM[1]
    assert s.feed(first[:30]) == b""
    assert s.feed(first[30:]) == first
    assert s.feed(CHAT_STREAM[2]) == CHAT_STREAM[2]
    assert s.feed(CHAT_STREAM[5]) == b""  # the usage event
    assert s.feed(CHAT_STREAM[6]) == CHAT_STREAM[6]
    assert s.flush() == b""


def test_stripper_final_usage_event_without_blank_line() -> None:
    chunks = [*CHAT_STREAM[:5], CHAT_STREAM[5].rstrip(b"\n")]
    assert strip_all(chunks) == b"".join(CHAT_STREAM[:5])


def test_inject_include_usage_with_the_parsed_request_skips_parsing_again() -> None:
    body = b'{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"say \\"stream_options\\""}]}'
    req = openai.parse_request(body, operation="chat", path="/v1/chat/completions", capture_content=False)
    out = openai.inject_include_usage(body, req)
    assert out == openai.inject_include_usage(body)
    assert out is not None and json.loads(out)["stream_options"] == {"include_usage": True}
    present = b'{"model":"m","stream":true,"stream_options":{"include_usage":true}}'
    req = openai.parse_request(present, operation="chat", path="/v1/chat/completions", capture_content=False)
    assert openai.inject_include_usage(present, req) is None
    not_streaming = openai.parse_request(
        b'{"model":"m"}', operation="chat", path="/v1/chat/completions", capture_content=False
    )
    assert openai.inject_include_usage(b'{"model":"m"}', not_streaming) is None


@pytest.mark.parametrize("size", [1024 * 1024, 10 * 1024 * 1024])
def test_huge_prompts(size: int) -> None:
    body = json.dumps({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "é" * (size // 2)}]})
    raw = body.encode()
    req = openai.parse_request(raw, operation="chat", path="/v1/chat/completions", capture_content=False)
    assert (req.model, req.stream, req.input_messages) == ("gpt-4o", True, None)
    req = openai.parse_request(raw, operation="chat", path="/v1/chat/completions", capture_content=True)
    assert req.input_messages is not None
    assert len(req.input_messages[0]["parts"][0]["content"]) == size // 2
    out = openai.inject_include_usage(raw, req)
    assert out is not None and len(out) == len(raw) + len(b'"stream_options":{"include_usage":true},')
