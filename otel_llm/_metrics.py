"""The SDK-side metrics of SPEC §4.2, created once per meter provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider, get_meter

from otel_llm import __version__
from otel_llm import attributes as A


@dataclass(frozen=True, slots=True)
class Instruments:
    duration: Histogram
    tokens: Histogram
    ttfc: Histogram
    time_per_chunk: Histogram
    cost: Counter
    internal_errors: Counter


def create(meter_provider: MeterProvider | None) -> Instruments:
    meter: Meter = get_meter("otel_llm", __version__, meter_provider)
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
        cost=meter.create_counter(A.METRIC_COST, unit="USD", description="Estimated cost of LLM calls in US dollars."),
        internal_errors=meter.create_counter(
            A.METRIC_INTERNAL_ERRORS,
            unit="{error}",
            description="Failures inside otel-llm itself (never raised into the app).",
        ),
    )


def record(  # noqa: PLR0917 - one call's measurements, positional on purpose (hot path)
    ins: Instruments,
    attrs: dict[str, Any],
    duration: float,
    inp: int | None,
    out: int | None,
    cost: float | None,
    ttfc: float | None,
    tpc: float | None,
) -> None:
    """Record one finished call's measurements (on the background thread)."""
    ins.duration.record(duration, attrs)
    if inp is not None:
        ins.tokens.record(inp, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_INPUT})
    if out is not None:
        ins.tokens.record(out, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_OUTPUT})
    if cost is not None:
        ins.cost.add(cost, attrs)
    if ttfc is not None:
        ins.ttfc.record(ttfc, attrs)
    if tpc is not None:
        ins.time_per_chunk.record(tpc, attrs)
