# ruff: noqa: E501 - panel titles, descriptions and alert texts read better unwrapped
"""Generate the Grafana dashboards (JSON) and the Prometheus alert rules (YAML) from code.

``python -m dashboards.generate`` (``make dashboards``) writes ``dashboards/generated/*.json`` and
``dashboards/alerts.yaml``; ``--check`` exits 1 when a committed file differs from what the code generates.
Every PromQL expression comes from :mod:`dashboards.queries`; grafana-foundation-sdk is imported only here.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import queries as q

HERE = Path(__file__).resolve().parent
GENERATED = HERE / "generated"
ALERTS = HERE / "alerts.yaml"
PROMETHEUS_UID = "prometheus"
TEMPO_UID = "tempo"
PROM = dm.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
TAGS = ["otel-llm", "llm", "experiments"]

# Label filters built from the template variables.
F_EXP = 'llm_experiment_id=~"$experiment"'
F_MODEL = 'gen_ai_request_model=~"$model"'
F_ALL = f'{F_EXP}, llm_variant=~"$variant", {F_MODEL}'
F_VARIANTS = f'{F_EXP}, llm_variant=~"$variant", llm_variant!="$control"'
F_CONTROL = f'{F_EXP}, llm_variant="$control"'
W = "$__rate_interval"
R = "$__range"


@dataclass(frozen=True)
class T:
    """One query of a panel: expression, legend (its ``{{label}}`` names are the labels the result must carry)."""

    expr: str
    legend: str
    exemplar: bool = False


def _tempo_link() -> gd.DashboardLink:
    """Data link from a series to its traces in Tempo (TraceQL on the series' experiment and variant)."""
    traceql = '{ span.llm.experiment.id = "${__field.labels.llm_experiment_id}" && span.llm.variant = "${__field.labels.llm_variant}" }'
    left = {
        "datasource": TEMPO_UID,
        "queries": [
            {"refId": "A", "datasource": {"type": "tempo", "uid": TEMPO_UID}, "queryType": "traceql", "query": traceql}
        ],
        "range": {"from": "${__from}", "to": "${__to}"},
    }
    url = "/explore?orgId=1&left=" + urllib.parse.quote(json.dumps(left, separators=(",", ":")), safe="${}_.:")
    return gd.DashboardLink("Traces of this variant in Tempo").url(url).target_blank(True)


def _targets(panel: object, targets: Sequence[T]) -> None:
    for i, t in enumerate(targets):
        query = prometheus.Dataquery().expr(t.expr).legend_format(t.legend).ref_id(chr(ord("A") + i)).datasource(PROM)
        if t.exemplar:
            query = query.exemplar(True)
        panel.with_target(query)  # type: ignore[attr-defined]


def _thresholds(steps: Sequence[tuple[float | None, str]]) -> gd.ThresholdsConfig:
    return gd.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps([dm.Threshold(v, c) for v, c in steps])


def ts(
    title: str, desc: str, unit: str, targets: Sequence[T], *, w: int = 12, h: int = 8, link: bool = True
) -> timeseries.Panel:
    p = timeseries.Panel().title(title).description(desc).unit(unit).datasource(PROM).span(w).height(h)
    p = p.line_width(2).fill_opacity(8).show_points(cm.VisibilityMode.NEVER)
    _targets(p, targets)
    if link:
        p.data_links([_tempo_link()])
    return p


def st(
    title: str,
    desc: str,
    unit: str,
    targets: Sequence[T],
    thresholds: Sequence[tuple[float | None, str]] = ((None, "blue"),),
    *,
    w: int = 6,
    h: int = 5,
    mappings: Sequence[dm.ValueMapping] = (),
) -> stat.Panel:
    p = stat.Panel().title(title).description(desc).unit(unit).datasource(PROM).span(w).height(h)
    p = (
        p.thresholds(_thresholds(thresholds)).color_mode(dm.BigValueColorMode.BACKGROUND)
        if hasattr(dm, "BigValueColorMode")
        else p.thresholds(_thresholds(thresholds))
    )
    if mappings:
        p.mappings(list(mappings))
    _targets(p, targets)
    return p


def _guardrail_steps(name: str) -> list[tuple[float | None, str]]:
    g = q.GUARDRAILS[name]
    if g.ratio:
        return [(None, "green"), (1.0 + (g.limit - 1.0) / 2, "orange"), (g.limit, "red")]
    return [(None, "green"), (g.limit / 2, "orange"), (g.limit, "red")]


PASS_BREACH = [
    dm.ValueMap(
        {"0": dm.ValueMappingResult(text="PASS", color="green"), "1": dm.ValueMappingResult(text="BREACH", color="red")}
    )
]


def _vars(*names: str) -> list[gd.QueryVariable | gd.CustomVariable]:
    out: list[gd.QueryVariable | gd.CustomVariable] = []
    specs = {
        "experiment": ("Experiment", f"label_values({q.CALLS}, llm_experiment_id)", False),
        "variant": ("Variant", f'label_values({q.CALLS}{{llm_experiment_id=~"$experiment"}}, llm_variant)', True),
        "model": ("Model", f'label_values({q.CALLS}{{llm_experiment_id=~"$experiment"}}, gen_ai_request_model)', True),
    }
    for n in names:
        if n == "control":
            out.append(gd.CustomVariable("control").label("Control variant").values("control"))
            continue
        label, query, multi = specs[n]
        v = (
            gd.QueryVariable(n)
            .label(label)
            .datasource(PROM)
            .query({"query": query, "refId": f"{n}-values"})
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dm.VariableSort.ALPHABETICAL_ASC)
            .include_all(True)
            .all_value(".+")
            .multi(multi)
        )
        out.append(v)
    return out


def _dashboard(uid: str, title: str, desc: str, variables: Sequence[str], panels: Sequence[object]) -> gd.Dashboard:
    d = (
        gd.Dashboard(title)
        .uid(uid)
        .description(desc)
        .tags(TAGS)
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .editable()
    )
    for v in _vars(*variables):
        d.with_variable(v)
    for p in panels:
        d.with_panel(p)  # type: ignore[arg-type]
    return d


def variant_comparison() -> gd.Dashboard:
    by_v = "{{llm_experiment_id}} / {{llm_variant}}"
    delta = lambda name, unit, title, desc: st(  # noqa: E731
        title,
        desc,
        unit,
        [T(q.vs_control(name, F_VARIANTS, F_CONTROL, R), by_v)],
        _guardrail_steps(name),
        w=4,
    )
    panels = [
        delta(
            "error_rate",
            "percentunit",
            "Δ error rate vs control",
            "Candidate minus control, over the time range. Orange at half the guardrail, red at the guardrail.",
        ),
        delta(
            "p99_latency",
            "x",
            "p99 latency ÷ control",
            "Candidate p99 over control p99 (live calls), over the time range.",
        ),
        delta(
            "schema_pass_rate",
            "percentunit",
            "Δ schema pass rate (control − variant)",
            "Drop in schema pass rate against control; positive is worse.",
        ),
        delta(
            "hallucination_rate",
            "percentunit",
            "Δ hallucination rate vs control",
            "Filled-in null fields, candidate minus control.",
        ),
        delta("cost_per_1k", "x", "Cost per 1k ÷ control", "Candidate cost per 1k requests over control's."),
        st(
            "Live requests in range",
            "Live assignments (primary calls) per variant.",
            "short",
            [T(q.live_requests(F_ALL, R), by_v)],
            w=4,
        ),
        ts(
            "Requests per second",
            "Live assignments per variant (shadow copies excluded).",
            "reqps",
            [T(q.requests_per_s(F_ALL, W), by_v, exemplar=True)],
        ),
        ts(
            "Error rate",
            "Failed primary calls / primary calls, per variant.",
            "percentunit",
            [T(q.error_rate(F_ALL, W), by_v, exemplar=True)],
        ),
        ts(
            "Fallback rate",
            "Requests that fell back to the fallback variant / primary calls.",
            "percentunit",
            [T(q.fallback_rate(F_ALL, W), by_v)],
        ),
        ts(
            "Latency p50 / p95 / p99",
            "Client span duration of live calls (primary and fallback), per variant.",
            "s",
            [T(q.latency_quantile(x, F_ALL, W), f"p{round(x * 100)} {by_v}", exemplar=True) for x in (0.5, 0.95, 0.99)],
        ),
        ts(
            "Time to first token p50 / p95",
            "Streaming calls only.",
            "s",
            [T(q.ttft_quantile(x, F_ALL, W), f"p{round(x * 100)} {by_v}") for x in (0.5, 0.95)],
        ),
        ts(
            "Tokens per request",
            "Mean input and output tokens per live call.",
            "short",
            [T(q.tokens_per_request(F_ALL, W), f"{by_v} {{{{gen_ai_token_type}}}}")],
        ),
        ts(
            "Cost per 1k requests",
            "1000 × mean estimated cost of the live calls that have one (USD).",
            "currencyUSD",
            [T(q.cost_per_1k(F_ALL, W), by_v)],
        ),
        ts(
            "Schema pass rate",
            "Responses valid against the schema / responses checked.",
            "percentunit",
            [T(q.schema_pass_rate(F_ALL, W), by_v)],
        ),
        ts(
            "Hallucination rate",
            "Null-reference fields the model filled in / null-reference fields.",
            "percentunit",
            [T(q.hallucination_rate(F_ALL, W), by_v)],
        ),
        ts(
            "Field accuracy",
            "Fields equal to the reference / fields judged.",
            "percentunit",
            [T(q.field_accuracy(F_ALL, W), by_v)],
        ),
    ]
    return _dashboard(
        "otel-llm-variants",
        "LLM experiments / Variant comparison",
        "Is the candidate better, worse or the same as control on live traffic? Side by side per variant, with deltas vs control coloured by the guardrails.",
        ["experiment", "variant", "model", "control"],
        panels,
    )


def shadow_diff() -> gd.Dashboard:
    f = f"{F_EXP}, {F_MODEL}, {q.SHADOW_ROUTES}"
    by_r = "{{llm_route}} {{llm_variant}}"
    panels = [
        st(
            "Shadow drop rate (range)",
            "Shadow copies dropped at max_in_flight / attempted. Red above the alert threshold.",
            "percentunit",
            [T(q.shadow_drop_rate(F_EXP, R), "{{llm_experiment_id}}")],
            [(None, "green"), (q.SHADOW_DROP_RATE_MAX, "red")],
            w=6,
        ),
        st(
            "Shadow calls in range",
            "Shadow calls that reached the candidate.",
            "short",
            [T(q.live_requests(f, R, by=q.BY_ROUTE).replace(q.PRIMARY, q.SHADOW), by_r)],
            w=6,
        ),
        st(
            "Shadow spend share (range)",
            "Share of the experiment's spend that went to shadow calls.",
            "percentunit",
            [T(q.shadow_spend_share(F_EXP, R), "{{llm_experiment_id}}")],
            w=6,
        ),
        st(
            "Accuracy primary vs shadow (range)",
            "Fields correct / fields, per route.",
            "percentunit",
            [T(q.field_accuracy(f, R, by=q.BY_ROUTE, route=q.SHADOW_ROUTES), by_r)],
            w=6,
        ),
        ts(
            "Latency p95, primary vs shadow",
            "Same traffic: primaries and their shadow copies.",
            "s",
            [T(q.latency_quantile(0.95, f, W, by=q.BY_ROUTE, route=q.SHADOW_ROUTES), by_r, exemplar=True)],
        ),
        ts(
            "Error rate, primary vs shadow",
            "Failed calls / calls per route.",
            "percentunit",
            [T(q.error_rate(f, W, by=q.BY_ROUTE, route=q.SHADOW_ROUTES), by_r)],
        ),
        ts(
            "Cost per 1k, primary vs shadow",
            "USD per 1000 successful calls.",
            "currencyUSD",
            [T(q.cost_per_1k(f, W, by=q.BY_ROUTE, route=q.SHADOW_ROUTES), by_r)],
        ),
        ts(
            "Hallucination rate, primary vs shadow",
            "Filled-in null fields / null fields.",
            "percentunit",
            [T(q.hallucination_rate(f, W, by=q.BY_ROUTE, route=q.SHADOW_ROUTES), by_r)],
        ),
        ts(
            "Shadow drop rate",
            "Copies dropped because max_in_flight was reached.",
            "percentunit",
            [T(q.shadow_drop_rate(F_EXP, W), "{{llm_experiment_id}}")],
            w=24,
            link=False,
        ),
    ]
    return _dashboard(
        "otel-llm-shadow",
        "LLM experiments / Shadow diff",
        "How would the candidate have done on the same requests control served? Primary vs shadow latency, errors, cost and accuracy, and how many shadow copies were dropped.",
        ["experiment", "model"],
        panels,
    )


def cost() -> gd.Dashboard:
    f = f"{F_EXP}, {F_MODEL}"
    by_m = "{{llm_route}} {{llm_variant}} {{gen_ai_request_model}}"
    panels = [
        st(
            "Projected monthly spend",
            "Spend rate over the time range × 30 days, per route.",
            "currencyUSD",
            [T(q.projected_monthly_spend(f, R), "{{llm_experiment_id}} {{llm_route}}")],
            [(None, "green"), (q.MONTHLY_BUDGET_USD, "red")],
            w=8,
        ),
        st(
            "Spend in range",
            "Estimated USD per route, variant and model.",
            "currencyUSD",
            [T(q.spend_in_range(f, R), by_m)],
            w=8,
        ),
        st(
            "Shadow-test spend share",
            "What the shadow test costs, as a share of the experiment's spend.",
            "percentunit",
            [T(q.shadow_spend_share(F_EXP, R), "{{llm_experiment_id}}")],
            w=8,
        ),
        ts(
            "Spend per hour by variant and model",
            "USD per hour at the current rate.",
            "currencyUSD",
            [T(q.spend_per_hour(f, W), by_m)],
            w=24,
        ),
        ts(
            "Cost per 1k requests (live)",
            "1000 × mean cost of successful live calls.",
            "currencyUSD",
            [T(q.cost_per_1k(f, W), "{{llm_experiment_id}} / {{llm_variant}}")],
        ),
        ts(
            "Shadow cost per 1k",
            "What each shadow copy costs, per 1000.",
            "currencyUSD",
            [T(q.cost_per_1k(f, W, by=q.BY_ROUTE, route=q.SHADOW), by_m.replace(" {{gen_ai_request_model}}", ""))],
        ),
    ]
    return _dashboard(
        "otel-llm-cost",
        "LLM experiments / Cost",
        "What does each variant, model and the shadow test cost, and what will it cost per month at this rate?",
        ["experiment", "model"],
        panels,
    )


def rollout() -> gd.Dashboard:
    by_v = "{{llm_experiment_id}} / {{llm_variant}}"
    guardrails = [
        T(q.guardrail_breach(n, F_VARIANTS, F_CONTROL, R), f"{by_v} {q.GUARDRAILS[n].name}") for n in q.GUARDRAILS
    ]
    panels = [
        st(
            "Current phase",
            "Index of the rollout phase in the experiments file (0 = first).",
            "none",
            [T(q.rollout_phase(F_EXP), "{{llm_experiment_id}}")],
            w=4,
        ),
        st(
            "Paused",
            "1 while the rollout is paused (auto-pause after a guardrail breach, or by hand).",
            "none",
            [T(q.rollout_paused(F_EXP), "{{llm_experiment_id}}")],
            w=4,
            mappings=[
                dm.ValueMap(
                    {
                        "0": dm.ValueMappingResult(text="RUNNING", color="green"),
                        "1": dm.ValueMappingResult(text="PAUSED", color="red"),
                    }
                )
            ],
        ),
        st(
            "Pause / resume events in range",
            "Transitions of the paused state seen by the routers.",
            "none",
            [T(q.pause_transitions(F_EXP, R), "{{llm_experiment_id}}")],
            w=4,
        ),
        st(
            "Sample-ratio mismatch (χ²)",
            f"Pearson χ² of live assignments against the configured split over the range; red above {q.SRM_CHI2_CRITICAL} (p < 0.001 with two variants).",
            "none",
            [T(q.srm_chi2(F_EXP, R), "{{llm_experiment_id}}")],
            [(None, "green"), (q.SRM_CHI2_CRITICAL, "red")],
            w=4,
        ),
        st(
            "Guardrails vs control",
            "Each guardrail over the range: BREACH when the variant is worse than control by more than the limit.",
            "none",
            guardrails,
            [(None, "green"), (1, "red")],
            w=8,
            h=10,
            mappings=PASS_BREACH,
        ),
        ts(
            "Configured vs observed split",
            "Configured share (router) and observed share of live assignments, percent.",
            "percent",
            [T(q.configured_share(F_EXP), f"configured {by_v}"), T(q.observed_share(F_EXP, "5m"), f"observed {by_v}")],
            w=16,
            link=False,
        ),
        ts(
            "Paused state",
            "1 = paused.",
            "none",
            [T(q.rollout_paused(F_EXP), "{{llm_experiment_id}}")],
            w=8,
            h=8,
            link=False,
        ),
    ]
    return _dashboard(
        "otel-llm-rollout",
        "LLM experiments / Rollout",
        "Where is the rollout, are its guardrails passing, is the split what was configured (SRM), and did it auto-pause?",
        ["experiment", "variant", "control"],
        panels,
    )


DASHBOARDS: dict[str, Callable[[], gd.Dashboard]] = {
    "variant-comparison": variant_comparison,
    "shadow-diff": shadow_diff,
    "cost": cost,
    "rollout": rollout,
}


def dashboard_json(builder: gd.Dashboard) -> str:
    return json.dumps(builder.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


# --- alert rules ----------------------------------------------------------------------------------------------
def alert_rules() -> dict[str, object]:
    w = q.ALERT_WINDOW
    by_v = q.BY_VARIANT
    rule = lambda name, expr, for_, summary, desc, severity="ticket": {  # noqa: E731
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": desc},
    }
    rules = [
        rule(
            "LLMVariantErrorRateSLOBreach",
            f"({q.error_rate('', w)}) > {q.SLO_ERROR_RATE} and ({q.live_requests('', w)}) >= 50",
            "5m",
            "{{ $labels.llm_variant }} of {{ $labels.llm_experiment_id }}: error rate above the SLO",
            f"Failed primary calls above {q.SLO_ERROR_RATE:.0%} over {w}.",
            "page",
        ),
        rule(
            "LLMVariantLatencySLOBreach",
            f"({q.latency_quantile(0.99, '', w)}) > {q.SLO_P99_LATENCY_S} and ({q.live_requests('', w)}) >= 50",
            "5m",
            "{{ $labels.llm_variant }} of {{ $labels.llm_experiment_id }}: p99 latency above the SLO",
            f"p99 client latency of live calls above {q.SLO_P99_LATENCY_S:g} s over {w}.",
            "page",
        ),
        rule(
            "LLMSampleRatioMismatch",
            f"({q.srm_chi2('', '1h')}) > {q.SRM_CHI2_CRITICAL} and ({q.live_requests('', '1h', by=q.EXP)}) >= 100",
            "10m",
            "{{ $labels.llm_experiment_id }}: assignments do not match the configured split",
            "Sample-ratio mismatch over 1h (p < 0.001 with two variants): results of this experiment are not trustworthy until the cause (assignment, filtering, crashes) is found.",
        ),
        rule(
            "LLMShadowDropRateHigh",
            f"({q.shadow_drop_rate('', w)}) > {q.SHADOW_DROP_RATE_MAX}",
            "10m",
            "{{ $labels.llm_experiment_id }}: shadow copies dropped above the threshold",
            "Shadow copies are dropped at max_in_flight: the shadow comparison under-samples slow periods. Raise max_in_flight or lower shadow.sample.",
        ),
        rule(
            "LLMHallucinationRateHigh",
            f"({q.hallucination_rate('', w)}) > {q.HALLUCINATION_RATE_MAX}"
            f" and sum by ({by_v}) (increase({q.EVAL_NULL_FIELDS}{{{q.LIVE}}}[{w}])) >= 20",
            "5m",
            "{{ $labels.llm_variant }} of {{ $labels.llm_experiment_id }}: null fields filled in above the threshold",
            f"The model invents values for fields the document does not state, above {q.HALLUCINATION_RATE_MAX:.0%}.",
            "page",
        ),
        rule(
            "LLMCostBurnHigh",
            f"{q.MONTH_S} * sum by ({q.EXP}) (rate({q.COST}[1h])) > {q.MONTHLY_BUDGET_USD:g}",
            "15m",
            "{{ $labels.llm_experiment_id }}: projected monthly spend above the budget",
            f"Projected monthly spend above the budget of {q.MONTHLY_BUDGET_USD:g} USD (shadow calls included).",
        ),
    ]
    return {"groups": [{"name": "otel-llm-experiments", "rules": rules}]}


def alerts_yaml() -> str:
    header = "# Generated by `make dashboards` from dashboards/generate.py and dashboards/queries.py. Do not edit.\n"
    return header + yaml.safe_dump(alert_rules(), sort_keys=False, width=1000, allow_unicode=True)


def outputs() -> dict[Path, str]:
    files = {GENERATED / f"{name}.json": dashboard_json(build()) for name, build in DASHBOARDS.items()}
    files[ALERTS] = alerts_yaml()
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file is not up to date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print("not up to date (run `make dashboards`): " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
