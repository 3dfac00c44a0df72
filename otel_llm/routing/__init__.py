"""Experiment router: sticky A/B assignment, shadow, fallback, circuit breaker, rollout (SPEC §7).

```python
from otel_llm.routing import Router

router = Router("experiments.yaml")  # re-read on change; a bad edit keeps the last good config
http_client = httpx2.Client(transport=router.transport(flavour="httpx2"))
client = openai.OpenAI(base_url=..., api_key=..., http_client=http_client)
...
router.close()  # or: with Router(...) as router: / async with Router(...) as router:
```
"""

from __future__ import annotations

from otel_llm.routing.config import ExperimentsFile, json_schema
from otel_llm.routing.guardrails import InProcessStats, PrometheusSource, VariantStats
from otel_llm.routing.loader import ExperimentsFileError, load, parse
from otel_llm.routing.router import Router

__all__ = [
    "ExperimentsFile",
    "ExperimentsFileError",
    "InProcessStats",
    "PrometheusSource",
    "Router",
    "VariantStats",
    "json_schema",
    "load",
    "parse",
]
