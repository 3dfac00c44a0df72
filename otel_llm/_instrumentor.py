"""``LLMInstrumentor``: otel-llm as an OpenTelemetry instrumentor, for ``opentelemetry-instrument`` (the
``opentelemetry_instrumentor`` entry point) and apps that manage instrumentors themselves.

It is a thin door onto ``otel_llm._setup``, which ``otel_llm.instrument()`` uses directly: both see one state,
so ``is_instrumented_by_opentelemetry`` is true exactly while either has instrumented.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_llm import _setup


class LLMInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Records every LLM call made through httpx or httpx2 (any transport) as a GenAI span with metrics."""

    @property
    def _is_instrumented_by_opentelemetry(self) -> bool:
        return _setup.is_active()

    @_is_instrumented_by_opentelemetry.setter
    def _is_instrumented_by_opentelemetry(self, value: bool) -> None:
        pass  # the state is _setup's, shared with otel_llm.instrument()

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        _setup.activate(**kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        _setup.deactivate(kwargs.get("timeout_s", 5.0))
