"""The instrumentation's background thread: finishes calls that should not finish where they ended.

Calls with large kept bodies (parsing would be slow) and calls ended by garbage collection (a finaliser may run
while an SDK lock is held) are completed here; small calls complete inline, which costs less than a thread
hand-off since the GIL serialises the work anyway. ``flush()`` waits until everything queued before it is
done; ``instrument()`` hooks it into the tracer provider's ``force_flush`` and interpreter exit, and
``uninstrument()`` drains it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from otel_llm import _fork, _safety

_Task = tuple[Callable[..., None], tuple[Any, ...]]


class Background:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Task | threading.Event | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        _fork.reinit_in_children(self)

    def _reinit_after_fork(self) -> None:
        """In a forked child the thread does not exist and the queued work is the parent's: start empty."""
        self._queue = queue.SimpleQueue()
        self._thread = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the background thread. Reentrant (safe from ``__del__``); never blocks."""
        self._queue.put((fn, args))
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="otel-llm", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            fn, args = item
            try:
                fn(*args)
            except Exception as exc:
                _safety.report("background", exc)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every task submitted before this call has run."""
        if self._thread is None or self._thread is threading.current_thread():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def shutdown(self, timeout: float = 5.0) -> bool:
        ok = self.flush(timeout)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self._queue.put(None)
            thread.join(timeout)
            self._thread = None
        return ok
