"""Reusable fixtures for tests that need the real collector and a real Prometheus.

Building blocks (other test packages can use them as they are):

- ``otelcol_binary`` (session): path of the built ``otelcol-llm``.
- ``prometheus_binary`` (session): path of ``prometheus``.
- ``start_collector`` (function): factory ``start_collector(config, env=None) -> Collector``; every collector it
  started is stopped after the test.
- ``start_prometheus`` (function): factory ``start_prometheus({job: [host:port, ...]}) -> Prometheus``
  (``exemplar_storage=True`` to keep scraped exemplars).
- ``grpc_backend`` / ``http_backend`` (function): factories for loopback OTLP backends that record spans.
- ``llm_stack`` (session): the default tag-mode config running against a gRPC primary backend and an HTTP
  shadow backend, with Prometheus scraping its exporter and its own telemetry every second and span metrics
  flushed every second. Shared by tests: isolate your data with your own trace ids / experiment id.

Every process binds 127.0.0.1 on a free port. Nothing is skipped: ``make test`` builds the collector and
installs Prometheus before pytest runs, and a missing binary is an error that says which target to run.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.harness import (
    TAG_CONFIG,
    Collector,
    OtlpGrpcBackend,
    OtlpHttpBackend,
    Prometheus,
    find_collector_binary,
    find_prometheus_binary,
    wait_until,
)

#: Short intervals so tests never wait for production defaults (15 s span-metric flush, 1 s batch, 5 s retry).
FAST_ENV: Mapping[str, str] = {
    "OTEL_LLM_SPANMETRICS_FLUSH_INTERVAL": "1s",
    "OTEL_LLM_BATCH_TIMEOUT": "200ms",
    "OTEL_LLM_RETRY_INITIAL_INTERVAL": "200ms",
    "OTEL_LLM_RETRY_MAX_INTERVAL": "1s",
    "OTEL_LLM_PRIMARY_COMPRESSION": "gzip",
    "OTEL_LLM_SHADOW_COMPRESSION": "gzip",
    "OTEL_LLM_GATEWAY_COMPRESSION": "gzip",
}


def collector_env(
    primary: OtlpGrpcBackend | None = None, shadow: OtlpHttpBackend | None = None, **overrides: str
) -> dict[str, str]:
    """``FAST_ENV`` plus the backend endpoints (``OTEL_LLM_PRIMARY_ENDPOINT`` / ``OTEL_LLM_SHADOW_ENDPOINT``)."""
    env = dict(FAST_ENV)
    if primary is not None:
        env["OTEL_LLM_PRIMARY_ENDPOINT"] = primary.endpoint
    if shadow is not None:
        env["OTEL_LLM_SHADOW_ENDPOINT"] = shadow.endpoint
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def otelcol_binary() -> Path:
    """Path of the built collector (``collector/bin/otelcol-llm`` or ``otelcol-llm`` on PATH)."""
    return find_collector_binary()


@pytest.fixture(scope="session")
def prometheus_binary() -> Path:
    """Path of the ``prometheus`` server binary."""
    return find_prometheus_binary()


@pytest.fixture
def start_collector(
    otelcol_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Collector]]:
    """Factory: ``start_collector(config_path, env=None, ports=None) -> Collector`` (running and healthy).

    The collector's log is kept in a temp dir and printed when the test fails to start it.
    """
    started: list[Collector] = []
    log_dir = tmp_path_factory.mktemp("collector-logs")

    def start(config: Path, env: Mapping[str, str] | None = None, **kwargs: object) -> Collector:
        collector = Collector(otelcol_binary, config, env, log_dir=log_dir, **kwargs)  # type: ignore[arg-type]
        started.append(collector)
        return collector.start()

    yield start
    for collector in started:
        collector.stop()


def _with_flags(binary: Path, flags: Iterable[str], directory: Path) -> Path:
    """A wrapper script that execs ``binary`` with ``flags`` before the harness's own arguments."""
    script = directory / binary.name
    script.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in [str(binary), *flags]) + ' "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture
def start_prometheus(
    prometheus_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Prometheus]]:
    """Factory: ``start_prometheus({job: [host:port]}, scrape_interval="1s", rule_files=(), exemplar_storage=False)``.

    ``exemplar_storage=True`` passes ``--enable-feature=exemplar-storage`` (Prometheus 2.x and 3.x store scraped
    exemplars only with it). Returns once Prometheus is ready; it is stopped and its data dir removed after the
    test.
    """
    started: list[Prometheus] = []

    def start(
        targets: Mapping[str, list[str]],
        scrape_interval: str = "1s",
        rule_files: Iterable[Path] = (),
        exemplar_storage: bool = False,
    ) -> Prometheus:
        binary = prometheus_binary
        if exemplar_storage:
            binary = _with_flags(binary, ["--enable-feature=exemplar-storage"], tmp_path_factory.mktemp("prom-bin"))
        prometheus = Prometheus(binary, targets, scrape_interval=scrape_interval, rule_files=rule_files)
        started.append(prometheus)
        return prometheus.start()

    yield start
    for prometheus in started:
        prometheus.stop()


@pytest.fixture
def grpc_backend() -> Iterator[Callable[..., OtlpGrpcBackend]]:
    """Factory for started loopback OTLP/gRPC backends; all are stopped after the test."""
    started: list[OtlpGrpcBackend] = []

    def make(port: int | None = None) -> OtlpGrpcBackend:
        backend = OtlpGrpcBackend(port)
        started.append(backend)
        return backend.start()

    yield make
    for backend in started:
        backend.stop()


@pytest.fixture
def http_backend() -> Iterator[Callable[..., OtlpHttpBackend]]:
    """Factory for started loopback OTLP/HTTP backends; all are stopped after the test."""
    started: list[OtlpHttpBackend] = []

    def make(port: int | None = None) -> OtlpHttpBackend:
        backend = OtlpHttpBackend(port)
        started.append(backend)
        return backend.start()

    yield make
    for backend in started:
        backend.stop()


@dataclass(frozen=True)
class LlmStack:
    """The default (tag-mode) collector with its destinations and a Prometheus scraping it."""

    collector: Collector
    primary: OtlpGrpcBackend
    shadow: OtlpHttpBackend
    prometheus: Prometheus


@pytest.fixture(scope="session")
def llm_stack(
    otelcol_binary: Path, prometheus_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlmStack]:
    """Session-wide tag-mode stack: collector (config.yaml) -> gRPC primary + HTTP shadow backends, Prometheus.

    Prometheus jobs: ``otelcol-llm`` (span metrics + app metrics) and ``otelcol-llm-self`` (collector
    telemetry), both scraped every second; span metrics are flushed every second.
    """
    primary = OtlpGrpcBackend().start()
    shadow = OtlpHttpBackend().start()
    collector = Collector(
        otelcol_binary,
        TAG_CONFIG,
        collector_env(primary, shadow),
        log_dir=tmp_path_factory.mktemp("llm-stack"),
    )
    prometheus = Prometheus(
        prometheus_binary,
        {"otelcol-llm": [collector.prometheus_target], "otelcol-llm-self": [collector.telemetry_target]},
    )
    try:
        collector.start()
        prometheus.start()
        wait_until(prometheus.targets_up, timeout=30, interval=0.2, what="prometheus targets up")
        yield LlmStack(collector, primary, shadow, prometheus)
    finally:
        prometheus.stop()
        collector.stop()
        primary.stop()
        shadow.stop()
