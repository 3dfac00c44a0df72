"""Off-request-thread redaction: a bounded queue, a dispatcher thread, and fail-closed span ending.

The instrumentation keeps a finished LLM span open and hands it over with
``submit(span, end_time_ns, content)``. The dispatcher redacts the content on a runner thread (so that a hung
redactor can be abandoned after ``item_timeout_s``), sets the JSON attributes and
``llm.redaction.status=redacted``, and ends the span with its original end time. Whatever goes wrong — queue
full, timeout, exception, input over the cap, shutdown — the content attributes get `DROPPED_PLACEHOLDER`,
the status is ``dropped``, ``otel_llm.redaction.dropped`` is incremented with a ``reason``, and the span is
still ended and exported. Raw content is never set on a span.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from opentelemetry import metrics

from otel_llm import attributes as attrs
from otel_llm.redaction._content import MIN_BUDGET, count_chars, redact_content
from otel_llm.redaction._presidio import InputTooLongError

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


class _Item:
    __slots__ = ("_claim", "content", "end_time_ns", "span")

    def __init__(self, span: Span, end_time_ns: int | None, content: Mapping[str, object]) -> None:
        self.span = span
        self.end_time_ns = end_time_ns
        self.content = content
        self._claim = threading.Lock()

    def claim(self) -> bool:
        """True exactly once: whoever claims the item ends its span."""
        return self._claim.acquire(blocking=False)


class _Job:
    __slots__ = ("done", "error", "item", "max_bytes", "redactor", "result")

    def __init__(self, item: _Item, redactor: Redactor, max_bytes: int) -> None:
        self.item = item
        self.redactor = redactor
        self.max_bytes = max_bytes
        self.result: dict[str, str] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.result = redact_content(self.item.content, self.redactor.redact, self.max_bytes)
        except BaseException as exc:  # reported to the dispatcher, which fails closed
            self.error = exc
        finally:
            self.done.set()


class _Runner(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="otel-llm-redaction-runner", daemon=True)
        self.inbox: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()

    def run(self) -> None:
        while (job := self.inbox.get()) is not None:
            job.run()


_STOP: Final = object()


class RedactionWorker:
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
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        if item_timeout_s <= 0:
            raise ValueError(f"item_timeout_s must be positive, not {item_timeout_s}")
        if max_attribute_bytes < MIN_BUDGET:
            raise ValueError(f"max_attribute_bytes must be at least {MIN_BUDGET}, not {max_attribute_bytes}")
        self._redactor = redactor
        self._item_timeout_s = item_timeout_s
        self._max_attribute_bytes = max_attribute_bytes
        self._max_input_chars = max_input_chars
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._cond = threading.Condition()
        self._pending = 0
        self._closed = False
        self._deadline: float | None = None
        self._current: _Item | None = None
        self._runner: _Runner | None = None
        self._stuck: list[_Runner] = []
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("otel_llm.redaction")
        self._dropped = meter.create_counter(
            attrs.METRIC_REDACTION_DROPPED,
            unit="{span}",
            description="Spans whose content was dropped because redaction could not finish (fail closed).",
        )
        self._thread = threading.Thread(target=self._loop, name="otel-llm-redaction", daemon=True)
        self._thread.start()

    # --- request thread -------------------------------------------------------------------------------------
    def submit(self, span: Span, end_time_ns: int | None, content: Mapping[str, object]) -> None:
        """Hand over a finished span whose content attributes are to be redacted; ends it later (or now)."""
        try:
            item = _Item(span, end_time_ns, content)
            if self._closed:
                self._drop(item, REASON_SHUTDOWN)
                return
            with self._cond:
                self._pending += 1
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self._done_one()
                self._drop(item, REASON_QUEUE_FULL)
        except Exception:  # never into the app; the content was not set, so ending the span leaks nothing
            logger.debug("redaction submit failed", exc_info=True)
            try:
                span.end(end_time=end_time_ns)
            except Exception:
                logger.debug("ending span failed", exc_info=True)

    # --- control --------------------------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item submitted so far has been ended; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Stop accepting work, drain within ``timeout_s``, end the rest as dropped. True if all drained."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            self._closed = True
            self._deadline = deadline
        drained = self.flush(max(0.0, deadline - time.monotonic()))
        while True:
            try:
                leftover = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(leftover, _Item):
                self._drop(leftover, REASON_SHUTDOWN)
                self._done_one()
        current = self._current
        if current is not None:
            self._drop(current, REASON_SHUTDOWN)
        # Full only if submissions raced in after close; the dispatcher drops those anyway.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)
        self._thread.join(max(0.0, min(0.1, deadline - time.monotonic())))
        if self._runner is not None:
            self._runner.inbox.put(None)
        return drained

    # --- dispatcher thread ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        warm_up = getattr(self._redactor, "warm_up", None)
        if callable(warm_up):
            # Build the engine before the first item, so that building does not count against its timeout.
            try:
                warm_up()
            except Exception:
                logger.debug("redactor warm-up failed", exc_info=True)
        while (item := self._queue.get()) is not _STOP:
            if not isinstance(item, _Item):
                continue
            self._current = item
            try:
                self._process(item)
            except Exception:
                logger.debug("redaction failed", exc_info=True)
                self._drop(item, REASON_ERROR)
            finally:
                self._current = None
                self._done_one()

    def _process(self, item: _Item) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._drop(item, REASON_SHUTDOWN)
            return
        if count_chars(item.content) > self._max_input_chars:
            self._drop(item, REASON_TOO_LONG)
            return
        runner = self._get_runner()
        if runner is None:
            self._drop(item, REASON_TIMEOUT)
            return
        job = _Job(item, self._redactor, self._max_attribute_bytes)
        runner.inbox.put(job)
        if not job.done.wait(self._item_timeout_s):
            runner.inbox.put(None)  # let it exit once the hung call returns; its result is ignored
            self._stuck.append(runner)
            self._runner = None
            self._drop(item, REASON_TIMEOUT)
            return
        if job.error is not None or job.result is None:
            reason = REASON_TOO_LONG if isinstance(job.error, InputTooLongError) else REASON_ERROR
            logger.debug("redactor raised", exc_info=job.error)
            self._drop(item, reason)
            return
        self._finish(item, job.result)

    def _get_runner(self) -> _Runner | None:
        self._stuck = [runner for runner in self._stuck if runner.is_alive()]
        if len(self._stuck) >= MAX_STUCK_RUNNERS:
            return None
        if self._runner is None:
            self._runner = _Runner()
            self._runner.start()
        return self._runner

    # --- ending spans ---------------------------------------------------------------------------------------
    def _finish(self, item: _Item, redacted: Mapping[str, str]) -> None:
        if not item.claim():
            return
        try:
            for name, value in redacted.items():
                item.span.set_attribute(name, value)
            item.span.set_attribute(attrs.LLM_REDACTION_STATUS, attrs.REDACTION_REDACTED)
        except Exception:
            logger.debug("setting redacted attributes failed", exc_info=True)
            self._mark_dropped(item, REASON_ERROR)
        finally:
            self._end(item)

    def _drop(self, item: _Item, reason: str) -> None:
        if not item.claim():
            return
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

    @staticmethod
    def _end(item: _Item) -> None:
        try:
            item.span.end(end_time=item.end_time_ns)
        except Exception:
            logger.debug("ending span failed", exc_info=True)

    def _done_one(self) -> None:
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()
