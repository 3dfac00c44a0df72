"""otel-llm: OpenTelemetry plugins for A/B and shadow tests of LLMs."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
