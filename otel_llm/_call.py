"""One LLM call in flight: its span, what the request asked, and what the response said so far.

Created by ``_transport`` when a request is recognised as an LLM call; fed the response bytes by the stream
wrappers in ``_streaming``; finished exactly once (exhaustion, close, error or garbage collection).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from otel_llm import _safety
from otel_llm import attributes as A
from otel_llm._state import State
from otel_llm.enrich.cost import Usage
from otel_llm.enrich.experiment import ExperimentContext
from otel_llm.providers.base import LLMRequest, LLMResponse, StreamParser


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What an enricher sees of a finished call: the parsed request and response (raw, before redaction)."""

    provider: str
    request: LLMRequest
    response: LLMResponse | None
    error_type: str | None


class Call:
    """Per-call recorder. All methods are safe: they never raise into the app."""

    __slots__ = (
        "_chunk_times",
        "_done",
        "_first_at",
        "_parts",
        "_size",
        "_stripper",
        "metric_attrs",
        "owns_span",
        "parser",
        "provider",
        "request",
        "span",
        "start",
        "state",
        "status_code",
    )

    def __init__(
        self,
        state: State,
        span: Span,
        provider: Any,
        request: LLMRequest,
        ctx: ExperimentContext | None,
        *,
        owns_span: bool,
    ) -> None:
        self.state = state
        self.span = span
        self.provider = provider
        self.request = request
        self.owns_span = owns_span
        self.start = time.perf_counter()
        self.status_code = 0
        self.parser: StreamParser | None = None
        self._stripper: Any = None
        self._parts: list[bytes] = []
        self._size = 0
        self._first_at = 0.0
        self._chunk_times: list[float] | None = None
        self._done = False
        attrs: dict[str, Any] = {
            A.GEN_AI_OPERATION_NAME: request.operation,
            A.GEN_AI_PROVIDER_NAME: provider.name,
        }
        if request.model is not None:
            attrs[A.GEN_AI_REQUEST_MODEL] = request.model
        if ctx is not None:
            if ctx.experiment_id is not None:
                attrs[A.LLM_EXPERIMENT_ID] = ctx.experiment_id
            if ctx.variant is not None:
                attrs[A.LLM_VARIANT] = ctx.variant
            if ctx.prompt_version is not None:
                attrs[A.LLM_PROMPT_VERSION] = ctx.prompt_version
        attrs[A.LLM_ROUTE] = (ctx.route if ctx is not None else None) or A.ROUTE_PRIMARY
        self.metric_attrs = attrs

    # --- response ------------------------------------------------------------------------------------------
    def on_response(self, status_code: int, content_type: str, strip_usage: bool) -> None:
        self.status_code = status_code
        self.span.set_attribute(A.HTTP_RESPONSE_STATUS_CODE, status_code)
        if status_code < 400 and (self.request.stream or "event-stream" in content_type or "ndjson" in content_type):
            self.parser = self.provider.stream_parser(capture_content=self.state.settings.capture_content)
            self._chunk_times = []
            if strip_usage:
                from otel_llm.providers.openai import UsageChunkStripper

                self._stripper = UsageChunkStripper()

    def feed(self, chunk: bytes) -> bytes:
        """Observe ``chunk`` on its way to the app; returns the bytes to hand on (normally ``chunk``)."""
        try:
            parser = self.parser
            if parser is not None:
                if parser.feed(chunk) and not self._first_at:
                    self._first_at = time.perf_counter()
                times = self._chunk_times
                if times is not None and self._first_at:
                    times.append(time.perf_counter())
                if self._stripper is not None:
                    return bytes(self._stripper.feed(chunk))
            elif self._size <= self.state.settings.max_body_bytes:
                self._parts.append(chunk)
                self._size += len(chunk)
        except Exception as exc:
            _safety.report("feed", exc)
            self.parser = None
            if self._stripper is not None:
                self._stripper = None
        return chunk

    def flush(self) -> bytes:
        """Bytes held back by the usage-event stripper at end of stream."""
        if self._stripper is None:
            return b""
        try:
            return bytes(self._stripper.flush())
        except Exception as exc:
            _safety.report("flush", exc)
            return b""

    # --- end -----------------------------------------------------------------------------------------------
    def finish(self, error: BaseException | None = None) -> None:
        """End the call exactly once."""
        if self._done:
            return
        self._done = True
        try:
            self._finish(error)
        except Exception as exc:
            _safety.report("finish", exc)
            if self.owns_span:
                self.span.end()

    def _response(self) -> LLMResponse | None:
        if self.parser is not None:
            return self.parser.result()
        if not self._parts or self._size > self.state.settings.max_body_bytes:
            return None
        body = b"".join(self._parts)
        self._parts = []
        return self.provider.parse_response(body, capture_content=self.state.settings.capture_content)  # type: ignore[no-any-return]

    def _finish(self, error: BaseException | None) -> None:
        end = time.perf_counter()
        end_ns = time.time_ns()
        span = self.span
        state = self.state
        attrs = self.metric_attrs
        resp = self._response() if error is None or self.parser is not None else None
        error_type: str | None = None
        if error is not None:
            error_type = type(error).__qualname__
            span.record_exception(error)
        elif self.status_code >= 400:
            error_type = str(self.status_code)
        elif resp is not None and resp.error_type:
            error_type = resp.error_type

        usage = None
        if resp is not None:
            if resp.model:
                span.set_attribute(A.GEN_AI_RESPONSE_MODEL, resp.model)
                attrs[A.GEN_AI_RESPONSE_MODEL] = resp.model
            if resp.response_id:
                span.set_attribute(A.GEN_AI_RESPONSE_ID, resp.response_id)
            if resp.finish_reasons:
                span.set_attribute(A.GEN_AI_RESPONSE_FINISH_REASONS, list(resp.finish_reasons))
            if resp.input_tokens is not None:
                span.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, resp.input_tokens)
            if resp.output_tokens is not None:
                span.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, resp.output_tokens)
            if resp.cache_read_input_tokens is not None:
                span.set_attribute(A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, resp.cache_read_input_tokens)
            if resp.cache_creation_input_tokens is not None:
                span.set_attribute(A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, resp.cache_creation_input_tokens)
            if resp.input_tokens is not None or resp.output_tokens is not None:
                usage = Usage(
                    resp.input_tokens,
                    resp.output_tokens,
                    resp.cache_read_input_tokens,
                    resp.cache_creation_input_tokens,
                )
        span.set_attribute(A.LLM_USAGE_SOURCE, A.USAGE_SOURCE_PROVIDER if usage is not None else A.USAGE_SOURCE_UNKNOWN)
        cost: float | None = None
        if usage is not None and error_type is None:
            model = resp.model if resp is not None and resp.model else self.request.model
            cost, source = state.costs.cost(self.provider.name, model, usage)
            if cost is None and self.request.model and model != self.request.model:
                cost, source = state.costs.cost(self.provider.name, self.request.model, usage)
            span.set_attribute(A.LLM_COST_SOURCE, source)
            if cost is not None:
                span.set_attribute(A.LLM_COST_USD, cost)
        else:
            span.set_attribute(A.LLM_COST_SOURCE, A.COST_SOURCE_UNKNOWN)

        if error_type is not None:
            span.set_attribute(A.ERROR_TYPE, error_type)
            attrs[A.ERROR_TYPE] = error_type
            if self.owns_span:
                span.set_status(Status(StatusCode.ERROR, error_type))

        ins = state.instruments
        ins.duration.record(end - self.start, attrs)
        if usage is not None:
            if usage.input_tokens is not None:
                ins.tokens.record(usage.input_tokens, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_INPUT})
            if usage.output_tokens is not None:
                ins.tokens.record(usage.output_tokens, {**attrs, A.GEN_AI_TOKEN_TYPE: A.TOKEN_TYPE_OUTPUT})
        if cost is not None:
            ins.cost.add(cost, attrs)
        if self._first_at:
            ttfc = self._first_at - self.start
            span.set_attribute(A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, ttfc)
            ins.ttfc.record(ttfc, attrs)
            times = self._chunk_times
            if times and len(times) > 1:
                ins.time_per_chunk.record((times[-1] - times[0]) / (len(times) - 1), attrs)

        for enricher in state.enrichers:
            try:
                enricher(span, CallInfo(self.provider.name, self.request, resp, error_type))
            except Exception as exc:
                _safety.report("enricher", exc)

        if not self.owns_span:
            return
        content = self._content(resp) if state.settings.capture_content else None
        worker = state.redaction_worker
        if content and worker is not None:
            worker.submit(span, end_ns, content)
            return
        span.set_attribute(A.LLM_REDACTION_STATUS, A.REDACTION_SKIPPED)
        span.end(end_time=end_ns)

    def _content(self, resp: LLMResponse | None) -> dict[str, object]:
        content: dict[str, object] = {}
        if self.request.input_messages:
            content[A.GEN_AI_INPUT_MESSAGES] = self.request.input_messages
        if self.request.system_instructions:
            content[A.GEN_AI_SYSTEM_INSTRUCTIONS] = self.request.system_instructions
        if resp is not None and resp.output_messages:
            content[A.GEN_AI_OUTPUT_MESSAGES] = resp.output_messages
        return content


def request_attributes(req: LLMRequest) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if req.temperature is not None:
        attrs[A.GEN_AI_REQUEST_TEMPERATURE] = req.temperature
    if req.top_p is not None:
        attrs[A.GEN_AI_REQUEST_TOP_P] = req.top_p
    if req.max_tokens is not None:
        attrs[A.GEN_AI_REQUEST_MAX_TOKENS] = req.max_tokens
    if req.seed is not None:
        attrs[A.GEN_AI_REQUEST_SEED] = req.seed
    return attrs


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
