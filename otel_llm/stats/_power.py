"""Sample size and power for two-sample tests of proportions and of means (SPEC §15).

Proportions follow statsmodels' ``NormalIndPower`` with ``proportion_effectsize`` exactly: the effect size is
Cohen's h = ``2*asin(sqrt(p2)) - 2*asin(sqrt(p1))``, ``ratio`` = n_candidate / n_control, and power is

    power = Phi(h*sqrt(m) - z) + Phi(-h*sqrt(m) - z)   (two-sided, z = z_{1-alpha/2}; the second tail is
                                                        dropped and z = z_{1-alpha} when ``sides == 1``)

with ``m = 1 / (1/n_control + 1/n_candidate)``. The alternative is ``baseline + mde`` (``mde`` absolute, or
``baseline * mde`` when ``relative``), or ``baseline - mde`` when ``baseline + mde`` would reach 1. One-sided
means "in the direction of the effect". ``n_control`` is the real-valued root rounded up and
``n_candidate = ceil(n_control * ratio)``.

Means use the two-sample t-test (statsmodels ``TTestIndPower``): standardised effect ``d = delta / sd`` and
the noncentral t with ``n_control + n_candidate - 2`` degrees of freedom, so small samples are not
under-planned.

The seed's rule of thumb, checked
---------------------------------
Seed 000 says: "to detect a 5% difference in task completion rate with 95% confidence: 80% → ~1,500 queries
per variant, 90% → ~3,500, 95% → ~7,300". The table is internally inconsistent: for a fixed difference the
variance ``p(1-p)`` *shrinks* as the baseline approaches 1, so the required sample must fall, not rise
(whether "5%" is absolute or relative). With alpha = 0.05 two-sided and 80 % power (the usual defaults; the
seed states no power), per variant:

==========  ==========================  ===========================  ========
baseline    5 % relative (p -> 1.05 p)  5 points absolute (p + 0.05)  seed says
==========  ==========================  ===========================  ========
80 %        1,445 (80 % -> 84 %)        903 (80 % -> 85 %)            ~1,500
90 %        543 (90 % -> 94.5 %)        424 (90 % -> 95 %)            ~3,500
95 %        128 (95 % -> 99.75 %)       424 (95 % -> 90 %, SPEC rule) ~7,300
==========  ==========================  ===========================  ========

Only the 80 % row is right (a 5 % *relative* lift, 80 % -> 84 %, needs 1,445 ≈ 1,500 per variant). The 90 %
and 95 % rows are 6x and 57x too large under the same reading; they match no single definition of "5 %
difference" (they are what a 20 % relative cut in the *failure* rate would need: 90 % -> 92 % needs 3,205 and
95 % -> 96 % needs 6,726). The seed's timeline repeats the error: at 50 candidate queries a day, 1,500 to
7,300 queries is 30 to 146 days, not "30-70 days". ``tests/evaluation/test_stats_power.py`` pins these
figures. ``otel-llm sample-size --baseline 0.9 --mde 0.05 --relative`` prints the right number for your case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize, stats

from otel_llm.stats._validate import check_probability


@dataclass(frozen=True, slots=True)
class SampleSize:
    """Observations needed per arm (``n_candidate = ceil(n_control * ratio)``) and in total."""

    n_control: int
    n_candidate: int
    n_total: int


def _check_common(alpha: float, ratio: float, sides: int) -> None:
    check_probability("alpha", alpha)
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio (n_candidate / n_control) must be > 0, got {ratio!r}")
    if sides not in (1, 2):
        raise ValueError(f"sides must be 1 or 2, got {sides!r}")


def _check_power(power: float, alpha: float) -> None:
    check_probability("power", power)
    if power <= alpha:
        raise ValueError(f"power must exceed alpha ({alpha}), got {power}")


def cohens_h(baseline: float, mde: float, *, relative: bool = False) -> float:
    """|Cohen's h| between the baseline and the SPEC §15 alternative (``baseline ± D``)."""
    check_probability("baseline", baseline)
    if not (math.isfinite(mde) and mde > 0):
        raise ValueError(f"mde must be a positive difference, got {mde!r}")
    delta = baseline * mde if relative else mde
    target = baseline + delta
    if target >= 1:
        target = baseline - delta
    if target <= 0:
        unit = "relative " if relative else ""
        raise ValueError(f"a {unit}mde of {mde} is too large for baseline {baseline}: both baseline ± mde leave (0, 1)")
    return abs(2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline)))


def _normal_power(effect: float, n_control: float, *, alpha: float, ratio: float, sides: int) -> float:
    shift = effect * math.sqrt(1.0 / (1.0 / n_control + 1.0 / (n_control * ratio)))
    crit = float(stats.norm.isf(alpha / sides))
    power = float(stats.norm.sf(crit - shift))
    if sides == 2:
        power += float(stats.norm.cdf(-crit - shift))
    return power


def _t_power(effect: float, n_control: float, *, alpha: float, ratio: float, sides: int) -> float:
    n_candidate = n_control * ratio
    df = n_control + n_candidate - 2
    nc = effect * math.sqrt(1.0 / (1.0 / n_control + 1.0 / n_candidate))
    crit = float(stats.t.isf(alpha / sides, df))
    power = float(stats.nct.sf(crit, df, nc))
    if sides == 2:
        power += float(stats.nct.cdf(-crit, df, nc))
    if math.isnan(power):
        # scipy's noncentral t can return NaN deep in its tails (large df and nc); the normal limit is exact
        # to many digits there.
        return _normal_power(effect, n_control, alpha=alpha, ratio=ratio, sides=sides)
    return power


def _solve(power_fn: object, effect: float, *, alpha: float, power: float, ratio: float, sides: int) -> float:
    assert callable(power_fn)

    def gap(n: float) -> float:
        return float(power_fn(effect, n, alpha=alpha, ratio=ratio, sides=sides)) - power

    # Start from the normal-approximation closed form and widen the bracket until it holds the root.
    z = float(stats.norm.isf(alpha / sides)) + float(stats.norm.isf(1 - power))
    guess = max((z / effect) ** 2 * (1 + 1 / ratio), 2.0)
    low = max(guess / 4, 1.0 + 1.0 / ratio + 1e-9)
    high = guess * 4 + 10
    while gap(high) < 0:
        high *= 4
    if gap(low) > 0:
        return low
    return float(optimize.brentq(gap, low, high, xtol=1e-10, rtol=1e-12))


def _round(n_control: float, ratio: float) -> SampleSize:
    # Guard against floating noise turning an exact integer root into the next integer.
    n_c = math.ceil(n_control - 1e-9)
    n_t = math.ceil(n_c * ratio - 1e-9)
    return SampleSize(n_control=n_c, n_candidate=n_t, n_total=n_c + n_t)


def sample_size_proportions(
    baseline: float,
    mde: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    sides: int = 2,
) -> SampleSize:
    """Observations per arm to detect a change of ``mde`` from ``baseline`` (SPEC §15, see module doc)."""
    _check_common(alpha, ratio, sides)
    _check_power(power, alpha)
    effect = cohens_h(baseline, mde, relative=relative)
    n = _solve(_normal_power, effect, alpha=alpha, power=power, ratio=ratio, sides=sides)
    return _round(n, ratio)


def power_proportions(
    baseline: float,
    mde: float,
    n_control: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    ratio: float = 1.0,
    sides: int = 2,
) -> float:
    """Power of the two-proportion test with ``n_control`` and ``n_control * ratio`` observations."""
    _check_common(alpha, ratio, sides)
    if not n_control > 0:
        raise ValueError(f"n_control must be > 0, got {n_control!r}")
    effect = cohens_h(baseline, mde, relative=relative)
    return _normal_power(effect, n_control, alpha=alpha, ratio=ratio, sides=sides)


def _effect_means(delta: float, sd: float) -> float:
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be > 0, got {sd!r}")
    if not (math.isfinite(delta) and delta != 0):
        raise ValueError(f"delta must be a non-zero difference, got {delta!r}")
    return abs(delta) / sd


def sample_size_means(
    delta: float,
    sd: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    sides: int = 2,
) -> SampleSize:
    """Observations per arm for a two-sample t-test to detect a mean difference ``delta`` (common ``sd``)."""
    _check_common(alpha, ratio, sides)
    _check_power(power, alpha)
    n = _solve(_t_power, _effect_means(delta, sd), alpha=alpha, power=power, ratio=ratio, sides=sides)
    return _round(n, ratio)


def power_means(
    delta: float,
    sd: float,
    n_control: float,
    *,
    alpha: float = 0.05,
    ratio: float = 1.0,
    sides: int = 2,
) -> float:
    """Power of the two-sample t-test with ``n_control`` and ``n_control * ratio`` observations."""
    _check_common(alpha, ratio, sides)
    if not n_control * (1 + ratio) > 2:
        raise ValueError(f"need more than 2 observations in total, got n_control={n_control!r}")
    return _t_power(_effect_means(delta, sd), n_control, alpha=alpha, ratio=ratio, sides=sides)
