"""The SDK-side metrics of SPEC §4.2, created once per meter provider.

Each finished call's histogram records go to the SDK where the call completes (the app's thread for small
calls, the background thread for the rest), in the context current there: exemplars carry the app's trace (the
LLM span's trace) when the app has a span around the call. Passing the LLM span itself as the context costs
~10 µs more per call (an exemplar offer even when the app traces nothing).

Recording on another thread was measured twice and rejected. One drain at collection time took ~80 µs off the
median call but is a burst of SDK work holding the GIL: the shadow-isolation p99 left its target. A drainer thread
recording in batches every 10 ms, releasing the GIL every 16 records, kept shadow isolation within target and
took ~60 µs off the median call, but only by moving the work into fewer calls: in one process, 100 interleaved
rounds of 150 calls, the mean call got 15 µs faster, the p99 215 µs slower, and CPU per call did not change.
A wake-up per call instead made even the median slower (thread switches). Inline recording costs the same CPU,
spread evenly over the calls that cause it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Instruments:
    duration: Histogram
    tokens: Histogram
    ttfc: Histogram
    time_per_chunk: Histogram
    cost: CostTotals
    internal_errors: Counter

    def record(  # noqa: PLR0917 - one call's measurements, positional on purpose (hot path)
        self,
        attrs: dict[str, Any],
        duration: float,
        inp: int | None,
        out: int | None,
        cost: float | None,
        ttfc: float | None,
        tpc: float | None,
    ) -> None:
        """Record one finished call's measurements."""
        try:
            self.duration.record(duration, attrs)
            if inp is not None:
                self.tokens.record(inp, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_INPUT})
            if out is not None:
                self.tokens.record(out, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_OUTPUT})
            if cost is not None:
                self.cost.add(cost, attrs)
            if ttfc is not None:
                self.ttfc.record(ttfc, attrs)
            if tpc is not None:
                self.time_per_chunk.record(tpc, attrs)
        except Exception as exc:
            _safety.report("metrics", exc)


def create(meter_provider: MeterProvider | None) -> Instruments:
    meter: Meter = get_meter("otel_llm", __version__, meter_provider)
    cost = CostTotals()
    meter.create_observable_counter(
        A.METRIC_COST, callbacks=[cost.observe], unit="USD", description="Estimated cost of LLM calls in US dollars."
    )
    return Instruments(
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
    )
