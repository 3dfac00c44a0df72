"""Field rates pooled over calls get a cluster-aware interval (fields of one call are not independent)."""

from __future__ import annotations

import numpy as np

from otel_llm import stats
from otel_llm.report._figures import clustered_rate


def test_independent_fields_give_about_the_plain_wilson_interval():
    rng = np.random.default_rng(1)
    totals = np.full(2000, 14)
    correct = rng.binomial(14, 0.9, size=2000)
    p, ci = clustered_rate(correct, totals)
    plain = stats.wilson_interval(int(correct.sum()), int(totals.sum()))
    assert p == correct.sum() / totals.sum()
    assert ci[0] <= plain[0] + 1e-12 and ci[1] >= plain[1] - 1e-12  # never narrower
    assert (ci[1] - ci[0]) < 1.15 * (plain[1] - plain[0])


def test_fully_clustered_fields_widen_by_about_sqrt_cluster_size():
    rng = np.random.default_rng(2)
    totals = np.full(2000, 16)
    correct = np.where(rng.random(2000) < 0.9, 16, 0)  # all fields of a call right or wrong together
    _, ci = clustered_rate(correct, totals)
    plain = stats.wilson_interval(int(correct.sum()), int(totals.sum()))
    ratio = (ci[1] - ci[0]) / (plain[1] - plain[0])
    assert 3.5 < ratio < 4.5


def test_coverage_with_documents_of_varying_null_share():
    """Calls over documents whose null-field counts differ: the interval still covers ~95 %."""
    rng = np.random.default_rng(3)
    hits = 0
    runs = 400
    for _ in range(runs):
        nulls = rng.binomial(14, 0.14, size=1000)
        nonnull = 14 - nulls
        correct = rng.binomial(nonnull, 0.93) + rng.binomial(nulls, 0.997)
        truth = 0.86 * 0.93 + 0.14 * 0.997  # expectation per field
        _, ci = clustered_rate(correct, np.full(1000, 14))
        hits += ci[0] <= truth <= ci[1]
    assert hits / runs >= 0.93
