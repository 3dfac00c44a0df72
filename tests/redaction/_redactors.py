"""Redactors for the redaction-process tests. They are pickled into the child, which imports this module."""

from __future__ import annotations

import time
from typing import Any


class Slow:
    """The real Presidio redactor, ``delay_s`` slower per text (keeps items in flight long enough to kill)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._inner: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"delay_s": self.delay_s, "_inner": None}

    def warm_up(self) -> None:
        from otel_llm.redaction import PresidioRedactor

        self._inner = PresidioRedactor()
        self._inner.warm_up()

    def redact(self, text: str) -> str:
        time.sleep(self.delay_s)
        return str(self._inner.redact(text))


class Hang:
    """Never answers (within any test's patience)."""

    def redact(self, text: str) -> str:
        time.sleep(3600)
        return ""


class BrokenStart:
    """The child cannot build it: its warm-up raises, so the process exits before it is ready."""

    def warm_up(self) -> None:
        raise RuntimeError("no engine here")

    def redact(self, text: str) -> str:
        return text
