"""The SDK-side metrics of SPEC §4.2, created once per meter provider.

A call that finishes on the app's thread does not record there: its measurements (with the context current at
its end, so exemplars carry the app's trace) wait in :class:`PendingRecords`, and a drainer thread hands them to
the SDK in batches, at most ``_BATCH_S`` after the first of a batch arrived. Three histogram records cost ~40 µs
of SDK work per call (attribute cleaning and hashing on every record); off the request thread that work overlaps
the app's next network wait instead of adding to its latency. The drainer releases the GIL after every
``_SLICE`` records, so an app thread waiting for the GIL waits for one slice at most (one big drain burst moved
the shadow-isolation p99 out of its target; slices do not). Every collection drains first (the cost counter's
callback runs before the SDK reads any instrument), so a reader never misses a finished call.
Calls completed on the background thread (large bodies, shadow copies, garbage collection) record directly.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, MeterProvider, Observation, get_meter

from otel_llm import __version__, _fork, _safety
from otel_llm import attributes as A


class CostTotals:
    """``llm.client.cost`` as running totals per attribute set, reported by an observable counter.

    A counter's exported value is the sum of what was added, so summing here and letting the SDK observe the
    totals at each collection exports the same series as ``Counter.add`` per call, for a dict update instead of
    a trip through the SDK's measurement pipeline (~20 µs per call)."""

    __slots__ = ("__weakref__", "_lock", "_totals")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[tuple[tuple[str, Any], ...], float] = {}
        _fork.reinit_in_children(self)

    def add(self, amount: float, attrs: dict[str, Any]) -> None:
        key = tuple(attrs.items())
        with self._lock:
            self._totals[key] = self._totals.get(key, 0.0) + amount

    def _reinit_after_fork(self) -> None:
        self._lock = threading.Lock()  # a copy of a lock another thread held at fork would stay held

    def observe(self, options: CallbackOptions) -> Iterator[Observation]:
        with self._lock:
            items = list(self._totals.items())
        for key, total in items:
            yield Observation(total, dict(key))


# How long the first finished call of a batch waits before the drainer wakes (a wake-up per call would cost the
# app more than it saves: thread switches), how many records go between two GIL releases, and how many calls may
# wait before calls record where they finish (a drainer starved of CPU must not grow memory without bound).
_BATCH_S = 0.01
_SLICE = 16
_MAX_PENDING = 10_000

Record = tuple[Any, ...]  # the arguments of Instruments.record


class PendingRecords:
    """Finished calls' measurements on their way to the SDK, recorded by a drainer thread (see module doc)."""

    __slots__ = (
        "__weakref__",
        "_armed",
        "_items",
        "_lock",
        "_start_lock",
        "_stopped",
        "_stopping",
        "_thread",
        "_wake",
        "sink",
    )

    def __init__(self, sink: Callable[..., None]) -> None:
        self.sink = sink
        self._reinit_after_fork()
        _fork.reinit_in_children(self)

    def _reinit_after_fork(self) -> None:
        """Also the initial state. In a forked child the parent's waiting records are the parent's to send."""
        self._items: collections.deque[Record] = collections.deque()
        self._lock = threading.Lock()  # held while one record goes to the SDK: drain() elsewhere waits for it
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._armed = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Record) -> None:
        """Queue one call's measurements (hot path: an append, and a wake-up per batch)."""
        items = self._items
        if self._stopping or len(items) >= _MAX_PENDING:
            self.sink(*item)
            return
        items.append(item)
        if self._stopping:  # stop() ran since the check above: its last drain may have missed this one
            self.drain()
            return
        if not self._armed:  # cleared by the drainer before it drains: an item added after that re-arms
            self._armed = True
            if self._thread is None:
                self._start()
            self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stopping:
                thread = threading.Thread(target=self._run, name="otel-llm-metrics", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        wake, stopped = self._wake, self._stopped
        while not stopped.is_set():
            wake.wait()
            if stopped.wait(_BATCH_S):  # the batch's wait; stop() records what is left
                return
            wake.clear()
            self._armed = False
            try:
                self.drain(slices=True)
            except Exception as exc:
                _safety.report("metrics", exc)

    def drain(self, *, slices: bool = False) -> None:
        """Record everything waiting, in this thread. ``slices``: release the GIL every ``_SLICE`` records."""
        pop = self._items.popleft
        lock = self._lock
        sink = self.sink
        n = 0
        while True:
            with lock:
                try:
                    item = pop()
                except IndexError:
                    return
                sink(*item)
            n += 1
            if slices and n % _SLICE == 0:
                time.sleep(0)  # lets a waiting app thread take the GIL

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the drainer and record what is left here; later adds record directly."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
        self.drain()


@dataclass(frozen=True, slots=True)
class Instruments:
    duration: Histogram
    tokens: Histogram
    ttfc: Histogram
    time_per_chunk: Histogram
    cost: CostTotals
    internal_errors: Counter
    pending: PendingRecords

    def record(  # noqa: PLR0917 - one call's measurements, positional on purpose (hot path)
        self,
        attrs: dict[str, Any],
        duration: float,
        inp: int | None,
        out: int | None,
        cost: float | None,
        ttfc: float | None,
        tpc: float | None,
        context: Context | None = None,
    ) -> None:
        """Record one finished call's measurements now (exemplars sample ``context``, default the current one)."""
        try:
            self.duration.record(duration, attrs, context)
            if inp is not None:
                self.tokens.record(inp, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_INPUT}, context)
            if out is not None:
                self.tokens.record(out, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_OUTPUT}, context)
            if cost is not None:
                self.cost.add(cost, attrs)
            if ttfc is not None:
                self.ttfc.record(ttfc, attrs, context)
            if tpc is not None:
                self.time_per_chunk.record(tpc, attrs, context)
        except Exception as exc:
            _safety.report("metrics", exc)


def create(meter_provider: MeterProvider | None) -> Instruments:
    meter: Meter = get_meter("otel_llm", __version__, meter_provider)
    cost = CostTotals()
    pending = PendingRecords(_unbound)

    def observe_cost(options: CallbackOptions) -> Iterator[Observation]:
        # The SDK runs every observable callback before it reads any instrument: drained here, a collection
        # includes every call finished before it.
        pending.drain()
        return cost.observe(options)

    meter.create_observable_counter(
        A.METRIC_COST, callbacks=[observe_cost], unit="USD", description="Estimated cost of LLM calls in US dollars."
    )
    instruments = Instruments(
        duration=meter.create_histogram(
            A.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(A.DURATION_BUCKETS),
        ),
        tokens=meter.create_histogram(
            A.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(A.TOKEN_BUCKETS),
        ),
        ttfc=meter.create_histogram(
            A.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(A.TTFC_BUCKETS),
        ),
        time_per_chunk=meter.create_histogram(
            A.METRIC_TIME_PER_OUTPUT_CHUNK,
            unit="s",
            description="Time between consecutive chunks of a streamed response, after the first.",
            explicit_bucket_boundaries_advisory=list(A.TTFC_BUCKETS),
        ),
        cost=cost,
        internal_errors=meter.create_counter(
            A.METRIC_INTERNAL_ERRORS,
            unit="{error}",
            description="Failures inside otel-llm itself (never raised into the app).",
        ),
        pending=pending,
    )
    pending.sink = instruments.record
    return instruments


def _unbound(*item: Any) -> None:  # pragma: no cover - replaced before create() returns
    raise RuntimeError("PendingRecords used before its instruments exist")
