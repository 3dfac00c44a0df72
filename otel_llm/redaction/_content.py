"""Semconv message lists → redacted JSON strings within a byte budget. Pure: no threads, no OpenTelemetry.

Every string in the content is redacted except the values of a few structural keys (``role``, ``type``,
``mime_type``, ``finish_reason``, ``id``, ``modality``); tool-call arguments and tool responses that are dicts
or lists are serialised to JSON first and redacted as one text. Blob parts keep only ``type``,
``mime_type`` and ``size``. Lone surrogates become U+FFFD so that the result always encodes as UTF-8
(OTLP needs it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Final

STRUCTURAL_KEYS: Final = frozenset({"role", "type", "mime_type", "finish_reason", "id", "modality"})
SERIALISED_KEYS: Final = frozenset({"arguments", "response", "result"})
BLOB_KEYS: Final = ("type", "mime_type", "size")
TRUNCATION_MARK: Final = "…[truncated]"
TRUNCATED_ROLE: Final = "otel_llm.truncated"
_OMITTED_PREFIX: Final = "[truncated: "
MIN_BUDGET: Final = 64
_STRUCTURAL_MAX: Final = 128
# Below this many characters per string, dropping trailing messages keeps more than cutting all of them.
_USEFUL_CHARS: Final = 64
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class InputTooLongError(ValueError):
    """The text is longer than the redactor's ``max_chars``: refuse rather than pass it through unredacted."""


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (a ``str`` holds no valid surrogate pairs)."""
    if text.isascii():  # O(1) for Python's compact strings; surrogates are not ASCII
        return text
    return _SURROGATE.sub("\ufffd", text)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)


def _byte_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


class _Redacting:
    """Walks one attribute's value and returns it redacted and already clean (as `_clean` would leave it), so
    that it is serialised without a second walk."""

    def __init__(self, redact: Callable[[str], str], max_chars: int | None = None) -> None:
        self.redact = redact
        self.chars = 0
        self.max_chars = max_chars

    def text(self, value: str) -> str:
        cleaned = clean_text(value)
        self.chars += len(cleaned)
        if self.max_chars is not None and self.chars > self.max_chars:
            # Checked before this text reaches the redactor: it never sees more than max_chars in all.
            raise InputTooLongError(f"more than {self.max_chars} characters of content to redact")
        return clean_text(self.redact(cleaned))

    def value(self, value: object, key: str | None = None) -> object:
        if isinstance(value, str):
            if key in STRUCTURAL_KEYS:
                return clean_text(value[:_STRUCTURAL_MAX])
            return self.text(value)
        if isinstance(value, dict) or isinstance(value, Mapping):  # noqa: SIM101 (dict first: the ABC check is slow)
            if key in SERIALISED_KEYS:
                return self.text(_dumps(value))
            if value.get("type") == "blob":
                return {k: _clean(value[k]) for k in BLOB_KEYS if k in value}
            out: dict[str, object] = {}
            for k, v in value.items():
                name = k if isinstance(k, str) else str(k)
                out[clean_text(name)] = self.value(v, name)
            return out
        if isinstance(value, list | tuple):
            if key in SERIALISED_KEYS:
                return self.text(_dumps(value))
            return [self.value(item) for item in value]
        if value is None or isinstance(value, bool | int | float):
            if key in SERIALISED_KEYS and value is not None and not isinstance(value, bool):
                return self.text(_dumps(value))
            if isinstance(value, float) and not math.isfinite(value):
                return None
            return value
        # Anything else (bytes, objects): never exported as is.
        return self.text(repr(value)) if not isinstance(value, bytes | bytearray) else {"size": len(value)}

    def top(self, value: object) -> object:
        return self.value(value)


def redact_content(
    content: Mapping[str, object],
    redact: Callable[[str], str],
    max_attribute_bytes: int,
    max_input_chars: int | None = None,
) -> dict[str, str]:
    """Redact every text-bearing string of each attribute's value and serialise it as JSON within the budget.

    Exceptions from ``redact`` propagate: the caller decides to fail closed. More than ``max_input_chars``
    characters of text to redact in all raise `InputTooLongError` before the text over the cap is redacted.
    """
    if max_attribute_bytes < MIN_BUDGET:
        raise ValueError(f"max_bytes must be at least {MIN_BUDGET}, not {max_attribute_bytes}")
    redacting = _Redacting(redact, max_input_chars)
    return {name: _fit(redacting.top(value), max_attribute_bytes) for name, value in content.items()}


def _cut_strings(value: object, limit: int) -> object:
    if isinstance(value, str):
        keep = len(value) <= limit or value.startswith(_OMITTED_PREFIX)
        return value if keep else value[:limit] + TRUNCATION_MARK
    if isinstance(value, dict):
        return {k: _cut_strings(v, limit) if k not in STRUCTURAL_KEYS else v for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(item, limit) for item in value]
    return value


def _longest_string(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((_longest_string(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((_longest_string(v) for v in value), default=0)
    return 0


def _omitted_marker(value: list[object], omitted: int) -> object:
    note = f"{_OMITTED_PREFIX}{omitted} of {len(value)} items omitted]"
    if value and all(isinstance(item, dict) and "role" in item for item in value):
        return {"role": TRUNCATED_ROLE, "parts": [{"type": "text", "content": note}]}
    if value and all(isinstance(item, dict) and "type" in item for item in value):
        return {"type": "text", "content": note}
    return note


def _fit_strings(value: object, max_bytes: int) -> tuple[int, str | None]:
    """Largest per-string length that fits (bisection) and its JSON; ``None`` if even empty strings do not."""
    lo, hi = 0, _longest_string(value)
    best: tuple[int, str | None] = (-1, None)
    while lo <= hi:
        mid = (lo + hi) // 2
        text = _dumps(_cut_strings(value, mid))
        if _byte_len(text) <= max_bytes:
            best, lo = (mid, text), mid + 1
        else:
            hi = mid - 1
    return best


def truncate_json(value: object, max_bytes: int) -> str:
    """``value`` as compact JSON of at most ``max_bytes`` UTF-8 bytes, always valid JSON.

    When it does not fit, strings are cut (each ends with ``…[truncated]``); if that is not enough, trailing
    list items are replaced by one marker (a message with role ``otel_llm.truncated`` for message lists); as a
    last resort the value is the JSON string ``"[truncated]"``. Cuts are made on characters, never inside a
    UTF-8 sequence; lone surrogates become U+FFFD.
    """
    if max_bytes < MIN_BUDGET:
        raise ValueError(f"max_bytes must be at least {MIN_BUDGET}, not {max_bytes}")
    return _fit(_clean(value), max_bytes)


def _fit(value: object, max_bytes: int) -> str:
    """`truncate_json` of a value that is clean already (see `_clean`)."""
    text = _dumps(value)
    if _byte_len(text) <= max_bytes:
        return text
    limit, fitted = _fit_strings(value, max_bytes)
    if fitted is not None and (limit >= _USEFUL_CHARS or not isinstance(value, list)):
        return fitted
    if isinstance(value, list) and value:
        # Keep as many leading items as fit, each cut to a modest length, plus a marker.
        lo, hi, best, kept = 0, len(value) - 1, None, 0
        while lo <= hi:
            keep = (lo + hi) // 2
            trial = [*value[:keep], _omitted_marker(value, len(value) - keep)]
            _, candidate = _fit_strings(trial, max_bytes)
            if candidate is not None:
                best, kept, lo = candidate, keep, keep + 1
            else:
                hi = keep - 1
        if best is not None and (kept > 0 or fitted is None):
            return best
    if fitted is not None:
        return fitted
    return _dumps("[truncated]")


def _clean(value: object) -> object:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float):
        return value
    return clean_text(repr(value))
