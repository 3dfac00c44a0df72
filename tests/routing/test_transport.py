"""Router transports against a loopback server: rewrite, tags, fallback triggers, circuit breaker (SPEC §7.3)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import httpx2
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_llm import attributes as A
from otel_llm.enrich import experiment
from otel_llm.routing import Router, parse
from tests.routing._server import LLMServer, experiments_yaml

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ENV = {"CANDIDATE_API_KEY": "sk-candidate"}


class Recording(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[experiment.ExperimentContext | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.contexts.append(experiment.current())
        return super().handle_request(request)


class AsyncRecording(httpx2.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[experiment.ExperimentContext | None] = []

    async def handle_async_request(self, request: Any) -> Any:
        self.contexts.append(experiment.current())
        return await super().handle_async_request(request)


def router_for(server: LLMServer, *, candidate: int = 10, extra: str = "", **kw: Any) -> Router:
    text = experiments_yaml(
        server.url, control_weight=str(100 - candidate), candidate_weight=str(candidate), extra=extra, **kw
    )
    return Router(parse(text), environ=ENV)


def test_routes_rewrites_and_tags(llm_server: LLMServer) -> None:
    router = router_for(llm_server, candidate=100)
    inner = Recording()
    with httpx.Client(transport=router.transport(inner), base_url=llm_server.base("control")) as client:
        r = client.post(
            "/chat/completions?x=1", json=CHAT, headers={"X-Session-Id": "s1", "Authorization": "Bearer app"}
        )
    assert r.status_code == 200 and r.json()["model"] == "llama-3.1-8b-extract-v4"
    [seen] = llm_server.requests_for("candidate")
    assert seen.path == "/candidate/v1/chat/completions?x=1"
    assert seen.headers["authorization"] == "Bearer sk-candidate"  # variant key, by env-var name
    assert seen.headers["host"] == f"127.0.0.1:{llm_server.server_address[1]}"
    assert seen.body["messages"] == CHAT["messages"]
    [ctx] = inner.contexts
    assert ctx is not None
    assert ctx.span_attributes() == {
        A.LLM_EXPERIMENT_ID: "invoice-extractor-ft",
        A.LLM_VARIANT: "candidate",
        A.LLM_ROUTE: "primary",
        A.LLM_VARIANT_WEIGHT: 100.0,
        A.LLM_PROMPT_VERSION: "v6-ft",
        A.LLM_SUBJECT_HASH: experiment.hash_subject("s1"),
    }
    router.close()


def test_sticky_by_header_and_random_flag(llm_server: LLMServer) -> None:
    router = router_for(llm_server, candidate=50)
    inner = Recording()
    with httpx.Client(transport=router.transport(inner), base_url=llm_server.base("control")) as client:
        for _ in range(3):
            client.post("/chat/completions", json=CHAT, headers={"X-Session-Id": "sticky"})
        client.post("/chat/completions", json=CHAT)
    variants = {c.variant for c in inner.contexts[:3] if c}
    assert len(variants) == 1 and variants == {router.assign("invoice-extractor-ft", "sticky")}
    last = inner.contexts[3]
    assert last is not None and last.subject_random and last.subject_hash is None
    router.close()


def test_subject_from_body_and_context(llm_server: LLMServer) -> None:
    for assign_by, send in [
        ("body:metadata.user_id", lambda c: c.post("/chat/completions", json={**CHAT, "metadata": {"user_id": "u7"}})),
        ("context", None),
    ]:
        router = router_for(llm_server, candidate=50, assign_by=assign_by)
        inner = Recording()
        with httpx.Client(transport=router.transport(inner), base_url=llm_server.base("control")) as client:
            if send is not None:
                send(client)
            else:
                with experiment.experiment("invoice-extractor-ft", subject="u7"):
                    client.post("/chat/completions", json=CHAT)
        [ctx] = inner.contexts
        assert ctx is not None and not ctx.subject_random
        assert ctx.subject_hash == experiment.hash_subject("u7")
        assert ctx.variant == router.assign("invoice-extractor-ft", "u7")
        assert "u7" not in str(ctx.span_attributes())
        router.close()


def test_kill_switch_sends_everyone_to_control(llm_server: LLMServer) -> None:
    router = router_for(llm_server, candidate=100, enabled="false")
    with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
        for i in range(5):
            assert client.post("/chat/completions", json=CHAT, headers={"X-Session-Id": f"s{i}"}).status_code == 200
    assert len(llm_server.requests_for("control")) == 5 and not llm_server.requests_for("candidate")
    router.close()


FALLBACK = "    fallback: {variant: control, on: [timeout, 5xx, 429, connect_error]}\n"


@pytest.mark.parametrize("mode", ["500", "429", "slow", "connect_error"])
def test_fallback_on_each_trigger(llm_server: LLMServer, dead_port: int, mode: str) -> None:
    text = experiments_yaml(llm_server.url, control_weight="0", candidate_weight="100", extra=FALLBACK)
    if mode == "connect_error":
        text = text.replace(f"{llm_server.url}/candidate/v1", f"http://127.0.0.1:{dead_port}/candidate/v1")
    else:
        llm_server.behaviour["candidate"] = mode
    llm_server.slow_s = 3.0
    router = Router(parse(text), environ=ENV)
    inner = Recording()
    timeout = httpx.Timeout(0.3)
    with httpx.Client(transport=router.transport(inner), base_url=llm_server.base("control"), timeout=timeout) as c:
        r = c.post("/chat/completions", json=CHAT, headers={"X-Session-Id": "s1"})
    assert r.status_code == 200 and r.json()["model"] == "gpt-4o-mini"
    primary, fallback = inner.contexts
    assert primary is not None and fallback is not None
    assert (primary.variant, primary.route) == ("candidate", "primary")
    assert (fallback.variant, fallback.route) == ("candidate", "fallback")  # assigned variant still recorded
    assert fallback.prompt_version == "v6"  # what actually served the call
    assert llm_server.requests_for("control")[0].headers.get("authorization") != "Bearer sk-candidate"
    router.close()


def test_untriggered_errors_reach_the_app_unchanged(llm_server: LLMServer) -> None:
    router = router_for(llm_server, candidate=100, extra="    fallback: {variant: control, on: [429]}\n")
    llm_server.behaviour["candidate"] = "500"
    with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
        assert client.post("/chat/completions", json=CHAT).status_code == 500
        llm_server.behaviour["candidate"] = "reset"
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.post("/chat/completions", json=CHAT)
    assert not llm_server.requests_for("control")
    router.close()


def test_circuit_breaker_opens_routes_to_fallback_and_counts(llm_server: LLMServer) -> None:
    reader = InMemoryMetricReader()
    extra = FALLBACK + "    circuit_breaker: {failure_rate: 0.5, min_calls: 2, window_s: 60, cooldown_s: 60}\n"
    text = experiments_yaml(llm_server.url, control_weight="0", candidate_weight="100", extra=extra)
    router = Router(parse(text), environ=ENV, meter_provider=MeterProvider(metric_readers=[reader]))
    llm_server.behaviour["candidate"] = "500"
    inner = Recording()
    with httpx.Client(transport=router.transport(inner), base_url=llm_server.base("control")) as client:
        for _ in range(4):
            assert client.post("/chat/completions", json=CHAT).status_code == 200
    assert len(llm_server.requests_for("candidate")) == 2  # open after 2 failures: no more calls to it
    last = inner.contexts[-1]
    assert last is not None and (last.variant, last.route) == ("candidate", "fallback")
    breaker = router.breaker("invoice-extractor-ft", "candidate")
    assert breaker is not None and breaker.state == "open"
    points = [
        p
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == A.METRIC_CIRCUIT_STATE_CHANGES
        for p in m.data.data_points
    ]
    assert [(p.attributes[A.LLM_VARIANT], p.value) for p in points] == [("candidate", 1)]
    router.close()


def test_async_httpx2_fallback_and_rewrite(llm_server: LLMServer) -> None:
    router = router_for(llm_server, candidate=100, extra=FALLBACK)
    llm_server.behaviour["candidate"] = "429"
    inner = AsyncRecording()

    async def main() -> Any:
        transport = router.async_transport(inner)
        async with httpx2.AsyncClient(transport=transport, base_url=llm_server.base("control")) as client:
            return await client.post("/chat/completions", json=CHAT)

    r = asyncio.run(main())
    assert r.status_code == 200 and r.json()["model"] == "gpt-4o-mini"
    assert [(c.variant, c.route) for c in inner.contexts if c] == [("candidate", "primary"), ("candidate", "fallback")]
    router.close()


def test_flavours_and_router_marker(llm_server: LLMServer) -> None:
    router = router_for(llm_server)
    assert isinstance(router.transport(), httpx.BaseTransport)
    assert isinstance(router.async_transport(), httpx.AsyncBaseTransport)
    assert isinstance(router.transport(flavour="httpx2"), httpx2.BaseTransport)
    assert isinstance(router.async_transport(httpx2.AsyncHTTPTransport()), httpx2.AsyncBaseTransport)
    assert router.transport()._otel_llm_router is True
    with pytest.raises(ValueError, match="flavour"):
        router.transport(flavour="requests")
    with pytest.raises(ValueError, match="unknown experiment"):
        router.transport(experiment="nope")
    router.close()
