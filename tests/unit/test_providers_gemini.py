"""Gemini generateContent / streamGenerateContent (SSE and streamed JSON array)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from otel_llm.providers import gemini

PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM_PATH = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
PDF = base64.b64encode(b"%PDF-1.7" + b"\x00" * 3000).decode()  # 3008 bytes

REQUEST = {
    "systemInstruction": {"parts": [{"text": "You are a cat."}]},
    "contents": [
        {
            "role": "user",
            "parts": [{"text": "Summarise"}, {"inlineData": {"mimeType": "application/pdf", "data": PDF}}],
        },
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "find_theaters", "args": {"location": "Mountain View"}}}],
        },
        {"role": "user", "parts": [{"functionResponse": {"name": "find_theaters", "response": {"movie": "Barbie"}}}]},
        {"role": "user", "parts": [{"fileData": {"mimeType": "video/mp4", "fileUri": "gs://bucket/v.mp4"}}]},
    ],
    "generationConfig": {"temperature": 0.7, "topP": 0.8, "maxOutputTokens": 800, "seed": 7, "topK": 10},
}


def test_model_from_path() -> None:
    assert gemini.model_from_path(PATH) == "gemini-2.5-flash"
    vertex = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash-001:streamGenerateContent"
    assert gemini.model_from_path(vertex) == "gemini-2.0-flash-001"


def test_request() -> None:
    body = json.dumps(REQUEST).encode()
    req = gemini.parse_request(body, operation="generate_content", path=PATH, capture_content=False)
    assert (req.operation, req.model, req.stream) == ("generate_content", "gemini-2.5-flash", False)
    assert (req.temperature, req.top_p, req.max_tokens, req.seed) == (0.7, 0.8, 800, 7)
    assert req.input_messages is None
    req = gemini.parse_request(body, operation="generate_content", path=STREAM_PATH, capture_content=True)
    assert req.stream is True
    assert gemini.is_streaming(req, STREAM_PATH) is True
    assert gemini.is_streaming(req, PATH) is False
    assert req.system_instructions == [{"type": "text", "content": "You are a cat."}]
    assert req.input_messages == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "Summarise"},
                {"type": "blob", "mime_type": "application/pdf", "size": 3008},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": None, "name": "find_theaters", "arguments": {"location": "Mountain View"}}
            ],
        },
        {
            "role": "user",
            "parts": [{"type": "tool_call_response", "id": "find_theaters", "response": {"movie": "Barbie"}}],
        },
        {"role": "user", "parts": [{"type": "uri", "uri": "gs://bucket/v.mp4", "mime_type": "video/mp4"}]},
    ]


def test_snake_case_request() -> None:
    body = {
        "system_instruction": {"parts": [{"text": "sys"}]},
        "contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}}]}],
        "generation_config": {"max_output_tokens": 5, "top_p": 0.5},
    }
    req = gemini.parse_request(json.dumps(body).encode(), operation="generate_content", path=PATH, capture_content=True)
    assert (req.max_tokens, req.top_p) == (5, 0.5)
    assert req.input_messages == [
        {"role": "user", "parts": [{"type": "blob", "mime_type": "image/png", "size": 8, "modality": "image"}]}
    ]


RESPONSE = {
    "candidates": [
        {
            "content": {"parts": [{"text": "Hello! How can I help?"}], "role": "model"},
            "finishReason": "STOP",
            "avgLogprobs": -0.05,
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 8,
        "candidatesTokenCount": 9,
        "totalTokenCount": 40,
        "thoughtsTokenCount": 23,
        "cachedContentTokenCount": 4,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "m3NpaK3bG9OyqtsP4s2GmQg",
}


def test_response() -> None:
    resp = gemini.parse_response(json.dumps(RESPONSE).encode(), operation="generate_content", capture_content=True)
    assert (resp.model, resp.response_id) == ("gemini-2.5-flash", "m3NpaK3bG9OyqtsP4s2GmQg")
    assert resp.finish_reasons == ["STOP"]
    assert (resp.input_tokens, resp.output_tokens, resp.cache_read_input_tokens) == (8, 32, 4)
    assert resp.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello! How can I help?"}], "finish_reason": "STOP"}
    ]


def test_error_and_blocked_prompt() -> None:
    body = b'{"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}'
    resp = gemini.parse_response(body, operation="generate_content", capture_content=False)
    assert resp.error_type == "RESOURCE_EXHAUSTED"
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 5},
        "modelVersion": "gemini-2.0-flash",
    }
    resp = gemini.parse_response(json.dumps(blocked).encode(), operation="generate_content", capture_content=True)
    assert (resp.finish_reasons, resp.input_tokens, resp.output_tokens) == (["SAFETY"], 5, None)


def chunk(text: str, finish: str | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [cand], "modelVersion": "gemini-2.0-flash", "responseId": "abc"}
    if usage:
        out["usageMetadata"] = usage
    return out


CHUNKS = [
    chunk("The", usage={"promptTokenCount": 6, "totalTokenCount": 6}),
    chunk(" quick brown"),
    chunk(" fox {}", "STOP", {"promptTokenCount": 6, "candidatesTokenCount": 5, "totalTokenCount": 11}),
]


def check(resp: Any, capture: bool, chunks: int = 3) -> None:
    assert (resp.model, resp.response_id, resp.finish_reasons) == ("gemini-2.0-flash", "abc", ["STOP"])
    assert (resp.input_tokens, resp.output_tokens, resp.chunks) == (6, 5, chunks)
    if capture:
        assert resp.output_messages == [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "The quick brown fox {}"}],
                "finish_reason": "STOP",
            }
        ]


@pytest.mark.parametrize("capture", [False, True])
def test_stream_sse(capture: bool) -> None:
    data = b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in CHUNKS)
    for i in range(0, len(data) + 1, 11):
        p = gemini.stream_parser(operation="generate_content", capture_content=capture)
        firsts = [p.feed(data[:i]), p.feed(data[i:])]
        assert firsts.count(True) == 1
        check(p.result(), capture)


@pytest.mark.parametrize("capture", [False, True])
def test_stream_json_array(capture: bool) -> None:
    data = ("[" + ",\r\n".join(json.dumps(c, indent=2) for c in CHUNKS) + "]").encode()
    for i in range(0, len(data) + 1, 17):
        p = gemini.stream_parser(operation="generate_content", capture_content=capture)
        firsts = [p.feed(data[:i]), p.feed(data[i:])]
        assert firsts.count(True) == 1
        check(p.result(), capture)
    # the same array read as one non-streamed body
    check(gemini.parse_response(data, operation="generate_content", capture_content=capture), capture, 0)


def test_stream_function_call_chunk_counts_as_content() -> None:
    c = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"x": 1}}}]},
                "finishReason": "STOP",
            }
        ],
        "modelVersion": "gemini-2.0-flash",
    }
    p = gemini.stream_parser(operation="generate_content", capture_content=True)
    assert p.feed(b"data: " + json.dumps(c).encode() + b"\n\n") is True
    resp = p.result()
    assert resp.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": None, "name": "f", "arguments": {"x": 1}}],
            "finish_reason": "STOP",
        }
    ]
    assert (resp.input_tokens, resp.output_tokens) == (None, None)
