"""``otel-llm report``: A/B and shadow figures, comparisons and a verdict from exported spans (SPEC §10, §15).

```python
from otel_llm.report import build_report

report = build_report(["spans.jsonl"], truth="truth.jsonl", split={"control": 90, "candidate": 10})
report.data["decision"], report.to_json(), report.to_html(), report.print_table()
```

Comparisons. ``comparisons`` compares each candidate's live calls with the control's (two-sample tests:
two-proportion z with Newcombe intervals for rates, bootstrap for latency percentiles, Welch for cost).
``shadow.comparisons`` has the same rows (``basis: "shadow-paired"``, plus ``n_pairs``) for a variant that
received shadow traffic: each of its shadow calls is paired with the control's primary call of the same trace,
and every metric is compared on those pairs by a paired bootstrap over requests (a whole request is resampled,
so the fields of one call stay together and the pairing's correlation is used). Rates are pooled (sum over
sum) over the pairs where both calls were judged; error rate and latency p50/p99 over every pair; cost per 1k
over pairs where both calls carry a cost. Field accuracy is the primary metric (Holm over primaries), the rest
are guardrails with margins (``margins=``).

Decision rule (``decision``, ``decision_basis``), per candidate, then the worst verdict over candidates:

1. A sample-ratio mismatch on live traffic holds (shadow data does not override it).
2. The live verdict of :func:`otel_llm.stats.decide` stands when it is ``ship`` or ``rollback``, or when the
   candidate has no paired shadow calls.
3. When the live verdict is an inconclusive ``hold`` (the live sample is too small to show the guardrails within
   their margins or the primary better), or the candidate has no live calls at all, and paired shadow
   comparisons exist, the verdict is :func:`otel_llm.stats.decide` over the shadow comparisons (ship, hold or
   rollback, same margins, Holm over the primaries). The first reason then says the decision is based on shadow
   traffic and how many pairs, and ``decision_basis`` is ``"shadow"`` (``"live"`` otherwise).

Shadow calls are the candidate's answers to the control's requests, measured but never served; they are the
seed's shadow test. Looking at shadow only after an inconclusive live look is a second look at the question,
so in the worst case the overall false-ship rate can be up to twice that of a single look. ``shadow.decisions`` keeps
the shadow verdict of every shadow variant (without the live SRM check) even when the live verdict is used.
"""

from __future__ import annotations

from otel_llm.report._build import Report, ReportError, build_report, collect_files, report_from_collection
from otel_llm.report._srm import parse_split

__all__ = ["Report", "ReportError", "build_report", "collect_files", "parse_split", "report_from_collection"]
