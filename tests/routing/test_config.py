"""Experiments file: model, line-numbered errors, published schema, hot reload (SPEC §7.1, §14)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from otel_llm.routing import ExperimentsFileError, Router, load, parse
from otel_llm.routing._cli import register
from otel_llm.routing.config import json_schema
from otel_llm.routing.loader import Reloader

SPEC_EXAMPLE = """\
experiments:
  - id: invoice-extractor-ft
    assign_by: header:X-Session-Id      # or: body:user | context | random
    variants:
      - {name: control,   weight: 90, model: gpt-4o-mini, base_url: https://api.openai.com/v1, prompt_version: v6}
      - {name: candidate, weight: 10, model: llama-3.1-8b-extract-v4, base_url: http://vllm:8000/v1,
         prompt_version: v6-ft, api_key_env: CANDIDATE_API_KEY}
    shadow: {variant: candidate, sample: 1.0, max_in_flight: 32, timeout_s: 10}
    fallback: {variant: control, on: [timeout, 5xx, 429, connect_error]}
    circuit_breaker: {failure_rate: 0.5, min_calls: 20, window_s: 60, cooldown_s: 30}
    rollout: {phases: [10, 50, 90, 100], min_samples_per_phase: 1500, guardrails: {error_rate: {max_delta: 0.01}}}
    enabled: true                       # kill switch; the file is re-read on change (hot reload)
"""


def errors_of(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ExperimentsFileError) as info:
        parse(text)
    return [(p.line, f"{p.loc}: {p.message}") for p in info.value.problems]


def test_spec_example_loads() -> None:
    cfg = parse(SPEC_EXAMPLE)
    exp = cfg.experiments[0]
    assert [v.name for v in exp.variants] == ["control", "candidate"]
    assert exp.fallback is not None and exp.fallback.on == ["timeout", "5xx", "429", "connect_error"]
    assert exp.shadow is not None and exp.shadow.max_in_flight == 32
    assert exp.control_name == "control" and exp.candidate_name() == "candidate"


@pytest.mark.parametrize(
    ("old", "new", "line", "needle"),
    [
        ("weight: 10,", "weight: 15,", 4, "sum to 100, got 105"),
        ("variant: control, on", "variant: contrl, on", 9, "unknown variant 'contrl'"),
        ("max_in_flight: 32", "max_in_flight: -1", 8, "shadow.max_in_flight"),
        ("api_key_env: CANDIDATE_API_KEY", "api_key: sk-live-123", 7, "api_key_env"),
        ("cooldown_s: 30}", "cooldown_s: 30, colour: red}", 10, "colour: Extra inputs"),
        ("assign_by: header:X-Session-Id", "assign_by: cookie:sid", 3, "assign_by"),
        ("on: [timeout, 5xx, 429, connect_error]", "on: [timeout, 404]", 9, "fallback.on[1]"),
        ("phases: [10, 50, 90, 100]", "phases: [10, 90, 50]", 11, "strictly increasing"),
    ],
)
def test_errors_name_the_line(old: str, new: str, line: int, needle: str) -> None:
    assert old in SPEC_EXAMPLE
    problems = errors_of(SPEC_EXAMPLE.replace(old, new))
    assert any(ln == line and needle in msg for ln, msg in problems), problems


def test_inline_api_key_is_rejected_with_advice() -> None:
    [(line, msg)] = errors_of(SPEC_EXAMPLE.replace("api_key_env: CANDIDATE_API_KEY", "api_key: sk-live-123"))
    assert line == 7
    assert "environment variable" in msg and "sk-live-123" not in msg


def test_yaml_syntax_error_has_line() -> None:
    [(line, msg)] = errors_of("experiments:\n  - id: x\n    variants: [{name: a, weight: 100}\n  - y\n")
    assert line == 4 and "YAML syntax" in msg


def test_duplicate_names_and_missing_fields() -> None:
    text = "experiments:\n  - id: x\n    variants:\n      - {name: a, weight: 50}\n      - {name: a, weight: 50}\n"
    assert errors_of(text) == [(5, "experiments[0].variants[1].name: duplicate variant name 'a'")]
    [(line, msg)] = errors_of("experiments:\n  - id: x\n    variants:\n      - {name: a}\n")
    assert line == 4 and "weight: Field required" in msg


def test_published_schema_is_current() -> None:
    published = Path(__file__).parents[2] / "otel_llm" / "routing" / "experiments.schema.json"
    assert json.loads(published.read_text()) == json_schema(), (
        "regenerate with: otel-llm experiments schema > otel_llm/routing/experiments.schema.json"
    )


app = typer.Typer()
register(app)


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_cli_validate(cli: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(SPEC_EXAMPLE)
    result = cli.invoke(app, ["experiments", "validate", str(good)])
    assert result.exit_code == 0 and result.output.startswith("OK")
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC_EXAMPLE.replace("weight: 10,", "weight: 15,"))
    result = cli.invoke(app, ["experiments", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:line 4:" in result.output and "sum to 100" in result.output


def _bump(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # coarse-mtime file systems


def test_hot_reload_good_then_bad_keeps_last_good(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(SPEC_EXAMPLE)
    reloader = Reloader(path, interval_s=0.0)
    assert reloader.maybe_reload() is False  # unchanged
    _bump(path, SPEC_EXAMPLE.replace("enabled: true", "enabled: false"))
    assert reloader.maybe_reload() is True
    assert reloader.config.experiments[0].enabled is False
    with caplog.at_level(logging.ERROR, logger="otel_llm.routing"):
        _bump(path, SPEC_EXAMPLE.replace("weight: 10,", "weight: 15,"))
        assert reloader.maybe_reload() is False
    assert reloader.config.experiments[0].enabled is False  # last good config kept
    assert reloader.last_error is not None and "line 4" in str(reloader.last_error)
    assert "keeping the last good config" in caplog.text


def test_reload_is_rate_limited(tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(SPEC_EXAMPLE)
    reloader = Reloader(path, interval_s=3600)
    _bump(path, SPEC_EXAMPLE.replace("enabled: true", "enabled: false"))
    assert reloader.maybe_reload() is False  # not due yet: no stat on the hot path
    assert reloader.reload() is True


def test_kill_switch_reaches_router_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(SPEC_EXAMPLE.replace("weight: 90", "weight: 0").replace("weight: 10,", "weight: 100,"))
    router = Router(path, reload_interval_s=0.2, environ={})
    assert router.assign("invoice-extractor-ft", "s1") == "candidate"
    _bump(path, path.read_text().replace("enabled: true", "enabled: false"))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        router.maybe_reload()
        if router.assign("invoice-extractor-ft", "s1") == "control":
            break
        time.sleep(0.02)
    assert router.assign("invoice-extractor-ft", "s1") == "control"
    router.close()


def test_load_reports_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ExperimentsFileError, match="cannot read"):
        load(tmp_path / "missing.yaml")
