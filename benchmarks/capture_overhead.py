"""Request latency with content capture on vs off (issue: redaction; SPEC §13 overhead budget).

One process, real openai SDK (3.x, httpx2) against the benchmark's loopback server in its own process; blocks of
calls alternate between three states — uninstrumented, ``instrument()`` with content off, ``instrument()`` with
content capture on (Presidio redaction on its worker thread) — so drift on a busy machine hits all alike. Prompts
carry PII (an e-mail, a phone number) and differ on every call (an invoice number), so the redactor's cache of
recent texts does not answer them. Besides request latency, each block records the process's CPU time per call
(after waiting for the redaction worker to finish the block's spans) and the CPU time of the redaction threads:
with one Python process that CPU competes with the application's thread for the GIL. Writes
``benchmarks/results/capture_overhead.json`` and ``.md``.

    python benchmarks/capture_overhead.py [--pairs 10] [--block 100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PROMPT = "Please reply to jane.doe@example.org or call +44 20 7946 0958 about invoice INV-{n}: total 1,234.50 EUR."


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--block", type=int, default=100)
    args = p.parse_args(argv)
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

    import openai
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    import otel_llm
    from otel_llm import _instrumentor

    class Count(SpanExporter):
        spans = 0
        redacted = 0

        def export(self, spans):  # type: ignore[no-untyped-def]
            for s in spans:
                Count.spans += 1
                Count.redacted += (s.attributes or {}).get("llm.redaction.status") == "redacted"
            return SpanExportResult.SUCCESS

    server = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "_server.py"), "--cpu", "1"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline().split()[1])  # type: ignore[union-attr]
        tp = TracerProvider()
        tp.add_span_processor(BatchSpanProcessor(Count(), max_queue_size=100_000))
        mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-bench", max_retries=0)
        counter = iter(range(10**9))

        def call() -> None:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": PROMPT.format(n=next(counter))}],
                max_tokens=20,
            )

        def redaction_cpu_ns() -> dict[int, int]:
            """CPU time of each live redaction thread (runner, watchdog), by thread id."""
            times = {}
            for thread in threading.enumerate():
                if thread.name.startswith("otel-llm-redaction") and thread.ident is not None:
                    with contextlib.suppress(OSError):  # the thread ended in between
                        times[thread.ident] = time.clock_gettime_ns(time.pthread_getcpuclockid(thread.ident))
            return times

        def block() -> tuple[float, float, float]:
            """Median latency, process CPU per call and redaction-thread CPU per call, in µs."""
            times = []
            cpu0, red0 = time.process_time_ns(), redaction_cpu_ns()
            for _ in range(args.block):
                t = time.perf_counter_ns()
                call()
                times.append(time.perf_counter_ns() - t)
            _instrumentor.flush()  # the block's redaction work counts towards its CPU time
            cpu = (time.process_time_ns() - cpu0) / args.block / 1000
            red1 = redaction_cpu_ns()  # threads alive at the end; those started in the block began at 0
            red = sum(ns - red0.get(ident, 0) for ident, ns in red1.items()) / args.block / 1000
            return statistics.median(times) / 1000, cpu, red

        def setup(state: str) -> None:
            otel_llm.uninstrument()
            if state != "off":
                otel_llm.instrument(tracer_provider=tp, meter_provider=mp, capture_content=state == "capture")

        for state in ("capture", "content_off", "off"):  # warm-up, builds the Presidio engine once
            setup(state)
            for _ in range(50):
                call()
        medians: dict[str, list[float]] = {"off": [], "content_off": [], "capture": []}
        cpus: dict[str, list[float]] = {"off": [], "content_off": [], "capture": []}
        redaction_cpu: list[float] = []
        for i in range(args.pairs):
            order = ["off", "content_off", "capture"] if i % 2 == 0 else ["capture", "content_off", "off"]
            for state in order:
                setup(state)
                wall, cpu, red = block()
                medians[state].append(wall)
                cpus[state].append(cpu)
                if state == "capture":
                    redaction_cpu.append(red)
        otel_llm.uninstrument()
        tp.force_flush()
    finally:
        server.kill()
    added_off = [a - b for a, b in zip(medians["content_off"], medians["off"], strict=True)]
    added_cap = [a - b for a, b in zip(medians["capture"], medians["off"], strict=True)]
    cpu_off = [a - b for a, b in zip(cpus["content_off"], cpus["off"], strict=True)]
    cpu_cap = [a - b for a, b in zip(cpus["capture"], cpus["off"], strict=True)]
    result = {
        "pairs": args.pairs,
        "block": args.block,
        "baseline_p50_us": statistics.median(medians["off"]),
        "added_p50_us_content_off": statistics.median(added_off),
        "added_p50_us_capture_on": statistics.median(added_cap),
        "capture_minus_off_us": statistics.median([c - o for c, o in zip(added_cap, added_off, strict=True)]),
        "spread_us_capture_on": [min(added_cap), max(added_cap)],
        "added_cpu_us_per_call_content_off": statistics.median(cpu_off),
        "added_cpu_us_per_call_capture_on": statistics.median(cpu_cap),
        "redaction_threads_cpu_us_per_call": statistics.median(redaction_cpu),
        "spans": Count.spans,
        "spans_redacted": Count.redacted,
        "load_average": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "capture_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Request latency with content capture on vs off",
        "",
        f"openai SDK 3.x, loopback server in its own process, {args.pairs} rounds of interleaved blocks of "
        f"{args.block} calls (uninstrumented / content off / capture on); prompts carry an e-mail and a phone "
        f"number. Load average during the run: {', '.join(f'{x:.2f}' for x in result['load_average'])}.",
        "",
        "| state | added p50 latency per call vs uninstrumented | added process CPU per call |",
        "|---|---:|---:|",
        f"| instrument(), content off | {result['added_p50_us_content_off']:+.0f} µs "
        f"| {result['added_cpu_us_per_call_content_off']:+.0f} µs |",
        f"| instrument(capture_content=True), Presidio redaction | {result['added_p50_us_capture_on']:+.0f} µs "
        f"| {result['added_cpu_us_per_call_capture_on']:+.0f} µs |",
        "",
        f"Capture on costs {result['capture_minus_off_us']:+.0f} µs per call over content off on the request path; "
        f"the redaction threads used {result['redaction_threads_cpu_us_per_call']:.0f} µs of CPU per call, which "
        "the application's thread waits for through the GIL. Spans exported: "
        f"{Count.spans}, of which redacted: {Count.redacted}. "
        "SPEC §13's budget is < 150 µs added for content off; see overhead.md for where that stands.",
    ]
    (RESULTS / "capture_overhead.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
