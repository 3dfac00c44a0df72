"""The hot path: the only code that runs on every HTTP request of an instrumented app.

Order of checks (cheapest first): instrumented at all? → suppressed? → LLM provider recognised from the URL
(no → pass through untouched) → excluded URL? → span. Bodies are parsed only for recognised LLM calls.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from opentelemetry.trace import propagation as trace_propagation

from otel_llm import _safety, _state
from otel_llm import attributes as A
from otel_llm._call import Call, request_attributes
from otel_llm._streaming import classes_for
from otel_llm.enrich import experiment as exp
from otel_llm.providers import registry
from otel_llm.providers.openai import inject_include_usage

SPAN_CONTEXT_EXTENSION = "otel_llm.span_context"
_X_LLM = (A.HEADER_EXPERIMENT, A.HEADER_VARIANT, A.HEADER_PROMPT_VERSION)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The context keys behind opentelemetry.instrumentation.utils.is_instrumentation_enabled(), read directly (one
# context lookup per request instead of two, and without importing opentelemetry-instrumentation): the API's
# private key when it has one, and the plain name every release of that module has used, which
# test_suppressed_instrumentation_records_nothing checks against it.
_SUPPRESS_INSTRUMENTATION_KEY_PLAIN = "suppress_instrumentation"
_SUPPRESS_KEYS = (
    getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", _SUPPRESS_INSTRUMENTATION_KEY_PLAIN),
    _SUPPRESS_INSTRUMENTATION_KEY_PLAIN,
)
# Likewise the key of the current span (None: always ask trace.get_current_span()).
_SPAN_KEY: str | None = getattr(trace_propagation, "_SPAN_KEY", None)


def _module_of(obj: object) -> Any:
    return sys.modules[type(obj).__module__.partition(".")[0]]


def _replace_body(request: Any, body: bytes) -> None:
    mod = _module_of(request)
    request.stream = mod.ByteStream(body)
    request._content = body
    request.headers["Content-Length"] = str(len(body))


def _sdk_genai_span(current: Context) -> trace.Span | None:
    """The SDK's own GenAI client span for this call, when one is current (anthropic >= 2 makes one)."""
    if _SPAN_KEY is not None and current.get(_SPAN_KEY) is None:  # no span at all: one dict lookup
        return None
    span = trace.get_current_span(current)
    if not span.is_recording():
        return None
    if getattr(span, "kind", None) is not SpanKind.CLIENT:
        return None
    attrs = getattr(span, "attributes", None)
    if attrs and A.GEN_AI_OPERATION_NAME in attrs:
        return span
    return None


def _begin(request: Any) -> tuple[Call, bool] | None:
    """Start recording ``request`` if it is an LLM call. Returns the call and whether usage was injected."""
    state = _state.get()
    if state is None:
        return None
    current = otel_context.get_current()
    if current.get(_SUPPRESS_KEYS[0]) or current.get(_SUPPRESS_KEYS[1]):  # suppress_instrumentation()
        return None
    url = request.url
    path = url.path
    provider = registry.match(url.host, url.port, path, state.settings.provider_hosts)
    if provider is None:
        return None
    settings = state.settings
    if settings.excluded_urls:
        full = str(url)
        if any(s in full for s in settings.excluded_urls):
            return None

    headers = request.headers
    ctx_headers: dict[str, str] | None = None
    raw_list = getattr(headers, "_list", None)  # one pass over (raw, lower, value) instead of three lookups
    if raw_list is None or b"x-llm-" in b"\n".join([lower for _, lower, _ in raw_list]):
        for name in _X_LLM:
            if name in headers:
                if ctx_headers is None:
                    ctx_headers = {}
                ctx_headers[name] = headers[name]
                del headers[name]
    ctx = exp.resolve(ctx_headers, current)

    body = request.content if hasattr(request, "_content") else b""
    req = provider.parse_request(body, path=path, capture_content=settings.capture_content)
    req.stream = provider.is_streaming(req, path)
    injected = False
    if req.stream and provider.include_usage and settings.stream_include_usage:
        new_body = inject_include_usage(body, req)  # req: no second parse of the body
        if new_body is not None:
            _replace_body(request, new_body)
            injected = True

    attrs: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: req.operation,
        A.GEN_AI_PROVIDER_NAME: provider.name,
        A.SERVER_ADDRESS: url.host,
    }
    port = url.port or _DEFAULT_PORTS.get(url.scheme)
    if port:
        attrs[A.SERVER_PORT] = port
    if req.model is not None:
        attrs[A.GEN_AI_REQUEST_MODEL] = req.model
    attrs.update(request_attributes(req))
    metric_attrs = {A.GEN_AI_OPERATION_NAME: req.operation, A.GEN_AI_PROVIDER_NAME: provider.name}
    if req.model is not None:
        metric_attrs[A.GEN_AI_REQUEST_MODEL] = req.model
    if ctx is not None:
        attrs.update(ctx.span_attributes())
        metric_attrs.update(ctx.metric_attributes())
    else:
        attrs[A.LLM_ROUTE] = metric_attrs[A.LLM_ROUTE] = A.ROUTE_PRIMARY

    sdk_span = _sdk_genai_span(current)
    if sdk_span is not None:
        span = sdk_span
        for key, value in attrs.items():
            if key != A.GEN_AI_OPERATION_NAME:
                span.set_attribute(key, value)
    else:
        name = f"{req.operation} {req.model}" if req.model else req.operation
        span = state.tracer.start_span(
            name, kind=SpanKind.CLIENT, attributes=attrs, links=ctx.links if ctx is not None else None
        )
    if sdk_span is not None and ctx is not None and ctx.experiment_id is not None and ctx.variant is not None:
        # our own spans get this event when they complete, off the request thread
        span.add_event(
            A.FEATURE_FLAG_EVENT,
            {
                A.FEATURE_FLAG_KEY: ctx.experiment_id,
                A.FEATURE_FLAG_RESULT_VARIANT: ctx.variant,
                A.FEATURE_FLAG_PROVIDER_NAME: A.FEATURE_FLAG_PROVIDER,
            },
        )
    request.extensions[SPAN_CONTEXT_EXTENSION] = span.get_span_context()
    call = Call(state, span, provider, req, ctx, metric_attributes=metric_attrs, owns_span=sdk_span is None)
    return call, injected


def _safe_begin(request: Any) -> tuple[Call, bool] | None:
    try:
        return _begin(request)
    except Exception as exc:
        _safety.report("begin", exc)
        return None


def _wrap_response(response: Any, call: Call, injected: bool, is_async: bool) -> None:
    try:
        call.on_response(
            response.status_code,
            response.headers.get("content-type", ""),
            injected and response.status_code < 400,
        )
        sync_cls, async_cls = classes_for(_module_of(response))
        response.stream = (async_cls if is_async else sync_cls)(response.stream, call)
    except Exception as exc:
        _safety.report("response", exc)
        call.finish(None)


def send_sync(request: Any, send: Callable[[Any], Any]) -> Any:
    """Send ``request`` with ``send``, recording it when it is an LLM call."""
    begun = _safe_begin(request)
    if begun is None:
        return send(request)
    call, injected = begun
    token = otel_context.attach(trace.set_span_in_context(call.span))
    try:
        response = send(request)
    except BaseException as exc:
        call.finish(exc)
        raise
    finally:
        otel_context.detach(token)
    _wrap_response(response, call, injected, is_async=False)
    return response


async def send_async(request: Any, send: Callable[[Any], Awaitable[Any]]) -> Any:
    """Async twin of :func:`send_sync`."""
    begun = _safe_begin(request)
    if begun is None:
        return await send(request)
    call, injected = begun
    token = otel_context.attach(trace.set_span_in_context(call.span))
    try:
        response = await send(request)
    except BaseException as exc:
        call.finish(exc)
        raise
    finally:
        otel_context.detach(token)
    _wrap_response(response, call, injected, is_async=True)
    return response


# --- transport wrappers (instrument_client / instrument_transport / the router) ------------------------------
_WRAPPER_CLASSES: dict[str, tuple[type, type]] = {}


def _wrapper_classes(mod: Any) -> tuple[type, type]:
    try:
        return _WRAPPER_CLASSES[mod.__name__]
    except KeyError:
        pass

    class InstrumentedTransport(mod.BaseTransport):  # type: ignore[misc]
        """Records LLM calls sent through ``inner``; everything else passes straight through."""

        _otel_llm_instrumented = True

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def handle_request(self, request: Any) -> Any:
            return send_sync(request, self.inner.handle_request)

        def close(self) -> None:
            self.inner.close()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    class AsyncInstrumentedTransport(mod.AsyncBaseTransport):  # type: ignore[misc]
        """Async twin of ``InstrumentedTransport``."""

        _otel_llm_instrumented = True

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def handle_async_request(self, request: Any) -> Any:
            return await send_async(request, self.inner.handle_async_request)

        async def aclose(self) -> None:
            await self.inner.aclose()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    pair = _WRAPPER_CLASSES[mod.__name__] = (InstrumentedTransport, AsyncInstrumentedTransport)
    return pair


def instrument_transport(transport: Any) -> Any:
    """Wrap one httpx/httpx2 transport (sync or async) so LLM calls through it are recorded."""
    if getattr(transport, "_otel_llm_instrumented", False):
        return transport
    mod = _module_of(transport)
    if mod.__name__ not in ("httpx", "httpx2"):
        for name in ("httpx2", "httpx"):
            candidate = sys.modules.get(name)
            if candidate is not None and isinstance(transport, candidate.BaseTransport | candidate.AsyncBaseTransport):
                mod = candidate
                break
        else:
            raise TypeError(f"not an httpx or httpx2 transport: {type(transport).__qualname__}")
    sync_cls, async_cls = _wrapper_classes(mod)
    if isinstance(transport, mod.AsyncBaseTransport):
        return async_cls(transport)
    return sync_cls(transport)


# --- the global patch: every httpx/httpx2 Client and AsyncClient, whatever transport it carries ---------------
def _skip_transport(client: Any, request: Any) -> bool:
    transport = client._transport_for_url(request.url) if client._mounts else client._transport
    return bool(getattr(transport, "_otel_llm_router", False) or getattr(transport, "_otel_llm_instrumented", False))


def make_sync_patch(original: Callable[..., Any]) -> Callable[..., Any]:
    def _send_single_request(self: Any, request: Any) -> Any:
        if _state._state is None or _skip_transport(self, request):
            return original(self, request)
        return send_sync(request, lambda r: original(self, r))

    _send_single_request.__wrapped__ = original  # type: ignore[attr-defined]
    return _send_single_request


def make_async_patch(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def _send_single_request(self: Any, request: Any) -> Any:
        if _state._state is None or _skip_transport(self, request):
            return await original(self, request)
        return await send_async(request, lambda r: original(self, r))

    _send_single_request.__wrapped__ = original  # type: ignore[attr-defined]
    return _send_single_request
