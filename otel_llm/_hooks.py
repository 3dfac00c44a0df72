"""``otel_llm.httpx_hooks()``: our GenAI attributes on the spans of opentelemetry-instrumentation-httpx.

For users who run only ``HTTPXClientInstrumentor`` / ``HTTPX2ClientInstrumentor`` (or its
``SyncOpenTelemetryTransport`` wrappers) and not :func:`otel_llm.instrument`::

    HTTPX2ClientInstrumentor().instrument(**otel_llm.httpx_hooks())

The request hook recognises LLM calls by URL exactly as ``instrument()`` does, and puts the operation, provider,
requested model and parameters and the experiment tags on the HTTP span (``X-LLM-*`` headers are read and taken
off the outgoing request). The response hook adds the response model, id, finish reasons, tokens and cost when
the response body is already in memory when the hook runs. With a network transport it is not: that
instrumentor ends its span as soon as the response headers arrive, before the app reads the body, so tokens
and cost cannot be on that span (``llm.usage.source`` and ``llm.cost.source`` say ``unknown``). Use
``otel_llm.instrument()`` for tokens, cost, time to first chunk and the GenAI metrics on every call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_llm import _safety, config
from otel_llm import attributes as A
from otel_llm._call import request_attributes
from otel_llm.enrich import experiment as exp
from otel_llm.enrich.cost import CostCalculator, Usage
from otel_llm.providers import registry

__all__ = ["httpx_hooks"]

_STASH = "otel_llm.hook_call"
_X_LLM = (A.HEADER_EXPERIMENT, A.HEADER_VARIANT, A.HEADER_PROMPT_VERSION)


def _buffered_body(stream: Any) -> bytes | None:
    """The bytes of a stream that is already entirely in memory (httpx/httpx2 ``ByteStream``), else None."""
    if stream is None:
        return b""
    mod_name = type(stream).__module__.partition(".")[0]
    if mod_name not in ("httpx", "httpx2") or type(stream).__name__ != "ByteStream":
        return None
    return b"".join(stream)  # a ByteStream yields its one bytes object, as often as asked


def httpx_hooks(
    *,
    provider_hosts: Mapping[str, str] | None = None,
    prices: str | os.PathLike[str] | None = None,
    excluded_urls: Sequence[str] | None = None,
) -> dict[str, Callable[..., Any]]:
    """Request/response hooks for opentelemetry-instrumentation-httpx that add otel-llm's GenAI attributes.

    Returns the keyword arguments ``request_hook``, ``response_hook``, ``async_request_hook`` and
    ``async_response_hook`` of ``HTTPXClientInstrumentor().instrument(...)`` /
    ``HTTPX2ClientInstrumentor().instrument(...)``; pass the first two to ``SyncOpenTelemetryTransport`` and
    the async pair to ``AsyncOpenTelemetryTransport``. Settings not given come from ``OTEL_LLM_*`` variables;
    bad values raise :class:`otel_llm.errors.ConfigurationError` here. The hooks never raise.
    """
    settings = config.resolve(provider_hosts=provider_hosts, prices=prices, excluded_urls=excluded_urls)
    costs = CostCalculator.from_file(settings.prices_file)

    def request_hook(span: Any, request: Any) -> None:
        try:
            _on_request(span, request)
        except Exception as exc:
            _safety.report("httpx_hooks.request", exc)

    def response_hook(span: Any, request: Any, response: Any) -> None:
        try:
            _on_response(span, request, response)
        except Exception as exc:
            _safety.report("httpx_hooks.response", exc)

    async def async_request_hook(span: Any, request: Any) -> None:
        request_hook(span, request)

    async def async_response_hook(span: Any, request: Any, response: Any) -> None:
        response_hook(span, request, response)

    def _on_request(span: Any, request: Any) -> None:
        if not span.is_recording() or isinstance(request.url, tuple):
            return
        url = request.url
        path = url.path
        provider = registry.match(url.host, url.port, path, settings.provider_hosts)
        if provider is None:
            return
        if settings.excluded_urls and any(s in str(url) for s in settings.excluded_urls):
            return
        headers = request.headers
        tags: dict[str, str] | None = None
        if headers is not None:
            for name in _X_LLM:
                if name in headers:
                    tags = tags or {}
                    tags[name] = headers[name]
                    del headers[name]  # the instrumentor copies these headers into the outgoing request next
        ctx = exp.resolve(tags)
        body = _buffered_body(request.stream)
        req = provider.parse_request(body or b"", path=path, capture_content=False)
        attrs: dict[str, Any] = {A.GEN_AI_OPERATION_NAME: req.operation, A.GEN_AI_PROVIDER_NAME: provider.name}
        if req.model is not None:
            attrs[A.GEN_AI_REQUEST_MODEL] = req.model
        attrs.update(request_attributes(req))
        if ctx is not None:
            attrs.update(ctx.span_attributes())
            if ctx.experiment_id is not None and ctx.variant is not None:
                span.add_event(
                    A.FEATURE_FLAG_EVENT,
                    {
                        A.FEATURE_FLAG_KEY: ctx.experiment_id,
                        A.FEATURE_FLAG_RESULT_VARIANT: ctx.variant,
                        A.FEATURE_FLAG_PROVIDER_NAME: A.FEATURE_FLAG_PROVIDER,
                    },
                )
        else:
            attrs[A.LLM_ROUTE] = A.ROUTE_PRIMARY
        span.set_attributes(attrs)
        if request.extensions is not None:
            request.extensions[_STASH] = (provider, req)

    def _on_response(span: Any, request: Any, response: Any) -> None:
        stash = request.extensions.get(_STASH) if request.extensions is not None else None
        if stash is None or not span.is_recording():
            return
        provider, req = stash
        out: dict[str, Any] = {A.LLM_USAGE_SOURCE: A.USAGE_SOURCE_UNKNOWN, A.LLM_COST_SOURCE: A.COST_SOURCE_UNKNOWN}
        body = _buffered_body(response.stream) if response.status_code < 400 else None
        if body:
            resp = provider.parse_response(body, capture_content=False)
            if resp.model:
                out[A.GEN_AI_RESPONSE_MODEL] = resp.model
            if resp.response_id:
                out[A.GEN_AI_RESPONSE_ID] = resp.response_id
            if resp.finish_reasons:
                out[A.GEN_AI_RESPONSE_FINISH_REASONS] = list(resp.finish_reasons)
            if resp.input_tokens is not None:
                out[A.GEN_AI_USAGE_INPUT_TOKENS] = resp.input_tokens
            if resp.output_tokens is not None:
                out[A.GEN_AI_USAGE_OUTPUT_TOKENS] = resp.output_tokens
            if resp.input_tokens is not None or resp.output_tokens is not None:
                out[A.LLM_USAGE_SOURCE] = A.USAGE_SOURCE_PROVIDER
                usage = Usage(
                    resp.input_tokens,
                    resp.output_tokens,
                    resp.cache_read_input_tokens,
                    resp.cache_creation_input_tokens,
                )
                cost, source = costs.cost(provider.name, resp.model or req.model, usage)
                if cost is None and req.model and resp.model and resp.model != req.model:
                    cost, source = costs.cost(provider.name, req.model, usage)
                if cost is not None:
                    out[A.LLM_COST_USD] = cost
                out[A.LLM_COST_SOURCE] = source
        span.set_attributes(out)

    return {
        "request_hook": request_hook,
        "response_hook": response_hook,
        "async_request_hook": async_request_hook,
        "async_response_hook": async_response_hook,
    }
