"""Where the time of one instrumented call goes: the OpenTelemetry SDK operations SPEC §4 asks for, each timed in
isolation (no HTTP, one process), next to otel-llm's own request and completion paths.

The overhead benchmark compares whole calls against the *floor* (a bare SDK span with the same attributes). This
one says how much of the distance to the floor is the SDK work that SPEC §4.1/§4.2 require on top of that span —
the ``feature_flag.evaluation`` event and one histogram record per measurement (duration, input tokens, output
tokens) — and how much is otel-llm's own code. Every figure is the minimum over repeats of the mean time per
operation (``timeit``): the minimum is the estimate least disturbed by other work on a shared machine.

    python benchmarks/sdk_costs.py [--number 500] [--repeat 25]

Writes ``benchmarks/results/sdk_costs.json`` and ``benchmarks/results/sdk_costs.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from _server import chat_completion_body  # noqa: E402

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You extract invoice fields as JSON."},
    {"role": "user", "content": "Invoice 2024-117 from ACME GmbH, total 1,234.56 EUR, due 2024-12-01."},
]
URL = "http://127.0.0.1:8000/v1/chat/completions"


def _pipeline() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Counting(SpanExporter):  # type: ignore[misc]
        def export(self, spans: Sequence[Any]) -> Any:
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(Counting(), max_queue_size=1 << 22, max_export_batch_size=4096))
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return tp, mp


def _best_interleaved(
    ops: dict[str, tuple[Callable[[], Any], Callable[[], None] | None]], number: int, repeat: int
) -> dict[str, float]:
    """Per operation, the minimum over ``repeat`` runs of the mean µs per call. Runs go round-robin over the
    operations, so each gets the same chances at the machine's quiet moments (``setup`` runs untimed first)."""
    best = {name: float("inf") for name in ops}
    for _ in range(repeat):
        for name, (fn, setup) in ops.items():
            if setup is not None:
                setup()
            t = timeit.timeit(fn, number=number)
            best[name] = min(best[name], t / number * 1e6)
    return best


def measure(number: int, repeat: int) -> dict[str, Any]:
    import httpx2
    from opentelemetry.trace import SpanKind

    import otel_llm
    from otel_llm import _state, _transport
    from otel_llm import attributes as A

    tp, mp = _pipeline()
    otel_llm.instrument(tracer_provider=tp, meter_provider=mp)
    body = json.dumps({"messages": MESSAGES, "model": MODEL, "max_tokens": 300, "temperature": 0.2}).encode()
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "user-agent": "OpenAI/Python",
        "x-stainless-lang": "python",
        "x-stainless-os": "Linux",
        "x-stainless-arch": "x64",
        "x-stainless-runtime": "CPython",
        "x-stainless-retry-count": "0",
        "authorization": "Bearer sk-bench-not-a-key",
    }
    reply = chat_completion_body()

    def request() -> Any:
        return httpx2.Request("POST", URL, headers=headers, content=body)

    def tagged() -> Any:
        return otel_llm.experiment("bench-exp", variant="candidate", prompt_version="v7", subject="session-42")

    # One real call through our paths, to copy the exact attributes ours puts on a span and on metrics.
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    probe_exporter = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(probe_exporter))
    with tagged():
        begun = _transport._begin(request())
    assert begun is not None
    probe = begun[0]
    start_attrs = dict(probe.span.attributes)  # type: ignore[attr-defined]
    probe.on_response(200, "application/json", False)
    probe.feed(reply)
    probe.finish(None)
    [probe_span] = probe_exporter.get_finished_spans()
    end_attrs = {k: v for k, v in probe_span.attributes.items() if k not in start_attrs}
    metric_attrs = dict(probe.metric_attrs)
    probe_exporter.shutdown()  # stops recording; its processor stays but exports nothing more
    n_records = 3  # duration, input tokens, output tokens (cost is an observable counter: no per-call record)

    tracer = tp.get_tracer("sdk-costs")
    kind = SpanKind.CLIENT
    name = f"chat {MODEL}"
    flag = {
        A.FEATURE_FLAG_KEY: "bench-exp",
        A.FEATURE_FLAG_RESULT_VARIANT: "candidate",
        A.FEATURE_FLAG_PROVIDER_NAME: A.FEATURE_FLAG_PROVIDER,
    }
    state = _state.get()
    assert state is not None
    hist = state.instruments.duration  # ours' own instrument: same name, buckets and meter

    def bare() -> None:
        tracer.start_span(name, kind=kind).end()

    def floor() -> None:
        s = tracer.start_span(name, kind=kind, attributes=start_attrs)
        s.set_attributes(end_attrs)
        s.end()

    def floor_event() -> None:
        s = tracer.start_span(name, kind=kind, attributes=start_attrs)
        s.set_attributes(end_attrs)
        s.add_event(A.FEATURE_FLAG_EVENT, flag, timestamp=time.time_ns())
        s.end()

    tokens = state.instruments.tokens
    input_attrs = {**metric_attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_INPUT}
    output_attrs = {**metric_attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_OUTPUT}

    def record() -> None:  # what one non-streaming call records: duration, input and output tokens
        hist.record(0.25, metric_attrs)
        tokens.record(1600, input_attrs)
        tokens.record(300, output_attrs)

    pending: list[Any] = []
    calls: list[Any] = []

    def fill_requests() -> None:
        pending[:] = [request() for _ in range(number)]
        pending.reverse()

    def begin() -> None:
        with tagged():
            b = _transport._begin(pending.pop())
        calls.append(b[0])  # type: ignore[index]

    def fill_calls() -> None:
        fill_requests()
        calls.clear()
        for _ in range(number):
            begin()
        calls.reverse()

    def complete() -> None:
        c = calls.pop()
        c.on_response(200, "application/json", False)
        c.feed(reply)
        c.finish(None)

    for fn in (bare, floor, floor_event, record):  # warm-up
        for _ in range(200):
            fn()

    r = _best_interleaved(
        {
            "bare_span": (bare, None),
            "floor_span": (floor, None),
            "floor_span_with_event": (floor_event, None),
            "histogram_records": (record, None),
            "ours_request_path": (begin, fill_requests),
            "ours_completion": (complete, fill_calls),
        },
        number,
        repeat,
    )
    calls.clear()
    tp.force_flush()
    otel_llm.uninstrument()

    r["event"] = r["floor_span_with_event"] - r["floor_span"]
    r["ours_total"] = r["ours_request_path"] + r["ours_completion"]
    r["required_sdk_work"] = r["floor_span_with_event"] + r["histogram_records"]
    r["ours_own_code"] = r["ours_total"] - r["required_sdk_work"]
    return {
        "micros": r,
        "span_attributes": len(start_attrs) + len(end_attrs),
        "start_attributes": len(start_attrs),
        "end_attributes": len(end_attrs),
        "metric_attributes": len(metric_attrs),
        "histogram_records_per_call": n_records,
    }


def _markdown(out: dict[str, Any]) -> str:
    r = out["micros"]
    floor = r["floor_span"]

    def row(label: str, key: str, note: str = "") -> str:
        return f"| {label} | {r[key]:.1f} | {r[key] / floor:.2f} × | {note} |"

    lines = [
        "# Where the time of one call goes (SDK operations in isolation)",
        "",
        f"{out['when']} · {out['machine']} · Python {out['python']} · opentelemetry-sdk {out['sdk']} · "
        f"min over {out['repeat']} runs of {out['number']} operations, mean µs per operation (no HTTP).",
        "",
        f"Span: {out['start_attributes']} attributes at start + {out['end_attributes']} at the end, copied from a "
        f"real otel-llm span; metrics: {out['histogram_records_per_call']} histogram records per non-streaming call "
        f"with {out['metric_attributes']} attributes each.",
        "",
        "| operation | µs | × floor | note |",
        "|---|---:|---:|---|",
        row("bare SDK span (start + end, no attributes)", "bare_span"),
        row("**floor**: SDK span with ours' attributes", "floor_span", "the overhead benchmark's floor"),
        row("`feature_flag.evaluation` event (SPEC §4.1)", "event", "floor with the event − floor"),
        row(
            f"{out['histogram_records_per_call']} histogram records: duration, input and output tokens (SPEC §4.2)",
            "histogram_records",
        ),
        row(
            "**required SDK work**: floor + event + histogram records",
            "required_sdk_work",
            "what any implementation of SPEC §4 through the SDK API pays",
        ),
        row("ours: request path (`_begin`, inside `experiment()`)", "ours_request_path", "includes the span start"),
        row("ours: completion (parse, attributes, event, cost, metrics, end)", "ours_completion"),
        row("**ours total**", "ours_total"),
        row("ours' own code (ours total − required SDK work)", "ours_own_code"),
        "",
        f"SPEC §13 asks ≤ 1.5 × the floor ({1.5 * floor:.1f} µs here). The SDK work SPEC §4 requires on top of the "
        f"floor span already costs {r['required_sdk_work'] / floor:.2f} × the floor through the OpenTelemetry API "
        f"(the histogram records alone are {r['histogram_records'] / floor:.2f} × the floor): that target cannot be "
        "met while the event and the histogram records go through the OpenTelemetry SDK API, however little the "
        "instrumentation does itself.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--number", type=int, default=500, help="operations per timed run")
    p.add_argument("--repeat", type=int, default=25, help="timed runs per operation (the minimum is kept)")
    args = p.parse_args(argv)
    if args.number < 1 or args.repeat < 1:
        p.error("--number and --repeat must be at least 1")

    from importlib.metadata import version

    out = measure(args.number, args.repeat)
    out.update(
        when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        machine=f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs",
        python=platform.python_version(),
        sdk=version("opentelemetry-sdk"),
        number=args.number,
        repeat=args.repeat,
    )
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    (results / "sdk_costs.json").write_text(json.dumps(out, indent=2) + "\n")
    md = _markdown(out)
    (results / "sdk_costs.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
