"""Judge verdicts as SDK counters, so dashboards and alert rules get accuracy, schema pass and hallucination rates.

Span attributes (``llm.eval.*``) cannot be summed by the collector's span metrics; these counters can. Labels are
the call's low-cardinality experiment labels only (``METRIC_ATTRIBUTES``), never a document or subject id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.metrics import MeterProvider, get_meter

from otel_llm import __version__
from otel_llm import attributes as A
from otel_llm.evaluation._judge import RecordResult


class EvalMetrics:
    """``record(result, span_attributes)`` adds one judged call to the ``llm.eval.*`` counters."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = get_meter("otel_llm.evaluation", __version__, meter_provider)
        self._fields = meter.create_counter(A.METRIC_EVAL_FIELDS, unit="{field}", description="Fields judged.")
        self._correct = meter.create_counter(
            A.METRIC_EVAL_FIELDS_CORRECT, unit="{field}", description="Fields equal to the reference."
        )
        self._null = meter.create_counter(
            A.METRIC_EVAL_NULL_FIELDS, unit="{field}", description="Fields whose reference value is null."
        )
        self._filled = meter.create_counter(
            A.METRIC_EVAL_NULL_FILLED,
            unit="{field}",
            description="Null-reference fields the model filled in (hallucinations).",
        )
        self._schema = meter.create_counter(
            A.METRIC_EVAL_SCHEMA_CHECKS, unit="{check}", description="Responses checked against the schema."
        )

    def record(self, result: RecordResult, span_attributes: Mapping[str, Any] | None) -> None:
        labels = {k: v for k, v in (span_attributes or {}).items() if k in A.METRIC_ATTRIBUTES and k != A.ERROR_TYPE}
        self._fields.add(result.n_fields, labels)
        self._correct.add(result.n_correct, labels)
        self._null.add(result.n_null_fields, labels)
        self._filled.add(result.n_hallucinated, labels)
        if result.schema_valid is not None:
            self._schema.add(1, {**labels, A.LLM_SCHEMA_VALID: result.schema_valid})
