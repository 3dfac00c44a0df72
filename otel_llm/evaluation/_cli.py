"""``otel-llm judge`` and ``otel-llm judge calibrate`` (SPEC §12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from otel_llm.evaluation._calibration import calibrate
from otel_llm.evaluation._io import InputFileError, read_field_records, read_labels
from otel_llm.evaluation._judge import judge
from otel_llm.evaluation._llm_judge import DEFAULT_RUBRIC, LLMJudge, LLMJudgeError
from otel_llm.evaluation._schema import load_schema

judge_app = typer.Typer(
    help="Strict field-level judge of JSON-lines predictions against ground truth.",
    no_args_is_help=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=2)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


@judge_app.callback(invoke_without_command=True)
def judge_command(  # noqa: PLR0917 - typer maps parameters to options
    ctx: typer.Context,
    predictions: Annotated[Path | None, typer.Option(help='Predictions, JSON lines {"id", "fields": {...}}.')] = None,
    truth: Annotated[Path | None, typer.Option(help='Ground truth, JSON lines {"id", "fields": {...}}.')] = None,
    schema: Annotated[
        Path | None, typer.Option(help="JSON Schema with per-field normalisation ('x-normalise').")
    ] = None,
    strict_empty: Annotated[
        bool, typer.Option("--strict-empty", help="Treat empty/blank strings as values, not null.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Field accuracy, null-field hallucination and schema pass rate of predictions against ground truth."""
    if ctx.invoked_subcommand is not None:
        return
    if predictions is None or truth is None:
        raise _fail("--predictions and --truth are required (or use `otel-llm judge calibrate`)")
    try:
        judge_schema = load_schema(schema) if schema is not None else None
        summary = judge(
            read_field_records(predictions),
            read_field_records(truth),
            judge_schema,
            strict_empty=strict_empty,
        )
    except InputFileError as exc:
        raise _fail(str(exc)) from None
    result = summary.to_dict()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    console = Console()
    table = Table(title="Strict judge")
    for column in ("field", "n", "accuracy", "null refs", "hallucinated", "missed"):
        table.add_column(column, justify="left" if column == "field" else "right")
    for name, stats in result["per_field"].items():
        table.add_row(
            name,
            str(stats["n"]),
            _pct(stats["accuracy"]),
            str(stats["n_null"]),
            str(stats["hallucinated"]),
            str(stats["missed"]),
        )
    console.print(table)
    console.print(
        f"field accuracy {_pct(summary.field_accuracy)} over {summary.n_fields} fields · "
        f"hallucination {_pct(summary.hallucination_rate)} over {summary.n_null_fields} null fields · "
        f"schema pass {_pct(summary.schema_pass_rate)} · records {summary.n_records} "
        f"(missing predictions {summary.n_missing_predictions})",
        highlight=False,
    )


@judge_app.command("calibrate")
def calibrate_command(
    judge_file: Annotated[Path, typer.Option("--judge", help='Judge labels, JSON lines {"id", "label"}.')],
    human_file: Annotated[Path, typer.Option("--human", help='Human labels, JSON lines {"id", "label"}.')],
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Agreement, Cohen's kappa and confusion matrix of judge labels vs human labels; passes at ≥ 0.90."""
    try:
        result = calibrate(read_labels(judge_file), read_labels(human_file))
    except InputFileError as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:
        raise _fail(f"{judge_file} / {human_file}: {exc}") from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console = Console()
    table = Table(title="Confusion matrix (rows: human, columns: judge)")
    table.add_column("human \\ judge")
    for label in result.labels:
        table.add_column(label, justify="right")
    for label, row in zip(result.labels, result.confusion, strict=True):
        table.add_row(label, *map(str, row))
    console.print(table)
    kappa = "undefined" if result.kappa is None else f"{result.kappa:.3f}"
    verdict = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
    console.print(
        f"n {result.n} · agreement {result.agreement:.3f} · Cohen's kappa {kappa} · "
        f"{verdict} (threshold {result.threshold:.2f})",
        highlight=False,
    )


@judge_app.command("llm")
def llm_command(  # noqa: PLR0917 - typer maps parameters to options
    predictions: Annotated[Path, typer.Option(help='Predictions, JSON lines {"id", "fields"}.')],
    truth: Annotated[Path, typer.Option(help='Ground truth, JSON lines {"id", "fields"}.')],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible API root, e.g. http://localhost:8000/v1.")],
    model: Annotated[str, typer.Option(help="Judge model name.")],
    output: Annotated[Path, typer.Option(help='Where to write labels, JSON lines {"id", "label", "reason"}.')],
    api_key_env: Annotated[
        str | None, typer.Option(help="Name of the environment variable holding the API key.")
    ] = None,
    rubric: Annotated[Path | None, typer.Option(help="Text file with the grading rubric.")] = None,
) -> None:
    """Grade predictions with an LLM judge; calibrate its labels with `otel-llm judge calibrate`."""
    import os

    try:
        preds = read_field_records(predictions)
        refs = read_field_records(truth)
        rubric_text = rubric.read_text(encoding="utf-8") if rubric is not None else DEFAULT_RUBRIC
    except (InputFileError, OSError) as exc:
        raise _fail(str(exc)) from None
    api_key = os.environ.get(api_key_env) if api_key_env else None
    grader = LLMJudge(base_url=base_url, model=model, api_key=api_key, rubric=rubric_text)
    rows: list[dict[str, Any]] = []
    try:
        for record_id, reference in refs.items():
            verdict = grader.grade(reference, preds.get(record_id))
            rows.append({"id": record_id, "label": verdict.label, "reason": verdict.reason})
    except LLMJudgeError as exc:
        raise _fail(str(exc)) from None
    output.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    typer.echo(f"wrote {len(rows)} labels to {output}")


def register(app: typer.Typer) -> None:
    """Add ``judge`` (and ``judge calibrate`` / ``judge llm``) to the ``otel-llm`` app."""
    app.add_typer(judge_app, name="judge")
