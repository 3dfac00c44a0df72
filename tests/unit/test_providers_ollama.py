"""Ollama native API: /api/chat, /api/generate, /api/embed(dings); NDJSON streaming (stream defaults to true)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from otel_llm.providers import ollama


def test_stream_defaults_to_true_for_chat_and_generate() -> None:
    body = b'{"model":"llama3.2","messages":[{"role":"user","content":"why is the sky blue?"}]}'
    req = ollama.parse_request(body, operation="chat", path="/api/chat", capture_content=False)
    assert (req.model, req.stream) == ("llama3.2", True)
    assert ollama.is_streaming(req, "/api/chat") is True
    req = ollama.parse_request(
        b'{"model":"llama3.2","prompt":"hi","stream":false}',
        operation="text_completion",
        path="/api/generate",
        capture_content=False,
    )
    assert req.stream is False
    req = ollama.parse_request(b"not json", operation="chat", path="/api/chat", capture_content=False)
    assert req.stream is True
    req = ollama.parse_request(
        b'{"model":"all-minilm","input":["a"]}', operation="embeddings", path="/api/embed", capture_content=True
    )
    assert (req.model, req.stream, req.input_messages) == ("all-minilm", False, None)


def test_chat_request_options_and_content() -> None:
    body = {
        "model": "llava",
        "messages": [
            {"role": "system", "content": "Be short."},
            {"role": "user", "content": "what is in this image?", "images": ["iVBORw0KGgoAAAANSUhEUg=="]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Toronto"}}}],
            },
            {"role": "tool", "content": "11 degrees", "tool_name": "get_weather"},
        ],
        "options": {"temperature": 0.1, "top_p": 0.9, "seed": 101, "num_predict": 128},
        "stream": False,
    }
    req = ollama.parse_request(json.dumps(body).encode(), operation="chat", path="/api/chat", capture_content=True)
    assert (req.temperature, req.top_p, req.seed, req.max_tokens, req.stream) == (0.1, 0.9, 101, 128, False)
    assert req.input_messages == [
        {"role": "system", "parts": [{"type": "text", "content": "Be short."}]},
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "what is in this image?"},
                {"type": "blob", "mime_type": "image/*", "size": 16, "modality": "image"},
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"city": "Toronto"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "get_weather", "response": "11 degrees"}]},
    ]


def test_generate_request_system_separate() -> None:
    body = b'{"model":"llama3.2","prompt":"Why?","system":"Answer in French."}'
    req = ollama.parse_request(body, operation="text_completion", path="/api/generate", capture_content=True)
    assert req.system_instructions == [{"type": "text", "content": "Answer in French."}]
    assert req.input_messages == [{"role": "user", "parts": [{"type": "text", "content": "Why?"}]}]


CHAT_RESPONSE = {
    "model": "llama3.2",
    "created_at": "2023-12-12T14:13:43.416799Z",
    "message": {"role": "assistant", "content": "Hello! How are you today?"},
    "done": True,
    "done_reason": "stop",
    "total_duration": 5191566416,
    "load_duration": 2154458,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 383809000,
    "eval_count": 298,
    "eval_duration": 4799921000,
}


def test_chat_response() -> None:
    resp = ollama.parse_response(json.dumps(CHAT_RESPONSE).encode(), operation="chat", capture_content=True)
    assert (resp.model, resp.response_id, resp.finish_reasons) == ("llama3.2", None, ["stop"])
    assert (resp.input_tokens, resp.output_tokens) == (26, 298)
    assert resp.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello! How are you today?"}],
            "finish_reason": "stop",
        }
    ]


def test_error_body_and_embeddings() -> None:
    resp = ollama.parse_response(
        b'{"error":"model \\"nope\\" not found, try pulling it first"}', operation="chat", capture_content=True
    )
    assert resp.error_type == "error"
    assert (resp.input_tokens, resp.output_tokens) == (None, None)
    embed = {
        "model": "all-minilm",
        "embeddings": [[0.010071029, -0.0017594862]],
        "total_duration": 14143917,
        "load_duration": 1019500,
        "prompt_eval_count": 8,
    }
    resp = ollama.parse_response(json.dumps(embed).encode(), operation="embeddings", capture_content=False)
    assert (resp.model, resp.input_tokens, resp.output_tokens, resp.finish_reasons) == ("all-minilm", 8, None, [])
    legacy = ollama.parse_response(b'{"embedding":[0.5,0.1]}', operation="embeddings", capture_content=False)
    assert (legacy.model, legacy.input_tokens) == (None, None)


def lines(objs: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


CHAT_STREAM = [
    {
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": "The"},
        "done": False,
    },
    {
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.4",
        "message": {"role": "assistant", "content": " sky"},
        "done": False,
    },
    {
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.5",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "length",
        "total_duration": 4883583458,
        "prompt_eval_count": 26,
        "eval_count": 2,
        "eval_duration": 4709213000,
    },
]


@pytest.mark.parametrize("capture", [False, True])
def test_chat_stream_every_split(capture: bool) -> None:
    data = lines(CHAT_STREAM)
    for i in range(len(data) + 1):
        p = ollama.stream_parser(operation="chat", capture_content=capture)
        firsts = [p.feed(data[:i]), p.feed(data[i:])]
        assert firsts.count(True) == 1
        resp = p.result()
        assert (resp.model, resp.finish_reasons, resp.input_tokens, resp.output_tokens, resp.chunks) == (
            "llama3.2",
            ["length"],
            26,
            2,
            2,
        )
        if capture:
            assert resp.output_messages == [
                {"role": "assistant", "parts": [{"type": "text", "content": "The sky"}], "finish_reason": "length"}
            ]


def test_generate_stream_and_mid_stream_error() -> None:
    objs = [
        {"model": "llama3.2", "response": "Hi", "done": False},
        {"model": "llama3.2", "response": "!", "done": False},
        {
            "model": "llama3.2",
            "response": "",
            "done": True,
            "done_reason": "stop",
            "context": [1, 2, 3],
            "prompt_eval_count": 5,
            "eval_count": 2,
        },
    ]
    p = ollama.stream_parser(operation="text_completion", capture_content=True)
    p.feed(lines(objs).rstrip(b"\n"))  # no newline after the last line
    resp = p.result()
    assert (resp.input_tokens, resp.output_tokens, resp.finish_reasons, resp.chunks) == (5, 2, ["stop"], 2)
    assert resp.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hi!"}], "finish_reason": "stop"}
    ]
    p = ollama.stream_parser(operation="chat", capture_content=False)
    p.feed(lines([CHAT_STREAM[0], {"error": "an error was encountered while running the model"}]))
    resp = p.result()
    assert (resp.error_type, resp.finish_reasons, resp.input_tokens) == ("error", [], None)


def test_chat_stream_tool_calls_and_thinking() -> None:
    objs = [
        {"model": "qwen3", "message": {"role": "assistant", "content": "", "thinking": "Need weather."}, "done": False},
        {
            "model": "qwen3",
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
            },
            "done": False,
        },
        {
            "model": "qwen3",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 100,
            "eval_count": 20,
        },
    ]
    p = ollama.stream_parser(operation="chat", capture_content=True)
    assert p.feed(lines(objs)) is True
    resp = p.result()
    assert resp.chunks == 2
    assert resp.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Need weather."},
                {"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "stop",
        }
    ]
