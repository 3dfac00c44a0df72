"""Per-variant figures (SPEC §10 ``variants`` entries with the §15 intervals and counts)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_llm.report import _stats_bridge as bridge
from otel_llm.report._collect import ROUTE_FALLBACK, ROUTE_PRIMARY, Columns

PERCENTILES = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))


def num(value: float | None) -> float | None:
    """A JSON-safe float (NaN and infinities become null)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def interval(value: tuple[float, float] | None) -> list[float | None] | None:
    return None if value is None else [num(value[0]), num(value[1])]


def percentiles(values: npt.NDArray[np.float64]) -> dict[str, float | None]:
    if values.size == 0:
        return {name: None for name, _ in PERCENTILES}
    points = np.percentile(values, [q for _, q in PERCENTILES])  # linear interpolation (numpy default)
    return {name: num(float(point)) for (name, _), point in zip(PERCENTILES, points, strict=True)}


def percentile_cis(values: npt.NDArray[np.float64]) -> dict[str, list[float | None] | None]:
    return {name: interval(bridge.percentile_ci(values, q)) for name, q in PERCENTILES}


def _known(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return values[~np.isnan(values)]


def rate(successes: int, n: int) -> tuple[float | None, list[float | None] | None]:
    if n == 0:
        return None, None
    return successes / n, interval(bridge.rate_ci(successes, n))


def clustered_rate(
    successes: npt.NDArray[Any], totals: npt.NDArray[Any]
) -> tuple[float | None, list[float | None] | None]:
    """A rate over fields pooled from calls, with a Wilson interval on the effective sample size.

    Fields of one call are not independent (one document, one answer), so a plain Wilson interval over fields is
    too narrow. The ratio estimator's cluster-robust variance gives the design effect (Kish); the interval is
    Wilson's at ``n_fields / design_effect``, never narrower than the plain one.
    """
    keep = totals > 0
    x = successes[keep].astype(float)
    m = totals[keep].astype(float)
    n_fields = float(m.sum())
    if n_fields == 0:
        return None, None
    p = float(x.sum()) / n_fields
    k = int(m.size)
    deff = 1.0
    if k > 1 and 0.0 < p < 1.0:
        resid = x - p * m
        var_cluster = k / (k - 1) * float((resid**2).sum()) / n_fields**2
        var_binomial = p * (1 - p) / n_fields
        deff = max(1.0, var_cluster / var_binomial)
    n_eff = n_fields / deff
    z = 1.959963984540054
    centre = (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff)) / (1 + z * z / n_eff)
    return p, interval((max(0.0, centre - half), min(1.0, centre + half)))


def field_counts(arrays: dict[str, npt.NDArray[Any]]) -> dict[str, int]:
    judged = arrays["fields_total"] >= 0
    return {
        "total": int(arrays["fields_total"][judged].sum()),
        "correct": int(arrays["fields_correct"][judged].sum()),
        "null": int(arrays["null_fields"][judged & (arrays["null_fields"] >= 0)].sum()),
        "filled": int(arrays["null_filled"][judged & (arrays["null_filled"] >= 0)].sum()),
    }


def schema_counts(arrays: dict[str, npt.NDArray[Any]]) -> tuple[int, int]:
    checked = arrays["schema_valid"] >= 0
    return int(arrays["schema_valid"][checked].sum()), int(checked.sum())


def trace_keys(arrays: dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.uint64]:
    """One uint64 per call mixing both halves of the trace id (callers re-check both halves if it matters)."""
    with np.errstate(over="ignore"):
        return arrays["trace_hi"] ^ (arrays["trace_lo"] * np.uint64(0x9E3779B97F4A7C15))


def assignments(arrays: dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.bool_]:
    """Calls that are assignments: every primary call, and fallback calls with no primary in their trace.

    The router records a fallback after a failed primary as a second live call of the same trace (one request,
    one assignment), and a fallback chosen up front (open circuit breaker) as the request's only call.
    """
    primary = arrays["route"] == ROUTE_PRIMARY
    fallback = arrays["route"] == ROUTE_FALLBACK
    keys = trace_keys(arrays)
    lone_fallback = fallback & ~np.isin(keys, keys[primary])
    return np.asarray(primary | lone_fallback)


def variant_figures(columns: Columns) -> dict[str, Any]:
    """Every figure of one variant's calls."""
    a = columns.arrays()
    n = len(columns)
    errors = int(a["error"].sum())
    duration = a["duration_ms"]
    ttft = _known(a["ttft_ms"])
    input_tokens = _known(a["input_tokens"])
    output_tokens = _known(a["output_tokens"])
    cost = _known(a["cost"])
    fields = field_counts(a)
    schema_valid, schema_checked = schema_counts(a)
    n_assigned = int(np.count_nonzero(assignments(a)))
    n_fallback = int(np.count_nonzero(a["route"] == ROUTE_FALLBACK))

    error_rate, error_rate_ci = rate(errors, n)
    judged = a["fields_total"] >= 0
    accuracy, accuracy_ci = clustered_rate(a["fields_correct"][judged], a["fields_total"][judged])
    nulls = judged & (a["null_fields"] >= 0) & (a["null_filled"] >= 0)
    hallucination, hallucination_ci = clustered_rate(a["null_filled"][nulls], a["null_fields"][nulls])
    schema_rate, schema_ci = rate(schema_valid, schema_checked)
    fallback_rate, fallback_ci = rate(n_fallback, n_assigned)
    cost_ci = bridge.mean_ci(cost)
    return {
        "requests": n,
        "errors": errors,
        "error_rate": error_rate,
        "error_rate_ci": error_rate_ci,
        "latency_ms": percentiles(duration),
        "latency_ms_ci": percentile_cis(duration),
        "ttft_ms": percentiles(ttft),
        "ttft_ms_ci": percentile_cis(ttft),
        "input_tokens": int(input_tokens.sum()),
        "output_tokens": int(output_tokens.sum()),
        "input_tokens_per_request": num(float(input_tokens.mean())) if input_tokens.size else None,
        "input_tokens_per_request_ci": interval(bridge.mean_ci(input_tokens)),
        "output_tokens_per_request": num(float(output_tokens.mean())) if output_tokens.size else None,
        "output_tokens_per_request_ci": interval(bridge.mean_ci(output_tokens)),
        "cost_usd": num(float(cost.sum())) if cost.size else None,
        "cost_per_1k_requests_usd": num(1000.0 * float(cost.mean())) if cost.size else None,
        "cost_per_1k_requests_usd_ci": (
            None if cost_ci is None else [num(1000.0 * cost_ci[0]), num(1000.0 * cost_ci[1])]
        ),
        "field_accuracy": accuracy,
        "field_accuracy_ci": accuracy_ci,
        "hallucination_rate": hallucination,
        "hallucination_rate_ci": hallucination_ci,
        "schema_pass_rate": schema_rate,
        "schema_pass_rate_ci": schema_ci,
        "fallback_rate": fallback_rate,
        "fallback_rate_ci": fallback_ci,
        "fallbacks": n_fallback,
        "assignments": n_assigned,
        "n_fields": fields["total"],
        "n_null_fields": fields["null"],
        "per_field": {name: stats.to_dict() for name, stats in sorted(columns.per_field.items())},
    }
