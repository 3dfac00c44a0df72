"""Statistics for A/B and shadow tests of LLMs (SPEC §10, §15): numpy and scipy only.

Conventions: the control comes first in every argument list and differences are *candidate minus control*.
"""

from otel_llm.stats._bootstrap import bootstrap_diff, bootstrap_interval
from otel_llm.stats._means import welch_test
from otel_llm.stats._proportions import newcombe_interval, two_proportion_test, wilson_interval
from otel_llm.stats._results import NonInferiorityResult, TestResult

__all__ = [
    "NonInferiorityResult",
    "TestResult",
    "bootstrap_diff",
    "bootstrap_interval",
    "newcombe_interval",
    "two_proportion_test",
    "welch_test",
    "wilson_interval",
]
