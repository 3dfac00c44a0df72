"""Guardrail figures from a real Prometheus scraping series named as in SPEC §4.3."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from otel_llm.routing import PrometheusSource
from tests.integration.conftest import prometheus_binary, start_prometheus

__all__ = ["prometheus_binary", "start_prometheus"]

LE = ("0.16", "0.32", "0.64", "1.28", "2.56", "+Inf")
# per scrape: calls, errors, bucket counts (cumulative), cost USD
PER_SCRAPE = {
    "control": (100, 1, (0, 50, 90, 98, 100, 100), 0.042),
    "candidate": (100, 5, (60, 99, 100, 100, 100, 100), 0.012),
}


class _Exporter(BaseHTTPRequestHandler):
    scrapes = 0

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).scrapes += 1
        k = type(self).scrapes
        lines = []
        for variant, (calls, errors, buckets, cost) in PER_SCRAPE.items():
            base = f'llm_experiment_id="exp",llm_variant="{variant}",llm_route="primary"'
            for err, n in (('error_type=""', calls - errors), ('error_type="500"', errors)):
                lines.append(f"gen_ai_client_operation_duration_seconds_count{{{base},{err}}} {n * k}")
            for le, n in zip(LE, buckets, strict=True):
                lines.append(f'gen_ai_client_operation_duration_seconds_bucket{{{base},le="{le}"}} {n * k}')
            lines.append(f"llm_client_cost_USD_total{{{base}}} {cost * k}")
            shadow = f'llm_experiment_id="exp",llm_variant="{variant}",llm_route="shadow"'
            lines.append(f"gen_ai_client_operation_duration_seconds_count{{{shadow}}} {1000 * k}")
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def exporter() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_guardrail_figures_from_real_prometheus(start_prometheus: Any, exporter: str) -> None:
    prom = start_prometheus({"app": [exporter]}, scrape_interval="1s")
    source = PrometheusSource(prom.url, window="1m")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _Exporter.scrapes >= 3 and source.stats("exp", "candidate").samples > 0:
            break
        time.sleep(0.25)
    control, candidate = source.stats("exp", "control"), source.stats("exp", "candidate")
    assert candidate.samples > 0 and control.samples > 0
    assert candidate.error_rate == pytest.approx(0.05) and control.error_rate == pytest.approx(0.01)
    assert candidate.cost_per_1k == pytest.approx(0.12) and control.cost_per_1k == pytest.approx(0.42)
    assert candidate.p99_latency is not None and control.p99_latency is not None
    assert candidate.p99_latency < 0.64 < control.p99_latency
