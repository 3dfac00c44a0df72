"""The ``otel-llm`` command line (SPEC §12).

Each feature keeps its commands beside its code in a ``_cli.py`` module exposing ``register(app)``; this file
only assembles them, so ``otel-llm --help`` lists every command.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="otel-llm",
    help="A/B and shadow tests of LLMs with OpenTelemetry: run the demo, read reports, plan sample sizes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that contribute commands, in the order they appear in --help.
_COMMAND_MODULES: tuple[str, ...] = (
    "otel_llm.demo._cli",
    "otel_llm.routing._cli",
    "otel_llm.report._cli",
    "otel_llm.evaluation._cli",
    "otel_llm.stats._cli",
    "otel_llm.redaction._cli",
)


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(app)


@app.callback()
def _root() -> None:
    """otel-llm command line."""


def main() -> None:
    """Console-script entry point."""
    _register_all()
    app()


if __name__ == "__main__":
    main()
