"""Rollout state as observable gauges, read from a router's installed config at collection time."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otel_llm import attributes as A

if TYPE_CHECKING:
    from otel_llm.routing.router import Router

_ROLLOUT_GAUGES = (
    (
        A.METRIC_ROLLOUT_WEIGHT,
        "%",
        "Share of live assignments each variant gets now (kill switch: control 100).",
    ),
    (A.METRIC_ROLLOUT_PHASE, "{phase}", "Index of the current rollout phase in the experiments file."),
    (A.METRIC_ROLLOUT_PAUSED, "", "1 while the rollout is paused (auto-pause on a guardrail breach, or by hand)."),
)


def register(meter: Meter, router: Router) -> None:
    """Create the rollout gauges for ``router`` (held weakly, so the meter never keeps a closed router alive)."""
    me = weakref.ref(router)
    for name, unit, desc in _ROLLOUT_GAUGES:
        meter.create_observable_gauge(name, [functools.partial(_observe, me, name)], unit=unit, description=desc)


def _observe(ref: weakref.ref[Router], name: str, options: CallbackOptions) -> Iterator[Observation]:
    router = ref()
    if router is None:
        return
    for e in router.config.experiments:
        if name == A.METRIC_ROLLOUT_WEIGHT:
            for v in e.variants:
                share = v.weight if e.enabled else (100.0 if v.name == e.control_name else 0.0)
                yield Observation(share, {A.LLM_EXPERIMENT_ID: e.id, A.LLM_VARIANT: v.name})
        elif e.rollout is not None:
            value = e.rollout.phase if name == A.METRIC_ROLLOUT_PHASE else int(e.rollout.status == "paused")
            yield Observation(value, {A.LLM_EXPERIMENT_ID: e.id})
