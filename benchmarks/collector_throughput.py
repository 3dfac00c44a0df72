"""Throughput of the bundled collector with the full default (tag-mode) config on one core.

Runs the built ``collector/bin/otelcol-llm`` with ``collector/config.yaml``, pinned to one CPU
(``GOMAXPROCS=1`` and CPU affinity), exporting to loopback OTLP backends that count every span. The load
generator (on the other CPUs) sends pre-encoded OTLP/gRPC requests at a fixed rate, step by step up a rate
ladder. A step is *sustained* when every span sent was accepted and every one reached a backend (primary +
shadow) within the drain window. Reports the highest sustained rate, the collector's peak RSS and its CPU use.

Usage: ``python benchmarks/collector_throughput.py [--step-seconds 10] [--rates 10000,20000,...]``.
Writes ``benchmarks/results/collector_throughput.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import grpc  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402

from tests.integration.harness import (  # noqa: E402
    TAG_CONFIG,
    Collector,
    OtlpGrpcBackend,
    OtlpHttpBackend,
    find_collector_binary,
)
from tests.integration.traffic import encode_request, synthetic_traces  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
TARGET_SPANS_PER_S = 10_000
TARGET_RSS_MIB = 256
IN_FLIGHT = 16
SPANS_PER_REQUEST = 500  # 250 traces: 2 primary spans each, plus a shadow call for every 5th trace
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Text attributes on every LLM span, so the redaction processor's regexes run as they would in production.
LLM_SPAN_TEXT = {
    "url.full": "https://api.openai.com/v1/chat/completions",
    "gen_ai.response.id": "chatcmpl-9x8y7z6w5v4u3t2s1r0q",
    "http.request.method": "POST",
}


class CountingGrpcBackend(OtlpGrpcBackend):
    """Counts spans without keeping them (the test backends keep every span, which costs memory)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self._lock = threading.Lock()

        count_lock = self._lock
        backend = self

        class _Recorder:
            def add_trace_request(self, request: Any) -> None:
                n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
                with count_lock:
                    backend.count += n

        self.recorder = _Recorder()  # type: ignore[assignment]


class CountingHttpBackend(OtlpHttpBackend):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self._lock = threading.Lock()
        count_lock = self._lock
        backend = self

        class _Recorder:
            def add_trace_request(self, request: Any) -> None:
                n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
                with count_lock:
                    backend.count += n

        self.recorder = _Recorder()  # type: ignore[assignment]


def _proc_stat(pid: int) -> tuple[float, int, int]:
    """(CPU seconds user+system, current RSS KiB, peak RSS KiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return cpu, rss, hwm


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _payloads(count: int) -> list[tuple[bytes, int, int]]:
    """Distinct pre-encoded requests: (bytes, spans in it, shadow spans in it)."""
    out = []
    for seed in range(count):
        _, primary, shadow = synthetic_traces(
            SPANS_PER_REQUEST // 2, "bench-exp", "bench-app", seed=seed, extra_llm_attributes=LLM_SPAN_TEXT
        )
        shadow = shadow[::5]
        spans = primary + shadow
        out.append((encode_request(spans).SerializeToString(), len(spans), len(shadow)))
    return out


def run_step(
    collector: Collector,
    backends: tuple[CountingGrpcBackend, CountingHttpBackend],
    payloads: list[tuple[bytes, int, int]],
    rate: int,
    seconds: float,
    drain_seconds: float,
) -> dict[str, Any]:
    """Send at ``rate`` spans/s for ``seconds``, then wait up to ``drain_seconds`` for the backends."""
    assert collector.process is not None
    pid = collector.process.pid
    channel = grpc.insecure_channel(collector.grpc_endpoint)
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=None,
        response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
    )
    received_before = backends[0].count + backends[1].count
    cpu_before, _, _ = _proc_stat(pid)
    own_before = _own_cpu()
    spans_per_request = payloads[0][1]
    interval = spans_per_request / rate
    sent = refused = 0
    lock = threading.Lock()

    def send(payload: tuple[bytes, int, int]) -> None:
        nonlocal sent, refused
        try:
            export(payload[0], timeout=10)
            with lock:
                sent += payload[1]
        except grpc.RpcError:
            with lock:
                refused += payload[1]

    in_flight = threading.BoundedSemaphore(IN_FLIGHT)

    def send_and_release(payload: tuple[bytes, int, int]) -> None:
        try:
            send(payload)
        finally:
            in_flight.release()

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        i = 0
        while True:
            due = start + i * interval
            now = time.monotonic()
            if now - start >= seconds:
                break
            if due > now:
                time.sleep(due - now)
            in_flight.acquire()  # bounded requests in flight: a slow receiver slows the sender down
            pool.submit(send_and_release, payloads[i % len(payloads)])
            i += 1
    send_elapsed = time.monotonic() - start
    offered = sent + refused
    cpu_sent, _, _ = _proc_stat(pid)
    own_sent = _own_cpu()

    deadline = time.monotonic() + drain_seconds
    while time.monotonic() < deadline:
        if backends[0].count + backends[1].count - received_before >= sent:
            break
        time.sleep(0.05)
    drained_after = time.monotonic() - start - send_elapsed
    received = backends[0].count + backends[1].count - received_before
    cpu_after, rss, hwm = _proc_stat(pid)
    channel.close()
    elapsed = send_elapsed + drained_after
    return {
        "target_spans_per_s": rate,
        "offered_spans": offered,
        "sent_spans": sent,
        "refused_spans": refused,
        "received_spans": received,
        "send_seconds": round(send_elapsed, 3),
        "drain_seconds": round(drained_after, 3),
        "offered_spans_per_s": round(offered / send_elapsed, 1),
        "received_spans_per_s": round(received / elapsed, 1) if elapsed else 0.0,
        "collector_cpu_seconds": round(cpu_after - cpu_before, 2),
        "collector_cpu_percent_of_one_core": round(100 * (cpu_sent - cpu_before) / send_elapsed, 1),
        "collector_cpu_us_per_span": round(1e6 * (cpu_after - cpu_before) / received, 1) if received else None,
        "generator_and_backends_cpu_percent": round(100 * (own_sent - own_before) / send_elapsed, 1),
        "collector_rss_mib": round(rss / 1024, 1),
        "collector_peak_rss_mib": round(hwm / 1024, 1),
        # Sustained: the sender kept 95 % of the target rate (the collector did not push back), nothing was
        # refused, every span reached a backend, and the backlog cleared within 2 s of the last request.
        "sustained": refused == 0
        and received == sent
        and offered >= 0.95 * rate * send_elapsed
        and drained_after <= 2.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10000,15000,20000,25000,30000,40000,50000")
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--drain-seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--config", type=Path, default=TAG_CONFIG, help="collector config (default: tag mode)")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]

    cpus = sorted(os.sched_getaffinity(0))
    collector_cpu = cpus[0]
    if len(cpus) > 1:  # keep the load generator and the backends off the collector's core
        os.sched_setaffinity(0, set(cpus[1:]))

    if not (REPO / "collector" / "bin" / "otelcol-llm").exists():
        subprocess.run([str(REPO / "collector" / "build.sh")], check=True)  # make bench without make collector
    binary = find_collector_binary()
    load_before = round(os.getloadavg()[0], 2)
    primary, shadow = CountingGrpcBackend().start(), CountingHttpBackend().start()
    env = {
        "OTEL_LLM_PRIMARY_ENDPOINT": primary.endpoint,
        "OTEL_LLM_SHADOW_ENDPOINT": shadow.endpoint,
        "OTEL_LLM_PRIMARY_COMPRESSION": "none",
        "OTEL_LLM_SHADOW_COMPRESSION": "none",
        "OTEL_LLM_SPANMETRICS_FLUSH_INTERVAL": "5s",
        "GOMAXPROCS": "1",
    }
    collector = Collector(binary, args.config, env)
    payloads = _payloads(8)
    steps: list[dict[str, Any]] = []
    try:
        collector.start()
        assert collector.process is not None
        os.sched_setaffinity(collector.process.pid, {collector_cpu})
        # Affinity of the already-started Go threads: set it for every thread of the process.
        for tid in os.listdir(f"/proc/{collector.process.pid}/task"):
            os.sched_setaffinity(int(tid), {collector_cpu})
        run_step(collector, (primary, shadow), payloads, rates[0], 2.0, args.drain_seconds)  # warm-up
        for rate in rates:
            step = run_step(collector, (primary, shadow), payloads, rate, args.step_seconds, args.drain_seconds)
            steps.append(step)
            print(json.dumps(step), flush=True)
            if not step["sustained"]:
                break
        _, _, hwm = _proc_stat(collector.process.pid)
    finally:
        collector.stop()
        primary.stop()
        shadow.stop()

    sustained = [s for s in steps if s["sustained"]]
    best = max(sustained, key=lambda s: s["target_spans_per_s"]) if sustained else None
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout.strip()
    result = {
        "benchmark": "collector_throughput",
        "config": str(args.config.relative_to(REPO)) if args.config.is_relative_to(REPO) else args.config.name,
        "collector": version,
        "collector_cpus": 1,
        "gomaxprocs": 1,
        "spans_per_request": payloads[0][1],
        "shadow_share": round(payloads[0][2] / payloads[0][1], 3),
        "step_seconds": args.step_seconds,
        "sustained_spans_per_s": best["target_spans_per_s"] if best else 0,
        "limited_by": _limit(steps),
        "collector_cpu_percent_at_sustained": best["collector_cpu_percent_of_one_core"] if best else None,
        "collector_peak_rss_mib": round(hwm / 1024, 1),
        "collector_cpu_us_per_span_at_sustained": best["collector_cpu_us_per_span"] if best else None,
        "target": {"spans_per_s": TARGET_SPANS_PER_S, "max_rss_mib": TARGET_RSS_MIB},
        "meets_target": bool(best)
        and best["target_spans_per_s"] >= TARGET_SPANS_PER_S
        and hwm / 1024 <= TARGET_RSS_MIB,
        "steps": steps,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m_before": load_before,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "collector_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "collector_throughput.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


def _limit(steps: list[dict[str, Any]]) -> str:
    """What ended the ladder: the collector (losses or back-pressure), the load generator, or nothing."""
    last = steps[-1] if steps else None
    if last is None or last["sustained"]:
        return "none: every step was sustained"
    if last["refused_spans"] or last["received_spans"] != last["sent_spans"]:
        return f"collector: at {last['target_spans_per_s']:,} spans/s it lost or refused spans"
    if last["generator_and_backends_cpu_percent"] >= 90:
        return (
            f"load generator: it could not offer {last['target_spans_per_s']:,} spans/s "
            f"(its process used {last['generator_and_backends_cpu_percent']} % CPU)"
        )
    return (
        f"collector back-pressure: at {last['target_spans_per_s']:,} spans/s its responses slowed the sender to "
        f"{last['offered_spans_per_s']:,.0f} spans/s (no span lost) while the load generator used only "
        f"{last['generator_and_backends_cpu_percent']} % CPU"
    )


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Bundled collector throughput",
        "",
        f"{result['collector']}, {result['config']}, 1 core (GOMAXPROCS=1, pinned), "
        f"{result['spans_per_request']} spans per OTLP/gRPC request, {result['shadow_share']:.0%} shadow spans.",
        "",
        f"- **Sustained: {result['sustained_spans_per_s']:,} spans/s** with sent == received "
        f"(target ≥ {result['target']['spans_per_s']:,})",
        f"- Collector peak RSS: **{result['collector_peak_rss_mib']} MiB** "
        f"(target ≤ {result['target']['max_rss_mib']})",
        f"- Collector CPU at the sustained rate: {result['collector_cpu_percent_at_sustained']} % of one core, "
        f"{result['collector_cpu_us_per_span_at_sustained']} µs of CPU per span",
        f"- Meets target: {'yes' if result['meets_target'] else 'no'}",
        f"- Ladder stopped by: {result['limited_by']}",
        f"- Machine: {result['machine']['cpus']} CPUs, 1-minute load average "
        f"{result['machine']['load_average_1m_before']} before / {result['machine']['load_average_1m_after']} after "
        "(other processes on the machine share the generator's core and can slow the collector's)",
        "",
        "| target spans/s | sent | received | refused | offered spans/s | CPU % of 1 core | CPU µs/span | RSS MiB "
        "| sustained |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for s in result["steps"]:
        lines.append(
            f"| {s['target_spans_per_s']:,} | {s['sent_spans']:,} | {s['received_spans']:,} | {s['refused_spans']:,} "
            f"| {s['offered_spans_per_s']:,.0f} | {s['collector_cpu_percent_of_one_core']} "
            f"| {s['collector_cpu_us_per_span']} "
            f"| {s['collector_rss_mib']} | {'yes' if s['sustained'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
