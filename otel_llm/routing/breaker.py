"""Circuit breaker per variant: failure rate over a sliding window, half-open probes after a cooldown.

closed --(calls ≥ min_calls and failure rate ≥ failure_rate within window_s)--> open
open --(cooldown_s elapsed)--> half_open: up to ``half_open_probes`` trial calls are let through
half_open --(a probe succeeds)--> closed (window cleared) | --(a probe fails)--> open (cooldown restarts)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from otel_llm.routing.config import CircuitBreaker

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

_log = logging.getLogger("otel_llm.routing")

OnChange = Callable[[str, str, str], None]  # (name, old_state, new_state)


class Breaker:
    def __init__(
        self,
        name: str,
        cfg: CircuitBreaker,
        on_change: OnChange | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.cfg = cfg
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._events: deque[tuple[float, bool]] = deque()
        self._failures = 0
        self.state = CLOSED
        self._opened_at = 0.0
        self._probes = 0

    def _set(self, new: str) -> None:
        old, self.state = self.state, new
        _log.warning("circuit breaker %s: %s -> %s", self.name, old, new)
        if self._on_change is not None:
            self._on_change(self.name, old, new)

    def _trim(self, now: float) -> None:
        horizon = now - self.cfg.window_s
        ev = self._events
        while ev and ev[0][0] < horizon:
            if not ev.popleft()[1]:
                self._failures -= 1

    def allow(self) -> bool:
        """May a call go to this variant now? In half-open state this reserves a probe slot."""
        if self.state == CLOSED:
            return True
        with self._lock:
            if self.state == OPEN:
                if self._clock() - self._opened_at < self.cfg.cooldown_s:
                    return False
                self._probes = 0
                self._set(HALF_OPEN)
            if self.state == HALF_OPEN:
                if self._probes >= self.cfg.half_open_probes:
                    return False
                self._probes += 1
            return True

    def record(self, ok: bool) -> None:
        now = self._clock()
        with self._lock:
            if self.state == HALF_OPEN:
                self._probes = max(0, self._probes - 1)
                if ok:
                    self._events.clear()
                    self._failures = 0
                    self._set(CLOSED)
                else:
                    self._opened_at = now
                    self._set(OPEN)
                return
            if self.state == OPEN:
                return
            self._events.append((now, ok))
            if not ok:
                self._failures += 1
            self._trim(now)
            n = len(self._events)
            if n >= self.cfg.min_calls and self._failures / n >= self.cfg.failure_rate:
                self._opened_at = now
                self._set(OPEN)
