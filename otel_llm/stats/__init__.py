"""Statistics for A/B and shadow tests of LLMs (SPEC §10, §15): numpy and scipy only.

Conventions: the control comes first in every argument list and differences are *candidate minus control*.
See each module's docstring for the method and its edge cases; ``_power.py`` also checks the seed's
sample-size rule of thumb.
"""

from otel_llm.stats._bootstrap import Statistic, bootstrap_diff, bootstrap_interval
from otel_llm.stats._decision import Comparison, Decision, Verdict, decide
from otel_llm.stats._means import welch_test
from otel_llm.stats._multiple import holm, holm_significant
from otel_llm.stats._noninferiority import non_inferiority, non_inferiority_means, non_inferiority_proportions
from otel_llm.stats._power import (
    SampleSize,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)
from otel_llm.stats._proportions import newcombe_interval, two_proportion_test, wilson_interval
from otel_llm.stats._results import NonInferiorityResult, TestResult
from otel_llm.stats._sequential import SequentialMonitor, SequentialResult, msprt_proportions
from otel_llm.stats._srm import DEFAULT_SRM_THRESHOLD, SRMResult, srm_test

__all__ = [
    "DEFAULT_SRM_THRESHOLD",
    "Comparison",
    "Decision",
    "NonInferiorityResult",
    "SRMResult",
    "SampleSize",
    "SequentialMonitor",
    "SequentialResult",
    "Statistic",
    "TestResult",
    "Verdict",
    "bootstrap_diff",
    "bootstrap_interval",
    "decide",
    "holm",
    "holm_significant",
    "msprt_proportions",
    "newcombe_interval",
    "non_inferiority",
    "non_inferiority_means",
    "non_inferiority_proportions",
    "power_means",
    "power_proportions",
    "sample_size_means",
    "sample_size_proportions",
    "srm_test",
    "two_proportion_test",
    "welch_test",
    "wilson_interval",
]
