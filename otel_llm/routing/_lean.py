"""Lean HTTP/1.1 transports for shadow copies, shaped as httpx / httpx2 transports.

Shadow traffic must not compete with the app for its connection pool or event-loop time (FACTS.md: httpx tasks
on the app's loop cost the primary several ms at p99; lean I/O about 1 ms). So shadow copies go through:

* sync apps — :mod:`http.client` in the shadow worker threads, one keep-alive connection per thread and host;
* async apps — asyncio streams plus the ``h11`` state machine, one connection per copy
  (``Connection: close``).

Both return a streaming ``Response`` of the caller's flavour, so the instrumentation hook can wrap them
exactly like any other transport and create the shadow's one LLM span. ``abort(...)`` shuts a socket down
from another thread, which is how the kill switch and ``close()`` interrupt a copy blocked in a read.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from functools import cache
from types import ModuleType
from typing import Any

import h11

_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"}
_RESOLVE_TTL_S = 30.0  # a shadow copy that must reconnect (a resetting candidate) does not resolve every time


class _Resolver:
    """``getaddrinfo`` results per (host, port), kept ``_RESOLVE_TTL_S`` seconds.

    Measured here: with a candidate that resets every connection, resolving on every reconnect was the largest
    single cost of a sync shadow copy. Thread-safe enough for its use: a race only resolves twice.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], tuple[float, list[Any]]] = {}

    def lookup(self, host: str, port: int) -> list[Any] | None:
        hit = self._cache.get((host, port))
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def store(self, host: str, port: int, infos: list[Any]) -> list[Any]:
        self._cache[(host, port)] = (time.monotonic() + _RESOLVE_TTL_S, infos)
        return infos

    def create_connection(
        self, address: tuple[str, int], timeout: float | None = None, source_address: Any = None
    ) -> socket.socket:
        """``socket.create_connection`` with cached resolution (``http.client`` calls it to connect)."""
        host, port = address
        infos = self.lookup(host, port) or self.store(host, port, socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        error: OSError | None = None
        for family, type_, proto, _name, sockaddr in infos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.settimeout(timeout)
                if source_address is not None:
                    sock.bind(source_address)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            return sock
        raise error if error is not None else OSError(f"getaddrinfo returned nothing for {host}")


def _target(url: Any) -> tuple[str, str, int, str]:
    scheme = url.scheme
    port = url.port or (443 if scheme == "https" else 80)
    return scheme, url.host, port, url.raw_path.decode("ascii")


class LeanSync:
    """Body of the sync lean transport; ``sync_transport(mod)`` gives the flavour's subclass."""

    _mod: ModuleType

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._active: dict[int, http.client.HTTPConnection] = {}
        self._all: set[http.client.HTTPConnection] = set()
        self._ssl: ssl.SSLContext | None = None
        self._resolver = _Resolver()

    def _conn(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        cache_: dict[tuple[str, str, int], http.client.HTTPConnection] | None = getattr(self._local, "c", None)
        if cache_ is None:
            cache_ = self._local.c = {}
        key = (scheme, host, port)
        conn = cache_.get(key)
        if conn is None:
            if scheme == "https":
                if self._ssl is None:
                    self._ssl = ssl.create_default_context()
                conn = http.client.HTTPSConnection(host, port, timeout=self.timeout_s, context=self._ssl)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout_s)
            conn._create_connection = self._resolver.create_connection  # type: ignore[attr-defined]
            cache_[key] = conn
            with self._lock:
                self._all.add(conn)
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        cache_ = getattr(self._local, "c", {})
        for k, v in list(cache_.items()):
            if v is conn:
                del cache_[k]
        with self._lock:
            self._all.discard(conn)
            self._active.pop(threading.get_ident(), None)

    def handle_request(self, request: Any) -> Any:
        deadline = time.monotonic() + self.timeout_s
        scheme, host, port, path = _target(request.url)
        conn = self._conn(scheme, host, port)
        body = request.read()
        with self._lock:
            self._active[threading.get_ident()] = conn
        try:
            conn.timeout = self.timeout_s
            if conn.sock is not None:
                conn.sock.settimeout(self.timeout_s)
            conn.putrequest(request.method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in request.headers.raw:
                if k.lower() not in _HOP:
                    conn.putheader(k.decode("latin-1"), v.decode("latin-1"))
            conn.endheaders(body or None)
            resp = conn.getresponse()
        except BaseException:
            self._drop(conn)
            raise
        return self._mod.Response(
            resp.status,
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.getheaders()],
            stream=_sync_stream(self._mod)(self, conn, resp, deadline),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def abort(self, thread_id: int | None = None) -> None:
        """Interrupt the copy running in ``thread_id`` (every copy when ``None``)."""
        with self._lock:
            conns = list(self._active.values()) if thread_id is None else [self._active.get(thread_id)]
        for conn in conns:
            sock = conn.sock if conn is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.abort()
        with self._lock:
            conns, self._all = list(self._all), set()
        for conn in conns:
            conn.close()


class _SyncBody:
    def __init__(
        self,
        owner: LeanSync,
        conn: http.client.HTTPConnection,
        resp: http.client.HTTPResponse,
        deadline: float,
    ) -> None:
        self._owner, self._conn, self._resp, self._deadline = owner, conn, resp, deadline
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("shadow copy exceeded its deadline")
            if self._conn.sock is not None:
                self._conn.sock.settimeout(left)
            chunk = self._resp.read1(65536)
            if not chunk:
                self._done = True
                return
            yield chunk

    def close(self) -> None:
        reusable = self._done and not self._resp.will_close
        self._resp.close()
        if reusable:
            with self._owner._lock:
                self._owner._active.pop(threading.get_ident(), None)
        else:
            self._owner._drop(self._conn)


class LeanAsync:
    """Body of the async lean transport (asyncio streams + h11)."""

    _mod: ModuleType

    def __init__(self) -> None:
        self._ssl: ssl.SSLContext | None = None
        self._resolver = _Resolver()

    async def _open(
        self, host: str, port: int, ctx: ssl.SSLContext | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        infos = self._resolver.lookup(host, port)
        if infos is None:
            loop = asyncio.get_running_loop()
            infos = self._resolver.store(host, port, await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        error: OSError | None = None
        for family, _type, _proto, _name, sockaddr in infos:
            try:
                return await asyncio.open_connection(
                    sockaddr[0], sockaddr[1], family=family, ssl=ctx, server_hostname=host if ctx else None
                )
            except OSError as exc:
                error = exc
        raise error if error is not None else OSError(f"getaddrinfo returned nothing for {host}")

    async def handle_async_request(self, request: Any) -> Any:
        scheme, host, port, path = _target(request.url)
        ctx = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ctx = self._ssl
        body = await request.aread()
        reader, writer = await self._open(host, port, ctx)
        try:
            conn = h11.Connection(h11.CLIENT)
            headers = [(k, v) for k, v in request.headers.raw if k.lower() not in _HOP]
            headers.append((b"Connection", b"close"))
            out = conn.send(h11.Request(method=request.method, target=path, headers=headers)) or b""
            if body:
                out += conn.send(h11.Data(data=body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
            writer.write(out)
            await writer.drain()
            event = await _next(conn, reader)
            while not isinstance(event, h11.Response):
                if not isinstance(event, h11.InformationalResponse):
                    raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")
                event = await _next(conn, reader)
        except BaseException:
            writer.close()
            raise
        return self._mod.Response(
            event.status_code,
            headers=list(event.headers),
            stream=_async_stream(self._mod)(conn, reader, writer),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        return None


async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(65536))


class _AsyncBody:
    def __init__(self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conn, self._reader, self._writer = conn, reader, writer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            event = await _next(self._conn, self._reader)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return

    async def aclose(self) -> None:
        self._writer.close()


@cache
def sync_transport(mod: ModuleType) -> type[LeanSync]:
    return type("LeanShadowTransport", (LeanSync, mod.BaseTransport), {"_mod": mod})


@cache
def async_transport(mod: ModuleType) -> type[LeanAsync]:
    return type("AsyncLeanShadowTransport", (LeanAsync, mod.AsyncBaseTransport), {"_mod": mod})


@cache
def _sync_stream(mod: ModuleType) -> type[_SyncBody]:
    return type("LeanSyncBody", (_SyncBody, mod.SyncByteStream), {})


@cache
def _async_stream(mod: ModuleType) -> type[_AsyncBody]:
    return type("LeanAsyncBody", (_AsyncBody, mod.AsyncByteStream), {})
