"""What the router decides for one request: the compiled experiment, its variants and the per-call plan.

Pure data; :meth:`otel_llm.routing.router.Router.plan` fills a :class:`Plan`, the transports and
:mod:`otel_llm.routing._requests` read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_llm.enrich import experiment as exp_ctx
from otel_llm.routing import assignment
from otel_llm.routing.config import Experiment


@dataclass(frozen=True, slots=True)
class Variant:
    """A variant with its API key resolved from the environment (at load time, never per request)."""

    name: str
    weight: float
    model: str | None
    base_url: str | None
    prompt_version: str | None
    api_key: str | None


class Compiled:
    """One experiment prepared for the hot path: bucket layout, resolved variants, fallback triggers."""

    def __init__(self, exp: Experiment, environ: Mapping[str, str]) -> None:
        self.exp = exp
        self.layout = assignment.layout(exp)
        self.variants = {
            v.name: Variant(
                v.name,
                v.weight,
                v.model,
                v.base_url.rstrip("/") if v.base_url else None,
                v.prompt_version,
                environ.get(v.api_key_env) if v.api_key_env else None,
            )
            for v in exp.variants
        }
        self.control = self.variants[exp.control_name]
        self.shadow = self.variants[exp.shadow.variant] if exp.shadow and exp.enabled else None
        self.fallback = self.variants[exp.fallback.variant] if exp.fallback else None
        self.triggers = frozenset(exp.fallback.on) if exp.fallback else frozenset()
        paths = {path_of(v.base_url) for v in self.variants.values() if v.base_url}
        self.base_paths = tuple(sorted((p for p in paths if p), key=len, reverse=True))
        self.needs_body = any(v.model for v in self.variants.values()) or exp.assign_by.startswith("body:")


def path_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:].rstrip("/") if slash >= 0 else ""


@dataclass(slots=True)
class Plan:
    """What the router decided for one request."""

    compiled: Compiled
    assigned: Variant
    served: Variant
    route: str
    weight: float
    subject_hash: str | None
    subject_random: bool
    body: Any
    raw: bytes
    shadow: Variant | None

    def tags(self, served: Variant, route: str) -> exp_ctx.ExperimentContext:
        return exp_ctx.ExperimentContext(
            experiment_id=self.compiled.exp.id,
            variant=self.assigned.name,
            prompt_version=served.prompt_version,
            subject_hash=self.subject_hash,
            subject_random=self.subject_random,
            route=route,
            variant_weight=self.weight,
        )
