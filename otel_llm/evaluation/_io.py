"""Reading the judge's input files (JSON lines) with errors that name the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from otel_llm.errors import OtelLLMError


class InputFileError(OtelLLMError, ValueError):
    """A file given to ``otel-llm judge`` / ``report`` cannot be read; the message names the file and line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def iter_json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for each non-blank line of a JSON-lines file."""
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed in finally, generator
    except OSError as exc:
        raise InputFileError(path, f"cannot open: {exc.strerror or exc}") from exc
    try:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputFileError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", number) from exc
    except UnicodeDecodeError as exc:
        raise InputFileError(path, f"not UTF-8 text: {exc.reason}") from exc
    finally:
        handle.close()


def read_field_records(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read ``{"id": ..., "fields": {...}}`` lines into ``{id: fields}``; duplicate ids are an error."""
    records: dict[str, dict[str, Any]] = {}
    for number, value in iter_json_lines(path):
        if not isinstance(value, dict) or "id" not in value:
            raise InputFileError(path, 'expected an object with "id" and "fields"', number)
        fields = value.get("fields")
        if not isinstance(fields, dict):
            raise InputFileError(path, '"fields" must be a JSON object', number)
        record_id = str(value["id"])
        if record_id in records:
            raise InputFileError(path, f"duplicate id {record_id!r}", number)
        records[record_id] = fields
    return records


def read_labels(path: str | Path) -> dict[str, str]:
    """Read ``{"id": ..., "label": ...}`` lines (label: string, bool or number) into ``{id: label}``."""
    labels: dict[str, str] = {}
    for number, value in iter_json_lines(path):
        if not isinstance(value, dict) or "id" not in value or "label" not in value:
            raise InputFileError(path, 'expected an object with "id" and "label"', number)
        label = value["label"]
        if isinstance(label, bool):
            label = "pass" if label else "fail"
        elif not isinstance(label, str | int | float) or label is None:
            raise InputFileError(path, '"label" must be a string, boolean or number', number)
        record_id = str(value["id"])
        if record_id in labels:
            raise InputFileError(path, f"duplicate id {record_id!r}", number)
        labels[record_id] = str(label)
    return labels
