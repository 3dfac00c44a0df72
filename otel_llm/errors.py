"""Exceptions otel-llm raises at set-up time (never on the request path)."""

from __future__ import annotations


class OtelLLMError(Exception):
    """Base class of every exception otel-llm raises."""


class ConfigurationError(OtelLLMError, ValueError):
    """Bad configuration, raised when it is loaded, with a message a user can act on."""
