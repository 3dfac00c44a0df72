"""Candidate-vs-control comparisons and their verdict, sequential series and shadow pairing (via otel_llm.stats)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_llm.report import _stats_bridge as bridge
from otel_llm.report._collect import ROUTE_PRIMARY, Columns
from otel_llm.report._figures import field_counts, num, percentiles, schema_counts, trace_keys
from otel_llm.stats import TestResult

Arrays = dict[str, npt.NDArray[Any]]
ALPHA = 0.05


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    higher_is_better: bool
    guardrail: bool
    margin: float  # absolute when ``relative`` is False, else a share of the control's value
    relative: bool = False


# Field accuracy is the primary metric; the rest are the guardrails of SPEC §7.5, each relative to control.
METRICS: tuple[Metric, ...] = (
    Metric("field_accuracy", higher_is_better=True, guardrail=False, margin=0.0),
    Metric("error_rate", higher_is_better=False, guardrail=True, margin=0.01),
    Metric("latency_p50", higher_is_better=False, guardrail=True, margin=0.10, relative=True),
    Metric("latency_p99", higher_is_better=False, guardrail=True, margin=0.10, relative=True),
    Metric("cost_per_1k_requests_usd", higher_is_better=False, guardrail=True, margin=0.10, relative=True),
    Metric("hallucination_rate", higher_is_better=False, guardrail=True, margin=0.005),
    Metric("schema_pass_rate", higher_is_better=True, guardrail=True, margin=0.01),
)


def _rate_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, TestResult] | None:
    if n1 == 0 or n2 == 0:
        return None
    return x1 / n1, x2 / n2, bridge.compare_rates(x1, n1, x2, n2)


def _test(metric: str, control: Arrays, candidate: Arrays) -> tuple[float, float, TestResult] | None:
    """(control value, candidate value, test) for one metric, or None when either side lacks data."""
    if metric == "error_rate":
        return _rate_test(
            int(control["error"].sum()),
            control["error"].size,
            int(candidate["error"].sum()),
            candidate["error"].size,
        )
    if metric in {"latency_p50", "latency_p99"}:
        a, b = control["duration_ms"], candidate["duration_ms"]
        if a.size < 2 or b.size < 2:
            return None
        statistic = metric.removeprefix("latency_")
        result = bridge.compare_percentiles(a, b, statistic)
        q = 50.0 if statistic == "p50" else 99.0
        return float(np.percentile(a, q)), float(np.percentile(b, q)), result
    if metric == "cost_per_1k_requests_usd":
        a = control["cost"][~np.isnan(control["cost"])] * 1000.0
        b = candidate["cost"][~np.isnan(candidate["cost"])] * 1000.0
        if a.size < 2 or b.size < 2:
            return None
        return float(a.mean()), float(b.mean()), bridge.compare_means(a, b)
    if metric in {"field_accuracy", "hallucination_rate"}:
        fc, fk = field_counts(control), field_counts(candidate)
        key_x, key_n = ("correct", "total") if metric == "field_accuracy" else ("filled", "null")
        return _rate_test(fc[key_x], fc[key_n], fk[key_x], fk[key_n])
    if metric == "schema_pass_rate":
        return _rate_test(*schema_counts(control), *schema_counts(candidate))
    raise ValueError(f"unknown metric {metric!r}")


def compare(
    control: Columns,
    candidate: Columns,
    variant: str,
    margins: Mapping[str, float] | None = None,
    srm: bridge.SRMResult | None = None,
) -> tuple[list[dict[str, Any]], bridge.Decision]:
    """Comparisons of one candidate against the control and the verdict of :func:`otel_llm.stats.decide`.

    ``significant`` and ``p_value_holm`` come from the decision: Holm-adjusted across the primary metrics,
    a guardrail's own p-value otherwise. A metric whose test gives no finite figures is shown but takes no
    part in the decision (and is never significant).
    """
    ca, ka = control.arrays(), candidate.arrays()
    found = {metric.name: _test(metric.name, ca, ka) for metric in METRICS}
    return _decide_rows(found, variant, margins, srm, basis="live")


def _decide_rows(
    found: Mapping[str, tuple[float, float, TestResult] | None],
    variant: str,
    margins: Mapping[str, float] | None,
    srm: bridge.SRMResult | None,
    *,
    basis: str,
) -> tuple[list[dict[str, Any]], bridge.Decision]:
    """Report rows and the :func:`otel_llm.stats.decide` verdict from ``{metric: (control, candidate, test)}``."""
    rows: list[dict[str, Any]] = []
    comparisons: list[bridge.Comparison] = []
    for metric in METRICS:
        test = found.get(metric.name)
        if test is None:
            continue
        control_value, candidate_value, result = test
        margin = (margins or {}).get(metric.name, metric.margin)
        absolute_margin = margin * abs(control_value) if metric.relative else margin
        rows.append(
            {
                "metric": metric.name,
                "variant": variant,
                "control": num(control_value),
                "candidate": num(candidate_value),
                "delta": num(result.estimate),
                "ci_low": num(result.ci_low),
                "ci_high": num(result.ci_high),
                "p_value": num(result.p_value),
                "higher_is_better": metric.higher_is_better,
                "guardrail": metric.guardrail,
                "margin": num(absolute_margin),
                "basis": basis,
            }
        )
        figures = (control_value, candidate_value, result.estimate, result.ci_low, result.ci_high, result.p_value)
        if all(math.isfinite(value) for value in figures) and math.isfinite(absolute_margin):
            comparisons.append(
                bridge.Comparison(
                    metric=metric.name,
                    control=control_value,
                    candidate=candidate_value,
                    delta=result.estimate,
                    ci_low=result.ci_low,
                    ci_high=result.ci_high,
                    p_value=result.p_value,
                    higher_is_better=metric.higher_is_better,
                    margin=absolute_margin if metric.guardrail else None,
                    guardrail=metric.guardrail,
                )
            )
    decision = bridge.decide(comparisons, srm, alpha=ALPHA)
    for row in rows:
        row["p_value_holm"] = num(decision.adjusted_p_values.get(row["metric"], row["p_value"]))
        row["significant"] = decision.significant.get(row["metric"], False)
    return rows, decision


def _ratio_test(
    num_p: npt.NDArray[np.float64],
    den_p: npt.NDArray[np.float64],
    num_s: npt.NDArray[np.float64],
    den_s: npt.NDArray[np.float64],
) -> tuple[float, float, TestResult] | None:
    """Pooled rate (sum of numerators over sum of denominators) of each side over the same pairs, and the paired
    bootstrap of shadow minus primary. Resampling whole pairs accounts for fields clustered within a call."""
    total_p, total_s = float(den_p.sum()), float(den_s.sum())
    if den_p.size < 2 or total_p <= 0 or total_s <= 0:
        return None
    value_p, value_s = float(num_p.sum()) / total_p, float(num_s.sum()) / total_s

    def replicate(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        with np.errstate(invalid="ignore", divide="ignore"):
            shadow = num_s[rows].sum(axis=1) / den_s[rows].sum(axis=1)
            primary = num_p[rows].sum(axis=1) / den_p[rows].sum(axis=1)
        diff: npt.NDArray[np.float64] = np.asarray(shadow - primary, dtype=np.float64)
        kept: npt.NDArray[np.float64] = diff[np.isfinite(diff)]
        return kept  # a resample with no denominator (no null field at all) says nothing

    result = bridge.paired_bootstrap(den_p.size, replicate, value_s - value_p)
    return None if result is None else (value_p, value_s, result)


def paired_tests(pa: Arrays, p_rows: npt.NDArray[Any], sa: Arrays, s_rows: npt.NDArray[Any]) -> dict[str, Any]:
    """``{metric: (control-as-primary, candidate-as-shadow, paired test)}`` over matched calls of the same traces.

    Rates (field accuracy, hallucination on null-reference fields, schema pass) are pooled over the pairs where
    both calls were judged (checked), error rate over every pair, cost per 1k over pairs where both calls carry a
    cost; latency p50/p99 over every pair. All intervals are paired bootstraps over requests.
    """
    found: dict[str, tuple[float, float, TestResult] | None] = {}
    ones = np.ones(p_rows.size)
    found["error_rate"] = _ratio_test(
        pa["error"][p_rows].astype(np.float64), ones, sa["error"][s_rows].astype(np.float64), ones
    )
    lat_p, lat_s = pa["duration_ms"][p_rows], sa["duration_ms"][s_rows]
    for metric, q in (("latency_p50", 50.0), ("latency_p99", 99.0)):
        if lat_p.size < 2:
            found[metric] = None
            continue

        def replicate(rows: npt.NDArray[np.intp], q: float = q) -> npt.NDArray[np.float64]:
            diff: npt.NDArray[np.float64] = np.percentile(lat_s[rows], q, axis=1) - np.percentile(
                lat_p[rows], q, axis=1
            )
            return diff

        value_p, value_s = float(np.percentile(lat_p, q)), float(np.percentile(lat_s, q))
        result = bridge.paired_bootstrap(lat_p.size, replicate, value_s - value_p)
        found[metric] = None if result is None else (value_p, value_s, result)
    cost_p, cost_s = pa["cost"][p_rows], sa["cost"][s_rows]
    priced = ~np.isnan(cost_p) & ~np.isnan(cost_s)
    count = np.ones(int(priced.sum()))
    found["cost_per_1k_requests_usd"] = _ratio_test(cost_p[priced] * 1000.0, count, cost_s[priced] * 1000.0, count)

    def judged_column(arrays: Arrays, rows: npt.NDArray[Any], name: str) -> npt.NDArray[np.float64]:
        column: npt.NDArray[np.float64] = arrays[name][rows].astype(np.float64)
        return column

    judged = (
        (pa["fields_total"][p_rows] >= 0)
        & (sa["fields_total"][s_rows] >= 0)
        & (pa["null_fields"][p_rows] >= 0)
        & (sa["null_fields"][s_rows] >= 0)
        & (pa["null_filled"][p_rows] >= 0)
        & (sa["null_filled"][s_rows] >= 0)
    )
    jp, js = p_rows[judged], s_rows[judged]
    found["field_accuracy"] = _ratio_test(
        judged_column(pa, jp, "fields_correct"),
        judged_column(pa, jp, "fields_total"),
        judged_column(sa, js, "fields_correct"),
        judged_column(sa, js, "fields_total"),
    )
    found["hallucination_rate"] = _ratio_test(
        judged_column(pa, jp, "null_filled"),
        judged_column(pa, jp, "null_fields"),
        judged_column(sa, js, "null_filled"),
        judged_column(sa, js, "null_fields"),
    )
    checked = (pa["schema_valid"][p_rows] >= 0) & (sa["schema_valid"][s_rows] >= 0)
    ones = np.ones(int(checked.sum()))
    found["schema_pass_rate"] = _ratio_test(
        pa["schema_valid"][p_rows[checked]].astype(np.float64),
        ones,
        sa["schema_valid"][s_rows[checked]].astype(np.float64),
        ones,
    )
    return found


def compare_paired(
    control: Columns,
    shadow: Columns,
    variant: str,
    margins: Mapping[str, float] | None = None,
    srm: bridge.SRMResult | None = None,
) -> tuple[list[dict[str, Any]], bridge.Decision, int] | None:
    """Shadow variant ``variant`` against the control on the same requests: each shadow call is paired with the
    control's primary call of the same trace. Rows as :func:`compare` (``basis: "shadow-paired"``, ``n_pairs``),
    the verdict of :func:`otel_llm.stats.decide` on them, and the number of pairs; ``None`` without pairs."""
    pa, sa = control.arrays(), shadow.arrays()
    p_rows, s_rows = match_pairs(pa, sa)
    if p_rows.size < 2:
        return None
    rows, decision = _decide_rows(paired_tests(pa, p_rows, sa, s_rows), variant, margins, srm, basis="shadow-paired")
    for row in rows:
        row["n_pairs"] = int(p_rows.size)
    return rows, decision, int(p_rows.size)


def sequential_series(control: Columns, candidate: Columns, variant: str, looks: int = 20) -> list[dict[str, Any]]:
    """An always-valid mSPRT (:class:`otel_llm.stats.SequentialMonitor`) looked at ``looks`` times.

    Error rate per call, and field accuracy per field when judged. Each point has the cumulative counts, the
    difference (candidate minus control), the always-valid p-value and confidence sequence: safe to act on at
    whichever look it first crosses ``alpha``. The monitor is tuned to be narrowest at the final sample size.
    Looks before both arms have data are shown with ``p_value`` 1 and no interval.
    """
    ca, ka = control.arrays(), candidate.arrays()
    starts = np.sort(np.concatenate([ca["start_s"], ka["start_s"]]))
    if starts.size < 2:
        return []
    cuts = np.unique(np.quantile(starts, np.linspace(0, 1, looks + 1)[1:]))
    series = []
    measures: list[tuple[str, Callable[[Arrays], tuple[npt.NDArray[Any], npt.NDArray[Any]]]]] = [
        ("error_rate", lambda a: (a["error"].astype(np.int64), np.ones(a["error"].size, np.int64))),
    ]
    if field_counts(ca)["total"] and field_counts(ka)["total"]:
        measures.append(
            (
                "field_accuracy",
                lambda a: (np.maximum(a["fields_correct"], 0), np.maximum(a["fields_total"], 0)),
            )
        )
    for metric, measure in measures:
        (c_x, c_n), (k_x, k_n) = measure(ca), measure(ka)
        final_n = int(c_n.sum() + k_n.sum())
        monitor = bridge.SequentialMonitor(ALPHA, tuning_n=max(final_n, 2))
        points = []
        for cut in cuts:
            c_mask, k_mask = ca["start_s"] <= cut, ka["start_s"] <= cut
            cx, cn = int(c_x[c_mask].sum()), int(c_n[c_mask].sum())
            kx, kn = int(k_x[k_mask].sum()), int(k_n[k_mask].sum())
            point: dict[str, Any] = {
                "time_s": float(cut),
                "n_control": int(c_mask.sum()),
                "n_candidate": int(k_mask.sum()),
                "delta": None,
                "p_value": monitor.history[-1].p_value if monitor.history else 1.0,
                "ci": None,
                "significant": False,
            }
            if cn and kn:
                look = monitor.update_proportions(cx, cn, kx, kn)
                point.update(
                    delta=num(look.estimate),
                    p_value=look.p_value,
                    ci=[num(look.ci_low), num(look.ci_high)],
                    significant=look.significant,
                )
            points.append(point)
        series.append({"variant": variant, "metric": metric, "alpha": ALPHA, "points": points})
    return series


def match_pairs(pa: Arrays, sa: Arrays) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Row indices ``(primary rows, shadow rows)`` of shadow calls matched to a primary call of the same trace."""
    primary_rows = np.flatnonzero(pa["route"] == ROUTE_PRIMARY)
    keys = trace_keys(pa)[primary_rows]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if sorted_keys.size == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    position = np.searchsorted(sorted_keys, trace_keys(sa))
    position[position >= sorted_keys.size] = 0
    candidate_rows = primary_rows[order[position]]
    matched = (pa["trace_hi"][candidate_rows] == sa["trace_hi"]) & (pa["trace_lo"][candidate_rows] == sa["trace_lo"])
    return candidate_rows[matched], np.flatnonzero(matched)


def pair_shadow(primaries: Mapping[str, Columns], shadow: Columns, shadow_variant: str) -> list[dict[str, Any]]:
    """Pair each shadow call with the live primary call of the same trace; one entry per primary variant."""
    sa = shadow.arrays()
    out = []
    for primary_variant, columns in sorted(primaries.items()):
        pa = columns.arrays()
        p_rows, s_rows = match_pairs(pa, sa)
        if p_rows.size == 0:
            continue
        out.append(_paired_figures(pa, p_rows, sa, s_rows, primary=primary_variant, shadow=shadow_variant))
    return out


def _paired_figures(
    pa: Arrays, p_rows: npt.NDArray[Any], sa: Arrays, s_rows: npt.NDArray[Any], *, primary: str, shadow: str
) -> dict[str, Any]:
    latency_p, latency_s = pa["duration_ms"][p_rows], sa["duration_ms"][s_rows]
    latency = bridge.paired_mean(latency_s - latency_p)
    entry: dict[str, Any] = {
        "primary_variant": primary,
        "shadow_variant": shadow,
        "n_pairs": int(p_rows.size),
        "latency_ms": {"primary": percentiles(latency_p), "shadow": percentiles(latency_s)},
        "latency_ms_mean_diff": _test_dict(latency),
        "error_rate": {
            "primary": num(float(pa["error"][p_rows].mean())),
            "shadow": num(float(sa["error"][s_rows].mean())),
        },
    }
    cost_p, cost_s = pa["cost"][p_rows] * 1000.0, sa["cost"][s_rows] * 1000.0
    both = ~np.isnan(cost_p) & ~np.isnan(cost_s)
    entry["cost_per_1k_requests_usd"] = {
        "primary": num(float(cost_p[both].mean())) if both.any() else None,
        "shadow": num(float(cost_s[both].mean())) if both.any() else None,
        "mean_diff": _test_dict(bridge.paired_mean(cost_s[both] - cost_p[both])),
    }
    total_p, total_s = pa["fields_total"][p_rows], sa["fields_total"][s_rows]
    judged = (total_p > 0) & (total_s > 0)
    if judged.any():
        acc_p = pa["fields_correct"][p_rows][judged] / total_p[judged]
        acc_s = sa["fields_correct"][s_rows][judged] / total_s[judged]
        null_p = pa["null_fields"][p_rows][judged]
        filled_p = pa["null_filled"][p_rows][judged]
        null_s = sa["null_fields"][s_rows][judged]
        filled_s = sa["null_filled"][s_rows][judged]
        entry["field_accuracy"] = {
            "primary": num(float(pa["fields_correct"][p_rows][judged].sum() / total_p[judged].sum())),
            "shadow": num(float(sa["fields_correct"][s_rows][judged].sum() / total_s[judged].sum())),
            "mean_diff": _test_dict(bridge.paired_mean((acc_s - acc_p).astype(np.float64))),
        }
        entry["hallucination_rate"] = {
            "primary": num(float(filled_p.sum() / null_p.sum())) if null_p.sum() > 0 else None,
            "shadow": num(float(filled_s.sum() / null_s.sum())) if null_s.sum() > 0 else None,
        }
    return entry


def _test_dict(result: TestResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "estimate": num(result.estimate),
        "ci": [num(result.ci_low), num(result.ci_high)],
        "p_value": num(result.p_value),
    }
