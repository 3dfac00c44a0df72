"""Build the report (SPEC §10 JSON, §15 additions, ``shadow`` block) from OTLP JSON-lines files."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from otel_llm.evaluation import JudgeSchema, load_schema, read_field_records
from otel_llm.report import _stats_bridge as bridge
from otel_llm.report._collect import Collection, Collector
from otel_llm.report._compare import compare, compare_paired, pair_shadow, sequential_series
from otel_llm.report._figures import variant_figures
from otel_llm.report._otlp import iter_spans
from otel_llm.report._srm import srm_block, weights_from_experiments_file

PROGRESS_MIN_BYTES = 64 * 1024 * 1024
"""Inputs at least this large show a progress bar (when stderr is a terminal)."""
PLOT_SAMPLE = 20_000


class ReportError(ValueError):
    """The input cannot make a report (no LLM spans, unknown experiment or control, ...)."""


@dataclass
class Report:
    """A built report: ``data`` is the JSON document; the samples feed the HTML plots."""

    data: dict[str, Any]
    latency_samples: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    shadow_latency_samples: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        return str(self.data["decision"])

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.data, indent=indent, allow_nan=False)

    def to_html(self) -> str:
        from otel_llm.report._html import render_html

        return render_html(self)

    def print_table(self, console: Any = None) -> None:
        from otel_llm.report._table import print_table

        print_table(self, console)


def collect_files(
    paths: Iterable[str | Path],
    *,
    truth: Mapping[str, Mapping[str, Any]] | None = None,
    schema: JudgeSchema | None = None,
    strict_empty: bool = False,
    progress: bool | None = None,
) -> Collection:
    """Stream every file once into compact per-call columns."""
    files = [Path(path) for path in paths]
    collector = Collector(truth, schema, strict_empty=strict_empty)
    total = sum(path.stat().st_size for path in files if path.is_file())
    if progress is None:
        progress = total >= PROGRESS_MIN_BYTES and sys.stderr.isatty()
    if not progress:
        for path in files:
            for span in iter_spans(path):
                collector.add(span)
        return collector.collection
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("reading spans", total=total)
        for path in files:
            for span in iter_spans(path, advance=lambda read: bar.advance(task, read)):
                collector.add(span)
    return collector.collection


def _sample(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if values.size <= PLOT_SAMPLE:
        return values.copy()
    return np.random.default_rng(0).choice(values, PLOT_SAMPLE, replace=False)


def _choose(options: Iterable[str], wanted: str | None, what: str, hint: str) -> str:
    names = sorted(options)
    if wanted is not None:
        if wanted not in names:
            raise ReportError(f"{what} {wanted!r} not found; found: {', '.join(names) or 'none'}")
        return wanted
    if len(names) == 1:
        return names[0]
    if not names:
        raise ReportError(f"no {what} found: the input has no LLM spans tagged with llm.experiment.id")
    raise ReportError(f"several {what}s found ({', '.join(names)}); choose one with {hint}")


def report_from_collection(
    collection: Collection,
    *,
    experiment: str | None = None,
    control: str | None = None,
    split: Mapping[str, float] | None = None,
    experiments_file: str | Path | None = None,
    margins: Mapping[str, float] | None = None,
) -> Report:
    """Figures, comparisons, SRM, sequential series, shadow block and decision for one experiment."""
    experiment_id = _choose(set(collection.live) | set(collection.shadow), experiment, "experiment", "--experiment")
    live = collection.live.get(experiment_id, {})
    shadow = collection.shadow.get(experiment_id, {})
    if not live:
        raise ReportError(f"experiment {experiment_id!r} has no live (primary/fallback) calls")
    if control is None:
        control = "control" if "control" in live else max(live, key=lambda name: len(live[name]))
    elif control not in live:
        raise ReportError(f"control variant {control!r} not found; variants: {', '.join(sorted(live))}")

    source = "split" if split is not None else None
    if split is None and experiments_file is not None:
        split, source = weights_from_experiments_file(experiments_file, experiment_id), "experiments-file"
    srm, srm_result = srm_block(live, split, source)

    comparisons: list[dict[str, Any]] = []
    shadow_comparisons: list[dict[str, Any]] = []
    shadow_decisions: dict[str, dict[str, Any]] = {}
    sequential: list[dict[str, Any]] = []
    decisions: list[bridge.Decision] = []
    bases: list[str] = []
    srm_failed = srm_result is not None and not srm_result.ok
    for name in sorted((set(live) | set(shadow)) - {control}):
        live_verdict: bridge.Decision | None = None
        if name in live:
            rows, live_verdict = compare(live[control], live[name], name, margins, srm_result)
            comparisons.extend(rows)
            sequential.extend(sequential_series(live[control], live[name], name))
        # SRM is a check of live assignment; it is applied below, so shadow.decisions shows the shadow evidence.
        paired = compare_paired(live[control], shadow[name], name, margins) if name in shadow else None
        if paired is not None:
            shadow_rows, shadow_verdict, n_pairs = paired
            shadow_comparisons.extend(shadow_rows)
            shadow_decisions[name] = {
                "decision": shadow_verdict.decision,
                "reasons": shadow_verdict.reasons,
                "n_pairs": n_pairs,
            }
        if live_verdict is not None and (live_verdict.decision != "hold" or srm_failed or paired is None):
            decisions.append(live_verdict)
            bases.append("live")
        elif paired is not None and srm_failed and srm_result is not None:
            reason = f"sample ratio mismatch on live traffic (p = {srm_result.p_value:.2g}): no verdict from {name}"
            decisions.append(bridge.Decision("hold", [reason]))
            bases.append("live")
        elif paired is not None:
            n_live = len(live[name]) if name in live else 0
            decisions.append(
                shadow_basis(name, control, shadow_verdict, n_pairs=n_pairs, n_live=n_live, live_verdict=live_verdict)
            )
            bases.append("shadow")
    decision, reasons = combine_decisions(decisions, srm_checked=srm_result is not None)
    decision_basis = "shadow" if "shadow" in bases else "live"

    data: dict[str, Any] = {
        "experiment": experiment_id,
        "control": control,
        "variants": {name: variant_figures(columns) for name, columns in sorted(live.items())},
        "comparisons": comparisons,
        "srm": srm,
        "decision": decision,
        "decision_basis": decision_basis,
        "reasons": reasons,
        "sequential": sequential,
        "shadow": {
            "variants": {name: variant_figures(columns) for name, columns in sorted(shadow.items())},
            "paired": [entry for name, columns in sorted(shadow.items()) for entry in pair_shadow(live, columns, name)],
            "comparisons": shadow_comparisons,
            "decisions": shadow_decisions,
        },
        "input": {
            "spans": collection.n_spans,
            "llm_spans": collection.n_llm_spans,
            "llm_spans_without_experiment": collection.n_unattributed,
        },
    }
    return Report(
        data=data,
        latency_samples={name: _sample(c.arrays()["duration_ms"]) for name, c in sorted(live.items())},
        shadow_latency_samples={name: _sample(c.arrays()["duration_ms"]) for name, c in sorted(shadow.items())},
    )


def shadow_basis(
    variant: str,
    control: str,
    verdict: bridge.Decision,
    *,
    n_pairs: int,
    n_live: int,
    live_verdict: bridge.Decision | None,
) -> bridge.Decision:
    """The shadow verdict of one candidate, its reasons prefixed with why the shadow traffic decides."""
    if live_verdict is None:
        why = f"{variant} has no live traffic"
    else:
        why = f"the live comparison of {variant} ({n_live:,} calls) is inconclusive (live verdict: hold)"
    lead = (
        f"{variant}: decision based on shadow traffic ({n_pairs:,} pairs: each shadow call of {variant} "
        f"paired with the {control} primary call of the same request), because {why}"
    )
    return bridge.Decision(verdict.decision, [lead, *verdict.reasons], verdict.adjusted_p_values, verdict.significant)


def combine_decisions(decisions: list[bridge.Decision], *, srm_checked: bool) -> tuple[str, list[str]]:
    """One verdict over every candidate: the worst of theirs (rollback, then hold), reasons in order."""
    reasons = [reason for decision in decisions for reason in decision.reasons]
    if not srm_checked:
        reasons.append("SRM not checked: no expected split (give --split or --experiments, or route with weights)")
    if not decisions:
        return "hold", [*reasons, "no candidate variant to compare with the control"]
    verdicts = {decision.decision for decision in decisions}
    for verdict in ("rollback", "hold"):
        if verdict in verdicts:
            return verdict, list(dict.fromkeys(reasons))
    return "ship", list(dict.fromkeys(reasons))


def build_report(
    paths: Iterable[str | Path],
    *,
    experiment: str | None = None,
    control: str | None = None,
    truth: str | Path | Mapping[str, Mapping[str, Any]] | None = None,
    schema: str | Path | JudgeSchema | None = None,
    split: Mapping[str, float] | None = None,
    experiments_file: str | Path | None = None,
    strict_empty: bool = False,
    margins: Mapping[str, float] | None = None,
    progress: bool | None = None,
) -> Report:
    """Read OTLP JSON-lines files and build the report of one experiment.

    ``experiment`` is needed only when the files hold several. ``truth`` (a JSON-lines path or
    ``{id: fields}``) judges each call's output, joined on ``llm.document.id``; without it, judge results
    already on the spans (``llm.eval.*``) are used. ``split`` or ``experiments_file`` give the expected split
    for SRM (else ``llm.variant.weight`` from the spans). ``margins`` overrides guardrail margins by metric
    name (absolute for rates, relative to control for latency and cost).
    """
    truth_records = read_field_records(truth) if isinstance(truth, str | Path) else truth
    judge_schema = load_schema(schema) if isinstance(schema, str | Path) else schema
    collection = collect_files(
        paths, truth=truth_records, schema=judge_schema, strict_empty=strict_empty, progress=progress
    )
    return report_from_collection(
        collection,
        experiment=experiment,
        control=control,
        split=split,
        experiments_file=experiments_file,
        margins=margins,
    )
