"""Lean shadow transports resolve a candidate's host once, not on every reconnect (a resetting candidate)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx2
import pytest

from otel_llm.routing import _lean
from tests.routing._server import LLMServer

BODY = b'{"model":"m","messages":[]}'


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = socket.getaddrinfo

    def counted(host: Any, *args: Any, **kw: Any) -> Any:
        calls.append(host)
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", counted)
    return calls


def _request(server: LLMServer, variant: str) -> httpx2.Request:
    port = server.server_address[1]
    return httpx2.Request("POST", f"http://localhost:{port}/{variant}/v1/chat/completions", content=BODY)


def test_sync_reconnects_reuse_the_resolution(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm_server.behaviour["candidate"] = "reset"
    calls = _counting(monkeypatch)
    lean = _lean.sync_transport(httpx2)(2.0)
    for _ in range(5):
        with pytest.raises(OSError):  # the reset reaches the shadow copy (and only it)
            lean.handle_request(_request(llm_server, "candidate"))
    r = lean.handle_request(_request(llm_server, "control"))
    assert r.status_code == 200 and b"chat.completion" in b"".join(r.stream)
    r.stream.close()
    assert calls == ["localhost"]
    lean.close()


def test_async_reconnects_reuse_the_resolution(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm_server.behaviour["candidate"] = "reset"
    calls = _counting(monkeypatch)
    lean = _lean.async_transport(httpx2)()

    async def main() -> int:
        for _ in range(5):
            with pytest.raises(OSError):
                await lean.handle_async_request(_request(llm_server, "candidate"))
        r = await lean.handle_async_request(_request(llm_server, "control"))
        async for _chunk in r.stream:
            pass
        await r.stream.aclose()
        return int(r.status_code)

    assert asyncio.run(main()) == 200
    assert calls == ["localhost"]
