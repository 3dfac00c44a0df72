"""Scale-out: an agent (agent.yaml) load-balancing by trace id across two gateways (gateway.yaml) on loopback."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from otel_llm import attributes as A
from tests.integration.conftest import collector_env
from tests.integration.harness import AGENT_CONFIG, GATEWAY_CONFIG
from tests.integration.traffic import encode_request, export_raw, synthetic_traces

pytestmark = pytest.mark.integration

TRACES = 300


def test_agent_keeps_every_trace_on_one_gateway(start_collector, grpc_backend, http_backend) -> None:
    gateways = []
    for _ in range(2):
        primary, shadow = grpc_backend(), http_backend()
        gateway = start_collector(GATEWAY_CONFIG, collector_env(primary, shadow))
        gateways.append((gateway, primary, shadow))
    endpoints = ", ".join(g.grpc_endpoint for g, _, _ in gateways)
    agent = start_collector(AGENT_CONFIG, collector_env(OTEL_LLM_GATEWAY_ENDPOINTS=f"[{endpoints}]"))

    traces, primary_spans, shadow_spans = synthetic_traces(TRACES, "exp-lb", "lb-app", seed=7)
    roots, calls = primary_spans[0::2], primary_spans[1::2]
    # The spans of one trace arrive in three different requests, interleaved with every other trace.
    for part in (calls, shadow_spans, roots):
        export_raw(agent.grpc_endpoint, encode_request(part))

    def received() -> int:
        return sum(len(p.recorder.snapshot()) + len(s.recorder.snapshot()) for _, p, s in gateways)

    deadline = time.monotonic() + 30
    while received() < len(primary_spans) + len(shadow_spans) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)

    where: dict[str, set[int]] = defaultdict(set)
    primary_ids, shadow_ids = [], []
    for index, (_, primary, shadow) in enumerate(gateways):
        for span in primary.recorder.snapshot():
            where[span.trace_id].add(index)
            primary_ids.append(span.span_id)
        for span in shadow.recorder.snapshot():
            where[span.trace_id].add(index)
            shadow_ids.append(span.span_id)
            assert span.attributes[A.LLM_ROUTE] == A.ROUTE_SHADOW

    assert sorted(primary_ids) == sorted(f"{s.context.span_id:016x}" for s in primary_spans)
    assert sorted(shadow_ids) == sorted(f"{s.context.span_id:016x}" for s in shadow_spans)
    assert set(where) == {t.trace_hex for t in traces}
    split = [t for t, gws in where.items() if len(gws) != 1]
    assert split == [], f"{len(split)} traces were split across gateways"
    per_gateway = [sum(1 for gws in where.values() if gws == {i}) for i in range(len(gateways))]
    assert all(n > 0 for n in per_gateway), per_gateway
    assert sum(per_gateway) == TRACES
