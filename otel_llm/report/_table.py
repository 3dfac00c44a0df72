"""The report as rich terminal tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from otel_llm.report._build import Report

_DECISION_STYLE = {"ship": "bold green", "hold": "bold yellow", "rollback": "bold red"}


def _pct(value: Any, ci: Any = None) -> str:
    if value is None:
        return "—"
    text = f"{value:.2%}"
    if ci and ci[0] is not None:
        text += f" [dim]({ci[0]:.2%}–{ci[1]:.2%})[/dim]"
    return text


def _num(value: Any, unit: str = "", digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def _variant_rows(variants: dict[str, Any]) -> list[tuple[str, list[str]]]:
    def col(render: Any) -> list[str]:
        return [render(figures) for figures in variants.values()]

    return [
        ("requests", col(lambda f: f"{f['requests']:,}")),
        ("error rate", col(lambda f: _pct(f["error_rate"], f["error_rate_ci"]))),
        ("latency p50", col(lambda f: _num(f["latency_ms"]["p50"], " ms"))),
        ("latency p95", col(lambda f: _num(f["latency_ms"]["p95"], " ms"))),
        ("latency p99", col(lambda f: _num(f["latency_ms"]["p99"], " ms"))),
        ("TTFT p50", col(lambda f: _num(f["ttft_ms"]["p50"], " ms"))),
        ("input tokens / req", col(lambda f: _num(f["input_tokens_per_request"], "", 1))),
        ("output tokens / req", col(lambda f: _num(f["output_tokens_per_request"], "", 1))),
        ("cost total", col(lambda f: _num(f["cost_usd"], "", 4).join(("$", "")))),
        ("cost / 1k requests", col(lambda f: _num(f["cost_per_1k_requests_usd"], "", 4).join(("$", "")))),
        ("field accuracy", col(lambda f: _pct(f["field_accuracy"], f["field_accuracy_ci"]))),
        ("hallucination rate", col(lambda f: _pct(f["hallucination_rate"], f["hallucination_rate_ci"]))),
        ("schema pass rate", col(lambda f: _pct(f["schema_pass_rate"], f["schema_pass_rate_ci"]))),
        ("fallback rate", col(lambda f: _pct(f["fallback_rate"], f["fallback_rate_ci"]))),
        ("fields / null fields", col(lambda f: f"{f['n_fields']:,} / {f['n_null_fields']:,}")),
    ]


def _figures_table(title: str, variants: dict[str, Any]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    for name in variants:
        table.add_column(name, justify="right")
    for label, cells in _variant_rows(variants):
        table.add_row(label, *cells)
    return table


def _comparison_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("variant", "metric", "control", "candidate", "delta", "95% CI", "p (Holm)", ""):
        table.add_column(column, justify="left" if column in {"variant", "metric"} else "right")
    for row in rows:
        table.add_row(
            row["variant"],
            row["metric"],
            _g(row["control"]),
            _g(row["candidate"]),
            _g(row["delta"], "{:+.4g}"),
            f"[{_g(row['ci_low'])}, {_g(row['ci_high'])}]",
            _g(row["p_value_holm"], "{:.3g}"),
            "significant" if row["significant"] else "",
        )
    return table


def _g(value: Any, fmt: str = "{:.4g}") -> str:
    return "—" if value is None else fmt.format(value)


def print_table(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    data = report.data
    console.print(_figures_table(f"Experiment {data['experiment']} — live traffic", data["variants"]))
    if data["comparisons"]:
        console.print(
            _comparison_table(f"Candidate vs control ({data['control']}), live, Holm-corrected", data["comparisons"])
        )
    if data["shadow"]["variants"]:
        console.print(_figures_table("Shadow traffic (never in the live figures)", data["shadow"]["variants"]))
        for pair in data["shadow"]["paired"]:
            diff = pair["latency_ms_mean_diff"]
            accuracy = pair.get("field_accuracy")
            text = (
                f"paired {pair['shadow_variant']} (shadow) vs {pair['primary_variant']}"
                f" on {pair['n_pairs']:,} traces: latency diff {_num(diff and diff['estimate'], ' ms', 1)}"
            )
            if accuracy:
                text += f", field accuracy {_pct(accuracy['shadow'])} vs {_pct(accuracy['primary'])}"
            console.print(text)
        if data["shadow"].get("comparisons"):
            rows = data["shadow"]["comparisons"]
            title = (
                f"Candidate as shadow vs {data['control']} as primary, same requests "
                f"({rows[0]['n_pairs']:,} pairs, paired bootstrap), Holm-corrected"
            )
            console.print(_comparison_table(title, rows))
    srm = data["srm"]
    srm_text = "not checked" if srm["ok"] is None else f"p = {srm['p_value']:.3g} ({'ok' if srm['ok'] else 'MISMATCH'})"
    console.print(f"SRM: {srm_text}")
    style = _DECISION_STYLE.get(data["decision"], "bold")
    basis = data.get("decision_basis", "live")
    basis_text = "shadow traffic (live comparison inconclusive)" if basis == "shadow" else "live traffic"
    console.print(f"Decision: [{style}]{data['decision'].upper()}[/{style}] — based on {basis_text}")
    for reason in data["reasons"]:
        console.print(f"  • {reason}", highlight=False)
