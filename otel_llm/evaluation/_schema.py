"""The judge's schema file: a JSON Schema whose properties may declare their normalisation.

```json
{"type": "object",
 "properties": {
   "invoice_number": {"type": ["string", "null"], "x-normalise": ["trim", "casefold"]},
   "total":          {"type": ["number", "string", "null"], "x-normalise": ["currency", "number"]},
   "issue_date":     {"type": ["string", "null"], "x-normalise": ["date"]}},
 "required": ["invoice_number", "total", "issue_date"],
 "additionalProperties": false}
```

The same document validates predictions (``jsonschema``, kept in this module) and lists the judged fields:
when it has ``properties``, exactly those fields are judged. ``x-normalize`` is accepted as a spelling too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from otel_llm.evaluation._io import InputFileError
from otel_llm.evaluation._normalise import STEPS

NORMALISE_KEYS = ("x-normalise", "x-normalize")


@dataclass(frozen=True)
class JudgeSchema:
    """Judged fields with their declared normalisation steps, plus an optional JSON Schema validator."""

    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    json_schema: Mapping[str, Any] | None = None
    _validator: jsonschema.protocols.Validator | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validator = None if self.json_schema is None else jsonschema.Draft202012Validator(self.json_schema)
        object.__setattr__(self, "_validator", validator)

    def steps(self, name: str) -> tuple[str, ...]:
        return self.fields.get(name, ())

    def validation_errors(self, prediction: Any) -> list[str]:
        """Schema violations of one prediction (empty when valid or when there is no JSON Schema)."""
        if self._validator is None:
            return []
        return [_describe(error) for error in self._validator.iter_errors(prediction)]

    def is_valid(self, prediction: Any) -> bool | None:
        """True/False against the JSON Schema; ``None`` when there is no schema to check."""
        if self._validator is None:
            return None
        return bool(self._validator.is_valid(prediction))


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where or '<root>'}: {error.message}"


def schema_from_mapping(document: Mapping[str, Any], *, source: str = "<schema>") -> JudgeSchema:
    """Build a :class:`JudgeSchema` from an in-memory JSON Schema document."""
    try:
        jsonschema.Draft202012Validator.check_schema(document)
    except jsonschema.SchemaError as exc:
        raise InputFileError(source, f"not a valid JSON Schema: {exc.message}") from exc
    properties = document.get("properties", {})
    fields: dict[str, tuple[str, ...]] = {}
    for name, spec in properties.items():
        steps: Sequence[Any] = ()
        if isinstance(spec, Mapping):
            for key in NORMALISE_KEYS:
                if key in spec:
                    steps = spec[key]
        if isinstance(steps, str):
            steps = [steps]
        unknown = [step for step in steps if step not in STEPS]
        if unknown:
            raise InputFileError(
                source,
                f"field {name!r}: unknown normalisation {unknown[0]!r} (known: {', '.join(sorted(STEPS))})",
            )
        fields[str(name)] = tuple(steps)
    return JudgeSchema(fields=fields, json_schema=dict(document))


def load_schema(path: str | Path) -> JudgeSchema:
    """Load a schema file (JSON, or YAML when it ends in ``.yaml``/``.yml``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        document = yaml.safe_load(text) if path.suffix in {".yaml", ".yml"} else json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputFileError(path, f"invalid YAML: {exc}", line) from exc
    if not isinstance(document, dict):
        raise InputFileError(path, "the schema must be a JSON object")
    return schema_from_mapping(document, source=str(path))
