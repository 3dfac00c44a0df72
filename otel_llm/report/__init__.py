"""``otel-llm report``: A/B and shadow figures, comparisons and a verdict from exported spans (SPEC §10, §15).

```python
from otel_llm.report import build_report

report = build_report(["spans.jsonl"], truth="truth.jsonl", split={"control": 90, "candidate": 10})
report.data["decision"], report.to_json(), report.to_html(), report.print_table()
```
"""

from __future__ import annotations

from otel_llm.report._build import Report, ReportError, build_report, collect_files, report_from_collection
from otel_llm.report._srm import parse_split

__all__ = ["Report", "ReportError", "build_report", "collect_files", "parse_split", "report_from_collection"]
