"""otel-llm: OpenTelemetry plugins for A/B and shadow tests of the LLMs behind your product.

One line records every LLM call made through httpx or httpx2::

    import otel_llm
    otel_llm.instrument()
"""

from __future__ import annotations

__version__ = "0.1.0"

from otel_llm._api import Enricher, instrument, instrument_client, is_instrumented, uninstrument
from otel_llm._call import CallInfo
from otel_llm._hooks import httpx_hooks
from otel_llm._transport import instrument_transport
from otel_llm.enrich.experiment import experiment
from otel_llm.errors import ConfigurationError, OtelLLMError

__all__ = [
    "CallInfo",
    "ConfigurationError",
    "Enricher",
    "OtelLLMError",
    "__version__",
    "experiment",
    "httpx_hooks",
    "instrument",
    "instrument_client",
    "instrument_transport",
    "is_instrumented",
    "uninstrument",
]
