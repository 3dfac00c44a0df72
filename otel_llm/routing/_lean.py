"""Lean HTTP/1.1 transports for shadow copies, shaped as httpx / httpx2 transports.

Shadow traffic must not compete with the app for its connection pool or event-loop time (FACTS.md: httpx tasks
on the app's loop cost the primary several ms at p99; lean I/O about 1 ms). So shadow copies go through:

* sync apps — blocking sockets in the shadow worker threads, one keep-alive connection per thread and host;
* async apps — asyncio streams in tasks, one connection per copy (``Connection: close``).

Both speak HTTP/1.1 with the small codec below instead of ``http.client`` or ``h11``: a shadow's response is
read and discarded, so the codec only frames the body (length, chunked, or until close), and every byte of
Python it saves is GIL or loop time given back to the primary (measured here: an ``h11`` exchange ≈ 130 µs,
this codec ≈ 6 µs). Errors surface as the flavour's own exceptions (``ConnectError``, ``ReadError``,
``ReadTimeout``, ``RemoteProtocolError`` ...), raised shallow and without a chained cause, so the shadow span
gets the same ``error.type`` a primary would and recording it stays cheap.

Both return a streaming ``Response`` of the caller's flavour, so the instrumentation hook can wrap them
exactly like any other transport and create the shadow's one LLM span. ``abort(...)`` shuts a socket down
from another thread, which is how the kill switch and ``close()`` interrupt a copy blocked in a read; a sync copy
whose request carries a cancel token (``CANCEL_EXTENSION``) then raises ``concurrent.futures.CancelledError``,
so its span says it was cancelled, as an async copy's ``asyncio.CancelledError`` does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from functools import cache
from types import ModuleType
from typing import Any

_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"})
_RESOLVE_TTL_S = 30.0  # a shadow copy that must reconnect (a resetting candidate) does not resolve every time
_MAX_HEAD = 65536  # bytes of status line + headers accepted from a candidate
_MAX_LINE = 4096  # bytes of a chunk-size or trailer line
_READ = 65536
CANCEL_EXTENSION = "otel_llm.shadow_cancel"  # request extension: an object whose ``cancelled`` turns true


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

    def create_connection(self, address: tuple[str, int], timeout: float | None = None) -> socket.socket:
        """``socket.create_connection`` with cached resolution."""
        host, port = address
        infos = self.lookup(host, port) or self.store(host, port, socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        error: OSError | None = None
        for family, type_, proto, _name, sockaddr in infos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            return sock
        raise error if error is not None else OSError(f"getaddrinfo returned nothing for {host}")


# --- the codec -------------------------------------------------------------------------------------------------
class _ProtocolError(Exception):
    """The candidate broke HTTP/1.1 framing (or closed before the message ended)."""


def _target(url: Any) -> tuple[str, str, int, bytes]:
    scheme = url.scheme
    port = url.port or (443 if scheme == "https" else 80)
    return scheme, url.host, port, url.raw_path


def _encode(method: str, path: bytes, headers: Iterable[tuple[bytes, bytes]], body: bytes, close: bool) -> bytes:
    """Request line, headers and body as one buffer (one ``send``: no Nagle / delayed-ACK stall)."""
    out = [method.encode("ascii"), b" ", path, b" HTTP/1.1\r\n"]
    has_length = False
    for k, v in headers:
        lk = k.lower()
        if lk in _HOP:
            continue
        has_length = has_length or lk == b"content-length"
        out += (k, b": ", v, b"\r\n")
    if body and not has_length:
        out.append(b"Content-Length: %d\r\n" % len(body))
    if close:
        out.append(b"Connection: close\r\n")
    out += (b"\r\n", body)
    return b"".join(out)


def _parse_head(block: bytes) -> tuple[int, list[tuple[bytes, bytes]], bool]:
    """Status, headers and whether the connection may be kept, from the bytes before the blank line."""
    lines = block.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise _ProtocolError(f"bad status line {lines[0][:80]!r}")
    keep = version == b"HTTP/1.1"
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name[-1:] in b" \t" or name[:1] in b" \t":
            raise _ProtocolError(f"bad header line {line[:80]!r}")
        value = value.strip(b" \t")
        if keep and name.lower() == b"connection" and b"close" in value.lower():
            keep = False
        headers.append((name, value))
    return int(code), headers, keep


def _take_head(buf: bytes) -> tuple[tuple[int, list[tuple[bytes, bytes]], bool] | None, bytes]:
    """The final response head in ``buf`` (informational 1xx heads skipped) and the bytes after it."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD:
                raise _ProtocolError("response head too large")
            return None, buf
        head = _parse_head(buf[:end])
        buf = buf[end + 4 :]
        if not 100 <= head[0] < 200:
            return head, buf
        if head[0] == 101:
            raise _ProtocolError("unexpected 101 Switching Protocols")


_NONE, _LENGTH, _CHUNKED, _CLOSE = range(4)
_SIZE, _DATA, _CRLF, _TRAILER = range(4)


class _Body:
    """Frames a response body fed in pieces: ``feed(data)`` returns the body bytes in ``data``; ``done`` at its end.

    ``clean`` turns false when the peer sent bytes beyond the message (the connection is then not reused).
    """

    __slots__ = ("_buf", "_left", "_mode", "_state", "clean", "done")

    def __init__(self, method: str, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self._buf = bytearray()
        self._left = 0
        self._state = _SIZE
        self.clean = True
        self.done = False
        if method == "HEAD" or status in (204, 304):
            self._mode = _NONE
            self.done = True
            return
        chunked = False
        length: bytes | None = None
        for k, v in headers:
            lk = k.lower()
            if lk == b"transfer-encoding":
                chunked = v.lower().rstrip().endswith(b"chunked")
                if not chunked:  # another coding last: the body runs until close
                    self._mode = _CLOSE
                    return
            elif lk == b"content-length":
                length = v
        if chunked:
            self._mode = _CHUNKED
        elif length is not None:
            if not length.isdigit():
                raise _ProtocolError(f"bad content-length {length[:40]!r}")
            self._mode = _LENGTH
            self._left = int(length)
            self.done = self._left == 0
        else:
            self._mode = _CLOSE

    @property
    def reusable(self) -> bool:
        return self.done and self.clean and self._mode != _CLOSE

    def feed(self, data: bytes) -> bytes:
        mode = self._mode
        if mode == _LENGTH:
            left = self._left
            if len(data) < left:
                self._left = left - len(data)
                return data
            self._left = 0
            self.done = True
            if len(data) > left:
                self.clean = False
                return data[:left]
            return data
        if mode == _CHUNKED:
            return self._chunked(data)
        if mode == _CLOSE:
            return data
        if data:
            self.clean = False
        return b""

    def eof(self) -> None:
        """The peer closed the connection."""
        if self._mode == _CLOSE:
            self.done = True
        elif not self.done:
            raise _ProtocolError("peer closed connection without sending complete message body")

    def _chunked(self, data: bytes) -> bytes:
        if self.done:
            if data:
                self.clean = False
            return b""
        buf = self._buf
        buf += data
        out: list[bytearray] = []
        pos, n, state = 0, len(buf), self._state
        while pos < n:
            if state == _DATA:
                take = min(self._left, n - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    state = _CRLF
            elif state == _CRLF:
                if n - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise _ProtocolError("chunk not followed by CRLF")
                pos += 2
                state = _SIZE
            else:
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    if n - pos > _MAX_LINE:
                        raise _ProtocolError("chunk-size or trailer line too long")
                    break
                line = bytes(buf[pos:end])
                pos = end + 2
                if state == _SIZE:
                    try:
                        size = int(line.partition(b";")[0].strip(), 16)
                    except ValueError:
                        raise _ProtocolError(f"bad chunk size {line[:40]!r}") from None
                    if size < 0:
                        raise _ProtocolError(f"bad chunk size {line[:40]!r}")
                    if size:
                        self._left = size
                        state = _DATA
                    else:
                        state = _TRAILER
                elif not line:  # the blank line after the (usually absent) trailers
                    self.done = True
                    self.clean = pos == n
                    pos = n
                    break
        self._state = state
        del buf[:pos]
        return b"".join(out)


def _failure(mod: ModuleType, exc: BaseException, connecting: bool = False) -> Exception:
    """The flavour's exception for a socket / framing failure (raise it ``from None``)."""
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return mod.ConnectTimeout(str(exc)) if connecting else mod.ReadTimeout(str(exc) or "timed out")  # type: ignore[no-any-return]
    if isinstance(exc, _ProtocolError):
        return mod.RemoteProtocolError(str(exc))  # type: ignore[no-any-return]
    if connecting:
        return mod.ConnectError(str(exc))  # type: ignore[no-any-return]
    return mod.ReadError(str(exc))  # type: ignore[no-any-return]


# --- sync ------------------------------------------------------------------------------------------------------
class _Stale(Exception):
    """A kept-alive connection turned out closed before any byte of the response came back."""


class _Token:
    cancelled = False


_NEVER = _Token()


def _check(token: Any) -> None:
    if token.cancelled:
        raise concurrent.futures.CancelledError("shadow copy cancelled")


def _recv(sock: socket.socket, deadline: float, token: Any) -> bytes:
    _check(token)
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("shadow copy exceeded its deadline")
    sock.settimeout(left)
    return sock.recv(_READ)


class LeanSync:
    """Body of the sync lean transport; ``sync_transport(mod)`` gives the flavour's subclass."""

    _mod: ModuleType

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._local = threading.local()  # .idle: {(scheme, host, port): socket} kept alive for this thread
        self._lock = threading.Lock()
        self._active: dict[int, socket.socket] = {}
        self._all: set[socket.socket] = set()
        self._ssl: ssl.SSLContext | None = None
        self._resolver = _Resolver()

    def _idle(self) -> dict[tuple[str, str, int], socket.socket]:
        idle: dict[tuple[str, str, int], socket.socket] | None = getattr(self._local, "idle", None)
        if idle is None:
            idle = self._local.idle = {}
        return idle

    def _connect(self, scheme: str, host: str, port: int, deadline: float) -> socket.socket:
        sock = self._resolver.create_connection((host, port), max(deadline - time.monotonic(), 0.001))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._ssl is None:
                    self._ssl = ssl.create_default_context()
                sock = self._ssl.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        with self._lock:
            self._all.add(sock)
        return sock

    def _discard(self, sock: socket.socket, thread: int) -> None:
        with self._lock:
            self._all.discard(sock)
            if self._active.get(thread) is sock:
                del self._active[thread]
        sock.close()

    def _release(self, sock: socket.socket, key: tuple[str, str, int], thread: int) -> None:
        with self._lock:
            if self._active.get(thread) is sock:
                del self._active[thread]
            kept = sock in self._all  # not when close() ran meanwhile
        if kept and thread == threading.get_ident():
            old = self._idle().get(key)
            if old is not None and old is not sock:
                self._discard(old, thread)
            self._idle()[key] = sock
        else:
            self._discard(sock, thread)

    def _exchange(
        self, sock: socket.socket, data: bytes, deadline: float, reused: bool, token: Any
    ) -> tuple[tuple[int, list[tuple[bytes, bytes]], bool], bytes]:
        try:
            _check(token)
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.sendall(data)
            buf = b""
            while True:
                chunk = _recv(sock, deadline, token)
                if not chunk:
                    if reused and not buf:
                        raise _Stale
                    raise _ProtocolError("server disconnected without sending a response")
                buf += chunk
                head, rest = _take_head(buf)
                if head is not None:
                    return head, rest
                buf = rest
        except (BrokenPipeError, ConnectionResetError):
            if reused:
                raise _Stale from None
            raise

    def handle_request(self, request: Any) -> Any:
        mod = self._mod
        deadline = time.monotonic() + self.timeout_s
        scheme, host, port, path = _target(request.url)
        method = request.method
        data = _encode(method, path, request.headers.raw, request.read(), close=False)
        token = request.extensions.get(CANCEL_EXTENSION, _NEVER)
        key = (scheme, host, port)
        me = threading.get_ident()
        sock = self._idle().pop(key, None)
        while True:
            reused = sock is not None
            if sock is None:
                _check(token)
                try:
                    sock = self._connect(scheme, host, port, deadline)
                except OSError as exc:
                    raise _failure(mod, exc, connecting=True) from None
            with self._lock:
                self._active[me] = sock
            try:
                (status, headers, keep), rest = self._exchange(sock, data, deadline, reused, token)
                body = _Body(method, status, headers)
            except _Stale:  # the server closed an idle kept-alive connection: once more on a fresh one
                self._discard(sock, me)
                sock = None
                continue
            except (OSError, _ProtocolError) as exc:
                self._discard(sock, me)
                _check(token)  # a socket shut down by abort(): say cancelled, not "connection lost"
                raise _failure(mod, exc) from None
            except BaseException:
                self._discard(sock, me)
                raise
            break
        return mod.Response(
            status,
            headers=headers,
            stream=_sync_stream(mod)(
                self, sock, key=key, thread=me, body=body, first=rest, deadline=deadline, keep=keep, token=token
            ),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def abort(self, thread_id: int | None = None) -> None:
        """Interrupt the copy running in ``thread_id`` (every copy when ``None``)."""
        with self._lock:
            socks = list(self._active.values()) if thread_id is None else [self._active.get(thread_id)]
        for sock in socks:
            if sock is not None:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also under TLS

    def close(self) -> None:
        self.abort()
        with self._lock:
            socks, self._all = list(self._all), set()
        for sock in socks:
            sock.close()


class _SyncBody:
    def __init__(
        self,
        owner: LeanSync,
        sock: socket.socket,
        *,
        key: tuple[str, str, int],
        thread: int,
        body: _Body,
        first: bytes,
        deadline: float,
        keep: bool,
        token: Any,
    ) -> None:
        self._owner, self._sock, self._key, self._thread = owner, sock, key, thread
        self._body, self._first, self._deadline, self._keep = body, first, deadline, keep
        self._token = token
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        body, sock, deadline, token = self._body, self._sock, self._deadline, self._token
        try:
            if self._first:
                data, self._first = self._first, b""
                out = body.feed(data)
                if out:
                    yield out
            while not body.done:
                data = _recv(sock, deadline, token)
                if not data:
                    _check(token)
                    body.eof()
                    return
                out = body.feed(data)
                if out:
                    yield out
        except (OSError, _ProtocolError) as exc:
            _check(token)
            raise _failure(self._owner._mod, exc) from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._keep and self._body.reusable:
            self._owner._release(self._sock, self._key, self._thread)
        else:
            self._owner._discard(self._sock, self._thread)


# --- async -----------------------------------------------------------------------------------------------------
class LeanAsync:
    """Body of the async lean transport (asyncio streams)."""

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
        mod = self._mod
        scheme, host, port, path = _target(request.url)
        ctx = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ctx = self._ssl
        method = request.method
        data = _encode(method, path, request.headers.raw, await request.aread(), close=True)
        try:
            reader, writer = await self._open(host, port, ctx)
        except OSError as exc:
            raise _failure(mod, exc, connecting=True) from None
        try:
            writer.write(data)
            buf = b""
            while True:
                chunk = await reader.read(_READ)
                if not chunk:
                    raise _ProtocolError("server disconnected without sending a response")
                head, buf = _take_head(buf + chunk)
                if head is not None:
                    break
            status, headers, _keep = head
            body = _Body(method, status, headers)
        except (OSError, _ProtocolError) as exc:
            writer.close()
            raise _failure(mod, exc) from None
        except BaseException:
            writer.close()
            raise
        return mod.Response(
            status,
            headers=headers,
            stream=_async_stream(mod)(mod, reader, writer, body, buf),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        return None


class _AsyncBody:
    def __init__(
        self, mod: ModuleType, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: _Body, first: bytes
    ) -> None:
        self._mod, self._reader, self._writer, self._body, self._first = mod, reader, writer, body, first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body, reader = self._body, self._reader
        try:
            if self._first:
                data, self._first = self._first, b""
                out = body.feed(data)
                if out:
                    yield out
            while not body.done:
                data = await reader.read(_READ)
                if not data:
                    body.eof()
                    return
                out = body.feed(data)
                if out:
                    yield out
        except (OSError, _ProtocolError) as exc:
            raise _failure(self._mod, exc) from None

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
