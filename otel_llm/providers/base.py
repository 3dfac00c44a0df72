"""Plain data produced by the provider parsers. No OpenTelemetry and no httpx here.

A provider module turns request bytes into an :class:`LLMRequest`, response bytes (whole JSON, or SSE / NDJSON
streamed chunk by chunk through a :class:`StreamParser`) into an :class:`LLMResponse`. Parsers never raise on
bad input: they return what they could read and leave the rest ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# A message in the GenAI semantic-convention shape:
# {"role": "user", "parts": [{"type": "text", "content": "..."}], "finish_reason"?: "stop"}
Message = dict[str, Any]


@dataclass(slots=True)
class LLMRequest:
    """What the app asked for, read from the request body."""

    operation: str  # attributes.OP_* value
    model: str | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    # Content, filled only when the caller asks for it (capture_content); semconv shapes.
    input_messages: list[Message] | None = None
    system_instructions: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class LLMResponse:
    """What the provider answered. ``None`` means "not reported" and must never become 0."""

    model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    error_type: str | None = None  # an error object inside a 2xx body, e.g. "rate_limit_error"
    output_messages: list[Message] | None = None
    chunks: int = 0  # content-bearing stream events seen (streaming only)


class StreamParser(Protocol):
    """Incremental parser of a streamed response body (SSE or NDJSON)."""

    def feed(self, data: bytes) -> bool:
        """Consume the next bytes as the app reads them.

        Returns True when these bytes completed the first content-bearing event (time to first chunk).
        """
        ...

    def result(self) -> LLMResponse:
        """Everything read so far (callable at any time, also on a stream broken off early)."""
        ...
