"""Exemplars end to end: an instrumented app -> the real collector (tag mode) -> Prometheus -> a trace id.

The span_metrics connector attaches the trace id of flushed spans to the duration and calls data points, the
Prometheus exporter exposes them in the OpenMetrics format, and a Prometheus with exemplar storage keeps them.
``/api/v1/query_exemplars`` must then return, on ``llm_span_duration_seconds_bucket`` and
``llm_span_calls_total``, ``trace_id`` labels that are trace ids the app itself produced: the ids a Grafana
panel's exemplar link opens in Tempo. The generated dashboards' exemplar-enabled panel queries are asked the same
way Grafana asks (``query_exemplars`` with the panel's expression), and must return those trace ids too.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dashboards import render
from dashboards.generate import GENERATED
from otel_llm import attributes as A
from tests.integration.conftest import collector_env
from tests.integration.harness import TAG_CONFIG, Prometheus, http_get, wait_until
from tests.integration.test_instrumented_app import shadowed_traffic

pytestmark = pytest.mark.integration

CALLS = 6


def exemplar_panel_targets(generated: Path = GENERATED) -> list[tuple[str, str]]:
    """``(panel title, expr)`` of every generated panel target with ``exemplar: true``."""
    out = []
    for path in sorted(generated.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            out += [(panel["title"], t["expr"]) for t in panel.get("targets", []) if t.get("exemplar")]
    return out


def query_exemplars(prometheus: Prometheus, expr: str, start: float) -> list[dict[str, Any]]:
    """``/api/v1/query_exemplars`` from ``start`` to now: ``[{seriesLabels, exemplars: [{labels, value, ...}]}]``."""
    params = urllib.parse.urlencode({"query": expr, "start": f"{start:.3f}", "end": f"{time.time() + 60:.3f}"})
    status, body = http_get(f"{prometheus.url}/api/v1/query_exemplars?{params}")
    payload = json.loads(body)
    assert status == 200 and payload.get("status") == "success", payload
    return list(payload["data"] or [])


def exemplar_trace_ids(result: list[dict[str, Any]]) -> dict[str, set[str]]:
    """``{llm_route: {trace_id of every exemplar on that route's series}}``."""
    by_route: dict[str, set[str]] = {}
    for series in result:
        route = series["seriesLabels"].get("llm_route", "")
        by_route.setdefault(route, set()).update(e["labels"].get("trace_id", "") for e in series["exemplars"])
    return by_route


def test_span_metric_exemplars_carry_the_apps_trace_ids(start_collector, start_prometheus, grpc_backend, http_backend):
    primary, shadow = grpc_backend(), http_backend()
    collector = start_collector(TAG_CONFIG, collector_env(primary, shadow))
    prometheus = start_prometheus({"otelcol-llm": [collector.prometheus_target]}, exemplar_storage=True)
    wait_until(prometheus.targets_up, timeout=30, interval=0.2, what="prometheus target up")
    started = time.time() - 5

    produced = InMemorySpanExporter()  # every span the app and the candidate service made, with its trace id
    experiment_id = shadowed_traffic(collector, "ex", CALLS, also_to=produced).experiment_id

    llm_spans = [s for s in produced.get_finished_spans() if A.GEN_AI_OPERATION_NAME in (s.attributes or {})]
    app_trace_ids = {f"{s.context.trace_id:032x}" for s in produced.get_finished_spans()}
    llm_trace_ids = {f"{s.context.trace_id:032x}" for s in llm_spans}
    assert len(llm_spans) == 2 * CALLS  # one primary and one shadow LLM call per request
    assert len(llm_trace_ids) == CALLS  # the shadow call stays in its primary request's trace

    selector = f'{{llm_experiment_id="{experiment_id}"}}'
    last: dict[str, dict[str, set[str]]] = {}

    def exemplars_on_both_routes() -> bool:
        for metric in ("llm_span_duration_seconds_bucket", "llm_span_calls_total"):
            last[metric] = exemplar_trace_ids(query_exemplars(prometheus, metric + selector, started))
        return all(last[metric].get(route) for metric in last for route in (A.ROUTE_PRIMARY, A.ROUTE_SHADOW))

    try:
        wait_until(exemplars_on_both_routes, timeout=30, interval=0.5, what="exemplars on primary and shadow")
    except Exception as exc:
        raise AssertionError(f"{exc}; last exemplars: {last}") from None

    for metric, by_route in last.items():
        for route, trace_ids in by_route.items():
            assert trace_ids, (metric, route)
            # Every exemplar points at a trace the app really produced (none made up, none from other tests).
            assert trace_ids <= app_trace_ids, (metric, route, trace_ids - app_trace_ids)
            # ...and, for the LLM-call series this experiment owns, at a trace with an LLM call in it.
            assert trace_ids <= llm_trace_ids, (metric, route, trace_ids - llm_trace_ids)

    # What Grafana does for a panel with exemplars on: query_exemplars with the panel's own expression.
    targets = exemplar_panel_targets()
    assert targets, "no generated panel has exemplars enabled"
    variables = {
        "experiment": experiment_id,
        "variant": ".+",
        "model": ".+",
        "control": "control",
        "__rate_interval": "1m",
        "__range": "5m",
    }
    for title, expr in targets:
        panel_ids = {
            trace_id
            for ids in exemplar_trace_ids(
                query_exemplars(prometheus, render.substitute(expr, variables), started)
            ).values()
            for trace_id in ids
        }
        assert panel_ids, f"{title}: no exemplars for {expr}"
        assert panel_ids <= llm_trace_ids, (title, panel_ids - llm_trace_ids)
