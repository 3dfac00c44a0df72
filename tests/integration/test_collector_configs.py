"""Every bundled collector config is valid for the built binary, and the manifest holds exactly what they use."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.harness import (
    AGENT_CONFIG,
    ALL_CONFIGS,
    COLLECTOR_DIR,
    DROP_CONFIG,
    GATEWAY_CONFIG,
    TAG_CONFIG,
    run_validate,
)

pytestmark = pytest.mark.integration

KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _used_types(config: dict) -> set[tuple[str, str]]:
    """(kind, component type) pairs a config uses; ``filter/drop_shadow`` has type ``filter``."""
    return {(kind, name.split("/")[0]) for kind in KINDS for name in (config.get(kind) or {})}


def _components(binary: Path) -> dict:
    out = subprocess.run([str(binary), "components"], capture_output=True, text=True, timeout=60, check=True)
    return yaml.safe_load(out.stdout)


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=lambda p: p.name)
def test_validate_accepts_config(otelcol_binary: Path, config: Path) -> None:
    result = run_validate(otelcol_binary, config)
    assert result.returncode == 0, result.stderr + result.stdout


def test_validate_rejects_a_broken_config(otelcol_binary: Path, tmp_path: Path) -> None:
    broken = _load(TAG_CONFIG)
    broken["service"]["pipelines"]["traces/primary"]["processors"].append("filter/does_not_exist")
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = run_validate(otelcol_binary, path)
    assert result.returncode != 0
    assert "filter/does_not_exist" in result.stderr + result.stdout


def test_manifest_has_exactly_the_components_the_configs_use(otelcol_binary: Path) -> None:
    used: set[tuple[str, str]] = set()
    for config in ALL_CONFIGS:
        used |= _used_types(_load(config))
    built = _components(otelcol_binary)
    built_types = {(kind, c["name"]) for kind in KINDS for c in built.get(kind) or []}
    manifest = _load(COLLECTOR_DIR / "builder-config.yaml")
    manifest_modules = {entry["gomod"].split()[0] for kind in KINDS for entry in manifest.get(kind) or []}
    built_modules = {c["module"].split()[0] for kind in KINDS for c in built.get(kind) or []}

    # `components` lists only the current ids (otlp_grpc, span_metrics, ...); a deprecated alias such as
    # `spanmetrics` still validates, so this is where an outdated id is caught.
    assert used <= built_types, f"configs use ids the binary does not list: {sorted(used - built_types)}"
    # The binary is built from this manifest, and every module in it serves a component some config uses.
    assert built_modules == manifest_modules
    modules_used = {
        c["module"].split()[0] for kind in KINDS for c in built.get(kind) or [] if (kind, c["name"]) in used
    }
    assert modules_used == manifest_modules, f"unused modules: {sorted(manifest_modules - modules_used)}"


def test_drop_and_gateway_configs_share_the_tag_mode_building_blocks() -> None:
    tag, drop, gateway = _load(TAG_CONFIG), _load(DROP_CONFIG), _load(GATEWAY_CONFIG)
    # The gateway runs exactly the tag-mode pipelines.
    assert gateway == tag
    # Drop mode: same settings for every component it shares with tag mode, one traces pipeline without any
    # shadow exporter.
    for kind in KINDS:
        for name, settings in (drop.get(kind) or {}).items():
            assert tag[kind][name] == settings, f"{kind}.{name} differs between config.yaml and config.drop.yaml"
    traces = {k: v for k, v in drop["service"]["pipelines"].items() if k.startswith("traces")}
    assert list(traces) == ["traces"]
    assert traces["traces"] == tag["service"]["pipelines"]["traces/primary"]
    assert drop["service"]["pipelines"]["metrics"] == tag["service"]["pipelines"]["metrics"]
    assert drop["service"]["telemetry"] == tag["service"]["telemetry"]


def test_every_endpoint_is_overridable_from_the_environment() -> None:
    """Every listener and destination in every config is a ${env:...} with a default."""
    for config in ALL_CONFIGS:
        text = config.read_text()
        data = _load(config)
        for kind in ("receivers", "exporters", "extensions"):
            for name, settings in (data.get(kind) or {}).items():
                for key, value in _walk(settings):
                    if key in ("endpoint", "hostnames"):
                        assert isinstance(value, str)
                        assert value.startswith("${env:OTEL_LLM_") and ":-" in value, (
                            f"{config.name}: {kind}.{name}.{key} = {value!r}"
                        )
        assert "localhost" not in text


def _walk(node: object, key: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)
    else:
        yield key, node


def test_agent_fans_out_to_gateways_by_trace_id() -> None:
    agent = _load(AGENT_CONFIG)
    traces_exporters = agent["service"]["pipelines"]["traces"]["exporters"]
    assert traces_exporters == ["load_balancing/traces"]
    assert agent["exporters"]["load_balancing/traces"]["routing_key"] == "traceID"


def test_validate_with_environment_overrides(otelcol_binary: Path) -> None:
    """The env-var defaults can be replaced, including the gateway list as a YAML list."""
    env = {
        "OTEL_LLM_PRIMARY_ENDPOINT": "127.0.0.1:14317",
        "OTEL_LLM_SHADOW_ENDPOINT": "http://127.0.0.1:14318",
        "OTEL_LLM_GATEWAY_ENDPOINTS": "[127.0.0.1:24317, 127.0.0.1:34317, 127.0.0.1:44317]",
        "OTEL_LLM_SPANMETRICS_FLUSH_INTERVAL": "2s",
    }
    for config in ALL_CONFIGS:
        result = run_validate(otelcol_binary, config, env)
        assert result.returncode == 0, f"{config.name}: {result.stderr}"
    bad = run_validate(otelcol_binary, TAG_CONFIG, {**env, "OTEL_LLM_SPANMETRICS_FLUSH_INTERVAL": "soon"})
    assert bad.returncode != 0


def test_build_script_skips_an_up_to_date_binary(otelcol_binary: Path) -> None:
    """A warm `make collector` does nothing when the binary is newer than the manifest."""
    if otelcol_binary != COLLECTOR_DIR / "bin" / "otelcol-llm":
        pytest.fail("the binary under test must be the one collector/build.sh builds")
    result = subprocess.run(
        [str(COLLECTOR_DIR / "build.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "FORCE": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
