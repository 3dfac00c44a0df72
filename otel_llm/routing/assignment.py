"""Deterministic, sticky, monotone variant assignment (SPEC §7.2).

``bucket(experiment_id, salt, subject)`` maps a subject to one of 10,000 buckets with a keyed BLAKE2b hash,
so the same subject gets the same variant in every process and after restarts. Weights become bucket ranges:

* **Two variants** (control + one candidate): the candidate owns ``[0, weight × 100)``, control the rest.
  Ramping the candidate from 10 % to 50 % grows its range, so subjects only move *into* it.
* **k candidates**: the bucket space is cut into k equal slots and candidate i owns
  ``[i × 10000/k, i × 10000/k + weight_i × 100)``; control owns whatever no candidate owns. Raising or
  lowering one candidate then only moves subjects between it and control — ramps stay monotone per candidate
  — as long as every candidate stays within its slot (weight ≤ 100/k %). When one exceeds it, candidates are
  laid end to end in file order instead, which is deterministic but not monotone across that switch.

Killing an experiment (``enabled: false``) sends everyone to control.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from otel_llm.routing.config import Experiment

BUCKETS = 10_000


def bucket(experiment_id: str, salt: str, subject: str) -> int:
    """Stable bucket in [0, 10000) for a subject of an experiment."""
    data = f"{experiment_id}\x00{salt}\x00{subject}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") % BUCKETS


@dataclass(frozen=True, slots=True)
class Layout:
    """Bucket ranges ``(start, end, variant)`` of the non-control variants; everything else is control."""

    control: str
    ranges: tuple[tuple[int, int, str], ...]

    def variant_for(self, b: int) -> str:
        for start, end, name in self.ranges:
            if start <= b < end:
                return name
        return self.control


def layout(exp: Experiment) -> Layout:
    control = exp.control_name
    if not exp.enabled:
        return Layout(control, ())
    cands = [(v.name, round(v.weight * BUCKETS / 100)) for v in exp.variants if v.name != control]
    k = len(cands)
    ranges: list[tuple[int, int, str]] = []
    if k and all(width <= BUCKETS // k for _, width in cands):
        slot = BUCKETS // k
        ranges = [(i * slot, i * slot + width, name) for i, (name, width) in enumerate(cands) if width]
    else:
        start = 0
        for name, width in cands:
            if width:
                ranges.append((start, min(start + width, BUCKETS), name))
            start += width
    return Layout(control, tuple(ranges))


def subject_from(
    assign_by: str,
    headers: Mapping[str, str],
    body: object,
    context_subject: str | None,
) -> str | None:
    """The assignment key of one request, or ``None`` (then the request is assigned at random).

    ``headers`` must be case-insensitive (httpx ``Headers``); ``body`` is the parsed JSON body, if any.
    """
    if assign_by.startswith("header:"):
        value = headers.get(assign_by[7:])
        return value or None
    if assign_by.startswith("body:"):
        node = body
        for part in assign_by[5:].split("."):
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        if node is None or node == "":
            return None
        return node if isinstance(node, str) else json.dumps(node, sort_keys=True)
    if assign_by == "context":
        return context_subject
    return None
