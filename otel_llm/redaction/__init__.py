"""PII and secret redaction of captured message content, off the request thread, failing closed (SPEC §6).

``PresidioRedactor`` detects with Presidio (extra ``presidio``; NER mode needs extra ``ner``) and replaces,
masks or HMAC-hashes what it finds; any callable object with ``redact(text) -> str`` can stand in for it.
``RedactionWorker`` takes finished spans and their content, redacts on a background thread, sets the JSON
attributes and ends the spans — or, when redaction cannot finish, sets `DROPPED_PLACEHOLDER` instead.
``ProcessRedactionWorker`` does the same with the redactor in a child process (no GIL contention with the app).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from otel_llm.redaction._content import InputTooLongError, truncate_json
from otel_llm.redaction._content import redact_content as _redact_content
from otel_llm.redaction._presidio import PresidioRedactor
from otel_llm.redaction._process import ProcessRedactionWorker
from otel_llm.redaction._worker import (
    DEFAULT_MAX_ATTRIBUTE_BYTES,
    DROPPED_PLACEHOLDER,
    RedactionWorker,
)


@runtime_checkable
class Redactor(Protocol):
    """Anything that returns ``text`` with sensitive values removed. It may raise: callers fail closed."""

    def redact(self, text: str) -> str: ...


def redact_content(
    content: Mapping[str, object],
    redactor: Redactor | None = None,
    *,
    max_attribute_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES,
) -> dict[str, str]:
    """The worker's pure part: attribute name → redacted JSON string within the byte budget.

    ``content`` maps ``gen_ai.input.messages``, ``gen_ai.output.messages`` and ``gen_ai.system_instructions``
    to semconv-shaped lists. ``redactor`` defaults to ``PresidioRedactor()``. Exceptions propagate.
    """
    active = redactor if redactor is not None else PresidioRedactor()
    return _redact_content(content, active.redact, max_attribute_bytes)


__all__ = [
    "DROPPED_PLACEHOLDER",
    "InputTooLongError",
    "PresidioRedactor",
    "ProcessRedactionWorker",
    "RedactionWorker",
    "Redactor",
    "redact_content",
    "truncate_json",
]
