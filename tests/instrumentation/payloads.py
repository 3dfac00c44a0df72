"""Wire payloads shaped like each provider's documented API responses."""

from __future__ import annotations

from typing import Any


def openai_chat(
    model: str = "gpt-4o-mini-2024-07-18",
    content: str = "Hello!",
    *,
    usage: Any = "default",
    rid: str = "chatcmpl-abc123",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "object": "chat.completion",
        "created": 1730000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "system_fingerprint": "fp_1",
    }
    if usage == "default":
        body["usage"] = {"prompt_tokens": 1600, "completion_tokens": 300, "total_tokens": 1900}
    elif usage is not None:
        body["usage"] = usage
    return body


def openai_stream_chunks(
    model: str = "gpt-4o-mini-2024-07-18",
    words: tuple[str, ...] = ("Hel", "lo", "!"),
    *,
    with_usage: bool,
    rid: str = "chatcmpl-s1",
) -> list[dict[str, Any]]:
    base = {"id": rid, "object": "chat.completion.chunk", "created": 1730000000, "model": model}
    chunks: list[dict[str, Any]] = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    for w in words:
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if with_usage:
        chunks.append(
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": len(words),
                    "total_tokens": 12 + len(words),
                },
            }
        )
    return chunks


def anthropic_message(model: str = "claude-3-5-haiku-20241022") -> dict[str, Any]:
    return {
        "id": "msg_01ABC",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "Hi there"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 25,
            "output_tokens": 7,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
    }


def anthropic_stream(model: str = "claude-3-5-haiku-20241022") -> tuple[list[dict[str, Any]], list[str]]:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01STR",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 25, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return [e for _, e in events], [n for n, _ in events]


def gemini_response(model_version: str = "gemini-2.0-flash") -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Bonjour"}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 4, "totalTokenCount": 15},
        "modelVersion": model_version,
        "responseId": "gem-resp-1",
    }


def ollama_chat(model: str = "llama3.1:8b") -> dict[str, Any]:
    return {
        "model": model,
        "created_at": "2026-11-30T12:00:00Z",
        "message": {"role": "assistant", "content": "Hallo"},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1000,
        "load_duration": 10,
        "prompt_eval_count": 21,
        "prompt_eval_duration": 100,
        "eval_count": 5,
        "eval_duration": 200,
    }
