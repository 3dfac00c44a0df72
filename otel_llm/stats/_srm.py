"""Sample-ratio mismatch: does the observed split match the configured one?

A chi-square goodness-of-fit test of the live assignment counts against the configured weights. The default
threshold is p < 0.001, the industry standard (Kohavi, Tang & Xu, *Trustworthy Online Controlled
Experiments*, ch. 21; Fabijan et al., "Diagnosing Sample Ratio Mismatch", KDD 2019). It is that strict
because the check runs on every experiment and at every look, and a false alarm throws away an experiment;
a real SRM (bots, a crashing variant that never logs, a sticky-assignment bug) is usually gross and shows up
with p-values many orders of magnitude smaller, so little power is lost. An SRM means the variants'
populations differ, so no metric comparison of that experiment can be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from scipy import stats

DEFAULT_SRM_THRESHOLD = 0.001


@dataclass(frozen=True, slots=True)
class SRMResult:
    """Outcome of :func:`srm_test`.

    Attributes:
        p_value: chi-square goodness-of-fit p-value.
        ok: ``p_value >= threshold`` (no mismatch detected).
        chi2: the statistic; ``df``: its degrees of freedom (variants with positive weight, minus one).
        observed, expected: counts per variant (expected = total × normalised weight).
        threshold: the p-value below which the split is declared mismatched.
    """

    p_value: float
    ok: bool
    chi2: float
    df: int
    observed: dict[str, int]
    expected: dict[str, float]
    threshold: float = DEFAULT_SRM_THRESHOLD


def srm_test(
    observed: Mapping[str, int],
    expected_weights: Mapping[str, float],
    threshold: float = DEFAULT_SRM_THRESHOLD,
) -> SRMResult:
    """Chi-square test of observed assignment counts against configured weights (any scale: 90/10 or 0.9/0.1).

    Every observed variant needs a weight; variants with a weight but no observations count as 0. A variant
    observed despite weight 0 is a mismatch by definition (p = 0). With no observations at all there is
    nothing to mismatch: p = 1, ok.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    unknown = sorted(set(observed) - set(expected_weights))
    if unknown:
        raise ValueError(f"no expected weight for variant(s) {', '.join(unknown)}")
    for name, weight in expected_weights.items():
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight of {name!r} must be >= 0, got {weight!r}")
    for name, count in observed.items():
        if count < 0 or int(count) != count:
            raise ValueError(f"count of {name!r} must be a whole number >= 0, got {count!r}")
    total_weight = float(sum(expected_weights.values()))
    if total_weight <= 0:
        raise ValueError("expected weights must not all be 0")
    counts = {name: int(observed.get(name, 0)) for name in expected_weights}
    n = sum(counts.values())
    expected = {name: n * w / total_weight for name, w in expected_weights.items()}
    live = [name for name, w in expected_weights.items() if w > 0]
    df = len(live) - 1
    if any(counts[name] > 0 for name, w in expected_weights.items() if w == 0):
        return SRMResult(0.0, False, math.inf, max(df, 0), counts, expected, threshold)
    if n == 0 or df < 1:
        return SRMResult(1.0, True, 0.0, max(df, 0), counts, expected, threshold)
    chi2 = sum((counts[name] - expected[name]) ** 2 / expected[name] for name in live)
    p_value = float(stats.chi2.sf(chi2, df))
    return SRMResult(p_value, p_value >= threshold, chi2, df, counts, expected, threshold)
