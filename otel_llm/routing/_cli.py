"""``otel-llm experiments ...`` and ``otel-llm rollout ...`` (SPEC §12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from otel_llm.errors import ConfigurationError
from otel_llm.routing import loader
from otel_llm.routing.config import json_schema_text
from otel_llm.routing.guardrails import PrometheusSource
from otel_llm.routing.rollout import Rollout, Status

experiments_app = typer.Typer(help="Experiments files: validate, print the JSON Schema.", no_args_is_help=True)
rollout_app = typer.Typer(help="Phased rollouts with guardrails; edits the experiments file.", no_args_is_help=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Experiments file (YAML).")]
ExperimentOpt = Annotated[
    str | None, typer.Option("--experiment", "-e", help="Experiment id (needed when several have rollouts).")
]
PrometheusOpt = Annotated[str | None, typer.Option("--prometheus", help="Prometheus base URL for guardrail metrics.")]


@experiments_app.command("validate")
def validate(file: Annotated[Path, typer.Argument(help="Experiments file to check.")]) -> None:
    """Validate an experiments file; prints OK or every error with its line number."""
    try:
        cfg = loader.load(file)
    except loader.ExperimentsFileError as exc:
        for problem in exc.problems:
            typer.echo(f"{file}:{problem}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"OK: {file} ({len(cfg.experiments)} experiment{'s' if len(cfg.experiments) != 1 else ''})")


@experiments_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the experiments file (for editors)."""
    typer.echo(json_schema_text(), nl=False)


def _rollout(config: Path, prometheus: str | None) -> Rollout:
    return Rollout(config, PrometheusSource(prometheus) if prometheus else None)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _print(st: Status, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(st.as_dict(), indent=2))
        return
    typer.echo(f"experiment {st.experiment_id}: {st.status}, phase {st.phase} of {len(st.phases) - 1}")
    typer.echo("  weights: " + ", ".join(f"{k}={v:g}" for k, v in st.weights.items()))
    if st.reason:
        typer.echo(f"  reason: {st.reason}")
    if st.control is not None and st.candidate is not None:
        typer.echo(f"  samples: control {st.control.samples}, candidate {st.candidate.samples}")
    for c in st.checks:
        mark = {True: "pass", False: "FAIL", None: "n/a"}[c.passed]
        typer.echo(f"  {c.name:<20} {mark:<5} control={c.control} candidate={c.candidate} ({c.detail})")


@rollout_app.command("status")
def status(
    config: ConfigOpt,
    experiment: ExperimentOpt = None,
    prometheus: PrometheusOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the phase, weights and guardrails of a rollout."""
    try:
        _print(_rollout(config, prometheus).status(experiment), as_json)
    except (ConfigurationError, OSError) as exc:
        raise _fail(exc) from None


@rollout_app.command("advance")
def advance(
    config: ConfigOpt,
    experiment: ExperimentOpt = None,
    prometheus: PrometheusOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Advance without metrics.")] = False,
) -> None:
    """Go to the next phase if every guardrail passes; pause on a breach."""
    try:
        result = _rollout(config, prometheus).advance(experiment, force=force)
    except (ConfigurationError, OSError) as exc:
        raise _fail(exc) from None
    typer.echo(result)
    if result.startswith("paused"):
        raise typer.Exit(2)


@rollout_app.command("pause")
def pause(
    config: ConfigOpt,
    experiment: ExperimentOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Recorded in the file.")] = "paused by operator",
) -> None:
    """Send the candidate's share back to control and record why."""
    try:
        _rollout(config, None).pause(experiment, reason=reason)
    except (ConfigurationError, OSError) as exc:
        raise _fail(exc) from None
    typer.echo("paused")


@rollout_app.command("resume")
def resume(config: ConfigOpt, experiment: ExperimentOpt = None) -> None:
    """Give the candidate the current phase's weight again."""
    try:
        _rollout(config, None).resume(experiment)
    except (ConfigurationError, OSError) as exc:
        raise _fail(exc) from None
    typer.echo("resumed")


def register(app: typer.Typer) -> None:
    app.add_typer(experiments_app, name="experiments")
    app.add_typer(rollout_app, name="rollout")
