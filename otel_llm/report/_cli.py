"""``otel-llm report`` (SPEC §12)."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from otel_llm.evaluation import InputFileError
from otel_llm.report._build import Report, ReportError, build_report
from otel_llm.report._srm import parse_split


class Format(StrEnum):
    table = "table"
    json = "json"
    html = "html"


class FailOn(StrEnum):
    rollback = "rollback"
    hold = "hold"


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=2)


def report_command(  # noqa: PLR0917 - typer maps parameters to options
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="OTLP JSON-lines files (collector file exporter format); none with --prometheus."),
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="Experiment id (needed when files hold several).")] = None,
    control: Annotated[str | None, typer.Option(help="Control variant (default: 'control').")] = None,
    truth: Annotated[
        Path | None,
        typer.Option(help='Ground truth, JSON lines {"id", "fields"}, joined on llm.document.id.'),
    ] = None,
    schema: Annotated[Path | None, typer.Option(help="Judge schema (JSON Schema with 'x-normalise').")] = None,
    output_format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    output: Annotated[Path | None, typer.Option(help="Write the output here instead of stdout.")] = None,
    fail_on: Annotated[
        FailOn | None, typer.Option(help="Exit with status 1 when the decision is this (or worse).")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Expected split for SRM, e.g. control=90,candidate=10.")] = None,
    experiments: Annotated[
        Path | None, typer.Option(help="Experiments file (SPEC §7.1) to read the expected split from.")
    ] = None,
    prometheus: Annotated[
        str | None, typer.Option(help="Prometheus base URL to read aggregated series from instead of files.")
    ] = None,
    strict_empty: Annotated[bool, typer.Option("--strict-empty", help="Blank strings are values.")] = False,
) -> None:
    """Per-variant figures, comparisons, SRM and a ship/hold/rollback decision from exported spans."""
    try:
        weights = parse_split(split) if split else None
        if prometheus:
            if files:
                raise ReportError("give either OTLP JSON-lines files or --prometheus URL, not both")
            from otel_llm.report._prometheus import report_from_prometheus

            report: Report = report_from_prometheus(prometheus, experiment=experiment, control=control, split=weights)
        else:
            if not files:
                raise ReportError("give at least one OTLP JSON-lines file, or --prometheus URL")
            report = build_report(
                files,
                experiment=experiment,
                control=control,
                truth=truth,
                schema=schema,
                split=weights,
                experiments_file=experiments,
                strict_empty=strict_empty,
            )
    except (InputFileError, ReportError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if output_format is Format.table and output is None:
        report.print_table()
    else:
        if output_format is Format.json:
            text = report.to_json()
        elif output_format is Format.html:
            text = report.to_html()
        else:
            text = _table_text(report)
        if output is None:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        else:
            output.write_text(text, encoding="utf-8")
    worse = {"rollback": {"rollback"}, "hold": {"rollback", "hold"}}
    if fail_on is not None and report.decision in worse[fail_on.value]:
        raise typer.Exit(code=1)


def _table_text(report: Report) -> str:
    console = Console(record=True, width=140, file=io.StringIO())
    report.print_table(console)
    return console.export_text()


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``otel-llm`` app."""
    app.command("report")(report_command)
