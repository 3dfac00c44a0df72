"""Off-request-thread redaction: a bounded queue, a runner thread, a watchdog, and fail-closed span ending.

The instrumentation keeps a finished LLM span open and hands it over with
``submit(span, end_time_ns, content)``. The runner thread takes items straight off the queue (several per
wake-up when they have piled up), redacts the content, sets the JSON attributes and
``llm.redaction.status=redacted``, and ends the span with its original end time. A watchdog thread, polling
only while work is in flight, fails an item that runs longer than ``item_timeout_s`` and hands the queue to a
fresh runner (the hung one is abandoned and exits when its call returns). Whatever goes wrong — queue full,
timeout, exception, input over the cap, shutdown — the content attributes get `DROPPED_PLACEHOLDER`, the
status is ``dropped``, ``otel_llm.redaction.dropped`` is incremented with a ``reason``, and the span is still
ended and exported. Raw content is never set on a span.

One hand-off per item (submit → runner) instead of three (submit → dispatcher → runner → dispatcher): in one
Python process every thread wake-up is also a GIL hand-off that the application's own thread pays for.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from opentelemetry import metrics

from otel_llm import attributes as attrs
from otel_llm._fork import reinit_in_children
from otel_llm.redaction._content import MIN_BUDGET, InputTooLongError, redact_content

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span

    from otel_llm.redaction import Redactor

logger = logging.getLogger(__name__)

DROPPED_PLACEHOLDER: Final = "[REDACTED: dropped]"
# Attribute on the dropped counter (low cardinality: one of the REASON_* values).
DROP_REASON: Final = "reason"
REASON_QUEUE_FULL: Final = "queue_full"
REASON_TIMEOUT: Final = "timeout"
REASON_ERROR: Final = "error"
REASON_TOO_LONG: Final = "too_long"
REASON_SHUTDOWN: Final = "shutdown"

DEFAULT_QUEUE_SIZE: Final = 1024
DEFAULT_ITEM_TIMEOUT_S: Final = 2.0
DEFAULT_MAX_ATTRIBUTE_BYTES: Final = 32 * 1024
DEFAULT_MAX_INPUT_CHARS: Final = 1_000_000
# Runner threads left behind by timed-out items; at this many still running, items are dropped at once.
MAX_STUCK_RUNNERS: Final = 2
# The watchdog looks at the item in progress this often (at most; a quarter of the item timeout if shorter)...
WATCH_INTERVAL_S: Final = 0.25
# ...and after this many looks with nothing in flight, sleeps until the next submission.
_IDLE_LOOKS: Final = 8


class _Item:
    __slots__ = ("_claim", "content", "end_time_ns", "span")

    def __init__(self, span: Span, end_time_ns: int | None, content: Mapping[str, object]) -> None:
        self.span = span
        self.end_time_ns = end_time_ns
        self.content = content
        self._claim = threading.Lock()

    def claim(self) -> bool:
        """True exactly once: whoever claims the item ends its span (and settles its count)."""
        return self._claim.acquire(blocking=False)


_STOP: Final = object()


class _Runner(threading.Thread):
    """Takes items off the worker's queue and redacts them, until told to stop or abandoned by the watchdog."""

    def __init__(self, worker: RedactionWorker) -> None:
        super().__init__(name="otel-llm-redaction", daemon=True)
        self.worker = worker
        # (item, monotonic start) while an item is being redacted: read by the watchdog, assigned as one tuple.
        self.current: tuple[_Item, float] | None = None
        self.abandoned = False

    def run(self) -> None:
        worker = self.worker
        worker.warm_up()
        get = worker._queue.get
        while not self.abandoned:
            item = get()
            if item is _STOP:
                return
            if not isinstance(item, _Item):
                continue
            self.current = (item, time.monotonic())
            try:
                worker._process(item)
            except BaseException:  # never let one item stop the runner; fail closed
                logger.debug("redaction failed", exc_info=True)
                worker._drop(item, REASON_ERROR)
            finally:
                self.current = None


class SpanEnder:
    """What both redaction backends share: the pending count, ``submit``/``flush``, and fail-closed span ending.

    A subclass hands accepted items to its backend in ``_enqueue`` and, for each, eventually calls
    `_finish` (redacted attributes) or `_drop` (placeholder, ``dropped`` status and a count); either ends the
    span exactly once and settles the pending count.
    """

    def __init__(
        self, *, queue_size: int, item_timeout_s: float, max_attribute_bytes: int, meter_provider: MeterProvider | None
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        if item_timeout_s <= 0:
            raise ValueError(f"item_timeout_s must be positive, not {item_timeout_s}")
        if max_attribute_bytes < MIN_BUDGET:
            raise ValueError(f"max_attribute_bytes must be at least {MIN_BUDGET}, not {max_attribute_bytes}")
        self._item_timeout_s = item_timeout_s
        self._max_attribute_bytes = max_attribute_bytes
        # Bounded by the pending count (queued or in progress), so that the queue itself can be the C one.
        self._queue_size = queue_size
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # flush() waiters: notified when nothing is pending
        self._pending = 0
        self._closed = False
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("otel_llm.redaction")
        self._dropped = meter.create_counter(
            attrs.METRIC_REDACTION_DROPPED,
            unit="{span}",
            description="Spans whose content was dropped because redaction could not finish (fail closed).",
        )

    def _reinit_after_fork(self) -> None:
        """In a child made by ``os.fork()``: none of the parent's threads exist here, and the items queued or in
        flight are the parent's (it ends their spans), so start empty with fresh locks; subclasses restart their
        threads."""
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending = 0

    # --- request thread -------------------------------------------------------------------------------------
    def submit(self, span: Span, end_time_ns: int | None, content: Mapping[str, object]) -> None:
        """Hand over a finished span whose content attributes are to be redacted; ends it later (or now)."""
        item: _Item | None = None
        try:
            item = _Item(span, end_time_ns, content)
            with self._cond:
                self._pending += 1
                full = self._pending > self._queue_size
                self._submitted()
            if self._closed:
                self._drop(item, REASON_SHUTDOWN)
            elif full:
                self._drop(item, REASON_QUEUE_FULL)
            else:
                self._queue.put(item)
        except Exception:  # never into the app; the content was not set, so ending the span leaks nothing
            logger.debug("redaction submit failed", exc_info=True)
            if item is not None:
                self._drop(item, REASON_ERROR)
            else:
                try:
                    span.end(end_time=end_time_ns)
                except Exception:
                    logger.debug("ending span failed", exc_info=True)

    def _submitted(self) -> None:
        """Called with the lock held after each submission (before the item is queued)."""

    # --- control --------------------------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item submitted so far has been ended; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def _drop_queued(self, reason: str) -> None:
        """End everything still in the queue as dropped (stop markers are put back)."""
        stop = False
        while True:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(queued, _Item):
                self._drop(queued, reason)
            elif queued is _STOP:
                stop = True
        if stop:
            self._queue.put(_STOP)

    # --- ending spans ---------------------------------------------------------------------------------------
    def _finish(self, item: _Item, redacted: Mapping[str, str]) -> None:
        if not item.claim():
            return
        try:
            item.span.set_attributes({**redacted, attrs.LLM_REDACTION_STATUS: attrs.REDACTION_REDACTED})
        except Exception:
            logger.debug("setting redacted attributes failed", exc_info=True)
            self._mark_dropped(item, REASON_ERROR)
        finally:
            self._end(item)

    def _drop(self, item: _Item, reason: str) -> None:
        if item.claim():
            self._fail(item, reason)

    def _fail(self, item: _Item, reason: str) -> None:
        """Placeholder, status and count for an item already claimed, then end it."""
        try:
            self._mark_dropped(item, reason)
        finally:
            self._end(item)

    def _mark_dropped(self, item: _Item, reason: str) -> None:
        try:
            for name in item.content:
                item.span.set_attribute(name, DROPPED_PLACEHOLDER)
            item.span.set_attribute(attrs.LLM_REDACTION_STATUS, attrs.REDACTION_DROPPED)
        except Exception:
            logger.debug("setting the dropped placeholder failed", exc_info=True)
        try:
            self._dropped.add(1, {DROP_REASON: reason})
        except Exception:
            logger.debug("counting a dropped item failed", exc_info=True)

    def _end(self, item: _Item) -> None:
        try:
            item.span.end(end_time=item.end_time_ns)
        except Exception:
            logger.debug("ending span failed", exc_info=True)
        finally:
            with self._cond:
                self._pending -= 1
                if self._pending == 0:
                    self._cond.notify_all()


class RedactionWorker(SpanEnder):
    """Redacts span content on a background thread and ends the spans; fails closed (see module docstring).

    ``submit`` never blocks and never raises. ``flush(timeout)`` waits until everything submitted so far is
    done; ``shutdown(timeout_s)`` stops taking work, drains within the timeout and ends whatever is left as
    dropped. Shut the worker down before the tracer provider, so that the spans it ends are still exported.
    """

    def __init__(
        self,
        redactor: Redactor,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        item_timeout_s: float = DEFAULT_ITEM_TIMEOUT_S,
        max_attribute_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES,
        max_input_chars: int = DEFAULT_MAX_INPUT_CHARS,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        super().__init__(
            queue_size=queue_size,
            item_timeout_s=item_timeout_s,
            max_attribute_bytes=max_attribute_bytes,
            meter_provider=meter_provider,
        )
        self._redactor = redactor
        self._max_input_chars = max_input_chars
        self._wake = threading.Condition(self._lock)  # the watchdog: notified only when it sleeps idle
        self._stopped = False
        self._deadline: float | None = None
        self._watch_idle = False
        self._warm = threading.Lock()
        self._warmed = False
        self._stuck: list[_Runner] = []
        self._start_threads()
        reinit_in_children(self)

    def _start_threads(self) -> None:
        self._runner: _Runner | None = _Runner(self)
        self._runner.start()
        self._watchdog = threading.Thread(target=self._watch, name="otel-llm-redaction-watchdog", daemon=True)
        self._watchdog.start()

    def _reinit_after_fork(self) -> None:
        super()._reinit_after_fork()
        if self._closed:
            return
        self._wake = threading.Condition(self._lock)
        self._warm = threading.Lock()
        self._deadline = None
        self._watch_idle = False
        self._stuck = []
        self._start_threads()

    def _submitted(self) -> None:
        if self._watch_idle:
            self._wake.notify()

    # --- control --------------------------------------------------------------------------------------------
    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Stop accepting work, drain within ``timeout_s``, end the rest as dropped. True if all drained."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            self._closed = True
            self._deadline = deadline
            self._cond.notify_all()
        drained = self.flush(max(0.0, deadline - time.monotonic()))
        self._drop_queued(REASON_SHUTDOWN)
        runner = self._runner
        current = runner.current if runner is not None else None
        if current is not None:
            self._drop(current[0], REASON_SHUTDOWN)
        self._queue.put(_STOP)
        with self._cond:
            self._stopped = True
            self._wake.notify()
        for thread in (runner, self._watchdog):
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, min(0.1, deadline - time.monotonic())))
        return drained

    # --- runner thread --------------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Build the redactor's engine before the first item, so that building does not count against its timeout."""
        with self._warm:
            if self._warmed:
                return
            self._warmed = True
        warm_up = getattr(self._redactor, "warm_up", None)
        if callable(warm_up):
            try:
                warm_up()
            except Exception:
                logger.debug("redactor warm-up failed", exc_info=True)

    def _process(self, item: _Item) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._drop(item, REASON_SHUTDOWN)
            return
        try:
            content, redact = item.content, self._redactor.redact
            result = redact_content(content, redact, self._max_attribute_bytes, self._max_input_chars)
        except BaseException as exc:  # fail closed, whatever it was
            reason = REASON_TOO_LONG if isinstance(exc, InputTooLongError) else REASON_ERROR
            logger.debug("redactor raised", exc_info=exc)
            self._drop(item, reason)
            return
        self._finish(item, result)

    # --- watchdog thread ------------------------------------------------------------------------------------
    def _watch(self) -> None:
        interval = min(WATCH_INTERVAL_S, self._item_timeout_s / 4)
        idle = 0
        while True:
            with self._cond:
                if self._stopped:
                    return
                if self._pending == 0:
                    idle += 1
                    if idle >= _IDLE_LOOKS:
                        # Nothing in flight for a while: sleep until a submission (or shutdown) wakes us.
                        self._watch_idle = True
                        self._wake.wait_for(lambda: self._pending > 0 or self._stopped)
                        self._watch_idle = False
                        idle = 0
                        continue
                else:
                    idle = 0
                self._wake.wait(interval)  # nobody notifies this while busy: a plain sleep, cut short by stop
            try:
                self._check()
            except Exception:
                logger.debug("redaction watchdog failed", exc_info=True)

    def _check(self) -> None:
        runner = self._runner
        if runner is not None:
            current = runner.current
            if current is None:
                return
            item, started = current
            if time.monotonic() - started < self._item_timeout_s or not item.claim():
                return
            # Timed out and claimed here: the runner's own result, whenever it comes, is ignored.
            runner.abandoned = True
            self._runner = None
            self._stuck.append(runner)
            self._fail(item, REASON_TIMEOUT)
        self._stuck = [stuck for stuck in self._stuck if stuck.is_alive()]
        if len(self._stuck) < MAX_STUCK_RUNNERS:
            self._runner = _Runner(self)
            self._runner.start()
            return
        # Too many runners hung: fail what is queued now rather than let it wait.
        while True:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(queued, _Item):
                self._drop(queued, REASON_TIMEOUT)
            elif queued is _STOP:
                self._queue.put(_STOP)
                return
