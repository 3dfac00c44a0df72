"""Router transports for httpx and httpx2, sync and async (SPEC §7.3).

One class body per sync/async, made into an httpx or httpx2 transport class on demand. Each carries
``_otel_llm_router = True`` so the global instrumentation (which patches the clients' send path) does not
start a second span around the router; the *inner* transport is wrapped by the instrumentation hook instead,
and sees the router's decision in the experiment context.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

from otel_llm.enrich import experiment as exp_ctx
from otel_llm.errors import ConfigurationError
from otel_llm.routing import _hook

if TYPE_CHECKING:
    from otel_llm.routing.router import Plan, Router, Variant


class _Base:
    _otel_llm_router = True
    _mod: ModuleType

    def __init__(self, router: Router, inner: Any, experiment: str | None) -> None:
        self.router = router
        self.experiment = experiment
        self._inner = _hook.instrument(inner)  # THE instrumentation hook: one LLM span per call


class SyncRouterTransport(_Base):
    def handle_request(self, request: Any) -> Any:
        router = self.router
        router.maybe_reload()
        plan = router.plan(request.headers, request.read(), self.experiment)
        if plan is None:
            return self._inner.handle_request(request)
        mod = self._mod
        primary = router.build(mod, request, plan, plan.served)
        # Fired before the primary is sent, as in the async transport: a shadow worker waiting for the GIL gets
        # it when this thread blocks on the network, so the copy's CPU work overlaps the primary's wait instead
        # of the app's response handling (measured: fired after the primary returned, the copy's bursts landed
        # in the app's JSON parsing at every syscall it made). ``sent`` is set once the primary is done, for a
        # copy that would otherwise start before the primary's span exists.
        sent = self._shadow(request, primary, plan)
        t0 = time.perf_counter()
        try:
            with exp_ctx.use(plan.tags(plan.served, plan.route)):
                response = self._inner.handle_request(primary)
        except Exception as exc:
            trigger = router.trigger(mod, None, exc)
            router.outcome(plan, plan.served, trigger, None, time.perf_counter() - t0)
            alt = router.fallback_for(plan, trigger)
            if alt is None:
                raise
            return self._fallback(request, plan, alt)
        finally:
            if sent is not None:
                sent.set()
        trigger = router.trigger(mod, response.status_code, None)
        router.outcome(plan, plan.served, trigger, response.status_code, time.perf_counter() - t0)
        alt = router.fallback_for(plan, trigger)
        if alt is None:
            return response
        response.close()
        return self._fallback(request, plan, alt)

    def _shadow(self, request: Any, primary: Any, plan: Plan) -> threading.Event | None:
        if plan.shadow is None:
            return None
        sent = threading.Event()
        self.router.fire_shadow(self._mod, request, primary, plan, is_async=False, primary_sent=sent)
        return sent

    def _fallback(self, request: Any, plan: Plan, alt: Variant) -> Any:
        router, mod = self.router, self._mod
        req = router.build(mod, request, plan, alt)
        t0 = time.perf_counter()
        try:
            with exp_ctx.use(plan.tags(alt, "fallback")):
                response = self._inner.handle_request(req)
        except Exception as exc:
            router.outcome(plan, alt, router.trigger(mod, None, exc), None, time.perf_counter() - t0)
            raise
        status = response.status_code
        router.outcome(plan, alt, router.trigger(mod, status, None), status, time.perf_counter() - t0)
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncRouterTransport(_Base):
    async def handle_async_request(self, request: Any) -> Any:
        router = self.router
        router.maybe_reload()
        plan = router.plan(request.headers, await request.aread(), self.experiment)
        if plan is None:
            return await self._inner.handle_async_request(request)
        mod = self._mod
        primary = router.build(mod, request, plan, plan.served)
        # Fired before the primary is sent: the shadow task's first step runs when the primary first awaits the
        # network, so the copy's CPU work overlaps the primary's wait instead of the app's response handling.
        self._shadow(request, primary, plan)
        t0 = time.perf_counter()
        try:
            with exp_ctx.use(plan.tags(plan.served, plan.route)):
                response = await self._inner.handle_async_request(primary)
        except Exception as exc:
            trigger = router.trigger(mod, None, exc)
            router.outcome(plan, plan.served, trigger, None, time.perf_counter() - t0)
            alt = router.fallback_for(plan, trigger)
            if alt is None:
                raise
            return await self._fallback(request, plan, alt)
        trigger = router.trigger(mod, response.status_code, None)
        router.outcome(plan, plan.served, trigger, response.status_code, time.perf_counter() - t0)
        alt = router.fallback_for(plan, trigger)
        if alt is None:
            return response
        await response.aclose()
        return await self._fallback(request, plan, alt)

    def _shadow(self, request: Any, primary: Any, plan: Plan) -> None:
        if plan.shadow is not None:
            self.router.fire_shadow(self._mod, request, primary, plan, is_async=True)

    async def _fallback(self, request: Any, plan: Plan, alt: Variant) -> Any:
        router, mod = self.router, self._mod
        req = router.build(mod, request, plan, alt)
        t0 = time.perf_counter()
        try:
            with exp_ctx.use(plan.tags(alt, "fallback")):
                response = await self._inner.handle_async_request(req)
        except Exception as exc:
            router.outcome(plan, alt, router.trigger(mod, None, exc), None, time.perf_counter() - t0)
            raise
        status = response.status_code
        router.outcome(plan, alt, router.trigger(mod, status, None), status, time.perf_counter() - t0)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@cache
def classes(mod: ModuleType) -> tuple[type[SyncRouterTransport], type[AsyncRouterTransport]]:
    """The router transport classes of one flavour (``httpx`` or ``httpx2``)."""
    sync_cls = type("RouterTransport", (SyncRouterTransport, mod.BaseTransport), {"_mod": mod})
    async_cls = type("AsyncRouterTransport", (AsyncRouterTransport, mod.AsyncBaseTransport), {"_mod": mod})
    return sync_cls, async_cls


def _flavour_of(inner: Any) -> str | None:
    for name in ("httpx2", "httpx"):
        mod = sys.modules.get(name)
        if mod is not None and isinstance(inner, mod.BaseTransport | mod.AsyncBaseTransport):
            return name
    return None


def make(router: Router, inner: Any, experiment: str | None, flavour: str | None, *, is_async: bool) -> Any:
    if flavour is None:
        flavour = (_flavour_of(inner) if inner is not None else None) or "httpx"
    if flavour not in ("httpx", "httpx2"):
        raise ValueError(f"flavour must be 'httpx' or 'httpx2', not {flavour!r}")
    if experiment is not None and router.config.get(experiment) is None:
        raise ConfigurationError(f"unknown experiment {experiment!r}")
    mod = importlib.import_module(flavour)
    if inner is None:
        inner = mod.AsyncHTTPTransport() if is_async else mod.HTTPTransport()
    sync_cls, async_cls = classes(mod)
    cls = async_cls if is_async else sync_cls
    return cls(router, inner, experiment)
