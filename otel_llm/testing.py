"""Helpers for users' own tests: assert on the experiment telemetry your app produces.

from otel_llm.testing import capture_spans

with capture_spans() as spans:
    client.chat.completions.create(...)
assert spans[0].attributes["llm.variant"] == "candidate"
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm import _api
from otel_llm._setup import activate, active_kwargs, flush


class CapturedSpans(list[ReadableSpan]):
    """The LLM spans finished inside ``capture_spans()``; refreshed on every access via :meth:`refresh`."""

    def __init__(self, exporter: InMemorySpanExporter, reader: InMemoryMetricReader) -> None:
        super().__init__()
        self._exporter = exporter
        self.metric_reader = reader

    def refresh(self) -> CapturedSpans:
        flush()
        self[:] = list(self._exporter.get_finished_spans())
        return self

    def metrics(self) -> dict[str, list[Any]]:
        """Data points by metric name, collected now."""
        flush()
        data = self.metric_reader.get_metrics_data()
        result: dict[str, list[Any]] = {}
        if data is None:
            return result
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    result.setdefault(metric.name, []).extend(metric.data.data_points)
        return result


@contextmanager
def capture_spans(**settings: Any) -> Iterator[CapturedSpans]:
    """Instrument with in-memory exporters for the block; yields the finished spans (a live list).

    Any keyword is passed to :func:`otel_llm.instrument` (e.g. ``capture_content=True``). The global tracer and
    meter providers are left alone. An instrumentation that was active before the block is put back afterwards
    as it was set up (same providers and settings).
    """
    was = _api.is_instrumented()
    previous = active_kwargs() if was else {}
    if was:
        _api.uninstrument()
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    captured = CapturedSpans(exporter, reader)
    _api.instrument(tracer_provider=tp, meter_provider=mp, **settings)
    try:
        yield captured
    finally:
        _api.uninstrument()
        tp.shutdown()
        captured.refresh()
        if was:
            activate(**previous)
