"""``otel-llm sample-size`` (SPEC §12): observations per variant for a two-proportion test."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from otel_llm.stats._power import sample_size_proportions


def sample_size(  # noqa: PLR0917 - typer maps each parameter to an option
    baseline: Annotated[
        float, typer.Option("--baseline", help="Control's current rate, a proportion in (0, 1), e.g. 0.941.")
    ],
    mde: Annotated[
        float,
        typer.Option(
            "--mde",
            help="Minimum detectable difference: absolute (0.02 = 2 points) unless --relative (0.05 = 5 %).",
        ),
    ],
    relative: Annotated[bool, typer.Option("--relative", help="Read --mde as a fraction of the baseline.")] = False,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level (false-positive rate).")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="Chance of detecting a true effect of --mde.")] = 0.8,
    ratio: Annotated[
        float, typer.Option("--ratio", help="n_candidate / n_control, e.g. 0.111 for a 90/10 split.")
    ] = 1.0,
    sides: Annotated[int, typer.Option("--sides", help="2 (two-sided) or 1 (one-sided).")] = 2,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"n_control", "n_candidate", "n_total"} as JSON.')
    ] = False,
) -> None:
    """How many calls each variant needs before a two-proportion test can detect --mde.

    Cohen's h effect size, power model of statsmodels' NormalIndPower (SPEC §15).

    The alternative is baseline + mde, or baseline - mde when that would reach 1.

    Example, 90/10 split, 94.1 % -> 96.1 %: otel-llm sample-size --baseline 0.941 --mde 0.02 --ratio 0.111
    """
    try:
        result = sample_size_proportions(
            baseline, mde, relative=relative, alpha=alpha, power=power, ratio=ratio, sides=sides
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if as_json:
        typer.echo(
            json.dumps({"n_control": result.n_control, "n_candidate": result.n_candidate, "n_total": result.n_total})
        )
        return
    mde_text = f"{mde:.4g} × baseline" if relative else f"{mde:.4g} (absolute)"
    table = Table(title="Sample size, two-proportion test")
    table.add_column("setting")
    table.add_column("value", justify="right")
    for name, value in [
        ("baseline", f"{baseline:.4g}"),
        ("minimum detectable difference", mde_text),
        ("alpha", f"{alpha:g} ({'two' if sides == 2 else 'one'}-sided)"),
        ("power", f"{power:g}"),
        ("ratio candidate/control", f"{ratio:g}"),
        ("n control", f"{result.n_control:,}"),
        ("n candidate", f"{result.n_candidate:,}"),
        ("n total", f"{result.n_total:,}"),
    ]:
        table.add_row(name, value)
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``sample-size`` to the ``otel-llm`` command line."""
    app.command("sample-size")(sample_size)
