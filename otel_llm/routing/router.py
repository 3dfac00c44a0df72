"""The router: holds the experiments config, assigns variants, plans each call, owns breakers and shadows.

The transports in :mod:`otel_llm.routing._transports` call :meth:`Router.plan`, build requests with
:mod:`otel_llm.routing._requests` and report outcomes here; this module has no httpx import, so the router works
with httpx, httpx2 or both.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import random
import threading
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.trace import Link

from otel_llm import __version__
from otel_llm import attributes as A
from otel_llm.enrich import experiment as exp_ctx
from otel_llm.routing import _gauges, _requests, assignment, loader
from otel_llm.routing._hook import SPAN_CONTEXT_EXTENSION
from otel_llm.routing._plan import Compiled, Plan, Variant
from otel_llm.routing._shadow import ShadowPool, _Job
from otel_llm.routing.breaker import Breaker
from otel_llm.routing.config import ExperimentsFile
from otel_llm.routing.guardrails import InProcessStats

__all__ = ["Plan", "Router", "Variant"]

_log = logging.getLogger("otel_llm.routing")


class Router:
    """Routes LLM requests of an httpx / httpx2 client between the variants of an experiments file.

    ``Router(path_or_config, reload_interval_s=0.5)``; ``transport()`` / ``async_transport()`` give transports
    for ``httpx.Client(transport=...)`` / ``httpx.AsyncClient`` (``flavour="httpx2"`` or an httpx2 ``inner``
    for httpx2 clients). Use as a context manager, or call ``close()`` / ``await aclose()``.
    """

    def __init__(
        self,
        config: ExperimentsFile | str | os.PathLike[str],
        *,
        reload_interval_s: float = 0.5,
        meter_provider: MeterProvider | None = None,
        stats: InProcessStats | None = None,
        environ: Mapping[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        self._environ = dict(os.environ if environ is None else environ)
        self._reloader: loader.Reloader | None = None
        if isinstance(config, ExperimentsFile):
            cfg = loader.check(config)
        else:
            self._reloader = loader.Reloader(config, reload_interval_s)
            cfg = self._reloader.config
        meter = get_meter("otel_llm.routing", __version__, meter_provider)
        self._dropped = meter.create_counter(
            A.METRIC_SHADOW_DROPPED, unit="{request}", description="Shadow copies dropped at max_in_flight."
        )
        self._state_changes = meter.create_counter(
            A.METRIC_CIRCUIT_STATE_CHANGES, unit="{change}", description="Circuit breaker state changes."
        )
        _gauges.register(meter, self)  # rollout weight / phase / paused
        self.stats = stats if stats is not None else InProcessStats()
        self.shadow_dropped = 0
        self._random = random.Random(seed)
        self._breakers: dict[tuple[str, str], Breaker] = {}
        self._pool = ShadowPool(self._on_drop)
        self._install(cfg)

    # --- configuration --------------------------------------------------------------------------------------
    def _install(self, cfg: ExperimentsFile) -> None:
        compiled = {e.id: Compiled(e, self._environ) for e in cfg.experiments}
        breakers: dict[tuple[str, str], Breaker] = {}
        for e in cfg.experiments:
            if e.circuit_breaker is None:
                continue
            for v in e.variants:
                key = (e.id, v.name)
                old = self._breakers.get(key)
                keep = old is not None and old.cfg == e.circuit_breaker
                breakers[key] = old if keep and old else Breaker(f"{e.id}/{v.name}", e.circuit_breaker, self._on_state)
        previous = getattr(self, "_compiled", {})
        self.config = cfg
        self._compiled = compiled
        self._breakers = breakers
        for exp_id in previous:
            now = compiled.get(exp_id)
            if now is None or now.shadow is None:
                self._pool.cancel(exp_id)  # kill switch / shadow removed: stop copies in flight

    def reload(self) -> bool:
        """Re-read the file now (it is also re-read on change during requests). True when it changed."""
        if self._reloader is not None and self._reloader.reload():
            self._install(self._reloader.config)
            return True
        return False

    def maybe_reload(self) -> None:
        r = self._reloader
        if r is not None and r.maybe_reload():
            self._install(r.config)

    def _on_state(self, name: str, old: str, new: str) -> None:
        exp_id, _, variant = name.partition("/")
        self._state_changes.add(
            1, {A.LLM_EXPERIMENT_ID: exp_id, A.LLM_VARIANT: variant, A.LLM_CIRCUIT_BREAKER_STATE: new}
        )

    def _on_drop(self, experiment_id: str, variant: str) -> None:
        self.shadow_dropped += 1
        self._dropped.add(1, {A.LLM_EXPERIMENT_ID: experiment_id, A.LLM_VARIANT: variant})

    def breaker(self, experiment_id: str, variant: str) -> Breaker | None:
        return self._breakers.get((experiment_id, variant))

    # --- assignment -----------------------------------------------------------------------------------------
    def assign(self, experiment_id: str, subject: str | None) -> str:
        """The variant a subject gets now (random when ``subject`` is None)."""
        c = self._compiled[experiment_id]
        b = (
            self._random.randrange(assignment.BUCKETS)
            if subject is None
            else assignment.bucket(experiment_id, c.exp.salt, subject)
        )
        return c.layout.variant_for(b)

    def _select(self, bound: str | None) -> Compiled | None:
        if bound is not None:
            return self._compiled.get(bound)
        ctx = exp_ctx.current()
        if ctx is not None and ctx.experiment_id is not None and ctx.experiment_id in self._compiled:
            return self._compiled[ctx.experiment_id]
        if len(self._compiled) == 1:
            return next(iter(self._compiled.values()))
        return None

    def plan(self, headers: Mapping[str, str], raw: bytes, bound: str | None) -> Plan | None:
        """Decide variant, route and shadow for one request; ``None`` passes it through untouched."""
        c = self._select(bound)
        if c is None:
            return None
        exp = c.exp
        body: Any = None
        if c.needs_body and raw[:1] == b"{":
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        ctx = exp_ctx.current()
        if not exp.enabled:
            assigned, subject, weight = c.control, None, 100.0
        else:
            subject = assignment.subject_from(
                exp.assign_by, headers, body, ctx.subject_key if ctx is not None else None
            )
            b = (
                self._random.randrange(assignment.BUCKETS)
                if subject is None
                else assignment.bucket(exp.id, exp.salt, subject)
            )
            assigned = c.variants[c.layout.variant_for(b)]
            weight = assigned.weight
        served, route = assigned, A.ROUTE_PRIMARY
        br = self._breakers.get((exp.id, assigned.name))
        if br is not None and not br.allow():
            alt = c.fallback if c.fallback is not None else c.control
            alt_br = self._breakers.get((exp.id, alt.name))
            if alt is not assigned and (alt_br is None or alt_br.allow()):
                served, route = alt, A.ROUTE_FALLBACK
        shadow = c.shadow
        if shadow is not None and (
            shadow.name == served.name or self._random.random() >= (exp.shadow.sample if exp.shadow else 0)
        ):
            shadow = None
        if subject is not None:
            subject_hash: str | None = exp_ctx.hash_subject(subject)
        else:
            subject_hash = ctx.subject_hash if ctx is not None and exp.enabled and exp.assign_by == "context" else None
        return Plan(
            c,
            assigned,
            served,
            route,
            weight,
            subject_hash,
            subject is None and exp.enabled,
            body,
            raw,
            shadow,
        )

    # --- request building -----------------------------------------------------------------------------------
    def build(self, mod: ModuleType, request: Any, plan: Plan, variant: Variant, body: Any = None) -> Any:
        """A copy of ``request`` sent to ``variant``: base URL, model and API key rewritten."""
        return _requests.build(mod, request, plan, variant, body)

    # --- outcomes, fallback, shadow -------------------------------------------------------------------------
    def trigger(self, mod: ModuleType, status: int | None, exc: BaseException | None) -> str | None:
        if exc is not None:
            if isinstance(exc, mod.TimeoutException):
                return "timeout"
            if isinstance(exc, mod.ConnectError):
                return "connect_error"
            return "error"
        if status == 429:
            return "429"
        if status is not None and status >= 500:
            return "5xx"
        return None

    def outcome(self, plan: Plan, variant: Variant, trigger: str | None, status: int | None, dt: float) -> None:
        br = self._breakers.get((plan.compiled.exp.id, variant.name))
        if br is not None:
            br.record(trigger is None)
        if variant is plan.served and plan.route == A.ROUTE_PRIMARY:
            ok = trigger is None and (status is None or status < 400)
            self.stats.record_call(plan.compiled.exp.id, plan.assigned.name, ok, dt)

    def fallback_for(self, plan: Plan, trigger: str | None) -> Variant | None:
        c = plan.compiled
        fb = c.fallback
        if trigger is None or fb is None or plan.route != A.ROUTE_PRIMARY or trigger not in c.triggers:
            return None
        if fb.name == plan.served.name:
            return None
        br = self._breakers.get((c.exp.id, fb.name))
        return fb if br is None or br.allow() else None

    def _shadow_job(
        self, mod: ModuleType, request: Any, primary: Any, plan: Plan, primary_sent: threading.Event | None
    ) -> tuple[_Job, int, float]:
        assert plan.shadow is not None
        assert plan.compiled.exp.shadow is not None
        cfg = plan.compiled.exp.shadow
        shadow = plan.shadow

        def start() -> tuple[Any, exp_ctx.ExperimentContext]:
            # Runs in the shadow worker, in the job's copy of the app's context, once the primary's span exists
            # (the copy is fired just before the primary is sent; the instrumentation starts the primary's span
            # before its first network wait, which is when a sync worker gets the GIL and an async task its
            # first step). A sync worker that runs earlier than that waits for the primary to be done.
            span_ctx = primary.extensions.get(SPAN_CONTEXT_EXTENSION) if primary is not None else None
            if span_ctx is None and primary_sent is not None and primary is not None:
                primary_sent.wait(cfg.timeout_s)
                span_ctx = primary.extensions.get(SPAN_CONTEXT_EXTENSION)
            links = (Link(span_ctx),) if span_ctx is not None and span_ctx.is_valid else ()
            if span_ctx is not None and links and not trace.get_current_span().get_span_context().is_valid:
                # No app span to share: the shadow joins the primary's trace as its child (SPEC §7.4: same trace).
                otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_ctx)))
            tags = exp_ctx.ExperimentContext(
                experiment_id=plan.compiled.exp.id,
                variant=shadow.name,
                prompt_version=shadow.prompt_version,
                subject_hash=plan.subject_hash,
                subject_random=plan.subject_random,
                route=A.ROUTE_SHADOW,
                shadow=True,
                links=links,
            )
            return _requests.shadow_request(mod, request, plan), tags

        job = _Job(plan.compiled.exp.id, shadow.name, start, contextvars.copy_context())
        return job, cfg.max_in_flight, cfg.timeout_s

    def fire_shadow(
        self,
        mod: ModuleType,
        request: Any,
        primary: Any,
        plan: Plan,
        is_async: bool,
        *,
        primary_sent: threading.Event | None = None,
    ) -> None:
        """Start the shadow copy; never raises and never blocks on the candidate.

        ``primary_sent`` (sync): set once the primary is done; a copy that starts before the primary's span exists
        waits for it, so that it can link to it.
        """
        try:
            job, limit, timeout_s = self._shadow_job(mod, request, primary, plan, primary_sent)
            if is_async:
                self._pool.submit_async(mod, job, limit, timeout_s)
            else:
                self._pool.submit_sync(mod, job, limit, timeout_s)
        except Exception as exc:
            _log.debug("shadow copy not started: %r", exc)

    def shadows_in_flight(self, experiment_id: str | None = None) -> int:
        return self._pool.in_flight(experiment_id)

    # --- transports and lifetime ---------------------------------------------------------------------------
    def transport(self, inner: Any = None, *, experiment: str | None = None, flavour: str | None = None) -> Any:
        """A sync transport for ``httpx.Client`` (or ``httpx2.Client`` with ``flavour="httpx2"``)."""
        from otel_llm.routing._transports import make

        return make(self, inner, experiment, flavour, is_async=False)

    def async_transport(self, inner: Any = None, *, experiment: str | None = None, flavour: str | None = None) -> Any:
        """An async transport for ``httpx.AsyncClient`` (``httpx2.AsyncClient`` with ``flavour="httpx2"``)."""
        from otel_llm.routing._transports import make

        return make(self, inner, experiment, flavour, is_async=True)

    def close(self) -> None:
        """Cancel shadow copies in flight and stop the shadow workers (joins the threads)."""
        self._pool.close()

    async def aclose(self) -> None:
        """Like :meth:`close`, and also awaits the cancelled shadow tasks of the running loop."""
        await self._pool.aclose()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
