"""Every PromQL expression of the dashboards and alert rules, in one place, on the pinned metric names.

Names of the collector's series come from ``collector/metric_names.json`` (checked against a live scrape by
``tests/integration/test_prometheus_names.py``); the ``llm.eval.*`` and ``llm.rollout.*`` series are the SDK
metrics of ``otel_llm/evaluation/_metrics.py`` and ``otel_llm/routing/router.py`` after the same exporter
translation (checked against a live scrape by ``tests/integration/test_dashboards.py``).

Builders take a label filter ``f`` (PromQL matchers without braces) and a range ``w``: the dashboards pass
Grafana variables (``$experiment``, ``$__rate_interval``), the alert rules fixed values. Definitions follow SPEC
§15: request counts, error and fallback rates count live assignments (``llm_route="primary"``, a fallback is the
second call of a request whose primary failed); latency covers every live call (primary and fallback).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

_NAMES = json.loads((Path(__file__).resolve().parent.parent / "collector" / "metric_names.json").read_text())
_SPAN = _NAMES["span_metrics"]
_SDK = _NAMES["sdk_metrics"]

CALLS = _SPAN["calls"]["series"]["total"]
SPAN_DURATION_BUCKET = _SPAN["duration"]["series"]["bucket"]
DURATION_COUNT = _SDK["gen_ai.client.operation.duration"]["series"]["count"]
TOKENS = _SDK["gen_ai.client.token.usage"]["series"]
TTFC_BUCKET = _SDK["gen_ai.client.operation.time_to_first_chunk"]["series"]["bucket"]
COST = _SDK["llm.client.cost"]["series"]["total"]
# SDK metrics added for the dashboards (exporter translation: counters get _total, "%" becomes _percent).
EVAL_FIELDS = "llm_eval_fields_total"
EVAL_FIELDS_CORRECT = "llm_eval_fields_correct_total"
EVAL_NULL_FIELDS = "llm_eval_null_fields_total"
EVAL_NULL_FILLED = "llm_eval_null_filled_total"
EVAL_SCHEMA_CHECKS = "llm_eval_schema_checks_total"
SHADOW_DROPPED = "llm_shadow_dropped_total"
ROLLOUT_WEIGHT = "llm_rollout_weight_percent"
ROLLOUT_PHASE = "llm_rollout_phase"
ROLLOUT_PAUSED = "llm_rollout_paused"
ALL_SERIES = (
    CALLS,
    SPAN_DURATION_BUCKET,
    DURATION_COUNT,
    TOKENS["sum"],
    TOKENS["count"],
    TTFC_BUCKET,
    COST,
    EVAL_FIELDS,
    EVAL_FIELDS_CORRECT,
    EVAL_NULL_FIELDS,
    EVAL_NULL_FILLED,
    EVAL_SCHEMA_CHECKS,
    SHADOW_DROPPED,
    ROLLOUT_WEIGHT,
    ROLLOUT_PHASE,
    ROLLOUT_PAUSED,
)

EXP = "llm_experiment_id"
VAR = "llm_variant"
BY_VARIANT = f"{EXP}, {VAR}"
BY_ROUTE = f"{EXP}, llm_route, {VAR}"
PRIMARY = 'llm_route="primary"'
LIVE = 'llm_route=~"primary|fallback"'
ERROR = 'status_code="STATUS_CODE_ERROR"'
FALLBACK = 'llm_route="fallback"'
SHADOW = 'llm_route="shadow"'
SCHEMA_VALID = 'llm_schema_valid="true"'
NO_ERROR = 'error_type=""'
LLM_SPANS = 'gen_ai_request_model!=""'
MONTH_S = 30 * 86400

#: Chi-square critical value for p = 0.001 with one degree of freedom (two variants): SRM above this.
SRM_CHI2_CRITICAL = 10.83


@dataclass(frozen=True)
class Guardrail:
    """Colour threshold of a delta-vs-control panel and limit of the rollout guardrail (SPEC §7.5)."""

    name: str
    limit: float
    ratio: bool  # candidate / control (else candidate - control, positive is worse)


#: Defaults for the dashboards' colours; an experiments file's ``rollout.guardrails`` may set its own.
GUARDRAILS = {
    "error_rate": Guardrail("error rate", 0.02, ratio=False),
    "p99_latency": Guardrail("p99 latency", 1.5, ratio=True),
    "schema_pass_rate": Guardrail("schema pass rate", 0.05, ratio=False),
    "hallucination_rate": Guardrail("hallucination rate", 0.02, ratio=False),
    "cost_per_1k": Guardrail("cost per 1k", 1.25, ratio=True),
}

#: Alert thresholds (edit to your SLOs).
SLO_ERROR_RATE = 0.05
SLO_P99_LATENCY_S = 5.0
SHADOW_DROP_RATE_MAX = 0.05
HALLUCINATION_RATE_MAX = 0.05
MONTHLY_BUDGET_USD = 1000.0
ALERT_WINDOW = "10m"


def _m(*matchers: str) -> str:
    return ", ".join(m for m in matchers if m)


def _ratio(num: str, den: str) -> str:
    """``num / den`` where a missing numerator (nothing counted yet) reads as 0 instead of no data."""
    return f"(({num}) or (0 * ({den}))) / ({den})"


def requests_per_s(f: str, w: str) -> str:
    return f"sum by ({BY_VARIANT}) (rate({CALLS}{{{_m(f, PRIMARY)}}}[{w}]))"


def error_rate(f: str, w: str, by: str = BY_VARIANT, route: str = PRIMARY) -> str:
    return _ratio(
        f"sum by ({by}) (rate({CALLS}{{{_m(f, route, ERROR, LLM_SPANS)}}}[{w}]))",
        f"sum by ({by}) (rate({CALLS}{{{_m(f, route, LLM_SPANS)}}}[{w}]))",
    )


def fallback_rate(f: str, w: str) -> str:
    return _ratio(
        f"sum by ({BY_VARIANT}) (rate({CALLS}{{{_m(f, FALLBACK)}}}[{w}]))",
        f"sum by ({BY_VARIANT}) (rate({CALLS}{{{_m(f, PRIMARY)}}}[{w}]))",
    )


def latency_quantile(q: float, f: str, w: str, by: str = BY_VARIANT, route: str = LIVE) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({SPAN_DURATION_BUCKET}{{{_m(f, route)}}}[{w}])))"


def ttft_quantile(q: float, f: str, w: str) -> str:
    return f"histogram_quantile({q}, sum by ({BY_VARIANT}, le) (rate({TTFC_BUCKET}{{{_m(f, LIVE)}}}[{w}])))"


def tokens_per_request(f: str, w: str) -> str:
    by = f"{BY_VARIANT}, gen_ai_token_type"
    return (
        f"sum by ({by}) (rate({TOKENS['sum']}{{{_m(f, LIVE)}}}[{w}]))"
        f" / sum by ({by}) (rate({TOKENS['count']}{{{_m(f, LIVE)}}}[{w}]))"
    )


def cost_per_1k(f: str, w: str, by: str = BY_VARIANT, route: str = LIVE) -> str:
    """1000 x mean cost over the calls that have one (successful calls; failed calls carry no cost)."""
    return (
        f"1000 * sum by ({by}) (rate({COST}{{{_m(f, route)}}}[{w}]))"
        f" / sum by ({by}) (rate({DURATION_COUNT}{{{_m(f, route, NO_ERROR)}}}[{w}]))"
    )


def schema_pass_rate(f: str, w: str, by: str = BY_VARIANT, route: str = LIVE) -> str:
    return _ratio(
        f"sum by ({by}) (rate({EVAL_SCHEMA_CHECKS}{{{_m(f, route, SCHEMA_VALID)}}}[{w}]))",
        f"sum by ({by}) (rate({EVAL_SCHEMA_CHECKS}{{{_m(f, route)}}}[{w}]))",
    )


def hallucination_rate(f: str, w: str, by: str = BY_VARIANT, route: str = LIVE) -> str:
    """Share of null-reference fields the model filled in."""
    return (
        f"sum by ({by}) (rate({EVAL_NULL_FILLED}{{{_m(f, route)}}}[{w}]))"
        f" / sum by ({by}) (rate({EVAL_NULL_FIELDS}{{{_m(f, route)}}}[{w}]))"
    )


def field_accuracy(f: str, w: str, by: str = BY_VARIANT, route: str = LIVE) -> str:
    return (
        f"sum by ({by}) (rate({EVAL_FIELDS_CORRECT}{{{_m(f, route)}}}[{w}]))"
        f" / sum by ({by}) (rate({EVAL_FIELDS}{{{_m(f, route)}}}[{w}]))"
    )


#: Guardrail name -> builder ``(f, w) -> expr`` by experiment and variant.
GUARDRAIL_EXPRS = {
    "error_rate": error_rate,
    "p99_latency": lambda f, w: latency_quantile(0.99, f, w),
    "schema_pass_rate": schema_pass_rate,
    "hallucination_rate": hallucination_rate,
    "cost_per_1k": cost_per_1k,
}


def vs_control(name: str, f_variants: str, f_control: str, w: str) -> str:
    """Variant figure relative to control's: ratio or delta (sign such that positive is worse)."""
    build, g = GUARDRAIL_EXPRS[name], GUARDRAILS[name]
    left, right = f"({build(f_variants, w)})", f"({build(f_control, w)})"
    if name == "schema_pass_rate":  # a lower pass rate is worse
        left, right = right, left
        return f"{left} - ignoring({VAR}) group_right() {right}"
    op = "/" if g.ratio else "-"
    return f"{left} {op} ignoring({VAR}) group_left() {right}"


def guardrail_breach(name: str, f_variants: str, f_control: str, w: str) -> str:
    """1 while the variant breaches the guardrail, 0 while it passes."""
    return f"({vs_control(name, f_variants, f_control, w)}) > bool {GUARDRAILS[name].limit}"


# --- shadow ---------------------------------------------------------------------------------------------------
def shadow_drop_rate(f: str, w: str) -> str:
    """Shadow copies dropped at max_in_flight / shadow copies attempted (sent + dropped)."""
    dropped = f"sum by ({EXP}) (rate({SHADOW_DROPPED}{{{f}}}[{w}]))"
    sent = f"sum by ({EXP}) (rate({CALLS}{{{_m(f, SHADOW, LLM_SPANS)}}}[{w}]))"
    dropped_or_0 = f"(({dropped}) or (0 * ({sent})))"
    return f"{dropped_or_0} / ({dropped_or_0} + ({sent}))"


SHADOW_ROUTES = 'llm_route=~"primary|shadow"'


# --- cost -----------------------------------------------------------------------------------------------------
def spend_per_hour(f: str, w: str) -> str:
    return f"3600 * sum by (llm_route, {VAR}, gen_ai_request_model) (rate({COST}{{{f}}}[{w}]))"


def spend_in_range(f: str, r: str) -> str:
    return f"sum by (llm_route, {VAR}, gen_ai_request_model) (increase({COST}{{{f}}}[{r}]))"


def projected_monthly_spend(f: str, r: str) -> str:
    return f"{MONTH_S} * sum by ({EXP}, llm_route) (rate({COST}{{{f}}}[{r}]))"


def shadow_spend_share(f: str, r: str) -> str:
    return f"sum by ({EXP}) (increase({COST}{{{_m(f, SHADOW)}}}[{r}])) / sum by ({EXP}) (increase({COST}{{{f}}}[{r}]))"


# --- rollout --------------------------------------------------------------------------------------------------
def rollout_phase(f: str) -> str:
    return f"max by ({EXP}) ({ROLLOUT_PHASE}{{{f}}})"


def rollout_paused(f: str) -> str:
    return f"max by ({EXP}) ({ROLLOUT_PAUSED}{{{f}}})"


def pause_transitions(f: str, r: str) -> str:
    """Pause and resume transitions seen by the routers in the range (auto-pauses included)."""
    return f"changes(({rollout_paused(f)})[{r}:])"


def configured_share(f: str) -> str:
    return f"max by ({BY_VARIANT}) ({ROLLOUT_WEIGHT}{{{f}}})"


def observed_share(f: str, w: str) -> str:
    return (
        f"100 * sum by ({BY_VARIANT}) (increase({CALLS}{{{_m(f, PRIMARY)}}}[{w}]))"
        f" / ignoring({VAR}) group_left() sum by ({EXP}) (increase({CALLS}{{{_m(f, PRIMARY)}}}[{w}]))"
    )


def srm_chi2(f: str, r: str) -> str:
    """Pearson chi-square of live assignments per variant against the configured split (averaged over ``r``)."""
    observed = f"sum by ({BY_VARIANT}) (increase({CALLS}{{{_m(f, PRIMARY)}}}[{r}]))"
    total = f"sum by ({EXP}) (increase({CALLS}{{{_m(f, PRIMARY)}}}[{r}]))"
    share = f"max by ({BY_VARIANT}) (avg_over_time({ROLLOUT_WEIGHT}{{{f}}}[{r}])) / 100"
    expected = f"(({share}) * on({EXP}) group_left() ({total}) > 0)"
    return f"sum by ({EXP}) ((({observed}) - {expected}) ^ 2 / {expected})"


def live_requests(f: str, r: str, by: str = BY_VARIANT) -> str:
    return f"sum by ({by}) (increase({CALLS}{{{_m(f, PRIMARY)}}}[{r}]))"
