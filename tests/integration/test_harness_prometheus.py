"""The Prometheus fixture loads rule files, so alert and recording rules can be tested against live data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration

RULES = """\
groups:
  - name: harness
    rules:
      - record: otel_llm:collector_up:count
        expr: count(up{job="otelcol-llm"} == 1)
      - alert: CollectorScraped
        expr: up{job="otelcol-llm"} == 1
"""


def test_rule_files_are_evaluated_on_live_scrapes(llm_stack, start_prometheus, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    prom = start_prometheus({"otelcol-llm": [llm_stack.collector.prometheus_target]}, rule_files=[rules])
    prom.wait_for_values("otel_llm:collector_up:count", {(): 1.0})
    firing = wait_until(
        lambda: [a for a in prom.alerts() if a["labels"]["alertname"] == "CollectorScraped" and a["state"] == "firing"],
        timeout=20,
        what="CollectorScraped firing",
    )
    assert len(firing) == 1
