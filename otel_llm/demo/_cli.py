"""``otel-llm demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from otel_llm.errors import ConfigurationError


def demo(  # noqa: PLR0917 - typer maps parameters to options
    scenario: Annotated[Path | None, typer.Option(help="Scenario YAML (every key optional; SPEC §11).")] = None,
    requests: Annotated[int | None, typer.Option(min=1, help="Live requests sent by the demo app.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for documents, traffic and simulated answers.")] = None,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("otel-llm-demo"),
    collector: Annotated[
        str | None, typer.Option(help="Also send spans to a running collector (OTLP/HTTP base URL).")
    ] = None,
    no_html: Annotated[bool, typer.Option("--no-html", help="Skip report.html.")] = False,
) -> None:
    """Run the seed shadow test end to end: two simulated OpenAI-compatible servers on loopback (control
    gpt-4o-mini, candidate llama-3.1-8b-extract-v4), real openai SDK traffic through otel_llm.instrument() and
    the router (90/10 sticky split, 100 % shadow), redacted content, spans to DIR/spans.jsonl, then the report
    (terminal, DIR/report.json, DIR/report.html) and a verdict."""
    from otel_llm.demo.run import run_demo
    from otel_llm.demo.scenario import load_scenario

    console = Console()
    try:
        sc = load_scenario(scenario)
    except ConfigurationError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    updates = {k: v for k, v in {"requests": requests, "seed": seed}.items() if v is not None}
    if updates:
        sc = sc.model_copy(update=updates)
    result = run_demo(sc, out, collector=collector, html=not no_html, console=console)
    result.report.print_table(console)
    console.print()
    console.print(result.verdict)
    files = ", ".join(str(out / f) for f in ("spans.jsonl", "report.json", "report.html" if not no_html else ""))
    console.print(f"\n[dim]{result.app.sent} requests in {result.seconds:.1f} s; wrote {files.rstrip(', ')}[/dim]")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
