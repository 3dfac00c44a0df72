"""THE instrumentation hook of the router: every transport the router sends through is wrapped here.

The router decides the variant and sets :class:`~otel_llm.enrich.experiment.ExperimentContext`; the wrapped
transport (``otel_llm._transport.instrument_transport``) reads that context and creates the one GenAI span
per call — for the primary, the fallback and the shadow copy alike. After starting a span it puts the span
context on ``request.extensions["otel_llm.span_context"]``, which the router reads to link the shadow span to
the primary.
"""

from __future__ import annotations

import logging
from typing import TypeVar

T = TypeVar("T")

SPAN_CONTEXT_EXTENSION = "otel_llm.span_context"

_log = logging.getLogger("otel_llm.routing")


def instrument(transport: T) -> T:
    """Wrap ``transport`` with the instrumentation (a pass-through until ``otel_llm.instrument()`` runs)."""
    try:
        from otel_llm._transport import instrument_transport
    except ImportError as exc:  # pragma: no cover - only while the core is absent
        _log.debug("instrumentation core unavailable; router transport not instrumented: %r", exc)
        return transport
    wrapped: T = instrument_transport(transport)
    return wrapped
