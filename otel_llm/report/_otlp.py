"""Streaming reader of OTLP JSON lines: one ``ExportTraceServiceRequest`` per line (the collector's ``file``
exporter format).

Only one line is held in memory at a time. Trace ids are hex (OTLP/JSON), base64 is tolerated (protobuf's
generic JSON mapping); int64 values may be strings or numbers; enums may be integers or their names. Files
ending in ``.gz`` are decompressed on the fly.
"""

from __future__ import annotations

import base64
import binascii
import gc
import gzip
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_llm.evaluation import InputFileError

STATUS_ERROR = 2
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


@dataclass(frozen=True, slots=True)
class SpanView:
    """The parts of one span the report reads."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    attributes: Mapping[str, Any]


def any_value(value: Mapping[str, Any]) -> Any:
    """Decode an OTLP/JSON ``AnyValue``."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        flag = value["boolValue"]
        return flag if isinstance(flag, bool) else str(flag).lower() == "true"
    if "arrayValue" in value:
        return [any_value(item) for item in value["arrayValue"].get("values", ())]
    if "kvlistValue" in value:
        return {kv["key"]: any_value(kv.get("value", {})) for kv in value["kvlistValue"].get("values", ())}
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes_of(items: Any) -> dict[str, Any]:
    return {item["key"]: any_value(item.get("value") or {}) for item in items or ()}


def hex_id(raw: Any) -> str:
    """An OTLP/JSON id as lowercase hex; base64 (protobuf JSON mapping) is converted."""
    text = str(raw or "")
    try:
        int(text, 16)
    except ValueError:
        try:
            return base64.b64decode(text, validate=True).hex()
        except (binascii.Error, ValueError):
            return text.lower()
    return text.lower()


def _status(span: Mapping[str, Any]) -> int:
    code = (span.get("status") or {}).get("code", 0)
    if isinstance(code, str):
        return _STATUS_NAMES.get(code, int(code) if code.isdigit() else 0)
    return int(code)


def spans_of_request(request: Mapping[str, Any]) -> Iterator[SpanView]:
    """Every span of one decoded ``ExportTraceServiceRequest``."""
    for resource_spans in request.get("resourceSpans") or ():
        for scope_spans in resource_spans.get("scopeSpans") or ():
            for span in scope_spans.get("spans") or ():
                yield SpanView(
                    trace_id=hex_id(span.get("traceId")),
                    span_id=hex_id(span.get("spanId")),
                    name=str(span.get("name", "")),
                    start_ns=int(span.get("startTimeUnixNano") or 0),
                    end_ns=int(span.get("endTimeUnixNano") or 0),
                    status_code=_status(span),
                    attributes=attributes_of(span.get("attributes")),
                )


def _open(path: Path) -> tuple[io.BufferedReader, io.BufferedIOBase]:
    """(raw file for progress, stream of decompressed bytes)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputFileError(path, f"cannot open: {exc.strerror or exc}") from exc
    if path.suffix == ".gz":
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    return raw, raw


def _decode_line(path: Path, line: bytes, number: int) -> list[SpanView]:
    """The spans of one line. The cyclic garbage collector is paused meanwhile: a decoded line is a tree of
    tens of thousands of fresh containers without cycles (freed by reference counting), and letting the
    collector traverse them again and again roughly doubled the time to read a file."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputFileError(path, f"not a JSON line: {exc}", number) from exc
        if not isinstance(request, dict) or "resourceSpans" not in request:
            raise InputFileError(path, "expected an OTLP ExportTraceServiceRequest with resourceSpans", number)
        try:
            return list(spans_of_request(request))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise InputFileError(path, f"malformed OTLP span data: {exc!r}", number) from exc
    finally:
        if collecting:
            gc.enable()


def iter_spans(path: str | Path, advance: Callable[[int], None] | None = None) -> Iterator[SpanView]:
    """Stream the spans of one OTLP JSON-lines file; ``advance(bytes_read)`` reports progress."""
    path = Path(path)
    raw, stream = _open(path)
    position = 0
    try:
        for number, line in enumerate(stream, start=1):
            if advance is not None:
                now = raw.tell()
                advance(now - position)
                position = now
            if not line.strip():
                continue
            yield from _decode_line(path, line, number)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputFileError(path, f"cannot read: {exc}") from exc
    finally:
        stream.close()
        raw.close()
