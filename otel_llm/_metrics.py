"""The SDK-side metrics of SPEC §4.2, created once per meter provider.

A call finished on the app's thread does not push its measurements through the SDK there: ``record()`` appends
one tuple to a queue (well under a microsecond) and the queue is drained into the SDK's histograms

- at every metric collection, by the callback of the observable ``llm.client.cost`` counter, which the SDK runs
  before it reads the synchronous instruments, so a collection always includes every call finished before it;
- on the instrumentation's background thread once ``DRAIN_AT`` calls are waiting (memory and the burst of work
  stay bounded when nothing collects, or collects rarely);
- by ``flush()`` and ``uninstrument()``.

Calls completed on the background thread (shadow copies, large bodies) are already off the request path: their
measurements go to the SDK at once, so a busy shadow does not make the drains bigger.

Each histogram record costs ~16 µs in the SDK in isolation and ~35 µs inside a real call (attribute cleaning,
hashing, aggregation, exemplar offer); three per call were a third of the instrumentation's time on the request
path. Exemplars still point at the call's own span: each record is made with the span's context. Their
timestamp is the time of the drain, not of the call.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, MeterProvider, Observation, get_meter

from otel_llm import __version__, _fork, _safety
from otel_llm import attributes as A

# calls waiting before the background thread is asked to drain them into the SDK (a bounded burst of work)
DRAIN_AT = 128
# records handed to the SDK between two moments where the draining thread lets others take the GIL
_YIELD_EVERY = 16

# (metric attributes, duration s, input tokens, output tokens, cost USD, time to first chunk s,
#  time per output chunk s, the call's span)
_Pending = tuple[dict[str, Any], float, int | None, int | None, float | None, float | None, float | None, Any]


class CostTotals:
    """``llm.client.cost`` as running totals per attribute set, reported by an observable counter.

    A counter's exported value is the sum of what was added, so summing here and letting the SDK observe the
    totals at each collection exports the same series as ``Counter.add`` per call, for a dict update instead of
    a trip through the SDK's measurement pipeline."""

    __slots__ = ("_lock", "_totals")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[tuple[tuple[str, Any], ...], float] = {}

    def add(self, amount: float, attrs: dict[str, Any]) -> None:
        key = tuple(attrs.items())
        with self._lock:
            self._totals[key] = self._totals.get(key, 0.0) + amount

    def observations(self) -> list[Observation]:
        with self._lock:
            items = list(self._totals.items())
        return [Observation(total, dict(key)) for key, total in items]


@dataclass(eq=False, slots=True, weakref_slot=True)
class Instruments:
    duration: Histogram
    tokens: Histogram
    ttfc: Histogram
    time_per_chunk: Histogram
    internal_errors: Counter
    # runs a drain off the request path (the instrumentation's background thread); None: drain in place
    schedule: Callable[[Callable[[], None]], None] | None = None
    cost: CostTotals = field(default_factory=CostTotals, init=False)
    _pending: deque[_Pending] = field(default_factory=deque, init=False)
    _drain_asked: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        _fork.reinit_in_children(self)

    def _reinit_after_fork(self) -> None:
        """In a forked child: the queued records are the parent's (it hands them to the SDK), so start empty."""
        self._pending = deque()
        self._drain_asked = False
        self.cost._lock = threading.Lock()  # a copy of a lock another thread held at fork would stay held

    def record(  # noqa: PLR0917 - one call's measurements, positional on purpose (hot path)
        self,
        attrs: dict[str, Any],
        duration: float,
        inp: int | None,
        out: int | None,
        cost: float | None,
        ttfc: float | None,
        tpc: float | None,
        span: Any,
        *,
        now: bool = False,
    ) -> None:
        """Queue one finished call's measurements; they reach the SDK at the next drain. ``now=True`` (a call
        completed on the background thread, already off the request path) hands them to the SDK at once."""
        entry = (attrs, duration, inp, out, cost, ttfc, tpc, span)
        if now:
            self._hand_over(entry)
            return
        pending = self._pending
        pending.append(entry)
        if len(pending) >= DRAIN_AT and not self._drain_asked:
            self._drain_asked = True
            if self.schedule is None:
                self.drain()
            else:
                self.schedule(self.drain)

    def drain(self) -> None:
        """Hand every queued measurement to the SDK. Safe from any thread, concurrently with ``record()``."""
        self._drain_asked = False
        pending = self._pending
        done = 0
        while pending:
            done += 1
            if done % _YIELD_EVERY == 0:
                time.sleep(0)  # an app thread waiting for the GIL gets it now, not after the whole drain
            try:
                entry = pending.popleft()
            except IndexError:  # another thread drained the last one
                return
            self._hand_over(entry)

    def _hand_over(self, entry: _Pending) -> None:
        attrs, duration, inp, out, cost, ttfc, tpc, span = entry
        try:
            context = trace.set_span_in_context(span)
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

    def observe_cost(self, options: CallbackOptions) -> Iterator[Observation]:
        """The ``llm.client.cost`` callback, run by the SDK at each collection before it reads the histograms:
        drains the queue first, so the collection sees every call finished before it."""
        self.drain()
        yield from self.cost.observations()


def create(meter_provider: MeterProvider | None) -> Instruments:
    meter: Meter = get_meter("otel_llm", __version__, meter_provider)
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
        internal_errors=meter.create_counter(
            A.METRIC_INTERNAL_ERRORS,
            unit="{error}",
            description="Failures inside otel-llm itself (never raised into the app).",
        ),
    )
    meter.create_observable_counter(
        A.METRIC_COST,
        callbacks=[instruments.observe_cost],
        unit="USD",
        description="Estimated cost of LLM calls in US dollars.",
    )
    return instruments
