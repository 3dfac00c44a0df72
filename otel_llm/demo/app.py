"""The demo app: real openai SDK traffic through ``otel_llm.instrument()`` and the router (SPEC §11)."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openai
import yaml
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span

import otel_llm
from otel_llm import attributes as A
from otel_llm._call import CallInfo
from otel_llm.demo.documents import JSON_SCHEMA, Invoice
from otel_llm.demo.scenario import Scenario
from otel_llm.evaluation import judge_record, schema_from_mapping
from otel_llm.evaluation._metrics import EvalMetrics
from otel_llm.routing import ExperimentsFile, Router

EXPERIMENT_ID = "invoice-extractor-ft"
_DOC_ID = re.compile(r"Document ID: (inv-\d+)")
SYSTEM_PROMPT = (
    "Extract the invoice fields as one JSON object with exactly these keys; use null for anything the "
    "document does not state: " + ", ".join(JSON_SCHEMA["properties"])
)


def experiments_config(scenario: Scenario, urls: dict[str, str]) -> ExperimentsFile:
    variants = []
    for name in ("control", "candidate"):
        spec = scenario.variants[name]
        variants.append(
            {
                "name": name,
                "weight": scenario.split[name],
                "model": spec.model,
                "base_url": urls[name],
                "prompt_version": "v6" if name == "control" else "v6-ft",
            }
        )
    doc = {
        "experiments": [
            {
                "id": EXPERIMENT_ID,
                "assign_by": "header:X-Session-Id",
                "variants": variants,
                "shadow": {
                    "variant": "candidate",
                    "sample": scenario.shadow_sample,
                    "max_in_flight": max(64, scenario.concurrency * 4),
                    "timeout_s": 30,
                },
            }
        ]
    }
    return ExperimentsFile.model_validate(doc)


def prices_file(scenario: Scenario, directory: Path) -> Path | None:
    models = [
        {
            "model": spec.model,
            "input_per_mtok": spec.prices.input_per_mtok,
            "output_per_mtok": spec.prices.output_per_mtok,
        }
        for spec in scenario.variants.values()
        if spec.prices is not None
    ]
    if not models:
        return None
    path = directory / "prices.yaml"
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False), encoding="utf-8")
    return path


def judge_enricher(
    invoices: dict[str, Invoice], meter_provider: MeterProvider | None = None
) -> Callable[[Span, CallInfo], None]:
    """Put the strict judge's verdict on each call's span (raw output, before redaction) and count it in the
    ``llm.eval.*`` metrics (through ``meter_provider``, else the global one)."""
    metrics = EvalMetrics(meter_provider)
    schema = schema_from_mapping(
        {
            **JSON_SCHEMA,
            "properties": {k: {**v, "x-normalise": ["trim", "number"]} for k, v in JSON_SCHEMA["properties"].items()},
        }
    )

    def enrich(span: Span, call: CallInfo) -> None:
        if call.response is None or call.error_type is not None or not call.request.input_messages:
            return
        prompt = json.dumps(call.request.input_messages)
        match = _DOC_ID.search(prompt)
        if match is None or match.group(1) not in invoices:
            return
        doc = invoices[match.group(1)]
        text = "".join(
            part.get("content", "")
            for msg in call.response.output_messages or []
            for part in msg.get("parts", [])
            if part.get("type") == "text"
        )
        try:
            prediction: Any = json.loads(text)
        except ValueError:
            prediction = None
        result = judge_record(prediction, doc.fields, schema, record_id=doc.id)
        span.set_attribute(A.LLM_DOCUMENT_ID, doc.id)
        span.set_attribute(A.LLM_EVAL_FIELDS_TOTAL, result.n_fields)
        span.set_attribute(A.LLM_EVAL_FIELDS_CORRECT, result.n_correct)
        span.set_attribute(A.LLM_EVAL_NULL_FIELDS, result.n_null_fields)
        span.set_attribute(A.LLM_EVAL_NULL_FILLED, result.n_hallucinated)
        if result.schema_valid is not None:
            span.set_attribute(A.LLM_SCHEMA_VALID, result.schema_valid)
        metrics.record(result, getattr(span, "attributes", None))

    return enrich


@dataclass
class AppResult:
    sent: int
    errors: int
    assignments: dict[str, int]


def run_app(  # noqa: PLR0917 - the demo's one entry point
    scenario: Scenario,
    invoices: list[Invoice],
    urls: dict[str, str],
    exporter: SpanExporter,
    out_dir: Path,
    on_progress: Callable[[int], None] = lambda n: None,
) -> AppResult:
    """Send ``scenario.requests`` extraction calls; returns once every span (shadows included) is exported."""
    tp = TracerProvider(resource=Resource.create({"service.name": "invoice-extractor-demo"}))
    tp.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=100_000, max_export_batch_size=512, schedule_delay_millis=500)
    )
    by_id = {inv.id: inv for inv in invoices}
    otel_llm.instrument(
        tracer_provider=tp,
        capture_content=True,
        prices=prices_file(scenario, out_dir),
        enrichers=[judge_enricher(by_id)],
    )
    rng = random.Random(scenario.seed)
    sessions = max(1, int(scenario.requests * 0.8))
    plan = [(rng.choice(invoices), f"session-{rng.randrange(sessions):06d}") for _ in range(scenario.requests)]
    lock = threading.Lock()
    errors = 0
    assignments: dict[str, int] = {}
    router = Router(experiments_config(scenario, urls), seed=scenario.seed)
    http_client = httpx2.Client(
        transport=router.transport(flavour="httpx2"), limits=httpx2.Limits(max_connections=scenario.concurrency * 2)
    )
    client = openai.OpenAI(
        base_url=urls["control"], api_key="sk-demo-not-a-real-key", http_client=http_client, max_retries=0, timeout=60
    )

    def one(item: tuple[Invoice, str]) -> None:
        nonlocal errors
        doc, session = item
        variant = router.assign(EXPERIMENT_ID, session)
        try:
            client.chat.completions.create(
                model=scenario.variants["control"].model,
                messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": doc.text}],
                extra_headers={"X-Session-Id": session},
                temperature=0,
            )
        except openai.APIError:
            with lock:
                errors += 1
        with lock:
            assignments[variant] = assignments.get(variant, 0) + 1
        on_progress(1)

    try:
        with ThreadPoolExecutor(max_workers=scenario.concurrency) as pool:
            list(pool.map(one, plan))
    finally:
        deadline = time.monotonic() + 60
        while router.shadows_in_flight() and time.monotonic() < deadline:
            time.sleep(0.02)  # let the last shadow copies finish: they are part of the test
        router.close()
        http_client.close()
        otel_llm.uninstrument()  # drains the redaction worker
        tp.shutdown()
    return AppResult(sent=len(plan), errors=errors, assignments=assignments)
