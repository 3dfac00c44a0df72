"""The demo scenario: what each simulated server injects (SPEC §11). Defaults reproduce the seed shadow test."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from otel_llm.errors import ConfigurationError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latency(_Model):
    p50: float = Field(gt=0, description="median latency in ms")
    p99: float = Field(gt=0, description="99th percentile latency in ms")

    @model_validator(mode="after")
    def _ordered(self) -> Latency:
        if self.p99 < self.p50:
            raise ValueError("latency_ms.p99 must be >= p50")
        return self


class Prices(_Model):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class VariantSpec(_Model):
    model: str
    field_accuracy: float = Field(ge=0, le=1)
    hallucination_rate: float = Field(ge=0, le=1)
    latency_ms: Latency
    error_rate: float = Field(ge=0, lt=1)
    input_tokens: int = Field(gt=0)
    output_tokens: int = Field(gt=0)
    prices: Prices | None = None  # self-hosted: goes into the prices file; None = genai-prices


def _control() -> VariantSpec:
    return VariantSpec(
        model="gpt-4o-mini",
        field_accuracy=0.941,
        hallucination_rate=0.003,
        latency_ms=Latency(p50=480, p99=1800),
        error_rate=0.002,
        input_tokens=1600,
        output_tokens=300,
    )


def _candidate() -> VariantSpec:
    return VariantSpec(
        model="llama-3.1-8b-extract-v4",
        field_accuracy=0.973,
        hallucination_rate=0.011,
        latency_ms=Latency(p50=190, p99=410),
        error_rate=0.001,
        input_tokens=1600,
        output_tokens=300,
        prices=Prices(input_per_mtok=0.05, output_per_mtok=0.1333),
    )


class Scenario(_Model):
    seed: int = 7
    requests: int = Field(default=2000, gt=0)
    documents: int = Field(default=400, gt=0)
    # SPEC §12 shows 32; on a 2-core machine that saturates the app process and client queueing, not the servers,
    # dominates measured latency. 8 keeps the app below saturation at the same request count and run time.
    concurrency: int = Field(default=8, gt=0, le=512)
    time_scale: float = Field(default=0.1, gt=0)
    split: dict[str, float] = Field(default_factory=lambda: {"control": 90.0, "candidate": 10.0})
    shadow_sample: float = Field(default=1.0, ge=0, le=1)
    variants: dict[str, VariantSpec] = Field(default_factory=lambda: {"control": _control(), "candidate": _candidate()})

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if set(self.variants) != {"control", "candidate"}:
            raise ValueError("variants must be exactly 'control' and 'candidate'")
        if set(self.split) != set(self.variants):
            raise ValueError("split must give a weight to 'control' and 'candidate'")
        if abs(sum(self.split.values()) - 100) > 1e-9:
            raise ValueError(f"split weights must sum to 100, got {sum(self.split.values())}")
        return self


def load_scenario(path: str | Path | None) -> Scenario:
    """The default scenario, or ``path``'s keys over it (every key optional; variants merge per field)."""
    if path is None:
        return Scenario()
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read scenario {str(path)!r}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigurationError(f"scenario {str(path)!r} must be a mapping")
    base = Scenario().model_dump()
    variants = raw.pop("variants", None) or {}
    merged = {**base, **raw}
    for name, spec in variants.items():
        if not isinstance(spec, dict):
            raise ConfigurationError(f"scenario {str(path)!r}: variants.{name} must be a mapping")
        merged["variants"][name] = {**merged["variants"].get(name, {}), **spec}
    try:
        return Scenario.model_validate(merged)
    except ValidationError as exc:
        raise ConfigurationError(f"scenario {str(path)!r} is invalid:\n{exc}") from exc
