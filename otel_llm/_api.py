"""The public functions behind ``otel_llm.instrument()`` and friends."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_llm import _setup
from otel_llm._call import CallInfo
from otel_llm._transport import instrument_transport

Enricher = Callable[[Any, CallInfo], None]


def instrument(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    capture_content: bool | None = None,
    redaction: str | None = None,
    redaction_process: bool | None = None,
    prices: str | os.PathLike[str] | None = None,
    provider_hosts: Mapping[str, str] | None = None,
    stream_include_usage: bool | None = None,
    excluded_urls: Sequence[str] | None = None,
    enrichers: Sequence[Enricher] | None = None,
) -> None:
    """Record every LLM call made through httpx or httpx2 as a GenAI span with metrics. Idempotent.

    Arguments left ``None`` come from ``OTEL_LLM_*`` environment variables, then defaults; bad values raise
    :class:`otel_llm.errors.ConfigurationError` here, never later.

    With ``capture_content=True``, captured content is redacted in one child process by default, so Presidio's
    CPU does not compete with the app for the GIL; if the child cannot be started, on a thread of this process
    instead. ``redaction_process=True`` insists on the child (content is dropped while it cannot run);
    ``redaction_process=False`` always uses a thread of this process (no extra process).

    ``enrichers`` are callables ``(span, call: CallInfo) -> None`` run as each call finishes, before the span
    ends and before content is redacted (e.g. to put a judge's verdict on the span). An enricher that raises is
    logged and counted, never raised into the app.
    """
    kwargs: dict[str, Any] = {
        "tracer_provider": tracer_provider,
        "meter_provider": meter_provider,
        "capture_content": capture_content,
        "redaction": redaction,
        "redaction_process": redaction_process,
        "prices": prices,
        "provider_hosts": provider_hosts,
        "stream_include_usage": stream_include_usage,
        "excluded_urls": excluded_urls,
        "enrichers": enrichers,
    }
    _setup.activate(**{k: v for k, v in kwargs.items() if v is not None})


def uninstrument() -> None:
    """Undo :func:`instrument`: httpx and httpx2 are restored exactly."""
    _setup.deactivate()


def is_instrumented() -> bool:
    return _setup.is_active()


def instrument_client(client: Any, **settings: Any) -> Any:
    """Record the LLM calls of one httpx/httpx2 ``Client`` or ``AsyncClient`` only, without patching globally.

    ``settings`` are those of :func:`instrument` and apply when nothing is set up yet; after ``instrument()``
    the client shares its settings. Returns the client.
    """
    from otel_llm import _state
    from otel_llm._setup import build_state

    if _state.get() is None:
        build_state(**{k: v for k, v in settings.items() if v is not None})
    client._transport = instrument_transport(client._transport)
    for pattern, transport in list(client._mounts.items()):
        if transport is not None:
            client._mounts[pattern] = instrument_transport(transport)
    return client
