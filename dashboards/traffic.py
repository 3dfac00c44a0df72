"""Instrumented two-variant traffic with shadow, exported over OTLP: feeds the dashboards in tests and in compose.

The demo's simulated OpenAI-compatible servers (control and candidate) answer real ``openai`` SDK calls made
through ``otel_llm.instrument()`` and a :class:`~otel_llm.routing.Router` (A/B split, shadow copies of control
traffic to the candidate, fallback to control, a rollout phase). The demo's judge enricher counts accuracy,
schema checks and filled null fields as ``llm.eval.*`` metrics. Every few requests stream, so time to first
chunk is recorded too.

``python -m dashboards.traffic --otlp http://collector:4317 --loop`` is the compose file's ``demo`` service.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import openai
import yaml
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import otel_llm
from otel_llm.demo.app import EXPERIMENT_ID, SYSTEM_PROMPT, experiments_config, judge_enricher, prices_file
from otel_llm.demo.documents import generate
from otel_llm.demo.scenario import Scenario
from otel_llm.demo.server import VariantServer
from otel_llm.routing import Router

SERVICE_NAME = "invoice-extractor-demo"
#: Rollout of the candidate: phase index 1 of PHASES is the current split.
PHASES = [10.0, 50.0, 100.0]
PHASE = 1


def scenario(requests: int, seed: int = 7, time_scale: float = 0.02) -> Scenario:
    """The demo scenario at a 50/50 split, with error rates high enough to show on an error panel."""
    base = Scenario()
    variants = {
        "control": base.variants["control"].model_copy(update={"error_rate": 0.02}),
        "candidate": base.variants["candidate"].model_copy(update={"error_rate": 0.05, "hallucination_rate": 0.08}),
    }
    return Scenario(
        seed=seed,
        requests=requests,
        documents=min(200, requests),
        concurrency=8,
        time_scale=time_scale,
        split={"control": 100 - PHASES[PHASE], "candidate": PHASES[PHASE]},
        variants=variants,
    )


def experiments_file(sc: Scenario, urls: dict[str, str], path: Path, max_in_flight: int) -> Path:
    """The demo's experiment plus fallback to control and a rollout block; a small shadow ``max_in_flight`` so
    that some shadow copies are dropped (and counted) under load."""
    doc = experiments_config(sc, urls).model_dump(mode="json", exclude_none=True)
    exp = doc["experiments"][0]
    exp["shadow"]["max_in_flight"] = max_in_flight
    exp["fallback"] = {"variant": "control", "on": ["5xx", "timeout", "connect_error"]}
    exp["rollout"] = {"phases": PHASES, "phase": PHASE, "min_samples_per_phase": 100, "status": "running"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class TrafficResult:
    sent: int = 0
    errors: int = 0
    streamed: int = 0
    started: float = 0.0
    finished: float = 0.0
    assignments: dict[str, int] = field(default_factory=dict)


def run(
    otlp_endpoint: str,
    *,
    requests: int = 300,
    seed: int = 7,
    stream_every: int = 3,
    max_in_flight: int = 3,
    export_interval_ms: int = 1000,
    workdir: Path | None = None,
) -> TrafficResult:
    """Send ``requests`` extraction calls; returns once spans and metrics are exported to ``otlp_endpoint``."""
    sc = scenario(requests, seed)
    work = Path(workdir or tempfile.mkdtemp(prefix="otel-llm-traffic-"))
    work.mkdir(parents=True, exist_ok=True)
    invoices = generate(sc.documents, sc.seed)
    by_id = {inv.id: inv for inv in invoices}
    servers = {
        name: VariantServer(name, spec, by_id, seed=sc.seed, time_scale=sc.time_scale).start()
        for name, spec in sc.variants.items()
    }
    resource = Resource.create({"service.name": SERVICE_NAME})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True), schedule_delay_millis=200)
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=otlp_endpoint, insecure=True), export_interval_millis=export_interval_ms
    )
    mp = MeterProvider(metric_readers=[reader], resource=resource)
    otel_llm.instrument(
        tracer_provider=tp,
        meter_provider=mp,
        capture_content=True,
        prices=prices_file(sc, work),
        enrichers=[judge_enricher(by_id, mp)],
    )
    path = experiments_file(sc, {n: s.url for n, s in servers.items()}, work / "experiments.yaml", max_in_flight)
    router = Router(path, meter_provider=mp, seed=sc.seed)
    http_client = httpx2.Client(transport=router.transport(flavour="httpx2"))
    client = openai.OpenAI(
        base_url=servers["control"].url, api_key="sk-demo-not-a-real-key", http_client=http_client, max_retries=0
    )
    rng = random.Random(sc.seed)
    plan = [(i, rng.choice(invoices), f"session-{rng.randrange(requests):06d}") for i in range(requests)]
    result = TrafficResult(started=time.time())

    def one(item: tuple[int, object, str]) -> None:
        i, doc, session = item
        variant = router.assign(EXPERIMENT_ID, session)
        stream = stream_every > 0 and i % stream_every == 0
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": doc.text}]  # type: ignore[attr-defined]
        try:
            if stream:
                chunks = client.chat.completions.create(
                    model=sc.variants["control"].model,
                    messages=messages,  # type: ignore[arg-type]
                    extra_headers={"X-Session-Id": session},
                    stream=True,
                    stream_options={"include_usage": True},
                )
                for _ in chunks:
                    pass
                result.streamed += 1
            else:
                client.chat.completions.create(
                    model=sc.variants["control"].model,
                    messages=messages,  # type: ignore[arg-type]
                    extra_headers={"X-Session-Id": session},
                )
        except openai.APIError:
            result.errors += 1
        result.assignments[variant] = result.assignments.get(variant, 0) + 1
        result.sent += 1

    try:
        with ThreadPoolExecutor(max_workers=sc.concurrency) as pool:
            list(pool.map(one, plan))
    finally:
        deadline = time.monotonic() + 30
        while router.shadows_in_flight() and time.monotonic() < deadline:
            time.sleep(0.02)
        router.close()
        http_client.close()
        otel_llm.uninstrument()
        tp.force_flush(10_000)
        mp.force_flush(10_000)
        tp.shutdown()
        mp.shutdown()
        for s in servers.values():
            s.stop()
    result.finished = time.time()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--otlp", default="http://localhost:4317", help="OTLP/gRPC endpoint of the collector")
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    parser.add_argument("--loop", action="store_true", help="send rounds forever (the compose demo service)")
    parser.add_argument("--pause-s", type=float, default=5.0, help="seconds between rounds with --loop")
    args = parser.parse_args()
    round_no = 0
    while True:
        r = run(args.otlp, requests=args.requests, seed=7 + round_no)
        print(f"round {round_no}: sent {r.sent}, errors {r.errors}, streamed {r.streamed}, {r.assignments}", flush=True)
        round_no += 1
        if not args.loop:
            return
        time.sleep(args.pause_s)


if __name__ == "__main__":
    main()
