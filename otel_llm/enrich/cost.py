"""Cost of a call in USD: genai-prices for public models (its bundled snapshot, offline), a prices file for
self-hosted and fine-tuned models. The only module that imports ``genai_prices``.

``genai_prices.calc_price`` costs ~200 µs per call, too slow for the request path, so each (provider, model) is
resolved once; models with linear prices are then costed with four multiplications, which equal
``calc_price`` for any token counts. Tiered models fall back to ``ModelPrice.calc_price`` per call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_llm import attributes as A
from otel_llm.errors import ConfigurationError

# gen_ai.provider.name -> genai-prices provider id
_PROVIDER_IDS = {
    A.PROVIDER_OPENAI: "openai",
    A.PROVIDER_AZURE_OPENAI: "azure",
    A.PROVIDER_ANTHROPIC: "anthropic",
    A.PROVIDER_GEMINI: "google",
    "gcp.vertex_ai": "google",
}
_MTOK = 1_000_000


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int | None
    output_tokens: int | None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Price:
    """Per-token prices in USD (input excludes cached tokens) or a fixed amortised cost per request."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float | None = None
    cache_write: float | None = None
    per_request: float | None = None

    def cost(self, usage: Usage) -> float | None:
        if self.per_request is not None:
            return self.per_request
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        total_in = usage.input_tokens or 0
        cr = usage.cache_read_input_tokens or 0
        cw = usage.cache_creation_input_tokens or 0
        uncached = max(total_in - cr - cw, 0)
        cost = uncached * self.input + (usage.output_tokens or 0) * self.output
        cost += cr * (self.cache_read if self.cache_read is not None else self.input)
        cost += cw * (self.cache_write if self.cache_write is not None else self.input)
        return cost


def _parse_override(entry: Any, where: str) -> tuple[str, str | None, Price]:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: each entry must be a mapping with 'model' and prices")
    model = entry.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigurationError(f"{where}: 'model' is required (a string)")
    provider = entry.get("provider")

    def num(key: str) -> float | None:
        value = entry.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigurationError(f"{where} ({model}): {key} must be a non-negative number")
        return float(value)

    gpu_hour = num("gpu_hour_usd")
    if gpu_hour is not None:
        rph = num("requests_per_gpu_hour")
        if not rph:
            raise ConfigurationError(
                f"{where} ({model}): gpu_hour_usd needs requests_per_gpu_hour (a positive number) to amortise"
            )
        return model, provider, Price(per_request=gpu_hour / rph)
    inp, out = num("input_per_mtok"), num("output_per_mtok")
    if inp is None or out is None:
        raise ConfigurationError(
            f"{where} ({model}): give input_per_mtok and output_per_mtok, or gpu_hour_usd and requests_per_gpu_hour"
        )
    cr, cw = num("cache_read_per_mtok"), num("cache_write_per_mtok")
    return (
        model,
        provider,
        Price(
            input=inp / _MTOK,
            output=out / _MTOK,
            cache_read=cr / _MTOK if cr is not None else None,
            cache_write=cw / _MTOK if cw is not None else None,
        ),
    )


def load_prices_file(path: Path) -> dict[tuple[str | None, str], Price]:
    """Read a prices YAML::

    models:
      - {model: llama-3.1-8b-extract-v4, input_per_mtok: 0.05, output_per_mtok: 0.1333}
      - {model: my-ft, provider: vllm, gpu_hour_usd: 2.40, requests_per_gpu_hour: 12000}
    """
    import yaml  # only for a prices file: most apps never load one

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read prices file {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ConfigurationError(f"prices file {str(path)!r} must have a top-level 'models:' list")
    result: dict[tuple[str | None, str], Price] = {}
    for i, entry in enumerate(data["models"]):
        model, provider, price = _parse_override(entry, f"{path}: models[{i}]")
        result[(provider, model)] = price
    return result


class CostCalculator:
    """Thread-safe, cached cost lookups. ``cost()`` returns ``(usd | None, source)``."""

    def __init__(self, overrides: dict[tuple[str | None, str], Price] | None = None) -> None:
        # Import genai-prices here, on the thread that calls instrument(): lookups run on the background thread,
        # and an import there (genai-prices imports httpx2) would race with the app's own use of half-imported
        # modules (openai checks sys.modules for httpx2).
        import genai_prices  # noqa: F401

        self._overrides = dict(overrides or {})
        self._cache: dict[tuple[str, str], Price | Any | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path | None) -> CostCalculator:
        return cls(load_prices_file(path) if path is not None else None)

    def cost(self, provider: str, model: str | None, usage: Usage) -> tuple[float | None, str]:
        if model is None:
            return None, A.COST_SOURCE_UNKNOWN
        if self._overrides:
            override = self._overrides.get((provider, model)) or self._overrides.get((None, model))
            if override is not None:
                value = override.cost(usage)
                return value, A.COST_SOURCE_OVERRIDE if value is not None else A.COST_SOURCE_UNKNOWN
        if usage.input_tokens is None and usage.output_tokens is None:
            return None, A.COST_SOURCE_UNKNOWN
        key = (provider, model)
        try:
            pricer = self._cache[key]
        except KeyError:
            pricer = self._resolve(provider, model)
            with self._lock:
                self._cache[key] = pricer
        if pricer is None:
            return None, A.COST_SOURCE_UNKNOWN
        if isinstance(pricer, Price):
            return pricer.cost(usage), A.COST_SOURCE_GENAI_PRICES
        return _calc_tiered(pricer, usage), A.COST_SOURCE_GENAI_PRICES

    @staticmethod
    def _resolve(provider: str, model: str) -> Price | Any | None:
        from genai_prices import Usage as GUsage
        from genai_prices import calc_price
        from genai_prices.types import TieredPrices

        provider_id = _PROVIDER_IDS.get(provider)
        try:
            probe = calc_price(GUsage(input_tokens=_MTOK), model_ref=model, provider_id=provider_id)
        except (LookupError, ValueError):
            return None
        model_price = probe.model_price
        if any(isinstance(v, TieredPrices) for v in vars(model_price).values()):
            return model_price

        def rate(**kw: int) -> float:
            return float(model_price.calc_price(GUsage(**kw))["total_price"]) / _MTOK

        return Price(
            input=rate(input_tokens=_MTOK),
            output=rate(output_tokens=_MTOK),
            cache_read=rate(input_tokens=_MTOK, cache_read_tokens=_MTOK),
            cache_write=rate(input_tokens=_MTOK, cache_write_tokens=_MTOK),
        )


def _calc_tiered(model_price: Any, usage: Usage) -> float | None:
    from genai_prices import Usage as GUsage

    result = model_price.calc_price(
        GUsage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            cache_write_tokens=usage.cache_creation_input_tokens or 0,
        )
    )
    return float(result["total_price"])
