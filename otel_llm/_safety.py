"""The one place where otel-llm's own failures are caught, logged at DEBUG and counted.

The app must see exactly what it would see without instrumentation: our bugs never reach it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_log = logging.getLogger("otel_llm")

P = ParamSpec("P")
R = TypeVar("R")

# Set by the instrumentor to the internal-errors counter's ``add``; a plain function keeps this module free of
# OpenTelemetry imports and cheap to call.
_counter: Callable[[int, dict[str, str]], None] | None = None


def set_error_counter(counter: Callable[[int, dict[str, str]], None] | None) -> None:
    global _counter
    _counter = counter


def report(where: str, exc: BaseException) -> None:
    """Log and count an internal failure. Never raises."""
    try:
        _log.debug("otel-llm internal error in %s", where, exc_info=exc)
        if _counter is not None:
            _counter(1, {"location": where, "error.type": type(exc).__name__})
    except Exception:  # pragma: no cover - logging itself failed
        pass


def guarded(where: str, default: R) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: run the function, and on any exception report it and return ``default``."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                report(where, exc)
                return default

        wrapper.__name__ = getattr(fn, "__name__", "guarded")
        wrapper.__doc__ = fn.__doc__
        return wrapper

    return decorate
