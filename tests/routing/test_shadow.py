"""Shadow copies: fire-and-forget, bounded, cancellable, leak-free, baggage-marked (SPEC §7.4)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import httpx2
import openai
import pytest

from otel_llm.routing import Router, parse
from tests.routing._server import LLMServer, experiments_yaml, shadow_threads

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ENV = {"CANDIDATE_API_KEY": "sk-candidate"}


def shadow_router(server: LLMServer, *, max_in_flight: int = 32, timeout_s: float = 10, stream: str = "same") -> Router:
    extra = (
        f"    shadow: {{variant: candidate, sample: 1.0, max_in_flight: {max_in_flight}, "
        f"timeout_s: {timeout_s}, stream: {stream}}}\n"
    )
    text = experiments_yaml(server.url, control_weight="100", candidate_weight="0", extra=extra)
    return Router(parse(text), environ=ENV, reload_interval_s=0.05)


def wait_until(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.mark.parametrize("flavour", ["httpx", "httpx2"])
def test_sync_shadow_is_fire_and_forget(llm_server: LLMServer, flavour: str) -> None:
    mod = httpx if flavour == "httpx" else httpx2
    router = shadow_router(llm_server)
    llm_server.behaviour["candidate"] = "slow"  # 10 s
    with mod.Client(transport=router.transport(flavour=flavour), base_url=llm_server.base("control")) as client:
        t0 = time.perf_counter()
        r = client.post("/chat/completions", json=CHAT, headers={"baggage": "tenant=acme"})
        elapsed = time.perf_counter() - t0
    assert r.status_code == 200 and r.json()["model"] == "gpt-4o-mini"
    assert elapsed < 1.0  # not delayed by the 10 s candidate
    [copy] = llm_server.wait_for("candidate")
    assert copy.headers["baggage"] == "tenant=acme,llm.shadow=true"
    assert copy.headers["authorization"] == "Bearer sk-candidate"
    assert copy.body["model"] == "llama-3.1-8b-extract-v4"
    assert llm_server.requests_for("control")[0].headers["baggage"] == "tenant=acme"  # primary untouched
    assert router.shadows_in_flight() == 1
    t0 = time.perf_counter()
    router.close()  # cancels the in-flight copy and joins the workers
    assert time.perf_counter() - t0 < 2.0
    assert shadow_threads() == [] and router.shadows_in_flight() == 0


@pytest.mark.parametrize("mode", ["500", "reset", "forever"])
def test_failing_candidate_never_fails_the_primary(llm_server: LLMServer, mode: str) -> None:
    router = shadow_router(llm_server, timeout_s=0.5)
    llm_server.behaviour["candidate"] = mode
    with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
        for _ in range(5):
            r = client.post("/chat/completions", json=CHAT)
            assert r.status_code == 200 and r.json()["model"] == "gpt-4o-mini"
    llm_server.wait_for("candidate", 5)
    wait_until(lambda: router.shadows_in_flight() == 0, timeout=3)  # the never-ending stream hits its timeout
    router.close()
    assert shadow_threads() == []


def test_drop_and_count_at_max_in_flight(llm_server: LLMServer) -> None:
    router = shadow_router(llm_server, max_in_flight=2)
    llm_server.behaviour["candidate"] = "slow"
    with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
        for _ in range(5):
            assert client.post("/chat/completions", json=CHAT).status_code == 200
    assert router.shadows_in_flight() == 2
    assert router.shadow_dropped == 3
    router.close()
    assert shadow_threads() == []


def test_kill_switch_cancels_in_flight_shadows(llm_server: LLMServer, tmp_path: Any) -> None:
    path = tmp_path / "experiments.yaml"
    extra = "    shadow: {variant: candidate, sample: 1.0, max_in_flight: 8, timeout_s: 10}\n"
    path.write_text(experiments_yaml(llm_server.url, control_weight="100", candidate_weight="0", extra=extra))
    router = Router(path, environ=ENV, reload_interval_s=0.05)
    llm_server.behaviour["candidate"] = "slow"
    with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
        for _ in range(3):
            client.post("/chat/completions", json=CHAT)
        llm_server.wait_for("candidate", 3)
        assert router.shadows_in_flight() == 3
        path.write_text(path.read_text().replace("enabled: true", "enabled: false"))
        assert router.reload() is True
        wait_until(lambda: router.shadows_in_flight() == 0, timeout=1.0)
        client.post("/chat/completions", json=CHAT)
    assert len(llm_server.requests_for("candidate")) == 3  # no new copies once killed
    router.close()
    assert shadow_threads() == []


def test_streaming_primary_mirrored_as_non_streaming(llm_server: LLMServer) -> None:
    router = shadow_router(llm_server, stream="never")
    with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
        body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        with client.stream("POST", "/chat/completions", json=body) as r:
            chunks = list(r.iter_lines())
    assert chunks[-2] == "data: [DONE]"
    [copy] = llm_server.wait_for("candidate")
    assert copy.body["stream"] is False and "stream_options" not in copy.body
    wait_until(lambda: router.shadows_in_flight() == 0)
    router.close()


def test_streaming_primary_mirrored_as_streaming(llm_server: LLMServer) -> None:
    router = shadow_router(llm_server)
    with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as client:
        client.post("/chat/completions", json={**CHAT, "stream": True})
    [copy] = llm_server.wait_for("candidate")
    assert copy.body["stream"] is True
    wait_until(lambda: copy.done is not None)  # the shadow read the whole stream
    router.close()


@pytest.mark.parametrize("flavour", ["httpx", "httpx2"])
def test_async_shadow_fire_and_forget_and_aclose(llm_server: LLMServer, flavour: str) -> None:
    mod = httpx if flavour == "httpx" else httpx2
    router = shadow_router(llm_server, max_in_flight=2)
    llm_server.behaviour["candidate"] = "slow"

    async def main() -> tuple[float, int, int]:
        transport = router.async_transport(flavour=flavour)
        async with mod.AsyncClient(transport=transport, base_url=llm_server.base("control")) as client:
            t0 = time.perf_counter()
            for _ in range(3):
                r = await client.post("/chat/completions", json=CHAT, headers={"baggage": "k=v"})
                assert r.status_code == 200
            elapsed = time.perf_counter() - t0
            await asyncio.to_thread(llm_server.wait_for, "candidate", 2)
            in_flight = router.shadows_in_flight()
            await router.aclose()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            return elapsed, in_flight, len(others)

    elapsed, in_flight, leftover = asyncio.run(main())
    assert elapsed < 1.0 and in_flight == 2 and router.shadow_dropped == 1
    assert leftover == 0
    copy = llm_server.requests_for("candidate")[0]
    assert copy.headers["baggage"] == "k=v,llm.shadow=true"
    assert shadow_threads() == []  # async shadows never start threads


def test_async_shadow_completes_and_reads_body(llm_server: LLMServer) -> None:
    router = shadow_router(llm_server)

    async def main() -> None:
        async with httpx.AsyncClient(transport=router.async_transport(), base_url=llm_server.base("control")) as c:
            await c.post("/chat/completions", json={**CHAT, "stream": True})
            for _ in range(200):
                if router.shadows_in_flight() == 0 and llm_server.requests_for("candidate"):
                    break
                await asyncio.sleep(0.01)
        await router.aclose()

    asyncio.run(main())
    [copy] = llm_server.requests_for("candidate")
    assert copy.done is not None


def test_openai_sdk_with_router_and_shadow(llm_server: LLMServer) -> None:
    router = shadow_router(llm_server)
    http_client = httpx2.Client(transport=router.transport(flavour="httpx2"))
    client = openai.OpenAI(base_url=llm_server.base("control"), api_key="sk-app", http_client=http_client)
    out = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "hi" and out.model == "gpt-4o-mini"
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "xxx"
    copies = llm_server.wait_for("candidate", 2)
    assert {c.body["model"] for c in copies} == {"llama-3.1-8b-extract-v4"}
    assert all(c.headers["baggage"] == "llm.shadow=true" for c in copies)
    assert all(c.headers["authorization"] == "Bearer sk-candidate" for c in copies)
    client.close()
    router.close()
    assert shadow_threads() == []
