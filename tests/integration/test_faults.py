"""Faults with the real collector: a destination that goes away and comes back, a full queue, huge requests."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest

from tests.integration.conftest import collector_env
from tests.integration.harness import TAG_CONFIG, wait_until
from tests.integration.traffic import encode_request, export_raw, synthetic_traces

pytestmark = pytest.mark.integration

PRIMARY_EXPORTER = "otlp_grpc/primary"


def _ids(spans) -> list[str]:
    return sorted(f"{s.context.span_id:016x}" for s in spans)


def test_primary_backend_down_then_back_loses_nothing_within_queue_capacity(
    start_collector, grpc_backend, http_backend
) -> None:
    primary = grpc_backend()
    shadow = http_backend()
    collector = start_collector(TAG_CONFIG, collector_env(primary, shadow, OTEL_LLM_QUEUE_SIZE="5000"))
    port = primary.port
    primary.stop()

    _, first, shadow_first = synthetic_traces(400, f"exp-{uuid.uuid4().hex[:8]}", "fault-app", seed=1)
    export_raw(collector.grpc_endpoint, encode_request(first + shadow_first))
    # The exporter keeps the spans queued while the destination refuses connections.
    wait_until(
        lambda: collector.own_metric_sum("otelcol_exporter_queue_size", exporter=PRIMARY_EXPORTER) == len(first),
        timeout=15,
        what="spans waiting in the primary exporter queue",
    )
    # Shadow traffic is unaffected by the primary destination's outage.
    shadow.recorder.wait_for_count(len(shadow_first))

    time.sleep(1.5)  # a few failed retries (200 ms initial, 1 s max backoff in tests)
    restarted = grpc_backend(port)
    restarted.recorder.wait_for_count(len(first), timeout=30)
    time.sleep(0.5)
    assert sorted(s.span_id for s in restarted.recorder.snapshot()) == _ids(first)
    assert sorted(s.span_id for s in shadow.recorder.snapshot()) == _ids(shadow_first)
    assert collector.own_metric_sum("otelcol_exporter_enqueue_failed_spans", exporter=PRIMARY_EXPORTER) == 0
    assert collector.own_metric_sum("otelcol_exporter_sent_spans", exporter=PRIMARY_EXPORTER) == len(first)


def test_queue_overflow_is_counted_not_silent(start_collector, grpc_backend, http_backend) -> None:
    """Beyond the queue's capacity spans are refused, and received + refused == sent, exactly."""
    primary = grpc_backend()
    shadow = http_backend()
    queue_size = 1000
    collector = start_collector(
        TAG_CONFIG,
        collector_env(
            primary,
            shadow,
            OTEL_LLM_QUEUE_SIZE=str(queue_size),
            OTEL_LLM_BATCH_SIZE="500",
            OTEL_LLM_BATCH_MAX_SIZE="500",
        ),
    )
    port = primary.port
    primary.stop()

    _, spans, _ = synthetic_traces(1500, "exp-overflow", "overflow-app", seed=2)  # 3000 primary spans
    for start in range(0, len(spans), 500):
        export_raw(collector.grpc_endpoint, encode_request(spans[start : start + 500]))

    refused = wait_until(
        lambda: collector.own_metric_sum("otelcol_exporter_enqueue_failed_spans", exporter=PRIMARY_EXPORTER),
        timeout=15,
        what="enqueue failures counted",
    )
    wait_until(
        lambda: (
            collector.own_metric_sum("otelcol_exporter_queue_size", exporter=PRIMARY_EXPORTER)
            + collector.own_metric_sum("otelcol_exporter_enqueue_failed_spans", exporter=PRIMARY_EXPORTER)
            == len(spans)
        ),
        timeout=15,
        what="every span either queued or refused",
    )
    refused = collector.own_metric_sum("otelcol_exporter_enqueue_failed_spans", exporter=PRIMARY_EXPORTER)
    assert 0 < refused < len(spans)

    restarted = grpc_backend(port)
    expected_delivered = len(spans) - int(refused)
    restarted.recorder.wait_for_count(expected_delivered, timeout=30)
    time.sleep(0.5)
    received = restarted.recorder.snapshot()
    assert len(received) == expected_delivered
    assert len({s.span_id for s in received}) == expected_delivered  # no duplicates
    assert expected_delivered <= queue_size


def test_oversized_request_is_split_into_bounded_batches(start_collector, grpc_backend, http_backend) -> None:
    primary = grpc_backend()
    shadow = http_backend()
    collector = start_collector(TAG_CONFIG, collector_env(primary, shadow, OTEL_LLM_BATCH_MAX_SIZE="2048"))

    _, spans, shadow_spans = synthetic_traces(6000, "exp-big", "big-app", seed=3)  # 12,000 + 6,000 spans
    request = encode_request(spans + shadow_spans)
    assert request.ByteSize() > 4 * 1024 * 1024  # more than gRPC's default message limit
    export_raw(collector.grpc_endpoint, request)

    primary.recorder.wait_for_count(len(spans), timeout=30)
    shadow.recorder.wait_for_count(len(shadow_spans), timeout=30)
    time.sleep(0.5)
    assert sorted(s.span_id for s in primary.recorder.snapshot()) == _ids(spans)
    assert sorted(s.span_id for s in shadow.recorder.snapshot()) == _ids(shadow_spans)
    # The batch processor split the request: no export to a destination exceeds send_batch_max_size.
    assert max(primary.recorder.request_sizes) <= 2048
    assert max(shadow.recorder.request_sizes) <= 2048
    assert len(primary.recorder.request_sizes) >= len(spans) // 2048


def test_request_over_the_receiver_limit_is_refused_and_the_collector_keeps_serving(
    start_collector, grpc_backend, http_backend
) -> None:
    primary = grpc_backend()
    shadow = http_backend()
    collector = start_collector(TAG_CONFIG, collector_env(primary, shadow, OTEL_LLM_OTLP_MAX_RECV_MSG_MIB="1"))

    _, spans, _ = synthetic_traces(200, "exp-huge", "huge-app", seed=4, padding=8192)  # ~3.2 MiB
    with pytest.raises(grpc.RpcError) as refused:
        export_raw(collector.grpc_endpoint, encode_request(spans))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    _, small, _ = synthetic_traces(20, "exp-huge", "huge-app", seed=5)
    export_raw(collector.grpc_endpoint, encode_request(small))
    primary.recorder.wait_for_count(len(small))
    time.sleep(0.5)
    assert sorted(s.span_id for s in primary.recorder.snapshot()) == _ids(small)
