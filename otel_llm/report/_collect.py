"""Compact per-call records grouped by experiment, variant and route (SPEC §15 "Which calls count where").

Each LLM span becomes one row of typed ``array`` columns (about 100 bytes), never a kept dict, so memory
grows with the number of calls and not with the size of the spans. Ground-truth judging happens while
streaming, so the model's output text is never kept either.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_llm import attributes as A
from otel_llm.evaluation import FieldStats, JudgeSchema, RecordResult, judge_record
from otel_llm.report._otlp import STATUS_ERROR, SpanView

ROUTE_PRIMARY = 0
ROUTE_FALLBACK = 1
ROUTE_SHADOW = 2
_NAN = math.nan
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)

_FLOAT_COLUMNS = ("start_s", "duration_ms", "ttft_ms", "input_tokens", "output_tokens", "cost", "weight")
_INT_COLUMNS = ("fields_total", "fields_correct", "null_fields", "null_filled")
_FLAG_COLUMNS = ("route", "error", "schema_valid")  # schema_valid: -1 unknown, 0, 1


@dataclass
class Columns:
    """The calls of one (experiment, variant, live|shadow) group, column by column."""

    floats: dict[str, array[float]] = field(default_factory=lambda: {n: array("d") for n in _FLOAT_COLUMNS})
    ints: dict[str, array[int]] = field(default_factory=lambda: {n: array("i") for n in _INT_COLUMNS})
    flags: dict[str, array[int]] = field(default_factory=lambda: {n: array("b") for n in _FLAG_COLUMNS})
    trace_hi: array[int] = field(default_factory=lambda: array("Q"))
    trace_lo: array[int] = field(default_factory=lambda: array("Q"))
    per_field: dict[str, FieldStats] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.trace_hi)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The columns as numpy arrays (views on the same memory)."""
        out: dict[str, npt.NDArray[Any]] = {}
        for name, column in self.floats.items():
            out[name] = np.frombuffer(column, dtype=np.float64) if len(column) else np.empty(0)
        for name, icolumn in self.ints.items():
            out[name] = np.frombuffer(icolumn, dtype=np.int32) if len(icolumn) else np.empty(0, np.int32)
        for name, fcolumn in self.flags.items():
            out[name] = np.frombuffer(fcolumn, dtype=np.int8) if len(fcolumn) else np.empty(0, np.int8)
        for name, tcolumn in (("trace_hi", self.trace_hi), ("trace_lo", self.trace_lo)):
            out[name] = np.frombuffer(tcolumn, dtype=np.uint64) if len(tcolumn) else np.empty(0, np.uint64)
        return out


@dataclass
class Collection:
    """Everything the report needs from the input, keyed by experiment id then variant."""

    live: dict[str, dict[str, Columns]] = field(default_factory=dict)
    shadow: dict[str, dict[str, Columns]] = field(default_factory=dict)
    n_spans: int = 0
    n_llm_spans: int = 0
    n_unattributed: int = 0  # LLM spans without experiment/variant tags


def _number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return _NAN
    try:
        return float(value)
    except (TypeError, ValueError):
        return _NAN


def _count(value: Any) -> int:
    number = _number(value)
    return -1 if math.isnan(number) else int(number)


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def prediction_from_output(raw: Any) -> Any:
    """The JSON object in the assistant text of ``gen_ai.output.messages`` (semconv shape), or None."""
    messages = raw
    if isinstance(raw, str):
        try:
            messages = json.loads(raw)
        except json.JSONDecodeError:
            messages = [{"parts": [{"type": "text", "content": raw}]}]
    texts: list[str] = []
    for message in messages if isinstance(messages, list) else [messages]:
        if not isinstance(message, dict):
            continue
        for part in message.get("parts") or ():
            if isinstance(part, dict) and part.get("type", "text") == "text":
                texts.append(str(part.get("content", "")))
        if isinstance(message.get("content"), str):  # older flat shape
            texts.append(message["content"])
    match = _JSON_OBJECT.search("\n".join(texts))
    if match is None:
        return None
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class Collector:
    """Turns spans into :class:`Collection` rows; judges outputs against ``truth`` when it is given."""

    def __init__(
        self,
        truth: Mapping[str, Mapping[str, Any]] | None = None,
        schema: JudgeSchema | None = None,
        *,
        strict_empty: bool = False,
    ) -> None:
        self.truth = truth
        self.schema = schema
        self.strict_empty = strict_empty
        self.collection = Collection()

    def add(self, span: SpanView) -> None:
        self.collection.n_spans += 1
        attrs = span.attributes
        if A.GEN_AI_OPERATION_NAME not in attrs:
            return
        self.collection.n_llm_spans += 1
        experiment = attrs.get(A.LLM_EXPERIMENT_ID)
        variant = attrs.get(A.LLM_VARIANT)
        if experiment is None or variant is None:
            self.collection.n_unattributed += 1
            return
        route_name = attrs.get(A.LLM_ROUTE)
        if _is_true(attrs.get(A.LLM_SHADOW)) or route_name == A.ROUTE_SHADOW:
            route, groups = ROUTE_SHADOW, self.collection.shadow
        else:
            route = ROUTE_FALLBACK if route_name == A.ROUTE_FALLBACK else ROUTE_PRIMARY
            groups = self.collection.live
        columns = groups.setdefault(str(experiment), {}).setdefault(str(variant), Columns())
        self._append(columns, span, route)

    def _append(self, columns: Columns, span: SpanView, route: int) -> None:
        attrs = span.attributes
        error = span.status_code == STATUS_ERROR or attrs.get(A.ERROR_TYPE) is not None
        trace = int(span.trace_id or "0", 16) if _is_hex(span.trace_id) else 0
        columns.trace_hi.append(trace >> 64)
        columns.trace_lo.append(trace & 0xFFFF_FFFF_FFFF_FFFF)
        floats = columns.floats
        floats["start_s"].append(span.start_ns / 1e9)
        floats["duration_ms"].append(max(span.end_ns - span.start_ns, 0) / 1e6)
        floats["ttft_ms"].append(_number(attrs.get(A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)) * 1000.0)
        floats["input_tokens"].append(_number(attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS)))
        floats["output_tokens"].append(_number(attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS)))
        floats["cost"].append(_number(attrs.get(A.LLM_COST_USD)))
        floats["weight"].append(_number(attrs.get(A.LLM_VARIANT_WEIGHT)))
        counts = (
            _count(attrs.get(A.LLM_EVAL_FIELDS_TOTAL)),
            _count(attrs.get(A.LLM_EVAL_FIELDS_CORRECT)),
            _count(attrs.get(A.LLM_EVAL_NULL_FIELDS)),
            _count(attrs.get(A.LLM_EVAL_NULL_FILLED)),
        )
        valid = attrs.get(A.LLM_SCHEMA_VALID)
        schema_valid = -1 if valid is None else int(_is_true(valid))
        result = self._judge(attrs) if not error else None
        if result is not None:
            counts = (result.n_fields, result.n_correct, result.n_null_fields, result.n_hallucinated)
            if schema_valid == -1 and result.schema_valid is not None:
                schema_valid = int(result.schema_valid)
            for outcome in result.fields:
                stats = columns.per_field.setdefault(outcome.name, FieldStats())
                stats.n += 1
                stats.correct += outcome.correct
                stats.null_reference += outcome.reference_null
                stats.hallucinated += outcome.hallucinated
                stats.missed += outcome.reference is not None and outcome.prediction is None
        for name, count in zip(_INT_COLUMNS, counts, strict=True):
            columns.ints[name].append(count)
        columns.flags["route"].append(route)
        columns.flags["error"].append(int(error))
        columns.flags["schema_valid"].append(schema_valid)

    def _judge(self, attrs: Mapping[str, Any]) -> RecordResult | None:
        if self.truth is None:
            return None
        document = attrs.get(A.LLM_DOCUMENT_ID)
        output = attrs.get(A.GEN_AI_OUTPUT_MESSAGES)
        if document is None or output is None:
            return None
        reference = self.truth.get(str(document))
        if reference is None:
            return None
        return judge_record(
            prediction_from_output(output),
            reference,
            self.schema,
            strict_empty=self.strict_empty,
            record_id=str(document),
        )


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
