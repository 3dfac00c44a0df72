"""Experiment context: which experiment, variant, route and prompt version a call belongs to.

Sources, in order of precedence (SPEC §5): ``otel_llm.experiment(...)`` (and the router, which uses the same
context), W3C baggage entries, then ``X-LLM-*`` request headers. The context lives in a :mod:`contextvars`
variable, so it follows asyncio tasks and ``contextvars.copy_context()`` / threads started through
``otel_llm.experiment``-aware helpers.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Mapping
from contextlib import ContextDecorator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from opentelemetry import baggage
from opentelemetry.context import Context
from opentelemetry.trace import Link

from otel_llm import attributes as A

_HASHES: dict[str, str] = {}  # subjects repeat (one per user or session): keep their hashes, bounded
_HASHES_MAX = 4096


def hash_subject(subject: str) -> str:
    """Stable, non-reversible hash of an assignment key (never put the raw id on a span)."""
    h = _HASHES.get(subject)
    if h is None:
        h = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        if len(_HASHES) >= _HASHES_MAX:
            _HASHES.clear()
        _HASHES[subject] = h
    return h


@dataclass(frozen=True, slots=True)
class ExperimentContext:
    """Tags for the LLM calls made while this context is active. ``None`` fields are not set."""

    experiment_id: str | None = None
    variant: str | None = None
    prompt_version: str | None = None
    rag_index_version: str | None = None
    subject_hash: str | None = None
    subject_random: bool = False
    route: str | None = None
    variant_weight: float | None = None
    shadow: bool = False
    links: tuple[Link, ...] = field(default_factory=tuple)
    # The raw assignment key, kept in-process only so the router can assign a variant from
    # ``experiment(subject=...)``. Never exported: ``span_attributes()`` does not read it.
    subject_key: str | None = field(default=None, repr=False)

    # The span attributes, computed once per context (a context tags every call made while it is active).
    _attributes: dict[str, Any] = field(init=False, repr=False, compare=False, hash=False, default_factory=dict)
    _metric_attributes: dict[str, Any] = field(init=False, repr=False, compare=False, hash=False, default_factory=dict)

    def __post_init__(self) -> None:
        attrs = self._compute_attributes()
        object.__setattr__(self, "_attributes", attrs)
        object.__setattr__(self, "_metric_attributes", {k: v for k, v in attrs.items() if k in A.METRIC_ATTRIBUTES})

    def merged_over(self, base: ExperimentContext | None) -> ExperimentContext:
        """This context's set fields over ``base``'s."""
        if base is None:
            return self
        changes: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if value is not None and value is not False and value != ():
                changes[name] = value
        return replace(base, **changes)

    def span_attributes(self) -> dict[str, Any]:
        """The ``llm.*`` span attributes of this context (shared: do not modify the returned dict)."""
        return self._attributes

    def metric_attributes(self) -> dict[str, Any]:
        """Those of :meth:`span_attributes` that metrics carry too (shared: do not modify the returned dict)."""
        return self._metric_attributes

    def _compute_attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.experiment_id is not None:
            attrs[A.LLM_EXPERIMENT_ID] = self.experiment_id
        if self.variant is not None:
            attrs[A.LLM_VARIANT] = self.variant
        attrs[A.LLM_ROUTE] = self.route or A.ROUTE_PRIMARY
        if self.variant_weight is not None:
            attrs[A.LLM_VARIANT_WEIGHT] = float(self.variant_weight)
        if self.shadow:
            attrs[A.LLM_SHADOW] = True
        if self.prompt_version is not None:
            attrs[A.LLM_PROMPT_VERSION] = self.prompt_version
        if self.rag_index_version is not None:
            attrs[A.LLM_RAG_INDEX_VERSION] = self.rag_index_version
        if self.subject_hash is not None:
            attrs[A.LLM_SUBJECT_HASH] = self.subject_hash
        if self.subject_random:
            attrs[A.LLM_SUBJECT_RANDOM] = True
        return attrs


_FIELDS = tuple(f for f in ExperimentContext.__slots__ if not f.startswith("_"))
_CURRENT: contextvars.ContextVar[ExperimentContext | None] = contextvars.ContextVar("otel_llm_experiment", default=None)


def current() -> ExperimentContext | None:
    """The experiment context set by ``experiment()`` or the router, if any."""
    return _CURRENT.get()


class _Active(ContextDecorator):
    """Context manager (and decorator) that activates an experiment context, merged over the enclosing one.

    A class rather than a generator: it runs around every tagged call, so it is kept to two context-variable
    operations. Entering yields the merged context."""

    __slots__ = ("_ctx", "_tokens")

    def __init__(self, ctx: ExperimentContext) -> None:
        self._ctx = ctx
        self._tokens: list[contextvars.Token[ExperimentContext | None]] = []

    def _recreate_cm(self) -> _Active:  # each decorated call gets its own instance
        return _Active(self._ctx)

    def __enter__(self) -> ExperimentContext:
        merged = self._ctx.merged_over(_CURRENT.get())
        self._tokens.append(_CURRENT.set(merged))
        return merged

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _CURRENT.reset(self._tokens.pop())


def use(ctx: ExperimentContext) -> _Active:
    """Activate ``ctx`` (merged over any enclosing context) for the duration of the block."""
    return _Active(ctx)


def experiment(
    experiment_id: str,
    *,
    variant: str | None = None,
    prompt_version: str | None = None,
    rag_index_version: str | None = None,
    subject: str | None = None,
) -> _Active:
    """Tag every LLM call made inside the block (also in asyncio tasks created inside it).

    Use as ``with otel_llm.experiment(...) as ctx:`` (``ctx`` is the effective, merged context) or as a
    decorator. ``subject`` is the assignment key (user or session id); only its hash reaches telemetry.
    """
    key: _ContextKey | None = (experiment_id, variant, prompt_version, rag_index_version, subject)
    try:
        ctx = _CONTEXTS.get(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable argument: not cached, handled as before
        ctx = key = None
    if ctx is None:
        ctx = ExperimentContext(
            experiment_id=experiment_id,
            variant=variant,
            prompt_version=prompt_version,
            rag_index_version=rag_index_version,
            subject_hash=hash_subject(subject) if subject is not None else None,
            subject_key=subject,
        )
        if key is not None:
            if len(_CONTEXTS) >= _HASHES_MAX:
                _CONTEXTS.clear()
            _CONTEXTS[key] = ctx
    return _Active(ctx)


# The same experiment() arguments come back on every request of a user or session: their (immutable) contexts,
# with the span attributes each computes once, are kept, bounded like the subject hashes.
_ContextKey = tuple[str, str | None, str | None, str | None, str | None]
_CONTEXTS: dict[_ContextKey, ExperimentContext] = {}


# The context key under which opentelemetry-api keeps baggage: read directly, a call without baggage (most) costs
# one dict lookup instead of get_all()'s copy. Private, so a release without it falls back to get_all().
_BAGGAGE_KEY: str | None = getattr(baggage, "_BAGGAGE_KEY", None)


def from_baggage(current: Context | None = None) -> ExperimentContext | None:
    """Experiment tags an upstream gateway put in W3C baggage (of ``current``, default the active context)."""
    if current is not None and _BAGGAGE_KEY is not None and not current.get(_BAGGAGE_KEY):
        return None
    entries = baggage.get_all(current)
    if not entries:
        return None
    exp = entries.get(A.BAGGAGE_EXPERIMENT_ID)
    variant = entries.get(A.BAGGAGE_VARIANT)
    prompt = entries.get(A.BAGGAGE_PROMPT_VERSION)
    shadow = str(entries.get(A.BAGGAGE_SHADOW, "")).lower() == "true"
    if exp is None and variant is None and prompt is None and not shadow:
        return None
    return ExperimentContext(
        experiment_id=str(exp) if exp is not None else None,
        variant=str(variant) if variant is not None else None,
        prompt_version=str(prompt) if prompt is not None else None,
        shadow=shadow,
        route=A.ROUTE_SHADOW if shadow else None,
    )


def from_headers(headers: Mapping[str, str]) -> ExperimentContext | None:
    """Experiment tags from ``X-LLM-*`` request headers (header names case-insensitive)."""
    exp = headers.get(A.HEADER_EXPERIMENT)
    variant = headers.get(A.HEADER_VARIANT)
    prompt = headers.get(A.HEADER_PROMPT_VERSION)
    if exp is None and variant is None and prompt is None:
        return None
    return ExperimentContext(experiment_id=exp, variant=variant, prompt_version=prompt)


def resolve(headers: Mapping[str, str] | None, current: Context | None = None) -> ExperimentContext | None:
    """The effective context for one call: explicit > baggage > headers (``current``: the OTel context)."""
    ctx = _CURRENT.get()
    bag = from_baggage(current)
    hdr = from_headers(headers) if headers is not None else None
    result: ExperimentContext | None = hdr
    if bag is not None:
        result = bag.merged_over(result)
    if ctx is not None:
        result = ctx.merged_over(result)
    return result
