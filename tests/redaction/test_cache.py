"""Repeated texts (system prompts, a primary and its shadow copy) are redacted once."""

from __future__ import annotations

from otel_llm.redaction import PresidioRedactor


def test_repeated_text_is_served_from_cache_with_identical_result(monkeypatch):
    redactor = PresidioRedactor()
    text = "Mail jane.doe@example.org or call +44 20 7946 0958 about key sk-proj-abcdefghijklmnopqrstuvwx"
    first = redactor.redact(text)
    assert "jane.doe@example.org" not in first
    calls = []
    original = redactor._redact
    monkeypatch.setattr(redactor, "_redact", lambda t: calls.append(t) or original(t))
    assert redactor.redact(text) == first
    assert calls == []
    other = text.replace("jane", "john")
    assert "john.doe@example.org" not in redactor.redact(other)
    assert calls == [other]


def test_cache_is_bounded():
    from otel_llm.redaction import _presidio

    redactor = PresidioRedactor()
    for i in range(_presidio.DEFAULT_CACHE_ENTRIES + 10):
        redactor.redact(f"note {i}")
    assert len(redactor._cache) == _presidio.DEFAULT_CACHE_ENTRIES
    big = "x" * (_presidio._CACHE_MAX_CHARS + 1)
    redactor.redact(big)
    assert big not in redactor._cache


def test_cache_can_be_turned_off(monkeypatch):
    redactor = PresidioRedactor(cache_entries=0)
    calls = []
    original = redactor._redact
    monkeypatch.setattr(redactor, "_redact", lambda text: calls.append(text) or original(text))
    assert redactor.redact("mail a@example.com") == redactor.redact("mail a@example.com") == "mail <EMAIL_ADDRESS>"
    assert len(calls) == 2
    assert not redactor._cache
