"""Real processes on loopback for integration tests: the built collector, Prometheus and OTLP backends.

Nothing here is a mock of the collector or of Prometheus: `Collector` runs the built ``otelcol-llm`` binary,
`Prometheus` runs the real ``prometheus`` server, and the backends are small OTLP servers (gRPC and HTTP) that
record every span the collector exports, request by request. Every process binds 127.0.0.1 on a free port and
is stopped by whoever started it (the fixtures in ``conftest.py`` do that for tests).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTOR_DIR = REPO_ROOT / "collector"
COLLECTOR_BINARY_NAME = "otelcol-llm"
METRIC_NAMES_FILE = COLLECTOR_DIR / "metric_names.json"

TAG_CONFIG = COLLECTOR_DIR / "config.yaml"
DROP_CONFIG = COLLECTOR_DIR / "config.drop.yaml"
AGENT_CONFIG = COLLECTOR_DIR / "agent.yaml"
GATEWAY_CONFIG = COLLECTOR_DIR / "gateway.yaml"
ALL_CONFIGS = (TAG_CONFIG, DROP_CONFIG, AGENT_CONFIG, GATEWAY_CONFIG)


class HarnessError(RuntimeError):
    """A real process did not start or did not reach the expected state in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_collector_binary() -> Path:
    """The built collector: ``collector/bin/otelcol-llm``, else ``otelcol-llm`` on PATH."""
    built = COLLECTOR_DIR / "bin" / COLLECTOR_BINARY_NAME
    if built.is_file() and os.access(built, os.X_OK):
        return built
    found = shutil.which(COLLECTOR_BINARY_NAME)
    if found:
        return Path(found)
    raise HarnessError(f"{COLLECTOR_BINARY_NAME} not found: run `make collector` (collector/build.sh) first")


def find_prometheus_binary() -> Path:
    """``prometheus`` on PATH (``make prometheus`` installs Debian's package)."""
    found = shutil.which("prometheus")
    if not found:
        raise HarnessError("prometheus not found on PATH: run `make prometheus` first")
    return Path(found)


def wait_until(condition: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns a truthy value; return that value or raise `HarnessError`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            value, last_error = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise HarnessError(f"timed out after {timeout:.1f} s waiting for {what}{detail}")
        time.sleep(interval)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url``; return (status, body) for any HTTP status, raise OSError when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


# --- what the backends record ------------------------------------------------------------------------------


def _any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as an OTLP backend received it (ids as lowercase hex, attributes as Python values)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]


def spans_of(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """Flatten an OTLP trace export request into `ReceivedSpan` records."""
    out: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _any_value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        attributes={kv.key: _any_value(kv.value) for kv in span.attributes},
                        resource=resource,
                    )
                )
    return out


@dataclass
class SpanRecorder:
    """Thread-safe record of every span and every export request a backend received."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    request_sizes: list[int] = field(default_factory=list)
    metric_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_trace_request(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        spans = spans_of(request)
        with self._lock:
            self.spans.extend(spans)
            self.request_sizes.append(len(spans))

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def span_ids(self) -> set[str]:
        return {s.span_id for s in self.snapshot()}

    def matching(self, trace_ids: Iterable[str]) -> list[ReceivedSpan]:
        """The received spans that belong to one of ``trace_ids`` (isolates a test from shared traffic)."""
        wanted = set(trace_ids)
        return [s for s in self.snapshot() if s.trace_id in wanted]

    def wait_for_count(self, count: int, *, trace_ids: Iterable[str] | None = None, timeout: float = 20.0) -> None:
        """Wait until at least ``count`` spans (of ``trace_ids``, when given) have arrived."""
        ids = set(trace_ids) if trace_ids is not None else None

        def reached() -> bool:
            spans = self.snapshot() if ids is None else self.matching(ids)
            return len(spans) >= count

        wait_until(reached, timeout=timeout, what=f"{count} spans at the backend")


class OtlpGrpcBackend:
    """A loopback OTLP/gRPC server (traces and metrics) that records what it receives.

    `stop()` and `start()` again on the same port simulate a backend outage. Python's gRPC cannot decode zstd:
    point the collector's exporter at it with ``compression: gzip`` or ``none``.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.recorder = SpanRecorder()
        self._server: grpc.Server | None = None

    @property
    def endpoint(self) -> str:
        """``host:port`` for an OTLP gRPC exporter."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> OtlpGrpcBackend:
        recorder = self.recorder

        class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                recorder.add_trace_request(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request, context):
                with recorder._lock:
                    recorder.metric_requests += 1
                return metrics_service_pb2.ExportMetricsServiceResponse()

        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8),
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(), server)
        if server.add_insecure_port(self.endpoint) != self.port:
            raise HarnessError(f"could not bind gRPC backend to {self.endpoint}")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None


class OtlpHttpBackend:
    """A loopback OTLP/HTTP (protobuf) server for ``/v1/traces`` that records what it receives."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.recorder = SpanRecorder()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """Base URL for an OTLP HTTP exporter (it appends ``/v1/traces``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpHttpBackend:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        recorder = self.recorder

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding not in ("", "identity"):
                    self._reply(415, b"unsupported content-encoding")
                    return
                if self.path != "/v1/traces":
                    self._reply(404, b"")
                    return
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                recorder.add_trace_request(request)
                self._reply(200, trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

            def _reply(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-http-backend", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


# --- the collector -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectorPorts:
    """Loopback ports of one collector: OTLP in, health check, Prometheus exporter, own telemetry."""

    grpc: int
    http: int
    health: int
    prometheus: int
    telemetry: int

    @classmethod
    def allocate(cls) -> CollectorPorts:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())

    def env(self) -> dict[str, str]:
        """The ``OTEL_LLM_*`` variables that put every listener of the bundled configs on these ports."""
        return {
            "OTEL_LLM_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc}",
            "OTEL_LLM_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.http}",
            "OTEL_LLM_HEALTH_ENDPOINT": f"127.0.0.1:{self.health}",
            "OTEL_LLM_PROMETHEUS_ENDPOINT": f"127.0.0.1:{self.prometheus}",
            "OTEL_LLM_TELEMETRY_HOST": "127.0.0.1",
            "OTEL_LLM_TELEMETRY_PORT": str(self.telemetry),
        }


def run_validate(binary: Path, config: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``otelcol-llm validate --config <config>``; returns the completed process (check ``returncode``)."""
    return subprocess.run(
        [str(binary), "validate", f"--config={config}"],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class Collector:
    """The built collector binary running one config, listening only on loopback ports.

    ``env`` overrides the ``OTEL_LLM_*`` variables of the bundled configs (endpoints, intervals, queue sizes);
    the listener ports come from ``ports``. ``start()`` returns once the health check answers 200.
    """

    def __init__(
        self,
        binary: Path,
        config: Path,
        env: Mapping[str, str] | None = None,
        *,
        ports: CollectorPorts | None = None,
        log_dir: Path | None = None,
        extra_args: Iterable[str] = (),
    ) -> None:
        self.binary = binary
        self.config = config
        self.ports = ports or CollectorPorts.allocate()
        self.env = {**self.ports.env(), "OTEL_LLM_LOG_LEVEL": "warn", **(env or {})}
        self.extra_args = list(extra_args)
        self._log_dir = log_dir or Path(tempfile.mkdtemp(prefix="otelcol-llm-"))
        self.log_path = self._log_dir / f"{config.stem}-{self.ports.grpc}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    @property
    def grpc_endpoint(self) -> str:
        """``host:port`` of the OTLP/gRPC receiver."""
        return f"127.0.0.1:{self.ports.grpc}"

    @property
    def http_endpoint(self) -> str:
        """Base URL of the OTLP/HTTP receiver."""
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def prometheus_target(self) -> str:
        """``host:port`` that Prometheus scrapes for span metrics and app metrics."""
        return f"127.0.0.1:{self.ports.prometheus}"

    @property
    def telemetry_target(self) -> str:
        """``host:port`` of the collector's own metrics (``otelcol_*``)."""
        return f"127.0.0.1:{self.ports.telemetry}"

    def start(self, timeout: float = 30.0) -> Collector:
        self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(self.binary), f"--config={self.config}", *self.extra_args],
            env={**os.environ, **self.env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise HarnessError(f"collector exited with {self.process.returncode}:\n{self.log_text()}")
            status, _ = http_get(f"http://127.0.0.1:{self.ports.health}/", timeout=1)
            return status == 200

        try:
            wait_until(healthy, timeout=timeout, interval=0.1, what=f"collector health ({self.config.name})")
        except HarnessError:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait for a clean shutdown (queues drain), SIGKILL if it hangs. Returns the exit code."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
            code = self.process.returncode
            self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def own_metrics(self) -> dict[str, float]:
        """The collector's own telemetry as ``{'name{labels}': value}`` (plain text exposition)."""
        status, body = http_get(f"http://{self.telemetry_target}/metrics")
        if status != 200:
            raise HarnessError(f"telemetry endpoint answered {status}")
        return parse_exposition(body.decode())

    def own_metric_sum(self, name: str, **labels: str) -> float:
        """Sum of every sample of ``name`` whose labels include ``labels``."""
        total = 0.0
        for key, value in self.own_metrics().items():
            metric, _, rest = key.partition("{")
            if metric != name:
                continue
            if all(f'{k}="{v}"' in rest for k, v in labels.items()):
                total += value
        return total


def parse_exposition(text: str) -> dict[str, float]:
    """Prometheus text exposition -> ``{'name{labels}': value}`` (comments skipped, timestamps dropped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if "}" in line:
            key, _, rest = line.rpartition("}")
            key += "}"
        else:
            key, _, rest = line.partition(" ")
        value = rest.split()[0]
        out[key] = float(value)
    return out


# --- Prometheus ---------------------------------------------------------------------------------------------


class Prometheus:
    """A real Prometheus server on a loopback port scraping the given targets, with a throwaway data dir.

    ``targets`` maps a job name to ``host:port`` targets. ``scrape_interval`` (also the rule evaluation
    interval) is short so tests need not wait. ``rule_files`` are loaded as recording/alerting rules.
    """

    def __init__(
        self,
        binary: Path,
        targets: Mapping[str, Iterable[str]],
        *,
        scrape_interval: str = "1s",
        rule_files: Iterable[Path] = (),
        work_dir: Path | None = None,
    ) -> None:
        self.binary = binary
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.port = free_port()
        self.scrape_interval = scrape_interval
        self.targets = {job: list(hosts) for job, hosts in targets.items()}
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="prometheus-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config_text(self) -> str:
        lines = [
            "global:",
            f"  scrape_interval: {self.scrape_interval}",
            f"  evaluation_interval: {self.scrape_interval}",
        ]
        if self.rule_files:
            lines += ["rule_files:", *(f"  - {json.dumps(str(p))}" for p in self.rule_files)]
        lines += ["scrape_configs:"]
        for job, hosts in self.targets.items():
            lines += [
                f"  - job_name: {json.dumps(job)}",
                "    static_configs:",
                f"      - targets: {json.dumps(hosts)}",
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 30.0) -> Prometheus:
        config = self.work_dir / "prometheus.yml"
        config.write_text(self._config_text())
        self._log_file = (self.work_dir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.work_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                log = (self.work_dir / "prometheus.log").read_text(errors="replace")
                raise HarnessError(f"prometheus exited with {self.process.returncode}:\n{log}")
            status, _ = http_get(f"{self.url}/-/ready", timeout=1)
            return status == 200

        try:
            wait_until(ready, timeout=timeout, interval=0.1, what="prometheus ready")
        except HarnessError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
            self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; returns the ``result`` vector (raises on a PromQL error)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        payload = json.loads(body)
        if status != 200 or payload.get("status") != "success":
            raise HarnessError(f"query {expr!r} failed: {status} {payload}")
        return list(payload["data"]["result"])

    def values(self, expr: str, by: Iterable[str] = ()) -> dict[tuple[str, ...], float]:
        """Instant query as ``{(label values in `by` order): value}``."""
        keys = list(by)
        return {tuple(r["metric"].get(k, "") for k in keys): float(r["value"][1]) for r in self.query(expr)}

    def wait_for_values(
        self, expr: str, expected: Mapping[tuple[str, ...], float], by: Iterable[str] = (), timeout: float = 30.0
    ) -> dict[tuple[str, ...], float]:
        """Wait until the query returns exactly ``expected``; on timeout, raise showing what it last returned."""
        keys = list(by)
        last: dict[tuple[str, ...], float] = {}

        def matches() -> bool:
            nonlocal last
            last = self.values(expr, keys)
            return last == dict(expected)

        try:
            wait_until(matches, timeout=timeout, interval=0.25, what=f"{expr} == {dict(expected)}")
        except HarnessError as exc:
            raise HarnessError(f"{exc}; last result: {last}") from None
        return last

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts currently pending or firing (``/api/v1/alerts``)."""
        status, body = http_get(f"{self.url}/api/v1/alerts")
        payload = json.loads(body)
        if status != 200:
            raise HarnessError(f"alerts failed: {status} {payload}")
        return list(payload["data"]["alerts"])

    def metric_names(self) -> set[str]:
        """Every metric name Prometheus has ingested (``__name__`` label values)."""
        status, body = http_get(f"{self.url}/api/v1/label/__name__/values")
        payload = json.loads(body)
        if status != 200:
            raise HarnessError(f"label values failed: {status} {payload}")
        return set(payload["data"])

    def targets_up(self) -> bool:
        """True once every configured target has been scraped successfully."""
        status, body = http_get(f"{self.url}/api/v1/targets")
        if status != 200:
            return False
        active = json.loads(body)["data"]["activeTargets"]
        expected = sum(len(h) for h in self.targets.values())
        return len(active) == expected and all(t["health"] == "up" for t in active)
