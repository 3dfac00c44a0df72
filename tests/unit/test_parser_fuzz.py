"""Hypothesis fuzz of every parser: no exception ever escapes, and framing invariants hold.

Examples in total: 11,100 (see the max_examples of each test).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_llm.providers import anthropic, gemini, ollama, openai
from otel_llm.providers._events import JSONStreamDecoder, NDJSONDecoder, SSEDecoder
from otel_llm.providers.base import LLMRequest, LLMResponse


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


TARGETS: list[tuple[Any, str, str]] = [
    (openai, "chat", "/v1/chat/completions"),
    (openai, "text_completion", "/v1/completions"),
    (openai, "responses", "/v1/responses"),
    (openai, "embeddings", "/openai/deployments/emb/embeddings"),
    (anthropic, "chat", "/v1/messages"),
    (gemini, "generate_content", "/v1beta/models/gemini-2.0-flash:streamGenerateContent"),
    (ollama, "chat", "/api/chat"),
    (ollama, "text_completion", "/api/generate"),
    (ollama, "embeddings", "/api/embed"),
]

# Keys of the real wire formats, so that generated documents reach the parsers' inner branches.
KEYS = [
    "model",
    "messages",
    "content",
    "choices",
    "delta",
    "usage",
    "error",
    "type",
    "text",
    "tool_calls",
    "function",
    "arguments",
    "name",
    "id",
    "index",
    "finish_reason",
    "role",
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "cached_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "message",
    "content_block",
    "partial_json",
    "stop_reason",
    "source",
    "data",
    "media_type",
    "image_url",
    "url",
    "input_audio",
    "format",
    "file",
    "file_data",
    "candidates",
    "parts",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "finishReason",
    "inlineData",
    "mimeType",
    "functionCall",
    "functionResponse",
    "args",
    "response",
    "modelVersion",
    "responseId",
    "done",
    "done_reason",
    "prompt_eval_count",
    "eval_count",
    "images",
    "input",
    "output",
    "instructions",
    "status",
    "incomplete_details",
    "reason",
    "call_id",
    "output_index",
    "item",
    "system",
    "systemInstruction",
    "generationConfig",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "stream",
    "options",
    "code",
    "thinking",
    "tool_use_id",
    "prompt",
    "prompt_filter_results",
    "refusal",
    "stream_options",
    "include_usage",
]
TYPES = [
    "text",
    "image_url",
    "input_audio",
    "file",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "message_start",
    "message_delta",
    "content_block_start",
    "content_block_delta",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "error",
    "base64",
    "url",
    "function_call",
    "function_call_output",
    "message",
    "output_text",
    "input_text",
    "input_image",
    "input_file",
    "reasoning",
    "response.completed",
    "response.output_text.delta",
    "response.output_item.added",
    "response.function_call_arguments.delta",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(TYPES),
    st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "data:,x", "data:", "\ud800", "stop", "[]", "=="]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    ),
    max_leaves=12,
)


def encode(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


def check_all(body: bytes, chunks: list[bytes], capture: bool) -> None:
    """Every parser of every provider on the same input: results of the right type, nothing raised."""
    for module, op, path in TARGETS:
        req = module.parse_request(body, operation=op, path=path, capture_content=capture)
        assert isinstance(req, LLMRequest)
        module.is_streaming(req, path)
        resp = module.parse_response(body, operation=op, capture_content=capture)
        assert isinstance(resp, LLMResponse)
        parser = module.stream_parser(operation=op, capture_content=capture)
        for c in chunks:
            assert parser.feed(c) in (True, False)
        result = parser.result()
        assert isinstance(result, LLMResponse)
        assert result.chunks >= 0
        for n in (result.input_tokens, result.output_tokens):
            assert n is None or isinstance(n, int)
        json.dumps(result.output_messages)  # serialisable
    openai.inject_include_usage(body)
    stripper = openai.UsageChunkStripper()
    for c in chunks:
        stripper.feed(c)
    stripper.flush()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


@fuzz(2500)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=5), st.booleans())
def test_random_bytes(data: bytes, cuts: list[int], capture: bool) -> None:
    check_all(data, split(data, cuts), capture)


@fuzz(2500)
@given(documents, st.lists(st.integers(min_value=0), max_size=5), st.booleans())
def test_structured_documents(doc: Any, cuts: list[int], capture: bool) -> None:
    body = encode(doc)
    check_all(body, split(body, cuts), capture)


@fuzz(1500)
@given(
    st.lists(
        st.tuples(st.sampled_from(["", "message_start", "content_block_delta", "error", "ping"]), documents), max_size=6
    ),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.lists(st.integers(min_value=0), max_size=6),
    st.booleans(),
    st.booleans(),
)
def test_structured_streams(
    events: list[tuple[str, Any]], eol: bytes, cuts: list[int], ndjson: bool, capture: bool
) -> None:
    if ndjson:
        data = b"".join(encode(d) + eol for _, d in events)
    else:
        data = b"".join(
            (b"event: " + n.encode() + eol if n else b"") + b"data: " + encode(d) + eol + eol for n, d in events
        )
    check_all(data[:-1] if cuts and cuts[0] % 2 else data, split(data, cuts), capture)


@fuzz(1500)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=8))
def test_decoders_independent_of_splitting(data: bytes, cuts: list[int]) -> None:
    for cls in (SSEDecoder, NDJSONDecoder, JSONStreamDecoder):
        whole = cls()
        expected = [*whole.feed(data), *whole.flush()]
        pieces = cls()
        got: list[Any] = []
        for c in split(data, cuts):
            got.extend(pieces.feed(c))
        got.extend(pieces.flush())
        assert got == expected


@fuzz(1500)
@given(
    st.lists(
        st.one_of(st.binary(max_size=40), st.sampled_from([b"\n", b"\r", b"\r\n", b"data: ", b"[]", b"{}"])),
        max_size=12,
    ),
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_stripper_is_identity_without_a_usage_event(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts).replace(b'"usage"', b'"usagE"')
    stripper = openai.UsageChunkStripper()
    out = b"".join(stripper.feed(c) for c in split(data, cuts)) + stripper.flush()
    assert out == data


@fuzz(1000)
@given(st.one_of(st.dictionaries(st.sampled_from(KEYS), scalars, max_size=6), documents))
def test_inject_include_usage_keeps_the_document(doc: Any) -> None:
    body = encode(doc)
    out = openai.inject_include_usage(body)
    if out is None:
        return
    before, after = json.loads(body), json.loads(out)
    assert after["stream_options"]["include_usage"] is True
    assert {k: v for k, v in after.items() if k != "stream_options"} == {
        k: v for k, v in before.items() if k != "stream_options"
    } or before != before  # NaN never equals itself


delta_strategy = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.just("assistant"),
            "content": st.one_of(st.none(), st.text(max_size=5)),
            "tool_calls": st.lists(
                st.fixed_dictionaries(
                    {"index": st.integers(0, 2), "function": st.fixed_dictionaries({"arguments": st.text(max_size=4)})}
                ),
                max_size=1,
            ),
            "refusal": st.one_of(st.none(), st.text(max_size=3)),
        },
    ),
)


@fuzz(600)
@given(
    st.lists(
        st.tuples(
            delta_strategy,
            st.sampled_from([None, None, None, "stop", "length"]),
            st.sampled_from([None, "absent", {"prompt_tokens": 3, "completion_tokens": 4}]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
    st.sampled_from(["chat", "ollama"]),
)
def test_fast_paths_agree_with_full_parsing(items: list[Any], compact: bool, kind: str) -> None:
    """The byte-level shortcuts used without content capture give the same figures as parsing every event."""
    seps = (",", ":") if compact else (", ", ": ")
    if kind == "chat":
        objs = []
        for delta, finish, usage in items:
            o: dict[str, Any] = {
                "id": "c",
                "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage != "absent":
                o["usage"] = usage
            objs.append(o)
        data = b"".join(b"data: " + json.dumps(o, separators=seps).encode() + b"\n\n" for o in objs)
        module, op = openai, "chat"
    else:
        lines = []
        for delta, finish, _ in items:
            content = (delta or {}).get("content") or ""
            lines.append(
                {"model": "l", "message": {"role": "assistant", "content": content}, "done": finish is not None}
            )
        data = b"".join(json.dumps(o, separators=seps).encode() + b"\n" for o in lines)
        module, op = ollama, "chat"
    results = []
    for capture in (False, True):
        p = module.stream_parser(operation=op, capture_content=capture)
        firsts = [p.feed(data[i : i + 40]) for i in range(0, len(data), 40)]
        r = p.result()
        r.output_messages = None
        results.append((firsts, r))
    assert results[0] == results[1]
