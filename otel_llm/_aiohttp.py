"""LLM calls made with aiohttp directly (google-genai's async client whenever aiohttp is importable).

``aiohttp.ClientSession._request`` is wrapped. A request whose URL the provider registry does not recognise
passes straight through (≈ 1 µs to decide). A recognised one is presented to ``_transport._begin`` in the
shape the hot path reads from an httpx request (URL, headers, body, extensions: :class:`_RequestView`, or a real
httpx/httpx2 ``Request`` when ``_begin`` may rewrite the body), so the span, experiment context and metrics are
exactly those of the httpx path; the response's ``content`` (aiohttp's ``StreamReader``) is
then replaced by :class:`_TeeReader`, which hands every byte the app reads to ``Call.feed`` and ends the call
exactly once: at end of body, on ``release()``/``close()`` before the end, on a read error (re-raised
untouched) or when the response is garbage-collected.

For an OpenAI-compatible stream that did not ask for usage, ``stream_options.include_usage`` is added to the
body (as on the httpx path, switchable with ``stream_include_usage``) and the usage-only event it brings is
taken out of what the app reads: :class:`_StrippingReader` then serves every read method from its own buffer of
the stripped bytes, so lines, exact sizes and chunk iterators frame the body the app would have had.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_llm import _safety, _state, _transport
from otel_llm import attributes as A
from otel_llm._call import Call
from otel_llm.providers import registry

__all__ = ["patch", "unpatch"]

_CANONICAL = {h.lower(): h for h in (A.HEADER_EXPERIMENT, A.HEADER_VARIANT, A.HEADER_PROMPT_VERSION)}
_X_LLM = frozenset(_CANONICAL)
_request_module: Any = None  # httpx2 or httpx: its Request is the shape _transport._begin reads


def _httpx_module() -> Any:
    global _request_module
    if _request_module is None:
        for name in ("httpx2", "httpx"):
            if importlib.util.find_spec(name) is not None:
                _request_module = importlib.import_module(name)
                break
    return _request_module


def _header_items(headers: Any) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    return [(str(k), str(v)) for k, v in items]


def _body(session: Any, data: Any, json_value: Any) -> bytes:
    """The request body as bytes when it is given as bytes, text or ``json=``; else empty (not parsed)."""
    if data is not None:
        if isinstance(data, bytes | bytearray | memoryview):
            return bytes(data)
        if isinstance(data, str):
            return data.encode()
        return b""
    if json_value is not None:
        return session._json_serialize(json_value).encode()  # type: ignore[no-any-return]
    return b""


def _recorded_above() -> bool:
    """Whether otel-llm already records this call one layer up: an httpx/httpx2 client whose transport is built on
    aiohttp (openai's and anthropic's ``DefaultAioHttpClient``) has made the current span ours (every span we
    start or enrich carries ``llm.route``). Recording again here would count the call twice in the metrics."""
    span = trace.get_current_span()
    if not span.is_recording():
        return False
    attrs: Any = getattr(span, "attributes", None)
    return bool(attrs) and A.LLM_ROUTE in attrs


class _URLView:
    """A yarl URL with the attributes ``_transport._begin`` reads from an httpx URL."""

    __slots__ = ("_url", "host", "path", "port", "scheme")

    def __init__(self, url: Any) -> None:
        self._url = url
        self.host = url.host or ""
        self.port = url.explicit_port
        self.path = url.path
        self.scheme = url.scheme

    def __str__(self) -> str:
        return str(self._url)


class _RequestView:
    """An aiohttp request in the shape ``_transport._begin`` reads: url, headers, body, extensions."""

    __slots__ = ("_content", "extensions", "headers", "url")

    def __init__(self, url: Any, tags: list[tuple[str, str]], body: bytes) -> None:
        self.url = _URLView(url)
        self.headers = {_CANONICAL[k.lower()]: v for k, v in tags}  # only X-LLM-* are read (and removed)
        self._content = body
        self.extensions: dict[str, Any] = {}

    @property
    def content(self) -> bytes:
        return self._content


def _begin(session: Any, method: str, str_or_url: Any, kwargs: dict[str, Any]) -> tuple[Call, bool] | None:
    """Start recording when the URL is an LLM endpoint; returns the call and whether include_usage was added.

    May remove ``X-LLM-*`` headers from ``kwargs``, and replace its body with the one asking for usage."""
    state = _state.get()
    if state is None:
        return None
    url = session._build_url(str_or_url)
    path = url.path
    provider = registry.match(url.host or "", url.explicit_port, path, state.settings.provider_hosts)
    if provider is None:
        return None  # not an LLM call: the request is not touched
    if _recorded_above():
        return None
    if kwargs.get("params"):
        url = url.extend_query(kwargs["params"])
    items = _header_items(kwargs.get("headers"))
    tags = [(k, v) for k, v in items if k.lower() in _X_LLM]
    body = _body(session, kwargs.get("data"), kwargs.get("json"))
    request: Any
    if provider.include_usage and state.settings.stream_include_usage and b"stream" in body:
        # _begin may rewrite this body (include_usage), which it does on an httpx/httpx2 Request only
        mod = _httpx_module()
        if mod is None:
            return None
        request = mod.Request(method, str(url), headers=tags, content=body)
    else:
        request = _RequestView(url, tags, body)  # the same fields, without the cost of building a Request
    begun = _transport._begin(request)
    if begun is None:
        return None
    call, injected = begun
    if injected:  # _begin added include_usage: send its body, as the bytes aiohttp would have sent for json=
        sent_json = kwargs.get("data") is None
        kwargs["data"] = request.content
        kwargs.pop("json", None)
        items = [(k, v) for k, v in items if k.lower() != "content-length"]  # aiohttp sets it from the data
        if sent_json and not any(k.lower() == "content-type" for k, _ in items):
            items.append(("Content-Type", "application/json"))
    if tags or injected:  # the headers without ours (X-LLM-*) and, for a new body, without its old Content-Length
        kwargs["headers"] = [(k, v) for k, v in items if k.lower() not in _X_LLM]
    return call, injected


def make_patch(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(original)  # keeps the signature: google-genai inspects _request's parameters
    async def _request(self: Any, method: str, str_or_url: Any, **kwargs: Any) -> Any:
        if _state._state is None:
            return await original(self, method, str_or_url, **kwargs)
        try:
            begun = _begin(self, method, str_or_url, kwargs)
        except Exception as exc:
            _safety.report("aiohttp.begin", exc)
            begun = None
        if begun is None:
            return await original(self, method, str_or_url, **kwargs)
        call, injected = begun
        token = otel_context.attach(trace.set_span_in_context(call.span))
        try:
            response = await original(self, method, str_or_url, **kwargs)
        except BaseException as exc:
            call.finish(exc)
            raise
        finally:
            otel_context.detach(token)
        try:
            call.on_response(
                response.status, response.headers.get("Content-Type", ""), injected and response.status < 400
            )
            reader = _StrippingReader if call.strips_usage else _TeeReader
            response.content = reader(response.content, call)
        except Exception as exc:
            _safety.report("aiohttp.response", exc)
            call.finish(None)
        return response

    return _request


class _TeeReader:
    """Stands in for a response's ``StreamReader``: every read is observed by the call, nothing is read ahead.

    Read methods delegate to the real reader and feed what it returned; everything else (``at_eof``,
    ``exception``, ``total_bytes``, ...) is the real reader's. Iterators are built on this object's methods,
    as aiohttp builds them on the reader's.
    """

    __slots__ = ("_call", "_inner")

    def __init__(self, inner: Any, call: Call) -> None:
        self._inner = inner
        self._call = call

    def _seen(self, data: bytes) -> bytes:
        call = self._call
        if data:
            call.feed(data)
        if not data or self._inner.at_eof():
            call.finish(None)
        return data

    async def _read(self, coro: Awaitable[bytes]) -> bytes:
        try:
            data = await coro
        except BaseException as exc:
            self._call.finish(exc)
            raise
        return self._seen(data)

    def read(self, n: int = -1) -> Awaitable[bytes]:
        return self._read(self._inner.read(n))

    def readany(self) -> Awaitable[bytes]:
        return self._read(self._inner.readany())

    def readline(self, **kwargs: Any) -> Awaitable[bytes]:
        return self._read(self._inner.readline(**kwargs))

    def readuntil(self, separator: bytes = b"\n", **kwargs: Any) -> Awaitable[bytes]:
        return self._read(self._inner.readuntil(separator, **kwargs))

    def readexactly(self, n: int) -> Awaitable[bytes]:
        return self._read(self._inner.readexactly(n))

    async def readchunk(self) -> tuple[bytes, bool]:
        try:
            data, end_of_chunk = await self._inner.readchunk()
        except BaseException as exc:
            self._call.finish(exc)
            raise
        if data or not end_of_chunk:
            self._seen(data)
        return data, end_of_chunk

    def read_nowait(self, n: int = -1) -> bytes:
        try:
            data = self._inner.read_nowait(n)
        except BaseException as exc:
            self._call.finish(exc)
            raise
        return self._seen(data) if data else data

    def __aiter__(self) -> Any:
        from aiohttp.streams import AsyncStreamIterator

        return AsyncStreamIterator(self.readline)

    def iter_chunked(self, n: int) -> Any:
        from aiohttp.streams import AsyncStreamIterator

        self._inner.set_read_chunk_size(n)
        return AsyncStreamIterator(lambda: self.read(n))

    def iter_any(self) -> Any:
        from aiohttp.streams import AsyncStreamIterator

        return AsyncStreamIterator(self.readany)

    def iter_chunks(self) -> Any:
        from aiohttp.streams import ChunkTupleAsyncStreamIterator

        return ChunkTupleAsyncStreamIterator(self)  # type: ignore[arg-type]

    def set_exception(self, exc: BaseException, *args: Any) -> None:
        # aiohttp calls this on the response's ``content`` when the app releases or closes the response before
        # the end of the body: the app is done with it, which is not an error of the call.
        try:
            self._inner.set_exception(exc, *args)
        finally:
            self._call.finish(None, deferred=True)  # may run from the response's finaliser

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return repr(self._inner)

    def __del__(self) -> None:
        self._call.finish(None, deferred=True)


class _StrippingReader(_TeeReader):
    """A :class:`_TeeReader` for a stream whose usage event otel-llm asked for: the app reads the body without it.

    The real reader is read with ``readany()`` as the app asks for more; what the call hands on (the bytes minus
    the usage-only event) goes into a buffer, and every read method takes from that buffer with the framing it
    promises (a line, exactly ``n`` bytes, at most ``n`` bytes...). Nothing is read before the app asks, and the
    call ends when the app has read the last byte (or releases the response), as with :class:`_TeeReader`.
    """

    __slots__ = ("_buf", "_ended")

    def __init__(self, inner: Any, call: Call) -> None:
        super().__init__(inner, call)
        self._buf = bytearray()
        self._ended = False

    def _take(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all: -1) from the buffer; the call ends when the app has taken the last byte."""
        buf = self._buf
        if n < 0 or n >= len(buf):
            out = bytes(buf)
            buf.clear()
        else:
            out = bytes(buf[:n])
            del buf[:n]
        if self._ended and not buf:
            self._call.finish(None)
        return out

    def _pour(self, data: bytes) -> None:
        """Hand ``data`` (from the real reader) to the call and keep what it passes on."""
        call = self._call
        if data:
            self._buf += call.feed(data)
        if not data or self._inner.at_eof():
            self._buf += call.flush()
            self._ended = True

    async def _fill(self) -> bool:
        """Read once more from the real reader; False when the body had already ended."""
        if self._ended:
            return False
        try:
            data = await self._inner.readany()
        except BaseException as exc:
            self._call.finish(exc)
            raise
        self._pour(data)
        return True

    async def read(self, n: int = -1) -> bytes:
        if not n:
            return b""
        if n < 0:
            while await self._fill():
                pass
        else:
            while not self._buf and await self._fill():
                pass
        return self._take(n)

    async def readany(self) -> bytes:
        while not self._buf and await self._fill():
            pass
        return self._take()

    async def readuntil(self, separator: bytes = b"\n", **kwargs: Any) -> bytes:
        if not separator:
            raise ValueError("Separator should be at least one-byte string")
        # aiohttp's own limit (max_size, else 2 x the reader's limit): a line without end is not buffered forever
        limit: int = kwargs.get("max_size") or getattr(self._inner, "_high_water", None) or 1 << 17
        start = 0
        while True:
            i = self._buf.find(separator, start)
            if i >= 0:
                if i + len(separator) > limit:
                    _line_too_long(self._buf, limit)
                return self._take(i + len(separator))
            if len(self._buf) > limit:
                _line_too_long(self._buf, limit)
            start = max(0, len(self._buf) - len(separator) + 1)  # a separator may straddle the next read
            if not await self._fill():
                return self._take()

    async def readline(self, **kwargs: Any) -> bytes:
        return await self.readuntil(b"\n", max_size=kwargs.get("max_line_length"))

    async def readexactly(self, n: int) -> bytes:
        while len(self._buf) < n and await self._fill():
            pass
        if len(self._buf) < n:
            raise asyncio.IncompleteReadError(self._take(), n)
        return self._take(n)

    async def readchunk(self) -> tuple[bytes, bool]:
        # the stripped body no longer lines up with the server's HTTP chunks: never claim a chunk end
        return await self.readany(), False

    def read_nowait(self, n: int = -1) -> bytes:
        if not self._buf and not self._ended:
            try:
                data = self._inner.read_nowait(-1)
            except BaseException as exc:
                self._call.finish(exc)
                raise
            if data or self._inner.at_eof():
                self._pour(data)
        return self._take(n)

    def at_eof(self) -> bool:
        return self._ended and not self._buf


def _line_too_long(buf: bytearray, limit: int) -> None:
    """Raise what aiohttp's own reader raises for a line over its limit."""
    from aiohttp.http_exceptions import LineTooLong

    raise LineTooLong(bytes(buf[:100]) + b"...", limit)


def patch() -> None:
    """Wrap ``aiohttp.ClientSession._request`` (idempotent; nothing to do when aiohttp is not installed)."""
    if importlib.util.find_spec("aiohttp") is None:
        return
    import aiohttp

    current = aiohttp.ClientSession._request
    if getattr(current, "_otel_llm_original", None) is None:
        wrapper = make_patch(current)
        wrapper._otel_llm_original = current  # type: ignore[attr-defined]
        aiohttp.ClientSession._request = wrapper  # type: ignore[method-assign,assignment]


def unpatch() -> None:
    """Restore ``aiohttp.ClientSession._request`` exactly."""
    if importlib.util.find_spec("aiohttp") is None:
        return
    import aiohttp

    original = getattr(aiohttp.ClientSession._request, "_otel_llm_original", None)
    if original is not None:
        aiohttp.ClientSession._request = original  # type: ignore[method-assign]
