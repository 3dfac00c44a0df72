"""Every ``OTEL_LLM_*`` environment variable otel-llm reads. They are read once, when ``instrument()`` runs."""

from __future__ import annotations

from typing import Final

OTEL_LLM_CAPTURE_CONTENT: Final = "OTEL_LLM_CAPTURE_CONTENT"
"""``true`` to record prompts and answers (always redacted before export). Default ``false``."""

OTEL_LLM_REDACTION: Final = "OTEL_LLM_REDACTION"
"""Redaction mode when content is captured: ``presidio`` (default, pattern recognisers + secrets) or ``ner``
(adds PERSON/LOCATION/ORG with a spaCy model). Content is never exported unredacted."""

OTEL_LLM_REDACTION_PROCESS: Final = "OTEL_LLM_REDACTION_PROCESS"
"""Where captured content is redacted. Unset (or ``auto``, the default): in one child Python process with the
Presidio engine, so that its CPU does not compete with the app's threads for the GIL; if that process cannot be
started, on a thread of the app instead (logged). ``true``: always the child process (if it cannot start, content
is dropped, never exported unredacted, and the start is retried). ``false``: always a thread of the app."""

OTEL_LLM_PRICES_FILE: Final = "OTEL_LLM_PRICES_FILE"
"""Path of a prices YAML for self-hosted and fine-tuned models (per-token or GPU-hour amortised)."""

OTEL_LLM_PROVIDER_HOSTS: Final = "OTEL_LLM_PROVIDER_HOSTS"
"""Comma-separated ``host[:port]=provider`` pairs naming self-hosted OpenAI-compatible endpoints,
e.g. ``llm.internal:8000=vllm,localhost:1234=lm_studio``."""

OTEL_LLM_STREAM_INCLUDE_USAGE: Final = "OTEL_LLM_STREAM_INCLUDE_USAGE"
"""``true`` (default) adds ``stream_options.include_usage`` to OpenAI-compatible streaming requests that lack it,
and hides the extra usage-only event from the app, so streamed calls carry token counts and cost."""

OTEL_LLM_EXCLUDED_URLS: Final = "OTEL_LLM_EXCLUDED_URLS"
"""Comma-separated substrings; requests whose URL contains one are passed through unmeasured."""

OTEL_LLM_MAX_BODY_BYTES: Final = "OTEL_LLM_MAX_BODY_BYTES"
"""Largest non-streamed response body parsed for usage (bytes). Larger bodies pass through unparsed."""

OTEL_LLM_REDACTION_HMAC_KEY: Final = "OTEL_LLM_REDACTION_HMAC_KEY"
"""Key for the ``hash`` redaction operator (keyed HMAC, so equal values stay joinable)."""

ALL: Final = (
    OTEL_LLM_CAPTURE_CONTENT,
    OTEL_LLM_REDACTION,
    OTEL_LLM_REDACTION_PROCESS,
    OTEL_LLM_PRICES_FILE,
    OTEL_LLM_PROVIDER_HOSTS,
    OTEL_LLM_STREAM_INCLUDE_USAGE,
    OTEL_LLM_EXCLUDED_URLS,
    OTEL_LLM_MAX_BODY_BYTES,
    OTEL_LLM_REDACTION_HMAC_KEY,
)
