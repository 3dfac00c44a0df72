"""Span exporters shipped with otel-llm.

``OTLPJsonLinesSpanExporter`` writes one OTLP/JSON ``ExportTraceServiceRequest`` per line — the same format as
the Collector's ``file`` exporter — so ``otel-llm report`` reads either.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attrs: Any) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in (attrs or {}).items()]


def _span(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    assert ctx is not None
    out: dict[str, Any] = {
        "traceId": format(ctx.trace_id, "032x"),
        "spanId": format(ctx.span_id, "016x"),
        "name": span.name,
        "kind": span.kind.value + 1,  # OTLP counts from SPAN_KIND_UNSPECIFIED = 0
        "startTimeUnixNano": str(span.start_time or 0),
        "endTimeUnixNano": str(span.end_time or 0),
    }
    if span.parent is not None:
        out["parentSpanId"] = format(span.parent.span_id, "016x")
    if span.attributes:
        out["attributes"] = _attributes(span.attributes)
    if span.events:
        out["events"] = [
            {
                "timeUnixNano": str(e.timestamp),
                "name": e.name,
                **({"attributes": _attributes(e.attributes)} if e.attributes else {}),
            }
            for e in span.events
        ]
    if span.links:
        out["links"] = [
            {
                "traceId": format(link.context.trace_id, "032x"),
                "spanId": format(link.context.span_id, "016x"),
                **({"attributes": _attributes(link.attributes)} if link.attributes else {}),
            }
            for link in span.links
        ]
    status: dict[str, Any] = {}
    if span.status.status_code is StatusCode.OK:
        status["code"] = 1
    elif span.status.status_code is StatusCode.ERROR:
        status["code"] = 2
    if span.status.description:
        status["message"] = span.status.description
    out["status"] = status
    return out


def to_otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The OTLP/JSON form of ``spans`` (one ExportTraceServiceRequest), written directly: going through protobuf
    and its JSON printer costs several times more CPU in the app's process."""
    by_resource: dict[int, tuple[Any, dict[tuple[str, str | None, str | None], list[dict[str, Any]]]]] = {}
    for span in spans:
        resource = span.resource
        entry = by_resource.setdefault(id(resource), (resource, {}))
        scope = span.instrumentation_scope
        key = (scope.name, scope.version, scope.schema_url) if scope is not None else ("", None, None)
        entry[1].setdefault(key, []).append(_span(span))
    resource_spans = []
    for resource, scopes in by_resource.values():
        scope_spans = []
        for (name, version, schema_url), items in scopes.items():
            scope_dict: dict[str, Any] = {"name": name}
            if version:
                scope_dict["version"] = version
            block: dict[str, Any] = {"scope": scope_dict, "spans": items}
            if schema_url:
                block["schemaUrl"] = schema_url
            scope_spans.append(block)
        rs: dict[str, Any] = {
            "resource": {"attributes": _attributes(resource.attributes if resource else {})},
            "scopeSpans": scope_spans,
        }
        if resource is not None and resource.schema_url:
            rs["schemaUrl"] = resource.schema_url
        resource_spans.append(rs)
    return {"resourceSpans": resource_spans}


class OTLPJsonLinesSpanExporter(SpanExporter):
    """Append each exported batch to ``path`` as one line of OTLP/JSON."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a lone surrogate in an attribute becomes a \uXXXX escape: still valid JSON, never a write error
        self._file = self.path.open("a", encoding="utf-8", errors="backslashreplace")
        self._lock = threading.Lock()
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        line = json.dumps(to_otlp_json(spans), separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            if not self._closed:
                self._file.flush()
        return True

    def shutdown(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._file.close()
