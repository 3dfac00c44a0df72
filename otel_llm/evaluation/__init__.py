"""Strict field-level judge, optional LLM judge and its calibration (SPEC §10, §12, §15).

```python
from otel_llm.evaluation import judge, judge_record, load_schema, read_field_records

schema = load_schema("invoice.schema.json")           # JSON Schema + per-field "x-normalise" steps
summary = judge(read_field_records("pred.jsonl"), read_field_records("truth.jsonl"), schema)
summary.field_accuracy, summary.hallucination_rate, summary.schema_pass_rate, summary.per_field
```
"""

from __future__ import annotations

from otel_llm.evaluation._calibration import PASS_AGREEMENT, CalibrationResult, calibrate, cohen_kappa
from otel_llm.evaluation._io import InputFileError, read_field_records, read_labels
from otel_llm.evaluation._judge import (
    FieldOutcome,
    FieldStats,
    JudgeSummary,
    RecordResult,
    judge,
    judge_record,
    values_equal,
)
from otel_llm.evaluation._llm_judge import DEFAULT_RUBRIC, LLMJudge, LLMJudgeError, Verdict, parse_verdict
from otel_llm.evaluation._normalise import STEPS, is_null, normalise
from otel_llm.evaluation._schema import JudgeSchema, load_schema, schema_from_mapping

__all__ = [
    "DEFAULT_RUBRIC",
    "PASS_AGREEMENT",
    "STEPS",
    "CalibrationResult",
    "FieldOutcome",
    "FieldStats",
    "InputFileError",
    "JudgeSchema",
    "JudgeSummary",
    "LLMJudge",
    "LLMJudgeError",
    "RecordResult",
    "Verdict",
    "calibrate",
    "cohen_kappa",
    "is_null",
    "judge",
    "judge_record",
    "load_schema",
    "normalise",
    "parse_verdict",
    "read_field_records",
    "read_labels",
    "schema_from_mapping",
    "values_equal",
]
