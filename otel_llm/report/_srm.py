"""Expected split and sample-ratio-mismatch check (SPEC §15 "Expected split for SRM").

Sources, in order: ``--split control=90,candidate=10``, the experiments file (``--experiments FILE``), else
the ``llm.variant.weight`` the router puts on live spans. With weights from spans, a change of any variant's
weight starts a new phase and SRM is computed per phase; the overall p-value is the smallest phase p-value
times the number of phases (Bonferroni). Only assignments count (see ``_figures.assignments``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from otel_llm.evaluation import InputFileError
from otel_llm.report import _stats_bridge as bridge
from otel_llm.report._collect import Columns
from otel_llm.report._figures import assignments


def parse_split(text: str) -> dict[str, float]:
    """``"control=90,candidate=10"`` → ``{"control": 90.0, "candidate": 10.0}``."""
    weights: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--split: expected NAME=WEIGHT[,NAME=WEIGHT...], got {text!r}") from None
        if not sep or not name.strip() or weights[name.strip()] < 0:
            raise ValueError(f"--split: expected NAME=WEIGHT[,NAME=WEIGHT...], got {text!r}")
    return weights


def weights_from_experiments_file(path: str | Path, experiment: str) -> dict[str, float]:
    """Variant weights of ``experiment`` in an experiments file (SPEC §7.1)."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputFileError(path, f"invalid YAML: {exc}", mark.line + 1 if mark else None) from exc
    experiments = document.get("experiments") if isinstance(document, dict) else None
    for entry in experiments or ():
        if isinstance(entry, dict) and entry.get("id") == experiment:
            try:
                return {str(v["name"]): float(v["weight"]) for v in entry.get("variants") or ()}
            except (KeyError, TypeError, ValueError) as exc:
                raise InputFileError(path, f"experiment {experiment!r}: bad variant entry ({exc})") from exc
    raise InputFileError(path, f"no experiment with id {experiment!r}")


def assignment_counts(live: Mapping[str, Columns]) -> dict[str, int]:
    return {name: int(np.count_nonzero(assignments(c.arrays()))) for name, c in live.items()}


def _phases_from_spans(live: Mapping[str, Columns]) -> list[tuple[dict[str, float], dict[str, int]]]:
    rows: list[tuple[float, str, float]] = []
    for name, columns in live.items():
        a = columns.arrays()
        known = assignments(a) & ~np.isnan(a["weight"])
        rows.extend(
            zip(
                a["start_s"][known].tolist(),
                [name] * int(known.sum()),
                a["weight"][known].tolist(),
                strict=True,
            )
        )
    if not rows:
        return []
    rows.sort()
    current: dict[str, float] = {}
    for _, name, weight in rows:
        current.setdefault(name, weight)  # each variant starts at its first weight
    phases: list[tuple[dict[str, float], dict[str, int]]] = [(dict(current), {})]
    for _, name, weight in rows:
        if current[name] != weight:
            current[name] = weight
            phases.append((dict(current), {}))
        counts = phases[-1][1]
        counts[name] = counts.get(name, 0) + 1
    return [phase for phase in phases if phase[1]]


def check_srm(observed: Mapping[str, int], weights: Mapping[str, float]) -> bridge.SRMResult:
    try:
        return bridge.srm_test(observed, weights)
    except ValueError as exc:  # a variant with live calls but no expected weight, or no positive weight at all
        raise ValueError(f"SRM: {exc} (expected split {dict(weights)})") from None


def srm_block(
    live: Mapping[str, Columns], split: Mapping[str, float] | None, source: str | None
) -> tuple[dict[str, Any], bridge.SRMResult | None]:
    """The report's ``srm`` entry, and the check the decision rule uses (None: no expected split known).

    Per-phase checks are combined into one result whose p-value is the Bonferroni-adjusted smallest phase
    p-value; its counts are those of the phase that gave it.
    """
    observed = assignment_counts(live)
    if split is not None:
        result = check_srm(observed, split)
        entry = {
            "p_value": result.p_value,
            "ok": result.ok,
            "observed": observed,
            "expected_weights": dict(split),
            "source": source,
        }
        return entry, result
    phases = _phases_from_spans(live)
    if not phases:
        return {"p_value": None, "ok": None, "observed": observed, "expected_weights": None, "source": None}, None
    results = [(weights, counts, check_srm(counts, weights)) for weights, counts in phases]
    worst = min((r for _, _, r in results), key=lambda r: r.p_value)
    p_value = min(1.0, worst.p_value * len(results))
    combined = replace(worst, p_value=p_value, ok=p_value >= worst.threshold)
    block: dict[str, Any] = {
        "p_value": p_value,
        "ok": combined.ok,
        "observed": observed,
        "expected_weights": phases[-1][0],
        "source": "span-attribute",
    }
    if len(results) > 1:
        block["phases"] = [
            {"expected_weights": w, "observed": c, "p_value": r.p_value, "ok": r.ok} for w, c, r in results
        ]
    return block, combined
