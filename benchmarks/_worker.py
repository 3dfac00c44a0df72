"""One measured process of the overhead benchmark: one configuration, fresh interpreter, one CPU.

Run by ``benchmarks/overhead.py`` with the Python of the environment under test (the shared ``.venv`` or a
peer's own ``benchmarks/envs/<name>``), so this file imports nothing from the benchmarks package — only the
openai SDK, the OpenTelemetry SDK and whatever the configuration under test needs.

    python benchmarks/_worker.py --config ours --url http://127.0.0.1:PORT/v1 [--cpu 0] [--calls 1500] ...

Sequence: set up an SDK TracerProvider (BatchSpanProcessor → counting no-op exporter) and MeterProvider
(in-memory reader); warm up uninstrumented; read RSS; set up the configuration; warm up again; read RSS; then
time every call with ``time.perf_counter_ns`` in interleaved blocks (non-streaming, short streams, long streams).
Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You extract invoice fields as JSON."},
    {"role": "user", "content": "Invoice 2024-117 from ACME GmbH, total 1,234.56 EUR, due 2024-12-01."},
]


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Telemetry:
    """A real SDK pipeline whose exporter only counts what reaches it."""

    def __init__(self) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        telemetry = self
        self.spans = 0
        self.genai_spans = 0
        self.first_span: Any = None

        class CountingExporter(SpanExporter):  # type: ignore[misc]
            def export(self, spans: Sequence[Any]) -> Any:
                telemetry.spans += len(spans)
                telemetry.genai_spans += sum(1 for s in spans if "gen_ai.operation.name" in (s.attributes or {}))
                if telemetry.first_span is None and spans:
                    telemetry.first_span = spans[0]
                return SpanExportResult.SUCCESS

            def shutdown(self) -> None:
                pass

        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(BatchSpanProcessor(CountingExporter()))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finish(self) -> dict[str, Any]:
        self.tracer_provider.force_flush()
        points = 0
        names: list[str] = []
        data = self.reader.get_metrics_data()
        if data is not None:
            for rm in data.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        names.append(m.name)
                        points += len(m.data.data_points)
        span = self.first_span
        first = None
        if span is not None:
            first = {
                "name": span.name,
                "kind": str(span.kind),
                "attributes": sorted((span.attributes or {}).keys()),
                "events": [e.name for e in span.events],
            }
        return {
            "spans": self.spans,
            "genai_spans": self.genai_spans,
            "metric_points": points,
            "metrics": sorted(set(names)),
            "first_span": first,
        }


# --- configurations --------------------------------------------------------------------------------------------
Call = Callable[[], Any]


Toggle = Callable[[bool], None]
ON = [True]  # read by the floor and by ours' experiment() wrapper: off in the paired mode's "off" blocks


def setup(config: str, tel: Telemetry, client: Any) -> tuple[Call, Call, Call, str, Toggle | None]:
    """Instrument as ``config`` says. Returns (non-streaming call, short stream, long stream, description, toggle):
    ``toggle(False)`` removes the instrumentation and ``toggle(True)`` puts it back (None: cannot be removed)."""
    short_n, long_n = ARGS.short_chunks, ARGS.long_chunks
    completions = client.chat.completions  # the method is looked up per call, as an app does: peers patch it

    def plain() -> Any:
        return completions.create(model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=300)

    def stream(n: int) -> Call:
        def run() -> Any:
            out = 0
            for chunk in completions.create(model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=n, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    out += 1
            if out != n:
                raise AssertionError(f"stream delivered {out} content chunks, expected {n}")
            return out

        return run

    def flag(on: bool) -> None:
        ON[0] = on

    if config == "baseline":
        return plain, stream(short_n), stream(long_n), "no instrumentation", flag

    if config == "ours":
        import otel_llm

        def ours_toggle(on: bool) -> None:
            ON[0] = on
            if on:
                otel_llm.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
            else:
                otel_llm.uninstrument()

        ours_toggle(True)
        experiment = otel_llm.experiment

        def tagged(fn: Call) -> Call:
            def run() -> Any:
                if not ON[0]:
                    return fn()
                with experiment("bench-exp", variant="candidate", prompt_version="v7", subject="session-42"):
                    return fn()

            return run

        return (
            tagged(plain),
            tagged(stream(short_n)),
            tagged(stream(long_n)),
            "otel_llm.instrument() + experiment() per call, cost on, content off",
            ours_toggle,
        )

    if config == "floor":
        floor = floor_calls(tel, completions, short_n, long_n)
        return (*floor, "bare SDK span with the same attributes, by hand", flag)

    if config == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        toggle = peer_toggle(OpenAIInstrumentor(), tel)
        toggle(True)
        return plain, stream(short_n), stream(long_n), "OpenAIInstrumentor (openai-v2), content capture off", toggle

    if config == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        toggle = peer_toggle(OpenAIInstrumentor(), tel)
        toggle(True)
        return (
            plain,
            stream(short_n),
            stream(long_n),
            "OpenLLMetry OpenAIInstrumentor, TRACELOOP_TRACE_CONTENT=false",
            toggle,
        )

    if config == "openlit":
        import openlit
        from opentelemetry import metrics, trace

        # openlit.init() takes no provider: it reuses the global SDK providers when set (else makes its own).
        trace.set_tracer_provider(tel.tracer_provider)
        metrics.set_meter_provider(tel.meter_provider)
        openlit.init(
            capture_message_content=False,
            disable_events=True,
            collect_gpu_stats=False,
            pricing_json=ARGS.openlit_pricing,
        )
        description = "openlit.init(capture_message_content=False, disable_events)"
        return plain, stream(short_n), stream(long_n), description, None

    raise SystemExit(f"unknown configuration {config!r}")


def peer_toggle(instrumentor: Any, tel: Telemetry) -> Toggle:
    def toggle(on: bool) -> None:
        if on:
            instrumentor.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
        else:
            instrumentor.uninstrument()

    return toggle


def floor_calls(tel: Telemetry, completions: Any, short_n: int, long_n: int) -> tuple[Call, Call, Call]:
    """The floor: one SDK span per call, started and ended by hand, carrying the attributes ours carries."""
    from opentelemetry.trace import SpanKind

    tracer = tel.tracer_provider.get_tracer("floor")
    client_kind = SpanKind.CLIENT
    request_attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.temperature": 0.2,
        "server.address": "127.0.0.1",
        "server.port": int(ARGS.url.split(":")[2].split("/")[0]),
        "llm.experiment.id": "bench-exp",
        "llm.variant": "candidate",
        "llm.prompt.version": "v7",
        "llm.route": "primary",
        "llm.subject.hash": "0a1b2c3d4e5f6a7b",
    }

    name = f"chat {MODEL}"
    attrs_for = {n: {**request_attrs, "gen_ai.request.max_tokens": n} for n in (300, short_n, long_n)}

    def plain() -> Any:
        if not ON[0]:
            return completions.create(model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=300)
        span = tracer.start_span(name, kind=client_kind, attributes=attrs_for[300])
        resp = completions.create(model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=300)
        usage = resp.usage
        span.set_attributes(
            {
                "http.response.status_code": 200,
                "gen_ai.response.model": resp.model,
                "gen_ai.response.id": resp.id,
                "gen_ai.response.finish_reasons": [c.finish_reason for c in resp.choices],
                "gen_ai.usage.input_tokens": usage.prompt_tokens,
                "gen_ai.usage.output_tokens": usage.completion_tokens,
                "llm.usage.source": "provider",
                "llm.cost.source": "genai-prices",
                "llm.cost.usd": 0.00042,
                "llm.redaction.status": "skipped",
            }
        )
        span.end()
        return resp

    def stream(n: int) -> Call:
        def bare() -> Any:
            out = 0
            for chunk in completions.create(model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=n, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    out += 1
            return out

        def run() -> Any:
            if not ON[0]:
                return bare()
            span = tracer.start_span(name, kind=client_kind, attributes=attrs_for[n])
            out = 0
            last = None
            for chunk in completions.create(model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=n, stream=True):
                last = chunk
                if chunk.choices and chunk.choices[0].delta.content:
                    out += 1
            span.set_attributes(
                {
                    "http.response.status_code": 200,
                    "gen_ai.response.model": last.model,
                    "gen_ai.response.id": last.id,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "llm.usage.source": "unknown",
                    "llm.cost.source": "unknown",
                    "llm.redaction.status": "skipped",
                }
            )
            span.end()
            if out != n:
                raise AssertionError(f"stream delivered {out} content chunks, expected {n}")
            return out

        return run

    return plain, stream(short_n), stream(long_n)


# --- measurement -----------------------------------------------------------------------------------------------
def timed(fn: Call, n: int, out: list[int], cpu_out: list[int]) -> None:
    """Wall time (perf_counter_ns) of each call, and the process's CPU time (all threads, so the span export
    thread counts) over the same interval: CPU time is what other processes on a busy machine cannot inflate."""
    clock = time.perf_counter_ns
    cpu = time.process_time_ns
    for _ in range(n):
        c0 = cpu()
        t0 = clock()
        fn()
        t1 = clock()
        cpu_out.append(cpu() - c0)
        out.append(t1 - t0)


def main() -> None:
    cpu_note = "not pinned"
    if ARGS.cpu is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {ARGS.cpu})
            cpu_note = f"pinned to CPU {ARGS.cpu}"
        except OSError as exc:
            cpu_note = f"not pinned ({exc})"

    import openai

    tel = Telemetry()
    client = openai.OpenAI(base_url=ARGS.url, api_key="sk-bench-not-a-key", max_retries=0, timeout=30)
    completions = client.chat.completions

    def warm(plain: Call, long_: Call) -> int:
        for _ in range(ARGS.warmup):
            plain()
        n_long = max(1, ARGS.warmup // 10)
        for _ in range(n_long):
            long_()
        return ARGS.warmup + n_long

    def raw_plain() -> Any:
        return completions.create(model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=300)

    def raw_long() -> Any:
        for _chunk in completions.create(
            model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=ARGS.long_chunks, stream=True
        ):
            pass

    warm(raw_plain, raw_long)
    gc.collect()
    rss_before = rss_bytes()
    t_setup = time.perf_counter_ns()
    plain, short, long_, description, toggle = setup(ARGS.config, tel, client)
    setup_ms = (time.perf_counter_ns() - t_setup) / 1e6
    warm_calls = warm(plain, long_)
    gc.collect()
    rss_after = rss_bytes()

    if ARGS.paired:
        paired(plain, short, long_, toggle, tel, openai.__version__, description, cpu_note)
        return

    results: dict[str, list[int]] = {"plain": [], "short": [], "long": []}
    cpu_results: dict[str, list[int]] = {"plain": [], "short": [], "long": []}
    blocks = ARGS.blocks
    for _ in range(blocks):  # interleave the three workloads inside the process too
        timed(plain, ARGS.calls // blocks, results["plain"], cpu_results["plain"])
        timed(short, ARGS.short_calls // blocks, results["short"], cpu_results["short"])
        timed(long_, ARGS.long_calls // blocks, results["long"], cpu_results["long"])
    calls = sum(len(v) for v in results.values())
    gc.collect()
    rss_end = rss_bytes()
    tel_out = tel.finish()

    print(
        json.dumps(
            {
                "config": ARGS.config,
                "description": description,
                "python": sys.version.split()[0],
                "openai": openai.__version__,
                "cpu": cpu_note,
                "setup_ms": setup_ms,
                "rss_before": rss_before,
                "rss_after": rss_after,
                "rss_end": rss_end,
                "instrumented_calls": warm_calls + calls,
                "ns": results,
                "cpu_ns": cpu_results,
                **tel_out,
            }
        )
    )


def paired(
    plain: Call, short: Call, long_: Call, toggle: Toggle | None, tel: Telemetry, version: str, desc: str, cpu: str
) -> None:
    """Paired mode: the same process alternates instrumented and uninstrumented blocks (order random per pair),
    so drift on a busy machine hits both sides of each pair alike. Per pair and state: the median of each
    workload's wall and CPU times, and the mean wall time (work done in bursts shows in the mean, not the median)."""
    import random
    import statistics

    if toggle is None:
        print(json.dumps({"config": ARGS.config, "error": "cannot be uninstrumented in-process"}))
        return
    rng = random.Random(ARGS.pairs)
    pairs = []
    state = True
    on_calls = ARGS.warmup + max(1, ARGS.warmup // 10)  # the warm-up after setup ran instrumented
    for _ in range(ARGS.pairs):
        order = [True, False]
        rng.shuffle(order)
        pair: dict[str, Any] = {}
        for on in order:
            if on != state:
                toggle(on)
                state = on
            for _ in range(10):  # settle after toggling, untimed
                plain()
            walls: dict[str, list[int]] = {"plain": [], "short": [], "long": []}
            cpus: dict[str, list[int]] = {"plain": [], "short": [], "long": []}
            timed(plain, ARGS.calls // ARGS.pairs, walls["plain"], cpus["plain"])
            timed(short, max(1, ARGS.short_calls // ARGS.pairs), walls["short"], cpus["short"])
            timed(long_, max(1, ARGS.long_calls // ARGS.pairs), walls["long"], cpus["long"])
            if on:
                on_calls += 10 + len(walls["plain"]) + len(walls["short"]) + len(walls["long"])
            key = "on" if on else "off"
            pair[key] = {w: statistics.median(v) for w, v in walls.items()}
            pair[key + "_cpu"] = {w: statistics.median(v) for w, v in cpus.items()}
            pair[key + "_mean"] = {w: statistics.fmean(v) for w, v in walls.items()}
        pairs.append(pair)
    if not state:
        toggle(True)
    out = tel.finish()
    print(
        json.dumps(
            {
                "config": ARGS.config,
                "description": desc,
                "openai": version,
                "cpu": cpu,
                "pairs": pairs,
                "instrumented_calls": on_calls,
                **out,
            }
        )
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", required=True)
    p.add_argument("--url", required=True, help="base URL of the loopback server, e.g. http://127.0.0.1:PORT/v1")
    p.add_argument("--cpu", type=int, default=None)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--calls", type=int, default=1500)
    p.add_argument("--short-calls", type=int, default=150)
    p.add_argument("--long-calls", type=int, default=150)
    p.add_argument("--short-chunks", type=int, default=10)
    p.add_argument("--long-chunks", type=int, default=200)
    p.add_argument("--blocks", type=int, default=5)
    p.add_argument("--openlit-pricing", default=None)
    p.add_argument("--paired", action="store_true", help="alternate instrumented/uninstrumented blocks in-process")
    p.add_argument("--pairs", type=int, default=15)
    return p.parse_args(argv)


ARGS: argparse.Namespace

if __name__ == "__main__":
    ARGS = parse_args()
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
