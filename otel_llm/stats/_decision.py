"""The ship / hold / rollback verdict from an experiment's comparisons (SPEC §10).

Inputs are plain dataclasses the report fills in; nothing here reads telemetry.

Rules, applied in this order (``alpha`` = 0.05 by default):

1. **hold** if the sample-ratio check failed: the variants' populations differ, so no comparison can be
   trusted, not even a bad-looking one (the reasons still name any guardrail that looked worse).
2. **rollback** if any guardrail is significantly worse *beyond its margin*: its whole interval lies on the
   worse side of ``-margin`` (``ci_high < -margin`` when higher is better, ``ci_low > margin`` otherwise;
   margin 0 when none is given). Also rollback when a primary metric is significantly worse after Holm:
   continuing to expose users to a variant that is known to be worse on the metric the test is about has no
   upside.
3. **ship** if at least one primary metric is significantly better after Holm's correction across the
   primary metrics, none is significantly worse, and every guardrail is non-inferior: its worse-side interval
   bound lies inside its margin (``ci_low > -margin`` / ``ci_high < margin``). A guardrail without a margin
   cannot be shown non-inferior, so it only needs not to be significantly worse.
4. **hold** otherwise: not enough evidence yet; the reasons say what is missing.

Supply intervals at the confidence you want the guardrail decisions taken at: a two-sided 95 % interval makes
the non-inferiority check a one-sided 2.5 % test (stricter than a 90 % interval's 5 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from otel_llm.stats._multiple import holm
from otel_llm.stats._srm import SRMResult

Verdict = Literal["ship", "hold", "rollback"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One metric compared between control and candidate.

    Attributes:
        metric: name shown in reasons, e.g. ``"field_accuracy"``.
        control, candidate: the two variants' values (rate, mean, percentile...).
        delta: ``candidate - control`` in the metric's units.
        ci_low, ci_high: confidence interval of ``delta``.
        p_value: two-sided p-value for "no difference", unadjusted (Holm is applied here).
        higher_is_better: True for accuracy, False for latency, cost, errors, hallucinations.
        margin: largest tolerated degradation in the metric's units (>= 0), or None.
        guardrail: True for a guardrail (must not get worse), False for a primary metric (should improve).
    """

    metric: str
    control: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    higher_is_better: bool = True
    margin: float | None = None
    guardrail: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict with human-readable reasons.

    Attributes:
        decision: ``"ship"``, ``"hold"`` or ``"rollback"``.
        reasons: one sentence per finding, most important first.
        adjusted_p_values: Holm-adjusted p-value per primary metric (guardrails keep their own p-values).
        significant: per metric, whether it differs significantly (primary: Holm-adjusted p < alpha;
            guardrail: p < alpha), the ``significant`` field of the report's comparisons.
    """

    decision: Verdict
    reasons: list[str]
    adjusted_p_values: dict[str, float] = field(default_factory=dict)
    significant: dict[str, bool] = field(default_factory=dict)


def _better(c: Comparison) -> bool:
    """Whole interval on the better side of 0."""
    return c.ci_low > 0 if c.higher_is_better else c.ci_high < 0


def _worse_beyond(c: Comparison, margin: float) -> bool:
    """Whole interval on the worse side of ``-margin``."""
    return c.ci_high < -margin if c.higher_is_better else c.ci_low > margin


def _non_inferior(c: Comparison) -> bool:
    if c.margin is None:
        return not _worse_beyond(c, 0.0)
    return c.ci_low > -c.margin if c.higher_is_better else c.ci_high < c.margin


def _fmt(c: Comparison) -> str:
    interval = f"CI [{c.ci_low:.4g}, {c.ci_high:.4g}]"
    return f"{c.metric} {c.control:.4g} → {c.candidate:.4g} (Δ {c.delta:+.4g}, {interval})"


def decide(
    comparisons: Sequence[Comparison],
    srm: SRMResult | None = None,
    guardrails: Sequence[Comparison] = (),
    *,
    alpha: float = 0.05,
) -> Decision:
    """Ship, hold or rollback (rules in the module doc).

    ``comparisons`` may mix primary metrics and guardrails (``guardrail=True``); ``guardrails`` adds more
    guardrails (their ``guardrail`` flag is not consulted). ``srm`` is the sample-ratio check (None: unknown).
    """
    primaries = [c for c in comparisons if not c.guardrail]
    guards = [c for c in comparisons if c.guardrail] + list(guardrails)
    for c in guards:
        if c.margin is not None and c.margin < 0:
            raise ValueError(f"margin of {c.metric!r} must be >= 0, got {c.margin}")
    adjusted = dict(zip([c.metric for c in primaries], holm([c.p_value for c in primaries], alpha), strict=True))
    significant = {c.metric: adjusted[c.metric] < alpha for c in primaries}
    significant.update({c.metric: c.p_value < alpha for c in guards})

    better = [c for c in primaries if significant[c.metric] and _better(c)]
    worse_primary = [c for c in primaries if significant[c.metric] and _worse_beyond(c, 0.0)]
    broken = [c for c in guards if _worse_beyond(c, c.margin or 0.0)]
    unproven = [c for c in guards if not _non_inferior(c)]

    def result(verdict: Verdict, reasons: list[str]) -> Decision:
        return Decision(verdict, reasons, adjusted, significant)

    if srm is not None and not srm.ok:
        reasons = [
            f"sample ratio mismatch (p = {srm.p_value:.2g} < {srm.threshold:g}): observed {srm.observed}, "
            f"expected { ({k: round(v, 1) for k, v in srm.expected.items()}) }; the data cannot be trusted, "
            "check assignment, logging and bot traffic"
        ]
        reasons += [f"guardrail {_fmt(c)} looked worse, but is unreliable under SRM" for c in broken]
        return result("hold", reasons)
    if broken or worse_primary:
        reasons = [f"guardrail {_fmt(c)} is significantly worse beyond its margin {c.margin or 0:g}" for c in broken]
        reasons += [
            f"primary metric {_fmt(c)} is significantly worse (Holm p = {adjusted[c.metric]:.2g})"
            for c in worse_primary
        ]
        return result("rollback", reasons)
    if better and not unproven:
        reasons = [f"{_fmt(c)} is significantly better (Holm p = {adjusted[c.metric]:.2g})" for c in better]
        reasons += [
            f"guardrail {c.metric} is non-inferior (margin {c.margin:g})"
            if c.margin is not None
            else f"guardrail {c.metric} is not significantly worse"
            for c in guards
        ]
        return result("ship", reasons)
    reasons = []
    if not primaries:
        reasons.append("no primary metric to decide on")
    elif not better:
        reasons += [f"{_fmt(c)} is not significantly better (Holm p = {adjusted[c.metric]:.2g})" for c in primaries]
    reasons += [
        f"guardrail {_fmt(c)} is not yet shown within its margin {c.margin:g}" for c in unproven if c.margin is not None
    ]
    return result("hold", [*reasons, "not enough evidence yet: keep collecting data"])
