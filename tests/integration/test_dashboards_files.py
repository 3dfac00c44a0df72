"""Static checks of the dashboards, alert rules, provisioning and compose file (no traffic needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from dashboards import generate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DASH = ROOT / "dashboards"
PROVISIONING = DASH / "provisioning"
COMPOSE = ROOT / "docker-compose.yml"
DASHBOARDS = sorted(generate.GENERATED.glob("*.json"))
_BUILTIN_VARS = {"__rate_interval", "__range", "__interval", "__from", "__to", "__field"}


def test_generated_files_are_current() -> None:
    for path, text in generate.outputs().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `make dashboards`"


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run `make prometheus`"
    check = subprocess.run(
        [promtool, "check", "rules", str(generate.ALERTS)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yaml"], cwd=DASH, capture_output=True, text=True, check=False
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert "SUCCESS" in unit.stdout


def _datasources() -> dict[str, str]:
    out = {}
    for f in (PROVISIONING / "datasources").glob("*.yaml"):
        for ds in yaml.safe_load(f.read_text())["datasources"]:
            out[ds["uid"]] = ds["type"]
    return out


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_lint(path: Path) -> None:
    """What grafana/dashboard-linter would flag (it is not served by the Go module proxy here)."""
    d = json.loads(path.read_text())
    datasources = _datasources()
    defined = {v["name"] for v in d["templating"]["list"]}
    assert d["uid"] and d["title"] and d["panels"]
    seen = set()
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"]["uid"] in datasources
    for panel in d["panels"]:
        title = panel["title"]
        assert title not in seen, f"duplicate panel title {title}"
        seen.add(title)
        assert panel["datasource"]["uid"] in datasources, title
        assert panel.get("description"), f"{title}: no description"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{title}: no unit"
        assert panel.get("targets"), f"{title}: no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), title
        for t in panel["targets"]:
            assert datasources[t["datasource"]["uid"]] == "prometheus"
            used = set(re.findall(r"\$(\w+)", t["expr"]))
            assert used <= defined | _BUILTIN_VARS, f"{title}: undefined variables {used - defined - _BUILTIN_VARS}"
            assert (
                "rate(" not in t["expr"]
                or "[$__rate_interval]" in t["expr"]
                or "[$__range]" in t["expr"]
                or "[5m]" in t["expr"]
            )
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, title


def test_provisioning_references_existing_dashboards_and_datasources() -> None:
    datasources = _datasources()
    assert datasources == {"prometheus": "prometheus", "tempo": "tempo"}
    ds = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yaml").read_text())["datasources"]
    tempo = next(d for d in ds if d["uid"] == "tempo")
    prom = next(d for d in ds if d["uid"] == "prometheus")
    assert tempo["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert prom["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == "tempo"
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text())["providers"]
    compose = yaml.safe_load(COMPOSE.read_text())
    mounts = dict(v.rsplit(":", 2)[:2] for v in compose["services"]["grafana"]["volumes"])
    for p in providers:
        source = next(src for src, dst in mounts.items() if dst == p["options"]["path"])
        assert sorted((ROOT / source).glob("*.json")) == DASHBOARDS
    # Every mounted file or directory exists.
    for name, service in compose["services"].items():
        for v in service.get("volumes", []):
            assert (ROOT / v.split(":")[0]).exists(), (name, v)
    # Time series of live traffic link to their traces in Tempo.
    variants = json.loads((generate.GENERATED / "variant-comparison.json").read_text())
    links = [link["url"] for p in variants["panels"] for link in p["fieldConfig"]["defaults"].get("links", [])]
    assert links and all("%22uid%22:%22tempo%22" in u or "tempo" in u for u in links)


def test_compose_file_is_valid_and_pinned() -> None:
    schema = json.loads((DASH / "vendor" / "compose_spec.json").read_text())
    compose = yaml.safe_load(COMPOSE.read_text())
    jsonschema.Draft201909Validator(schema).validate(compose)
    services = compose["services"]
    assert set(services) == {"collector", "tempo", "prometheus", "grafana", "demo"}
    assert services["collector"]["image"] == "otel/opentelemetry-collector-contrib:0.161.0"
    assert "v0.161.0" in (ROOT / "collector" / "builder-config.yaml").read_text()
    assert services["prometheus"]["image"].startswith("prom/prometheus:v3.")
    grafana_version = services["grafana"]["image"].rsplit(":", 1)[1]
    pin = re.search(r'grafana-foundation-sdk==\d+!([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin and pin.group(1) == grafana_version
    for name, s in services.items():
        if "image" in s and name != "demo":
            assert not s["image"].endswith(":latest") and ":" in s["image"], name
        for port in s.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
        for dep in s.get("depends_on", {}).values():
            assert dep["condition"] == "service_healthy"
        if name != "demo":
            assert s["healthcheck"]["test"], name
