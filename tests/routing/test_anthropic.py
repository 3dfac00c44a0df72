"""The real anthropic SDK (2.x, on httpx2) through the router transport.

anthropic 2.14 sends ``api_key`` as ``Authorization: Bearer``; an app (or gateway) that authenticates with
``x-api-key`` instead must see the candidate's key in that same header, and no ``Authorization`` added.
"""

from __future__ import annotations

import asyncio
import time

import anthropic
import httpx2
import pytest

from otel_llm import attributes as A
from otel_llm.routing import Router, parse
from otel_llm.testing import capture_spans
from tests.routing._server import LLMServer, experiments_yaml, shadow_threads

ENV = {"CANDIDATE_API_KEY": "sk-candidate"}
MESSAGES = [{"role": "user", "content": "hi"}]
SHADOW = "    shadow: {variant: candidate, sample: 1.0, max_in_flight: 4, timeout_s: 5}\n"


def _router(server: LLMServer, candidate: int, extra: str = "") -> Router:
    text = experiments_yaml(
        server.url, control_weight=str(100 - candidate), candidate_weight=str(candidate), extra=extra
    )
    return Router(parse(text), environ=ENV)


def test_sync_candidate_gets_its_own_key(llm_server: LLMServer) -> None:
    router = _router(llm_server, candidate=100)
    http = httpx2.Client(transport=router.transport(flavour="httpx2"))
    client = anthropic.Anthropic(base_url=f"{llm_server.url}/control", api_key="sk-ant-app", http_client=http)
    msg = client.messages.create(
        model="claude-3-5-haiku-latest", max_tokens=16, messages=MESSAGES, extra_headers={"X-Session-Id": "s1"}
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "hi"
    assert msg.model == "llama-3.1-8b-extract-v4"  # the candidate's model, written into the body
    [seen] = llm_server.requests_for("candidate")
    assert seen.path == "/candidate/v1/messages"
    assert seen.headers["authorization"] == "Bearer sk-candidate"  # the app's key replaced
    assert "x-api-key" not in seen.headers
    assert seen.headers["anthropic-version"]  # the SDK's own headers pass through
    assert seen.body["max_tokens"] == 16 and seen.body["messages"] == MESSAGES
    assert llm_server.requests_for("control") == []
    client.close()
    router.close()


def test_async_x_api_key_app_keeps_its_key_and_shadow_copy_uses_the_candidates(
    llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):  # else the SDK adds Authorization from the env
        monkeypatch.delenv(name, raising=False)

    async def main() -> str:
        router = _router(llm_server, candidate=0, extra=SHADOW)
        http = httpx2.AsyncClient(transport=router.async_transport(flavour="httpx2"))
        client = anthropic.AsyncAnthropic(
            base_url=f"{llm_server.url}/control",
            api_key=None,
            default_headers={"x-api-key": "sk-ant-app"},
            http_client=http,
        )
        msg = await client.messages.create(model="claude-3-5-haiku-latest", max_tokens=16, messages=MESSAGES)
        for _ in range(500):
            if llm_server.requests_for("candidate") and router.shadows_in_flight() == 0:
                break
            await asyncio.sleep(0.01)
        await client.close()
        await router.aclose()
        return msg.model

    with capture_spans() as spans:
        assert asyncio.run(main()) == "gpt-4o-mini"
        deadline = time.monotonic() + 5
        while len(spans.refresh()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    [primary] = llm_server.requests_for("control")
    [copy] = llm_server.requests_for("candidate")
    assert primary.headers["x-api-key"] == "sk-ant-app" and primary.body["model"] == "gpt-4o-mini"
    assert copy.headers["x-api-key"] == "sk-candidate" and copy.body["model"] == "llama-3.1-8b-extract-v4"
    assert "authorization" not in primary.headers and "authorization" not in copy.headers
    assert copy.headers["baggage"] == "llm.shadow=true"
    routes = sorted((s.attributes[A.LLM_ROUTE], s.attributes[A.LLM_VARIANT]) for s in spans)
    assert routes == [("primary", "control"), ("shadow", "candidate")]
    assert shadow_threads() == []
