"""``otel-llm report --prometheus URL``: the report from aggregated series instead of spans.

Reads the SDK metrics of SPEC §4.2 as the bundled collector exposes them (§4.3): call counts and errors from
``gen_ai_client_operation_duration_seconds_count``, latency quantiles by ``histogram_quantile`` over its
buckets, tokens from ``gen_ai_client_token_usage_sum`` and cost from ``llm_client_cost_USD_total``.
Aggregates carry no per-call values, so intervals exist only for rates, and judge figures are null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import httpx

from otel_llm.report import _stats_bridge as bridge
from otel_llm.report._build import Report, ReportError, combine_decisions
from otel_llm.report._compare import METRICS
from otel_llm.report._srm import check_srm

# Series and label names as Prometheus ingests them from the bundled collector (pinned in
# collector/metric_names.json; tests/integration/test_report_prometheus.py checks them against it). Queries sum
# over every other label, so series split by exported_job / exported_instance (one per app instance, the
# exporter's job/instance renamed by Prometheus) or by collector add up.
DURATION = "gen_ai_client_operation_duration_seconds"
TOKENS = "gen_ai_client_token_usage"
COST = "llm_client_cost_USD_total"
LABELS = {
    "experiment": "llm_experiment_id",
    "variant": "llm_variant",
    "route": "llm_route",
    "token_type": "gen_ai_token_type",
    "error_type": "error_type",
}
_VARIANT, _EXPERIMENT = LABELS["variant"], LABELS["experiment"]
_LIVE = f'{LABELS["route"]}=~"primary|fallback|"'  # "" matches series without the label
_HAS_ERROR = f',{LABELS["error_type"]}!=""'
_PRIMARY = f',{LABELS["route"]}="primary"'
_SUCCESS = f',{LABELS["error_type"]}=""'
_TOKEN_TYPE = f',{LABELS["token_type"]}="{{}}"'
ERROR_RATE_MARGIN = next(m.margin for m in METRICS if m.name == "error_rate")


class PrometheusClient:
    """Instant queries against the Prometheus HTTP API."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._owned = client is None
        self.client = client or httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owned:
            self.client.close()

    def query(self, expression: str) -> list[tuple[dict[str, str], float]]:
        try:
            response = self.client.get(f"{self.base_url}/api/v1/query", params={"query": expression})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ReportError(f"Prometheus at {self.base_url}: {exc}") from exc
        if body.get("status") != "success":
            raise ReportError(f"Prometheus at {self.base_url}: {body.get('error', 'query failed')}: {expression}")
        return [(item["metric"], float(item["value"][1])) for item in body["data"]["result"]]


def _by_variant(rows: list[tuple[dict[str, str], float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in rows:
        name = labels.get(_VARIANT, "")
        if not math.isnan(value):  # histogram_quantile gives NaN on empty buckets
            out[name] = out.get(name, 0.0) + value
    return out


def report_from_prometheus(
    base_url: str,
    *,
    experiment: str | None = None,
    control: str | None = None,
    split: Mapping[str, float] | None = None,
    window: str | None = None,
    client: httpx.Client | None = None,
) -> Report:
    """Build a (reduced) report from Prometheus. ``window`` (e.g. ``"1h"``) uses ``increase`` over it."""
    prom = PrometheusClient(base_url, client=client)
    try:
        return _report(base_url, experiment=experiment, control=control, split=split, window=window, prom=prom)
    finally:
        prom.close()


def _report(
    base_url: str,
    *,
    experiment: str | None = None,
    control: str | None = None,
    split: Mapping[str, float] | None = None,
    window: str | None = None,
    prom: PrometheusClient,
) -> Report:
    if experiment is None:
        found = sorted(
            {labels.get(_EXPERIMENT, "") for labels, _ in prom.query(f"sum by ({_EXPERIMENT}) ({DURATION}_count)")}
            - {""}
        )
        if len(found) != 1:
            raise ReportError(f"choose an experiment with --experiment (found: {', '.join(found) or 'none'})")
        experiment = found[0]
    selector = f'{_EXPERIMENT}="{experiment}",{_LIVE}'

    def series(metric: str, extra: str = "") -> str:
        inner = f"{metric}{{{selector}{extra}}}"
        return f"increase({inner}[{window}])" if window else inner

    calls = _by_variant(prom.query(f"sum by ({_VARIANT}) ({series(DURATION + '_count')})"))
    if not calls:
        raise ReportError(f"Prometheus at {base_url}: no calls for experiment {experiment!r}")
    errors = _by_variant(prom.query(f"sum by ({_VARIANT}) ({series(DURATION + '_count', _HAS_ERROR)})"))
    primary = _by_variant(prom.query(f"sum by ({_VARIANT}) ({series(DURATION + '_count', _PRIMARY)})"))
    quantiles = {
        name: _by_variant(
            prom.query(f"histogram_quantile({q}, sum by ({_VARIANT}, le) ({series(DURATION + '_bucket')}))")
        )
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }
    tokens = {
        kind: _by_variant(prom.query(f"sum by ({_VARIANT}) ({series(TOKENS + '_sum', _TOKEN_TYPE.format(kind))})"))
        for kind in ("input", "output")
    }
    cost = _by_variant(prom.query(f"sum by ({_VARIANT}) ({series(COST)})"))
    # Only successful calls with usage carry a cost (SPEC §15): count them by their input-token observations.
    costed = _by_variant(
        prom.query(f"sum by ({_VARIANT}) ({series(TOKENS + '_count', _SUCCESS + _TOKEN_TYPE.format('input'))})")
    )

    variants: dict[str, Any] = {}
    for name, n_float in sorted(calls.items()):
        n, n_errors = round(n_float), round(errors.get(name, 0.0))
        ci = bridge.rate_ci(n_errors, n)
        variants[name] = {
            "requests": n,
            "errors": n_errors,
            "error_rate": n_errors / n if n else None,
            "error_rate_ci": list(ci) if ci else None,
            "latency_ms": {q: (values[name] * 1000.0 if name in values else None) for q, values in quantiles.items()},
            "ttft_ms": {"p50": None, "p95": None, "p99": None},
            "input_tokens": round(tokens["input"].get(name, 0.0)),
            "output_tokens": round(tokens["output"].get(name, 0.0)),
            "input_tokens_per_request": tokens["input"].get(name, 0.0) / n if n else None,
            "output_tokens_per_request": tokens["output"].get(name, 0.0) / n if n else None,
            "cost_usd": cost.get(name),
            # Mean over the calls that can carry a cost: successful calls that reported usage.
            "cost_per_1k_requests_usd": (
                1000.0 * cost[name] / costed[name] if name in cost and costed.get(name) else None
            ),
            "field_accuracy": None,
            "hallucination_rate": None,
            "schema_pass_rate": None,
            "fallback_rate": (n - primary.get(name, 0.0)) / n if n else None,
            "n_fields": 0,
            "n_null_fields": 0,
        }
    names = sorted(variants)
    control = control or ("control" if "control" in variants else max(names, key=lambda v: calls[v]))
    if control not in variants:
        raise ReportError(f"control variant {control!r} not found; variants: {', '.join(names)}")
    observed = {name: round(primary.get(name, 0.0)) for name in names}
    srm_result = check_srm(observed, split) if split else None
    comparisons: list[dict[str, Any]] = []
    decisions = []
    for name in names:
        if name == control:
            continue
        c, k = variants[control], variants[name]
        test = bridge.compare_rates(c["errors"], c["requests"], k["errors"], k["requests"])
        guardrail = bridge.Comparison(
            "error_rate",
            c["error_rate"],
            k["error_rate"],
            test.estimate,
            test.ci_low,
            test.ci_high,
            test.p_value,
            higher_is_better=False,
            margin=ERROR_RATE_MARGIN,
            guardrail=True,
        )
        verdict = bridge.decide([guardrail], srm_result)
        decisions.append(verdict)
        comparisons.append(
            {
                "metric": "error_rate",
                "variant": name,
                "control": c["error_rate"],
                "candidate": k["error_rate"],
                "delta": test.estimate,
                "ci_low": test.ci_low,
                "ci_high": test.ci_high,
                "p_value": test.p_value,
                "higher_is_better": False,
                "guardrail": True,
                "margin": ERROR_RATE_MARGIN,
                "p_value_holm": verdict.adjusted_p_values.get("error_rate", test.p_value),
                "significant": verdict.significant["error_rate"],
            }
        )
    decision, reasons = combine_decisions(decisions, srm_checked=srm_result is not None)
    data: dict[str, Any] = {
        "experiment": experiment,
        "control": control,
        "variants": variants,
        "comparisons": comparisons,
        "srm": {
            "p_value": srm_result.p_value if srm_result else None,
            "ok": srm_result.ok if srm_result else None,
            "observed": observed,
            "expected_weights": dict(split) if split else None,
            "source": "split" if split else None,
        },
        "decision": decision,
        "reasons": reasons,
        "sequential": [],
        "shadow": {"variants": {}, "paired": []},
        "input": {
            "spans": 0,
            "llm_spans": round(sum(calls.values())),
            "llm_spans_without_experiment": 0,
            "prometheus": base_url,
        },
    }
    return Report(data=data)
