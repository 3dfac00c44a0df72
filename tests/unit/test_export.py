"""The OTLP JSON-lines exporter writes what the standard protobuf encoding says, in OTLP/JSON form."""

from __future__ import annotations

import base64
import json

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otel_llm.export import OTLPJsonLinesSpanExporter, to_otlp_json


def _spans():
    exporter = InMemorySpanExporter()
    tp = TracerProvider(resource=Resource.create({"service.name": "svc", "k": 3}))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("scope-a", "1.2", schema_url="https://opentelemetry.io/schemas/1.37.0")
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
        with tracer.start_as_current_span(
            "chat m",
            kind=SpanKind.CLIENT,
            links=[Link(parent.get_span_context(), {"l": True})],
            attributes={"s": "x", "i": 7, "f": 0.5, "b": True, "arr": ["a", "b"], "ints": [1, 2], "u": "é"},
        ) as child:
            child.add_event("ev", {"n": 1})
            child.set_status(Status(StatusCode.ERROR, "boom"))
    tp.get_tracer("scope-b").start_span("other").end()
    return list(exporter.get_finished_spans())


def _norm_pb(doc):
    out = {}
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                ids = {k: base64.b64decode(sp[k]).hex() for k in ("traceId", "spanId", "parentSpanId") if k in sp}
                out[ids["spanId"]] = _core({**sp, **ids}, ss["scope"], rs["resource"])
    return out


def _norm_ours(doc):
    return {
        sp["spanId"]: _core(sp, ss["scope"], rs["resource"])
        for rs in doc["resourceSpans"]
        for ss in rs["scopeSpans"]
        for sp in ss["spans"]
    }


def _core(sp, scope, resource):
    attrs = lambda items: {a["key"]: a["value"] for a in items or []}  # noqa: E731
    return {
        "traceId": sp["traceId"],
        "parentSpanId": sp.get("parentSpanId"),
        "name": sp["name"],
        "kind": sp["kind"],
        "start": sp["startTimeUnixNano"],
        "end": sp["endTimeUnixNano"],
        "attributes": attrs(sp.get("attributes")),
        "events": [(e["name"], e["timeUnixNano"], attrs(e.get("attributes"))) for e in sp.get("events", [])],
        "links": [
            (
                base64.b64decode(x["traceId"]).hex() if len(x["traceId"]) != 32 else x["traceId"],
                attrs(x.get("attributes")),
            )
            for x in sp.get("links", [])
        ],
        "status": (sp.get("status", {}).get("code", 0), sp.get("status", {}).get("message")),
        "scope": (scope.get("name"), scope.get("version")),
        "resource": attrs(resource.get("attributes")),
    }


def test_same_content_as_the_protobuf_encoding():
    spans = _spans()
    ours = to_otlp_json(spans)
    reference = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    assert _norm_ours(ours) == _norm_pb(reference)
    json.dumps(ours)  # serialisable


def test_file_is_one_request_per_line(tmp_path):
    path = tmp_path / "spans.jsonl"
    exporter = OTLPJsonLinesSpanExporter(path)
    spans = _spans()
    exporter.export(spans[:2])
    exporter.export(spans[2:])
    exporter.shutdown()
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert sum(
        len(ss["spans"]) for line in lines for rs in json.loads(line)["resourceSpans"] for ss in rs["scopeSpans"]
    ) == len(spans)


def test_lone_surrogates_stay_valid_json(tmp_path):
    tp = TracerProvider()
    exporter = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tp.get_tracer("t").start_span("s", attributes={"u": "a\ud800b"}).end()
    path = tmp_path / "spans.jsonl"
    out = OTLPJsonLinesSpanExporter(path)
    out.export(exporter.get_finished_spans())
    out.shutdown()
    doc = json.loads(path.read_text(encoding="utf-8"))
    [attr] = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    assert attr["value"]["stringValue"] == "a\ud800b"
