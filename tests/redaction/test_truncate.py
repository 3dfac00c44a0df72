from __future__ import annotations

import json

import pytest

from otel_llm.redaction import truncate_json


def _messages(n: int, text: str) -> list[dict[str, object]]:
    return [{"role": "user", "parts": [{"type": "text", "content": text}]} for _ in range(n)]


@pytest.mark.parametrize("budget", [64, 100, 257, 1024, 4096, 65536])
@pytest.mark.parametrize("text", ["a" * 5000, "é" * 5000, "🦊" * 5000, "\ud800x\udfff" * 2000, 'q"\\\n' * 3000])
def test_result_is_valid_json_within_budget(budget, text):
    value = _messages(3, text)
    out = truncate_json(value, budget)
    assert len(out.encode("utf-8")) <= budget
    assert isinstance(json.loads(out), list | str)
    fits = len(json.dumps(value, ensure_ascii=False).encode("utf-8", "replace")) <= budget
    assert ("truncated" in out) != fits


def test_small_values_are_untouched():
    value = _messages(1, "hi é")
    assert json.loads(truncate_json(value, 1024)) == value


def test_lone_surrogates_become_replacement_characters():
    out = truncate_json(["a\ud800b"], 1024)
    out.encode("utf-8")  # encodable
    assert json.loads(out) == ["a\ufffdb"]


def test_many_messages_keep_the_first_ones_and_say_how_many_were_omitted():
    out = truncate_json(_messages(500, "some text " * 10), 2048)
    value = json.loads(out)
    assert value[0]["role"] == "user"
    assert value[-1]["role"] == "otel_llm.truncated"
    assert "omitted" in value[-1]["parts"][0]["content"]


def test_one_megabyte_prompt_fits_a_32k_budget():
    out = truncate_json(_messages(1, "x" * 1_000_000), 32 * 1024)
    assert 30_000 < len(out.encode()) <= 32 * 1024
    assert json.loads(out)[0]["parts"][0]["content"].endswith("…[truncated]")


def test_budget_below_minimum_is_rejected():
    with pytest.raises(ValueError):
        truncate_json([], 10)
