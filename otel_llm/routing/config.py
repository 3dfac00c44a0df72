"""The experiments file (SPEC §7.1) as pydantic models, plus the checks that span several fields.

Field-level rules live on the models; rules that relate fields to each other (weights sum to 100, referenced
variants exist) live in :func:`semantic_problems`, which returns located problems so the loader can name the
line.
``otel-llm experiments schema`` prints the published JSON Schema.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Loc = tuple[str | int, ...]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ASSIGN = r"^(header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|body:[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*|context|random)$"

FallbackTrigger = Literal["timeout", "5xx", "429", "connect_error"]
_ALL_TRIGGERS: tuple[FallbackTrigger, ...] = ("timeout", "5xx", "429", "connect_error")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Model):
    """One arm of an experiment. ``None`` fields leave the app's request as it is."""

    name: Annotated[str, Field(pattern=_NAME, description="Variant name, e.g. control or candidate.")]
    weight: Annotated[float, Field(ge=0, le=100, description="Share of live traffic in percent.")]
    model: str | None = Field(default=None, description="Model name written into the request body.")
    base_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Base URL that replaces the app's base URL, e.g. http://vllm:8000/v1.",
    )
    prompt_version: str | None = Field(default=None, description="Prompt version tag for this variant.")
    api_key_env: str | None = Field(
        default=None,
        pattern=_ENV,
        description="Name of the environment variable holding this variant's API key (never the key).",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_inline_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "api_key" in data:
            raise ValueError(API_KEY_MESSAGE)
        return data


API_KEY_MESSAGE = (
    "api keys never go in the experiments file: put the key in an environment variable and name that "
    "variable with 'api_key_env' (e.g. api_key_env: CANDIDATE_API_KEY)"
)


class Shadow(_Model):
    """Mirror live requests to a variant, fire-and-forget (SPEC §7.4)."""

    variant: str
    sample: float = Field(default=1.0, ge=0, le=1, description="Share of eligible requests mirrored.")
    max_in_flight: int = Field(default=32, ge=1, le=4096, description="Above this, copies are dropped.")
    timeout_s: float = Field(default=10.0, gt=0, description="Whole-call deadline for one shadow copy.")
    stream: Literal["same", "never"] = Field(
        default="same",
        description="'same' mirrors streaming requests as streaming; 'never' as non-streaming.",
    )


class Fallback(_Model):
    variant: str
    on: list[FallbackTrigger] = Field(default_factory=lambda: list(_ALL_TRIGGERS))

    @field_validator("on", mode="before")
    @classmethod
    def _codes_as_text(cls, value: Any) -> Any:
        # ``on: [429]`` arrives from YAML as an int.
        return [str(v) if isinstance(v, int) else v for v in value] if isinstance(value, list) else value


class CircuitBreaker(_Model):
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=20, ge=1)
    window_s: float = Field(default=60.0, gt=0)
    cooldown_s: float = Field(default=30.0, gt=0)
    half_open_probes: int = Field(default=1, ge=1, description="Trial calls allowed while half-open.")


class Guardrail(_Model):
    """Limit on the candidate relative to control. ``max_delta`` is absolute (candidate - control, in the
    metric's unit, sign chosen so that positive is worse); ``max_ratio`` is candidate / control."""

    max_delta: float | None = Field(default=None, ge=0)
    max_ratio: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_limit(self) -> Guardrail:
        if self.max_delta is None and self.max_ratio is None:
            raise ValueError("a guardrail needs max_delta or max_ratio")
        return self


class Guardrails(_Model):
    error_rate: Guardrail | None = None
    p99_latency: Guardrail | None = None
    schema_pass_rate: Guardrail | None = None
    hallucination_rate: Guardrail | None = None
    cost_per_1k: Guardrail | None = None


class Rollout(_Model):
    """Phased ramp of one candidate (SPEC §7.5). ``phase``, ``status`` and ``reason`` are written back by
    ``otel-llm rollout``."""

    phases: list[Annotated[float, Field(gt=0, le=100)]] = Field(min_length=1)
    min_samples_per_phase: int = Field(default=1000, ge=1)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    variant: str | None = Field(default=None, description="Variant being ramped; default: first non-control.")
    phase: int = Field(default=0, ge=0, description="Index into phases of the current phase.")
    status: Literal["running", "paused", "done"] = "running"
    reason: str | None = None
    prometheus_url: str | None = Field(default=None, pattern=r"^https?://")
    window: str = Field(default="1h", pattern=r"^[0-9]+[smhdw]$", description="PromQL range for guardrails.")


class Experiment(_Model):
    id: Annotated[str, Field(pattern=_NAME)]
    assign_by: str = Field(
        default="random",
        pattern=_ASSIGN,
        description="header:NAME | body:field.path | context | random",
    )
    salt: str = Field(default="", description="Changing the salt reshuffles every subject.")
    control: str | None = Field(default=None, description="Control variant; default: the first one.")
    variants: list[Variant] = Field(min_length=1)
    shadow: Shadow | None = None
    fallback: Fallback | None = None
    circuit_breaker: CircuitBreaker | None = None
    rollout: Rollout | None = None
    enabled: bool = Field(default=True, description="Kill switch: false sends everyone to control.")

    @property
    def control_name(self) -> str:
        return self.control if self.control is not None else self.variants[0].name

    def variant(self, name: str) -> Variant | None:
        for v in self.variants:
            if v.name == name:
                return v
        return None

    def candidate_name(self) -> str | None:
        if self.rollout is not None and self.rollout.variant is not None:
            return self.rollout.variant
        for v in self.variants:
            if v.name != self.control_name:
                return v.name
        return None


class ExperimentsFile(_Model):
    experiments: list[Experiment] = Field(default_factory=list)

    def get(self, experiment_id: str) -> Experiment | None:
        for e in self.experiments:
            if e.id == experiment_id:
                return e
        return None


def semantic_problems(cfg: ExperimentsFile) -> list[tuple[Loc, str]]:
    """Rules across fields, each with the location (path into the file) it concerns."""
    out: list[tuple[Loc, str]] = []
    seen: set[str] = set()
    for i, exp in enumerate(cfg.experiments):
        base: Loc = ("experiments", i)
        if exp.id in seen:
            out.append(((*base, "id"), f"duplicate experiment id {exp.id!r}"))
        seen.add(exp.id)
        names = [v.name for v in exp.variants]
        for j, name in enumerate(names):
            if name in names[:j]:
                out.append(((*base, "variants", j, "name"), f"duplicate variant name {name!r}"))
        total = math.fsum(v.weight for v in exp.variants)
        if abs(total - 100.0) > 1e-6:
            out.append(((*base, "variants"), f"variant weights must sum to 100, got {total:g}"))
        refs: list[tuple[Loc, str | None]] = [
            ((*base, "control"), exp.control),
            ((*base, "shadow", "variant"), exp.shadow.variant if exp.shadow else None),
            ((*base, "fallback", "variant"), exp.fallback.variant if exp.fallback else None),
            ((*base, "rollout", "variant"), exp.rollout.variant if exp.rollout else None),
        ]
        for loc, ref in refs:
            if ref is not None and ref not in names:
                out.append((loc, f"unknown variant {ref!r} (variants: {', '.join(names)})"))
        if exp.rollout is not None:
            ro = exp.rollout
            if any(b <= a for a, b in zip(ro.phases, ro.phases[1:], strict=False)):
                out.append(((*base, "rollout", "phases"), "phases must be strictly increasing"))
            if ro.phase >= len(ro.phases):
                out.append(((*base, "rollout", "phase"), f"phase must be < {len(ro.phases)}"))
            if exp.candidate_name() in (None, exp.control_name):
                out.append(((*base, "rollout"), "rollout needs a candidate variant other than control"))
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema published as ``experiments.schema.json`` (for editors)."""
    schema = ExperimentsFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "otel-llm experiments file"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
