"""Per-variant figures for rollout guardrails, from this process or from Prometheus (SPEC §7.5).

A source answers ``stats(experiment_id, variant) -> VariantStats``. ``None`` in a field means "not measured";
a guardrail on an unmeasured figure does not pass (it reports ``no data``), so a phase never advances blind.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from otel_llm.routing.config import Guardrail, Guardrails


@dataclass(frozen=True, slots=True)
class VariantStats:
    samples: int
    error_rate: float | None = None
    p99_latency: float | None = None  # seconds
    schema_pass_rate: float | None = None
    hallucination_rate: float | None = None
    cost_per_1k: float | None = None  # USD per 1,000 requests


class StatsSource(Protocol):
    def stats(self, experiment_id: str, variant: str) -> VariantStats: ...


# Metrics where a *lower* candidate value is worse; for the others higher is worse.
_HIGHER_IS_BETTER = frozenset({"schema_pass_rate"})
GUARDRAIL_NAMES = ("error_rate", "p99_latency", "schema_pass_rate", "hallucination_rate", "cost_per_1k")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    control: float | None
    candidate: float | None
    passed: bool | None  # None: no data
    detail: str


def check_one(name: str, rail: Guardrail, control: float | None, candidate: float | None) -> Check:
    if control is None or candidate is None or math.isnan(control) or math.isnan(candidate):
        return Check(name, control, candidate, None, "no data")
    worse = (control - candidate) if name in _HIGHER_IS_BETTER else (candidate - control)
    problems = []
    if rail.max_delta is not None and worse > rail.max_delta:
        problems.append(f"worse by {worse:.6g} > max_delta {rail.max_delta:g}")
    if rail.max_ratio is not None and control > 0:
        ratio = (
            (control / candidate if candidate > 0 else math.inf) if name in _HIGHER_IS_BETTER else (candidate / control)
        )
        if ratio > rail.max_ratio:
            problems.append(f"ratio {ratio:.4g} > max_ratio {rail.max_ratio:g}")
    if problems:
        return Check(name, control, candidate, False, "; ".join(problems))
    return Check(name, control, candidate, True, "ok")


def check_all(rails: Guardrails, control: VariantStats, candidate: VariantStats) -> list[Check]:
    out = []
    for name in GUARDRAIL_NAMES:
        rail: Guardrail | None = getattr(rails, name)
        if rail is not None:
            out.append(check_one(name, rail, getattr(control, name), getattr(candidate, name)))
    return out


class InProcessStats:
    """Figures the router records itself: live calls per assigned variant (errors, latency to response
    headers). Apps that judge responses add schema validity, hallucination and cost with :meth:`record`."""

    def __init__(self, reservoir: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._n: dict[tuple[str, str], list[int]] = {}  # [calls, errors]
        self._lat: dict[tuple[str, str], deque[float]] = {}
        self._extra: dict[tuple[str, str, str], list[float]] = {}  # [sum, count]
        self._reservoir = reservoir

    def record_call(self, experiment_id: str, variant: str, ok: bool, latency_s: float) -> None:
        key = (experiment_id, variant)
        with self._lock:
            n = self._n.setdefault(key, [0, 0])
            n[0] += 1
            n[1] += not ok
            lat = self._lat.get(key)
            if lat is None:
                lat = self._lat[key] = deque(maxlen=self._reservoir)
            lat.append(latency_s)

    def record(
        self,
        experiment_id: str,
        variant: str,
        *,
        schema_valid: bool | None = None,
        hallucination: bool | None = None,
        cost_usd: float | None = None,
    ) -> None:
        with self._lock:
            for name, value in (("schema", schema_valid), ("hall", hallucination), ("cost", cost_usd)):
                if value is not None:
                    acc = self._extra.setdefault((experiment_id, variant, name), [0.0, 0.0])
                    acc[0] += float(value)
                    acc[1] += 1

    def _mean(self, key: tuple[str, str, str]) -> float | None:
        acc = self._extra.get(key)
        return acc[0] / acc[1] if acc and acc[1] else None

    def stats(self, experiment_id: str, variant: str) -> VariantStats:
        key = (experiment_id, variant)
        with self._lock:
            calls, errors = self._n.get(key, [0, 0])
            lat = sorted(self._lat.get(key, ()))
            p99 = None
            if lat:
                pos = 0.99 * (len(lat) - 1)  # linear interpolation, as numpy's default (SPEC §15)
                lo = math.floor(pos)
                hi = min(lo + 1, len(lat) - 1)
                p99 = lat[lo] + (lat[hi] - lat[lo]) * (pos - lo)
            cost = self._mean((*key, "cost"))
            return VariantStats(
                samples=calls,
                error_rate=errors / calls if calls else None,
                p99_latency=p99,
                schema_pass_rate=self._mean((*key, "schema")),
                hallucination_rate=self._mean((*key, "hall")),
                cost_per_1k=cost * 1000 if cost is not None else None,
            )


# PromQL over the series of SPEC §4.3. ``{sel}`` is the label selector of one experiment's variant, ``{w}``
# the range. Override per deployment with PrometheusSource(queries=...).
DEFAULT_QUERIES: dict[str, str] = {
    "samples": "sum(increase(gen_ai_client_operation_duration_seconds_count{{{sel}}}[{w}]))",
    "error_rate": (
        'sum(increase(gen_ai_client_operation_duration_seconds_count{{{sel},error_type!=""}}[{w}]))'
        " / sum(increase(gen_ai_client_operation_duration_seconds_count{{{sel}}}[{w}]))"
    ),
    "p99_latency": (
        "histogram_quantile(0.99, sum by (le) (increase(gen_ai_client_operation_duration_seconds_bucket"
        "{{{sel}}}[{w}])))"
    ),
    "cost_per_1k": (
        "1000 * sum(increase(llm_client_cost_USD_total{{{sel}}}[{w}]))"
        " / sum(increase(gen_ai_client_operation_duration_seconds_count{{{sel}}}[{w}]))"
    ),
}


class PrometheusSource:
    """Guardrail figures from a Prometheus HTTP API (``/api/v1/query``), live routes only."""

    def __init__(
        self, url: str, *, window: str = "1h", queries: dict[str, str] | None = None, timeout_s: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self.window = window
        self.queries = {**DEFAULT_QUERIES, **(queries or {})}
        self.timeout_s = timeout_s

    def query(self, promql: str) -> float | None:
        qs = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{qs}", timeout=self.timeout_s) as resp:
            payload = json.load(resp)
        if payload.get("status") != "success":
            raise RuntimeError(f"prometheus query failed: {payload.get('error', payload)}")
        result = payload["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) or math.isinf(value) else value

    def stats(self, experiment_id: str, variant: str) -> VariantStats:
        sel = f'llm_experiment_id="{_esc(experiment_id)}",llm_variant="{_esc(variant)}",llm_route=~"primary|fallback"'
        values: dict[str, float | None] = {}
        for name, template in self.queries.items():
            values[name] = self.query(template.format(sel=sel, w=self.window))
        samples = values.pop("samples", None)
        return VariantStats(
            samples=round(samples) if samples is not None else 0,
            **{k: v for k, v in values.items() if k in GUARDRAIL_NAMES},
        )


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
