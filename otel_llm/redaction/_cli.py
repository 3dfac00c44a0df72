"""``otel-llm redact``: try redaction settings on a text, or print the Collector processor config."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from otel_llm.errors import ConfigurationError


def redact(
    text: Annotated[str | None, typer.Argument(help="Text to redact; '-' or nothing reads standard input.")] = None,
    *,
    mode: Annotated[str, typer.Option(help="patterns (default, fast) or ner (adds PERSON/LOCATION/ORG).")] = "patterns",
    operator: Annotated[str, typer.Option(help="replace (<ENTITY>), mask (****) or hash (HMAC).")] = "replace",
    hmac_key: Annotated[
        str | None, typer.Option(help="Key for --operator hash (default: $OTEL_LLM_REDACTION_HMAC_KEY).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings and the redacted text as JSON.")] = False,
    collector_config: Annotated[
        bool, typer.Option("--collector-config", help="Print the rules as a Collector redaction processor.")
    ] = False,
) -> None:
    """Print TEXT with PII and secrets redacted, as the SDK would export it."""
    if collector_config:
        from otel_llm.redaction._collector import collector_processor_yaml

        typer.echo(collector_processor_yaml(), nl=False)
        return
    from otel_llm.redaction._presidio import PresidioRedactor

    source = sys.stdin.read() if text in (None, "-") else text
    assert source is not None
    try:
        redactor = PresidioRedactor(mode=mode, operator=operator, hmac_key=hmac_key)  # type: ignore[arg-type]
        redacted = redactor.redact(source)
        findings = redactor.analyze(source)
    except (ConfigurationError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        payload = {
            "redacted": redacted,
            "entities": [
                {"entity_type": entity, "start": start, "end": end, "score": round(score, 3)}
                for entity, start, end, score in findings
            ],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        typer.echo(redacted, nl=not redacted.endswith("\n"))


def register(app: typer.Typer) -> None:
    app.command("redact")(redact)
