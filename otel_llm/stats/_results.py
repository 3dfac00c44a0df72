"""Result dataclasses shared by the tests in :mod:`otel_llm.stats`.

Every difference is *candidate minus control* (``p2 - p1``, ``mean(b) - mean(a)``): a positive ``estimate``
means the candidate's value is higher, whether or not higher is better for that metric.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TestResult:
    """A two-sample comparison.

    Attributes:
        estimate: candidate minus control (difference of proportions, means or a bootstrap statistic).
        ci_low: lower bound of the two-sided confidence interval of ``estimate``.
        ci_high: upper bound of that interval.
        p_value: two-sided p-value for "no difference".
    """

    __test__ = False  # not a pytest test class, despite the name

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float


@dataclass(frozen=True, slots=True)
class NonInferiorityResult:
    """A one-sided non-inferiority test of the candidate against the control.

    Attributes:
        estimate: candidate minus control.
        ci_low, ci_high: the two-sided ``1 - 2*alpha`` interval of ``estimate`` (e.g. 90 % for alpha =
            0.05); its bound on the *worse* side is the one-sided ``1 - alpha`` bound the test uses.
        p_value: one-sided p-value of H0 "the candidate is worse than the control by at least ``margin``".
        margin: the margin in the metric's own units (a relative margin is converted with the control's
        value). passed: True when H0 is rejected at ``alpha``, i.e. the worse-side bound stays inside the
    margin.
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    margin: float
    passed: bool
