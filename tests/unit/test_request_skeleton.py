"""Large request bodies are read without their long strings when content is not captured (a base64 image costs
no JSON parse on the request thread): everything else must come out exactly as ``json.loads`` gives it."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_llm.providers import anthropic, gemini, ollama, openai
from otel_llm.providers._common import _LONG_STRING, SKELETON_MIN_BYTES, loads, loads_request

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
_LONG = st.text(min_size=_LONG_STRING - 8, max_size=_LONG_STRING + 600)  # around the cut, quotes and escapes too
_VALUES = st.recursive(
    _SCALARS | _LONG,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


def _without_long_strings(value: Any, ensure_ascii: bool) -> Any:
    """``value`` with every string whose JSON text is longer than ``_LONG_STRING`` bytes replaced by ""."""
    if isinstance(value, str):
        raw = json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
        return "" if len(raw) - 2 > _LONG_STRING else value
    if isinstance(value, list):
        return [_without_long_strings(v, ensure_ascii) for v in value]
    if isinstance(value, dict):
        return {k: _without_long_strings(v, ensure_ascii) for k, v in value.items()}
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(value=_VALUES, ensure_ascii=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_a_large_body_reads_as_json_loads_except_its_long_strings(value: Any, ensure_ascii: bool, seed: int) -> None:
    image = base64.b64encode(random.Random(seed).randbytes(SKELETON_MIN_BYTES)).decode()
    doc = {"model": "m", "payload": value, "image": image, "after": [1, "two", {"three": None}]}
    body = json.dumps(doc, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    assert loads_request(body, capture_content=False) == _without_long_strings(loads(body), ensure_ascii)
    assert loads_request(body, capture_content=True) == loads(body)  # content captured: the whole body


def test_small_bodies_and_bad_json_read_as_before() -> None:
    for body in (b'{"model": "m", "x": "' + b"a" * 5000 + b'"}', b"not json", b"", b'{"a": "unterminated'):
        assert loads_request(body, capture_content=False) == loads(body)
    big_bad = b'{"model": "m", "image": "' + b"A" * SKELETON_MIN_BYTES  # never closed
    assert loads_request(big_bad, capture_content=False) is None


def test_many_short_strings_fall_back_to_the_plain_parse() -> None:
    doc = {"model": "m", "messages": [{"role": "user", "content": f"message {i}"} for i in range(30_000)]}
    body = json.dumps(doc).encode()
    assert len(body) > SKELETON_MIN_BYTES
    assert loads_request(body, capture_content=False) == doc


def _image_chat(stream: bool) -> bytes:
    image = base64.b64encode(random.Random(7).randbytes(3_000_000)).decode()
    return json.dumps(
        {
            "messages": [
                {"role": "system", "content": 'Answer in "JSON"\\n'},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is in this picture?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + image}},
                    ],
                },
            ],
            "model": "gpt-4o",
            "temperature": 0.3,
            "max_tokens": 200,
            "seed": 4,
            "stream": stream,
        }
    ).encode()


def test_every_provider_reads_the_same_request_fields_from_a_large_body() -> None:
    cases = [
        (openai, "chat", "/v1/chat/completions", _image_chat(True)),
        (anthropic, "chat", "/v1/messages", _image_chat(False)),
        (gemini, "generate_content", "/v1beta/models/gemini-2.0-flash:generateContent", _image_chat(False)),
        (ollama, "chat", "/api/chat", _image_chat(True)),
    ]
    for module, op, path, body in cases:
        skeleton = module.parse_request(body, operation=op, path=path, capture_content=False)
        full = module.parse_request(body, operation=op, path=path, capture_content=True)
        for field in ("operation", "model", "stream", "temperature", "top_p", "max_tokens", "seed"):
            assert getattr(skeleton, field) == getattr(full, field), (module.__name__, field)
    assert (
        openai.parse_request(cases[0][3], operation="chat", path=cases[0][2], capture_content=False).model == "gpt-4o"
    )
