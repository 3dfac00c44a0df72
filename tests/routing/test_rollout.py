"""Rollout: advance, pause, resume, auto-pause on guardrail breach, file preserved, CLI (SPEC §7.5)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from otel_llm.errors import ConfigurationError
from otel_llm.routing import InProcessStats, PrometheusSource, load
from otel_llm.routing._cli import register
from otel_llm.routing.rollout import Rollout, set_value

FILE = """\
# team: invoices
experiments:
  - id: invoice-extractor-ft
    assign_by: header:X-Session-Id   # sticky per session
    variants:
      - {name: control,   weight: 90, model: gpt-4o-mini}
      - {name: candidate, weight: 10, model: llama-3.1-8b-extract-v4}
    rollout:
      phases: [10, 50, 90, 100]
      min_samples_per_phase: 100
      guardrails:
        error_rate: {max_delta: 0.01}
        p99_latency: {max_ratio: 1.2}
        schema_pass_rate: {max_delta: 0.02}
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "experiments.yaml"
    p.write_text(FILE)
    return p


def healthy(stats: InProcessStats, n: int = 100, cand_err: int = 0, cand_lat: float = 0.2) -> None:
    for i in range(n):
        stats.record_call("invoice-extractor-ft", "control", True, 0.2)
        stats.record_call("invoice-extractor-ft", "candidate", i >= cand_err, cand_lat)
        stats.record("invoice-extractor-ft", "control", schema_valid=True)
        stats.record("invoice-extractor-ft", "candidate", schema_valid=True)


def weights(path: Path) -> dict[str, float]:
    return {v.name: v.weight for v in load(path).experiments[0].variants}


def test_advance_needs_samples_then_moves_one_phase(path: Path) -> None:
    stats = InProcessStats()
    rollout = Rollout(path, stats)
    healthy(stats, n=50)
    with pytest.raises(ConfigurationError, match="not enough samples"):
        rollout.advance()
    healthy(stats, n=50)
    assert rollout.advance() == "advanced to phase 1 (50 %)"
    assert weights(path) == {"control": 50, "candidate": 50}
    text = path.read_text()
    assert text.startswith("# team: invoices\n") and "# sticky per session" in text  # rest preserved
    assert load(path).experiments[0].rollout.phase == 1  # type: ignore[union-attr]


def test_breach_auto_pauses_and_records_reason(path: Path) -> None:
    stats = InProcessStats()
    healthy(stats, cand_err=5)  # 5 % errors vs 0 %
    result = Rollout(path, stats).advance()
    assert result.startswith("paused: guardrail breach: error_rate")
    ro = load(path).experiments[0].rollout
    assert ro is not None and ro.status == "paused" and ro.reason and "error_rate" in ro.reason
    assert weights(path) == {"control": 100, "candidate": 0}
    with pytest.raises(ConfigurationError, match="paused"):
        Rollout(path, stats).advance()


def test_p99_guardrail_is_relative_to_control(path: Path) -> None:
    stats = InProcessStats()
    healthy(stats, cand_lat=0.3)  # 1.5 × control
    st = Rollout(path, stats).enforce()
    assert [c.name for c in st.checks if c.passed is False] == ["p99_latency"]
    assert load(path).experiments[0].rollout.status == "paused"  # type: ignore[union-attr]


def test_missing_guardrail_data_blocks_advance(path: Path) -> None:
    stats = InProcessStats()
    for _ in range(100):
        stats.record_call("invoice-extractor-ft", "control", True, 0.2)
        stats.record_call("invoice-extractor-ft", "candidate", True, 0.2)
    with pytest.raises(ConfigurationError, match="no data for guardrails: schema_pass_rate"):
        Rollout(path, stats).advance()


def test_pause_resume_round_trip(path: Path) -> None:
    rollout = Rollout(path)
    rollout.pause(reason="latency regression seen in Grafana")
    ro = load(path).experiments[0].rollout
    assert ro is not None and ro.status == "paused" and ro.reason == "latency regression seen in Grafana"
    assert weights(path) == {"control": 100, "candidate": 0}
    rollout.resume()
    ro = load(path).experiments[0].rollout
    assert ro is not None and ro.status == "running" and ro.reason is None
    assert weights(path) == {"control": 90, "candidate": 10}
    assert rollout.advance(force=True) == "advanced to phase 1 (50 %)"


def test_set_value_flow_and_block_mappings() -> None:
    text = "a:\n  b: 1   # keep\n  c: {x: 1}\n"
    out = set_value(set_value(set_value(text, ("a", "b"), 2), ("a", "c", "y"), "q"), ("a", "d"), None)
    assert out == 'a:\n  d: null\n  b: 2   # keep\n  c: {x: 1, y: "q"}\n'


class _Prom(BaseHTTPRequestHandler):
    answers: dict[str, float] = {}
    queries: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["query"][0]
        self.queries.append(q)
        variant = "candidate" if 'llm_variant="candidate"' in q else "control"
        kind = (
            "samples"
            if q.startswith("sum(increase(gen_ai_client_operation_duration_seconds_count{") and "/" not in q
            else ("error_rate" if "error_type" in q else "p99" if "histogram_quantile" in q else "cost")
        )
        value = self.answers.get(f"{variant}:{kind}")
        result = [] if value is None else [{"metric": {}, "value": [0, str(value)]}]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def prom() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prom)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_prometheus_source_and_cli(path: Path, prom: str) -> None:
    _Prom.answers = {
        "control:samples": 500,
        "control:error_rate": 0.01,
        "control:p99": 1.8,
        "control:cost": 0.42,
        "candidate:samples": 400,
        "candidate:error_rate": 0.05,
        "candidate:p99": 0.41,
        "candidate:cost": 0.12,
    }
    stats = PrometheusSource(prom).stats("invoice-extractor-ft", "candidate")
    assert (stats.samples, stats.error_rate, stats.p99_latency, stats.cost_per_1k) == (400, 0.05, 0.41, 0.12)
    assert stats.schema_pass_rate is None
    assert any('llm_route=~"primary|fallback"' in q for q in _Prom.queries)  # shadow never counted

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    out = runner.invoke(app, ["rollout", "status", "--config", str(path), "--prometheus", prom, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["phase"] == 0 and data["candidate"]["samples"] == 400
    assert {g["name"]: g["passed"] for g in data["guardrails"]} == {
        "error_rate": False,
        "p99_latency": True,
        "schema_pass_rate": None,
    }
    out = runner.invoke(app, ["rollout", "advance", "--config", str(path), "--prometheus", prom])
    assert out.exit_code == 2 and "guardrail breach: error_rate" in out.output
    assert weights(path) == {"control": 100, "candidate": 0}
    assert runner.invoke(app, ["rollout", "resume", "--config", str(path)]).exit_code == 0
    assert weights(path) == {"control": 90, "candidate": 10}
    out = runner.invoke(app, ["rollout", "pause", "--config", str(path), "--reason", "manual"])
    assert out.exit_code == 0 and load(path).experiments[0].rollout.reason == "manual"  # type: ignore[union-attr]
    out = runner.invoke(app, ["rollout", "status", "--config", str(path), "--experiment", "nope"])
    assert out.exit_code == 1 and "unknown experiment" in out.output
