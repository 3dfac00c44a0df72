"""The instrumentation's global state, built once by ``instrument()`` and read by the hot path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from otel_llm._background import Background
from otel_llm._metrics import Instruments
from otel_llm.config import Settings
from otel_llm.enrich.cost import CostCalculator


@dataclass(slots=True)
class State:
    settings: Settings
    tracer: Tracer
    instruments: Instruments
    costs: CostCalculator
    background: Background
    redaction_worker: Any | None = None  # otel_llm.redaction.RedactionWorker when content is captured
    enrichers: tuple[Any, ...] = ()  # callables (span, CallInfo) -> None, run when a call finishes


_state: State | None = None


def get() -> State | None:
    return _state


def set_state(state: State | None) -> None:
    global _state
    _state = state
