"""With the instrumentation on: one LLM span per call; shadow span in the same trace, linked to the primary."""

from __future__ import annotations

import asyncio
import time

import httpx
from opentelemetry.sdk.trace import TracerProvider

from otel_llm import attributes as A
from otel_llm.routing import Router, parse
from otel_llm.testing import capture_spans
from tests.routing._server import LLMServer, experiments_yaml

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SHADOW = "    shadow: {variant: candidate, sample: 1.0, max_in_flight: 4, timeout_s: 5}\n"


def _router(server: LLMServer, extra: str = SHADOW, candidate: int = 0) -> Router:
    text = experiments_yaml(
        server.url, control_weight=str(100 - candidate), candidate_weight=str(candidate), extra=extra
    )
    return Router(parse(text), environ={})


def _check(spans: list, app_span) -> None:
    by_route = {s.attributes[A.LLM_ROUTE]: s for s in spans}
    assert len(spans) == 2 and set(by_route) == {"primary", "shadow"}
    primary, shadow = by_route["primary"], by_route["shadow"]
    assert primary.attributes[A.LLM_VARIANT] == "control"
    assert shadow.attributes[A.LLM_VARIANT] == "candidate" and shadow.attributes[A.LLM_SHADOW] is True
    assert shadow.attributes[A.GEN_AI_REQUEST_MODEL] == "llama-3.1-8b-extract-v4"
    for s in (primary, shadow):
        assert s.context.trace_id == app_span.context.trace_id
        assert s.parent is not None and s.parent.span_id == app_span.context.span_id
    assert [link.context.span_id for link in shadow.links] == [primary.context.span_id]
    assert A.LLM_SHADOW not in primary.attributes


def _wait(spans, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(spans.refresh()) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def test_sync_primary_and_shadow_spans(llm_server: LLMServer) -> None:
    app_tracer = TracerProvider().get_tracer("app")
    with capture_spans() as spans:
        router = _router(llm_server)
        with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
            with app_tracer.start_as_current_span("handle") as app_span:
                assert client.post("/chat/completions", json=CHAT).status_code == 200
            _wait(spans, 2)
        router.close()
    _check(list(spans), app_span)


def test_async_primary_and_shadow_spans(llm_server: LLMServer) -> None:
    app_tracer = TracerProvider().get_tracer("app")

    async def main(spans) -> object:
        router = _router(llm_server)
        async with httpx.AsyncClient(transport=router.async_transport(), base_url=llm_server.base("control")) as c:
            with app_tracer.start_as_current_span("handle") as app_span:
                assert (await c.post("/chat/completions", json=CHAT)).status_code == 200
            for _ in range(500):
                if len(spans.refresh()) >= 2:
                    break
                await asyncio.sleep(0.01)
        await router.aclose()
        return app_span

    with capture_spans() as spans:
        app_span = asyncio.run(main(spans))
    _check(list(spans), app_span)


def test_router_not_wrapped_twice_by_global_instrumentation(llm_server: LLMServer) -> None:
    fallback = "    fallback: {variant: control}\n"
    llm_server.behaviour["candidate"] = "500"
    with capture_spans() as spans:
        router = _router(llm_server, extra=fallback, candidate=100)
        with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
            assert client.post("/chat/completions", json=CHAT).status_code == 200
        router.close()
    routes = sorted((s.attributes[A.LLM_ROUTE], s.attributes[A.LLM_VARIANT]) for s in spans)
    assert routes == [("fallback", "candidate"), ("primary", "candidate")]  # one span per HTTP call, no more


def test_cancelled_sync_shadow_span_says_cancelled(llm_server: LLMServer) -> None:
    llm_server.behaviour["candidate"] = "forever"
    with capture_spans() as spans:
        router = _router(llm_server)
        with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
            assert client.post("/chat/completions", json=CHAT).status_code == 200
            llm_server.wait_for("candidate")
            time.sleep(0.1)  # the copy is reading the endless stream
            router.close()  # cancels it
            _wait(spans, 2)
    shadow = next(s for s in spans if s.attributes[A.LLM_ROUTE] == "shadow")
    assert shadow.attributes[A.ERROR_TYPE] == "CancelledError"
    assert not shadow.status.is_ok
