"""``otel-llm demo``: the seed shadow test end to end on loopback servers, then the report (SPEC §11)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from otel_llm.demo.app import EXPERIMENT_ID, AppResult, run_app
from otel_llm.demo.documents import generate
from otel_llm.demo.scenario import Scenario
from otel_llm.demo.server import ServerProcess
from otel_llm.export import OTLPJsonLinesSpanExporter
from otel_llm.report import Report, build_report


class _Tee(SpanExporter):
    def __init__(self, *exporters: SpanExporter) -> None:
        self.exporters = exporters

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        results = [e.export(spans) for e in self.exporters]
        return SpanExportResult.SUCCESS if all(r is SpanExportResult.SUCCESS for r in results) else results[0]

    def shutdown(self) -> None:
        for e in self.exporters:
            e.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(e.force_flush(timeout_millis) for e in self.exporters)


@dataclass
class DemoResult:
    out_dir: Path
    app: AppResult
    report: Report
    seconds: float
    pii_leaks: int
    verdict: str


def _collector_exporter(url: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = url.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    return OTLPSpanExporter(endpoint=endpoint, timeout=10)


def count_pii(path: Path, invoices: Sequence[Any]) -> int:
    """How many of the documents' emails and phone numbers appear in the exported spans (should be 0)."""
    needles = {v for inv in invoices for k in ("customer_email", "customer_phone") if (v := inv.fields.get(k))}
    leaks = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            leaks += sum(1 for n in needles if n in line)
    return leaks


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f} %"


def verdict_paragraph(data: dict[str, Any], pii_leaks: int) -> str:
    """The seed's terms (accuracy gain, cost cut, latency, null-field hallucination risk, then the verdict and its
    basis), from the report's paired shadow comparisons with their 95 % intervals when there are any, else from
    the per-variant figures."""
    paired = [row for row in (data.get("shadow") or {}).get("comparisons", []) if row.get("variant") == "candidate"]
    if not paired:
        return _verdict_from_figures(data, pii_leaks)
    rows = {row["metric"]: row for row in paired}
    n_pairs = int(paired[0].get("n_pairs", 0))

    def ok(row: dict[str, Any]) -> bool:
        keys = ("control", "candidate", "delta", "ci_low", "ci_high")
        return all(isinstance(row.get(k), int | float) for k in keys)

    def points(x: float) -> str:
        return f"{x * 100:+.2f}"

    def usd(x: float) -> str:
        return f"{'-' if x < 0 else '+'}${abs(x):.3f}"

    parts = []
    acc = rows.get("field_accuracy")
    if acc is not None and ok(acc):
        parts.append(
            f"field accuracy {_pct(acc['control'])} → {_pct(acc['candidate'])} ({points(acc['delta'])} points, "
            f"95 % CI {points(acc['ci_low'])} to {points(acc['ci_high'])})"
        )
    cost = rows.get("cost_per_1k_requests_usd")
    if cost is not None and ok(cost) and cost["control"]:
        parts.append(
            f"cost ${cost['control']:.2f} → ${cost['candidate']:.2f} per 1k requests "
            f"({cost['delta'] / cost['control'] * 100:+.0f} %; Δ {usd(cost['delta'])}, "
            f"CI {usd(cost['ci_low'])} to {usd(cost['ci_high'])})"
        )
    latency = []
    for metric, label in (("latency_p50", "p50"), ("latency_p99", "p99")):
        row = rows.get(metric)
        if row is not None and ok(row) and row["control"]:
            latency.append(
                f"{label} {row['control']:.0f} → {row['candidate']:.0f} ms "
                f"({row['delta'] / row['control'] * 100:+.0f} %; Δ {row['delta']:+.0f} ms, "
                f"CI {row['ci_low']:+.0f} to {row['ci_high']:+.0f})"
            )
    if latency:
        parts.append("latency " + ", ".join(latency) + " (measured, time-compressed)")
    risk = ""
    hal = rows.get("hallucination_rate")
    if hal is not None and ok(hal):
        margin = hal.get("margin")
        beyond = f"; the guardrail allows {points(margin)}" if isinstance(margin, int | float) else ""
        risk = (
            f" The risk is on null fields: the candidate fills in {hal['candidate'] * 100:.2f} % of fields the "
            f"document does not state, against {hal['control'] * 100:.2f} % for control "
            f"({points(hal['delta'])} points, CI {points(hal['ci_low'])} to {points(hal['ci_high'])}{beyond})."
        )
    v = data.get("variants", {})
    split = ", ".join(f"{n} {v.get(n, {}).get('requests', 0)}" for n in ("control", "candidate"))
    decision = str(data.get("decision", "hold"))
    basis = data.get("decision_basis", "live")
    basis_text = f"based on shadow traffic ({n_pairs:,} pairs)" if basis == "shadow" else "based on live traffic"
    reasons = [r for r in data.get("reasons", []) if "decision based on shadow traffic" not in r]
    why = "; ".join(reasons[:3])
    return (
        f"Shadow test of {EXPERIMENT_ID} on {n_pairs:,} requests mirrored to the candidate and paired with the "
        f"control's answer to the same request (live split {split}): "
        + "; ".join(parts)
        + "."
        + risk
        + f" PII found in exported spans: {pii_leaks}. Verdict: {decision.upper()}, {basis_text}"
        + (f" — {why}." if why else ".")
    )


def _verdict_from_figures(data: dict[str, Any], pii_leaks: int) -> str:
    v = data["variants"]
    c, k = v.get("control", {}), v.get("candidate", {})
    shadow = (data.get("shadow") or {}).get("variants", {}).get("candidate", {})
    cand = shadow if shadow.get("requests") else k

    def num(d: dict[str, Any], key: str, sub: str | None = None) -> float | None:
        value = d.get(key)
        if sub is not None and isinstance(value, dict):
            value = value.get(sub)
        return value if isinstance(value, int | float) else None

    acc_c, acc_k = num(c, "field_accuracy"), num(cand, "field_accuracy")
    cost_c, cost_k = num(c, "cost_per_1k_requests_usd"), num(cand, "cost_per_1k_requests_usd")
    p50_c, p50_k = num(c, "latency_ms", "p50"), num(cand, "latency_ms", "p50")
    hal_c, hal_k = num(c, "hallucination_rate"), num(cand, "hallucination_rate")
    parts = []
    if acc_c is not None and acc_k is not None:
        parts.append(f"field accuracy {_pct(acc_c)} → {_pct(acc_k)} ({(acc_k - acc_c) * 100:+.1f} points)")
    if cost_c and cost_k is not None:
        parts.append(f"cost ${cost_c:.2f} → ${cost_k:.2f} per 1k requests ({(cost_k / cost_c - 1) * 100:+.0f} %)")
    if p50_c and p50_k is not None:
        parts.append(f"p50 latency {p50_c:.0f} → {p50_k:.0f} ms (measured, time-compressed)")
    risk = ""
    if hal_c is not None and hal_k is not None:
        risk = (
            f" The risk is on null fields: the candidate fills in {_pct(hal_k)} of fields the document does "
            f"not state, against {_pct(hal_c)} for control."
        )
    split = ", ".join(f"{n} {v.get(n, {}).get('requests', 0)}" for n in ("control", "candidate"))
    decision = data.get("decision", "hold")
    reasons = "; ".join(data.get("reasons", [])[:3])
    return (
        f"Shadow test of {EXPERIMENT_ID} (candidate measured on 100 % mirrored traffic, live split "
        f"{split}): "
        + "; ".join(parts)
        + "."
        + risk
        + f" PII found in exported spans: {pii_leaks}. Verdict: {decision.upper()}"
        + (f" — {reasons}." if reasons else ".")
    )


def run_demo(
    scenario: Scenario,
    out_dir: Path,
    *,
    collector: str | None = None,
    html: bool = True,
    console: Console | None = None,
    progress: bool = True,
) -> DemoResult:
    console = console or Console()
    t0 = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    spans_path = out_dir / "spans.jsonl"
    spans_path.unlink(missing_ok=True)
    invoices = generate(scenario.documents, scenario.seed)
    with (out_dir / "truth.jsonl").open("w", encoding="utf-8") as fh:
        for inv in invoices:
            fh.write(json.dumps({"id": inv.id, "fields": inv.fields}) + "\n")
    servers = {
        name: ServerProcess(
            name, spec, documents=scenario.documents, seed=scenario.seed, time_scale=scenario.time_scale
        )
        for name, spec in scenario.variants.items()
    }
    file_exporter = OTLPJsonLinesSpanExporter(spans_path)
    exporter: SpanExporter = file_exporter
    if collector:
        exporter = _Tee(file_exporter, _collector_exporter(collector))
    try:
        with Progress(
            TextColumn("[bold]demo traffic"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not progress,
            transient=True,
        ) as bar:
            task = bar.add_task("requests", total=scenario.requests)
            app = run_app(
                scenario,
                invoices,
                {n: s.url for n, s in servers.items()},
                exporter,
                out_dir,
                on_progress=lambda n: bar.advance(task, n),
            )
    finally:
        for s in servers.values():
            s.stop()
    report = build_report(
        [spans_path], experiment=EXPERIMENT_ID, control="control", split=dict(scenario.split), progress=False
    )
    (out_dir / "report.json").write_text(report.to_json(), encoding="utf-8")
    if html:
        (out_dir / "report.html").write_text(report.to_html(), encoding="utf-8")
    leaks = count_pii(spans_path, invoices)
    verdict = verdict_paragraph(report.data, leaks)
    return DemoResult(out_dir, app, report, time.monotonic() - t0, leaks, verdict)
