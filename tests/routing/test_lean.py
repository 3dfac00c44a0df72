"""Lean shadow transports: HTTP/1.1 framing, keep-alive, errors, cancellation, cached resolution."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
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
        with pytest.raises(httpx2.TransportError):  # the reset reaches the shadow copy (and only it)
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
            with pytest.raises(httpx2.TransportError):
                await lean.handle_async_request(_request(llm_server, "candidate"))
        r = await lean.handle_async_request(_request(llm_server, "control"))
        async for _chunk in r.stream:
            pass
        await r.stream.aclose()
        return int(r.status_code)

    assert asyncio.run(main()) == 200
    assert calls == ["localhost"]


# --- the HTTP/1.1 codec ----------------------------------------------------------------------------------------
CHUNKED = [(b"Transfer-Encoding", b"chunked")]
WIRE = b"5;ext=1\r\nhello\r\n1\r\n \r\nb\r\ndata: [x]\n\n\r\n0\r\nX-Trailer: t\r\n\r\n"


def _feed_pieces(body: _lean._Body, wire: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(wire), size):
        out += body.feed(wire[i : i + size])
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_chunked_body_is_decoded_whatever_the_read_boundaries(size: int) -> None:
    body = _lean._Body("POST", 200, CHUNKED)
    assert _feed_pieces(body, WIRE, size) == b"hello data: [x]\n\n"
    assert body.done and body.clean and body.reusable


def test_body_framing_length_close_and_none() -> None:
    body = _lean._Body("POST", 200, [(b"Content-Length", b"5")])
    assert body.feed(b"he") == b"he" and not body.done
    assert body.feed(b"lloEXTRA") == b"llo" and body.done and not body.clean and not body.reusable
    until_close = _lean._Body("POST", 200, [])
    assert until_close.feed(b"abc") == b"abc" and not until_close.done
    until_close.eof()
    assert until_close.done and not until_close.reusable  # a close-delimited body never leaves a usable connection
    for method, status in (("HEAD", 200), ("POST", 204), ("POST", 304)):
        assert _lean._Body(method, status, [(b"Content-Length", b"10")]).done


def test_truncated_or_malformed_bodies_are_protocol_errors() -> None:
    truncated = _lean._Body("POST", 200, [(b"Content-Length", b"10")])
    truncated.feed(b"abc")
    with pytest.raises(_lean._ProtocolError):
        truncated.eof()
    with pytest.raises(_lean._ProtocolError):
        _lean._Body("POST", 200, CHUNKED).feed(b"zz\r\n")
    with pytest.raises(_lean._ProtocolError):
        _lean._Body("POST", 200, CHUNKED).feed(b"3\r\nabcX\r\n")
    with pytest.raises(_lean._ProtocolError):
        _lean._Body("POST", 200, [(b"Content-Length", b"-1")])


def test_response_head_skips_informational_and_keeps_the_rest() -> None:
    wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 Oops\r\nContent-Length: 2\r\nX-A:  b \r\n\r\n{}"
    assert _lean._take_head(wire[:20]) == (None, wire[:20])
    head, rest = _lean._take_head(wire)
    assert head == (500, [(b"Content-Length", b"2"), (b"X-A", b"b")], True) and rest == b"{}"
    head, _ = _lean._take_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    assert head is not None and head[2] is False
    with pytest.raises(_lean._ProtocolError):
        _lean._take_head(b"SSH-2.0-OpenSSH\r\n\r\n")


# --- sync transport: keep-alive, errors, cancellation ----------------------------------------------------------
def _drain(response: Any) -> bytes:
    try:
        return b"".join(response.stream)
    finally:
        response.stream.close()


def test_sync_keeps_the_connection_alive(llm_server: LLMServer) -> None:
    lean = _lean.sync_transport(httpx2)(2.0)
    for _ in range(3):
        r = lean.handle_request(_request(llm_server, "control"))
        assert r.status_code == 200 and b"chat.completion" in _drain(r)
    assert len(lean._all) == 1  # one kept-alive connection for three requests
    lean.close()


def _one_answer_per_connection(listener: socket.socket, connections: int) -> None:
    """Answers one request per connection, then closes it without saying so (an idle timeout on the server)."""
    for _ in range(connections):
        conn, _addr = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(BODY):
                data += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            time.sleep(0.05)


def test_sync_retries_once_when_the_server_closed_the_kept_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        server = threading.Thread(target=_one_answer_per_connection, args=(listener, 2), daemon=True)
        server.start()
        lean = _lean.sync_transport(httpx2)(2.0)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        for _ in range(2):
            r = lean.handle_request(httpx2.Request("POST", url, content=BODY))
            assert r.status_code == 200 and _drain(r) == b"{}"
            time.sleep(0.1)  # the server has closed this connection by now
        server.join(2)
        assert not server.is_alive()  # the second request came on a second connection
        lean.close()


def test_sync_failures_are_the_flavours_exceptions(llm_server: LLMServer, dead_port: int) -> None:
    lean = _lean.sync_transport(httpx2)(0.3)
    with pytest.raises(httpx2.ConnectError):
        lean.handle_request(httpx2.Request("POST", f"http://127.0.0.1:{dead_port}/v1/chat/completions", content=BODY))
    llm_server.behaviour["candidate"] = "slow"
    with pytest.raises(httpx2.ReadTimeout):
        lean.handle_request(_request(llm_server, "candidate"))
    llm_server.behaviour["candidate"] = "reset"
    with pytest.raises((httpx2.ReadError, httpx2.RemoteProtocolError)) as info:
        lean.handle_request(_request(llm_server, "candidate"))
    assert info.value.__cause__ is None and info.value.__suppress_context__  # cheap to record on the span
    lean.close()


def test_sync_cancelled_copy_raises_cancelled_error(llm_server: LLMServer) -> None:
    llm_server.behaviour["candidate"] = "forever"
    lean = _lean.sync_transport(httpx2)(10.0)
    token = _lean._Token()
    request = _request(llm_server, "candidate")
    request.extensions[_lean.CANCEL_EXTENSION] = token
    response = lean.handle_request(request)
    assert response.status_code == 200
    chunks = iter(response.stream)
    assert b"data:" in next(chunks)
    me = threading.get_ident()

    def cancel() -> None:
        token.cancelled = True
        lean.abort(me)

    timer = threading.Timer(0.1, cancel)
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(concurrent.futures.CancelledError):
        for _chunk in chunks:
            pass
    assert time.monotonic() - t0 < 2.0
    response.stream.close()
    lean.close()
