"""One LLM call in flight: its span, what the request asked, and what the response said so far.

Created by ``_transport`` when a request is recognised as an LLM call; fed the response bytes by the stream
wrappers in ``_streaming``; finished exactly once (exhaustion, close, error or garbage collection).

While the response is read a call only keeps the bytes it sees (with their arrival times); when it finishes,
``_complete`` parses the response, sets the span's attributes and event, computes cost, records metrics, runs
enrichers and ends the span with the end time taken when the call finished. That runs inline for bodies up to
``INLINE_BYTES`` and on the background thread for larger ones, shadow copies, calls ended by garbage collection
and whenever enrichers are configured. (A span owned by the SDK itself — anthropic's — is always completed
synchronously, before the SDK ends it.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from otel_llm import _safety
from otel_llm import attributes as A
from otel_llm._state import State
from otel_llm.enrich.cost import Usage
from otel_llm.enrich.experiment import ExperimentContext
from otel_llm.providers.base import LLMRequest, LLMResponse, StreamParser

# A long stream without content capture is parsed at its head (up to the first content event) and over its last
# _TAIL_EVENTS whole events (usage, finish reasons); the middle is only counted. Streams of up to
# _MIN_SKIP_PARTS parts are parsed whole.
_TAIL_EVENTS = 16
_MIN_SKIP_PARTS = 32
# A call whose kept bytes fit in this is completed on the thread that finished it: handing ~200 µs of work to
# the background thread costs more (thread wake-up, GIL hand-off) than it saves, since the GIL serialises it.
INLINE_BYTES = 64 * 1024


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
        "_ctx",
        "_done",
        "_inline",
        "_parts",
        "_size",
        "_skipped",
        "_stripper",
        "_times",
        "capture",
        "metric_attrs",
        "owns_span",
        "parser",
        "provider",
        "request",
        "span",
        "start",
        "start_ns",
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
        metric_attributes: dict[str, Any],
        owns_span: bool,
    ) -> None:
        self.state = state
        self.span = span
        self.provider = provider
        self.request = request
        self.owns_span = owns_span
        # Content is gathered (and later redacted) only for a span that will be exported: a span the sampler
        # dropped still gets its metrics, from the usage fields alone.
        self.capture = state.settings.capture_content and span.is_recording()
        self.start = time.perf_counter()
        self.start_ns = time.time_ns()
        self.status_code = 0
        self.parser: StreamParser | None = None
        self._stripper: Any = None
        self._parts: list[bytes] = []
        self._times: list[float] | None = None  # arrival time of each part, streams only
        self._size = 0
        self._skipped = 0  # events in the unparsed middle of a long stream (counted as one chunk each)
        self._inline: tuple[float, float] | None = None  # (first, last) content time once parsing went inline
        self._done = False
        self._ctx = ctx
        # the low-cardinality attributes allowed on metrics (A.METRIC_ATTRIBUTES); response model and error type
        # are added when the call completes
        self.metric_attrs = metric_attributes

    # --- response (request thread) -------------------------------------------------------------------------
    def on_response(self, status_code: int, content_type: str, strip_usage: bool) -> None:
        self.status_code = status_code
        if status_code < 400 and (self.request.stream or "event-stream" in content_type or "ndjson" in content_type):
            self.parser = self.provider.stream_parser(capture_content=self.capture)
            self._times = []
            if strip_usage:
                from otel_llm.providers.openai import UsageChunkStripper

                self._stripper = UsageChunkStripper()

    @property
    def strips_usage(self) -> bool:
        """Whether the bytes handed on leave out the usage event otel-llm added to the request (include_usage)."""
        return self._stripper is not None

    def feed(self, chunk: bytes) -> bytes:
        """Observe ``chunk`` on its way to the app; returns the bytes to hand on (normally ``chunk``).

        Bytes are only kept here (streams: with their arrival time) and parsed when the call completes, on the
        background thread; a stream longer than ``max_body_bytes`` is parsed as it goes instead.
        """
        try:
            times = self._times
            if times is not None:
                if self._inline is None:
                    times.append(time.perf_counter())
                    self._parts.append(chunk)
                    self._size += len(chunk)
                    if self._size > self.state.settings.max_body_bytes:
                        self._go_inline()
                else:
                    self._feed_inline(chunk)
                if self._stripper is not None:
                    return bytes(self._stripper.feed(chunk))
            elif self._size <= self.state.settings.max_body_bytes:
                self._parts.append(chunk)
                self._size += len(chunk)
        except Exception as exc:
            _safety.report("feed", exc)
            self.parser = None
            self._times = None
            self._stripper = None
        return chunk

    def _go_inline(self) -> None:
        first = last = 0.0
        parser, times = self.parser, self._times
        if parser is None or times is None:
            return
        for part, at in zip(self._parts, times, strict=True):
            if parser.feed(part) and not first:
                first = at
            last = at
        self._parts = []
        self._inline = (first, last)

    def _feed_inline(self, chunk: bytes) -> None:
        if self.parser is None or self._inline is None:
            return
        first, _ = self._inline
        now = time.perf_counter()
        if self.parser.feed(chunk) and not first:
            first = now
        self._inline = (first, now)

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
    def finish(self, error: BaseException | None = None, *, deferred: bool = False) -> None:
        """End the call exactly once. Timestamps are taken here; the rest runs here too when the kept body is
        small, else on the background thread. ``deferred=True`` (garbage collection, finalisers) always hands
        it to the background thread: a finaliser may run while an SDK lock is held. So do configured enrichers
        (the app's code: a judge may call a model) and shadow copies (their completion must not take turns on
        the app's event loop or thread)."""
        if self._done:
            return
        self._done = True
        end = time.perf_counter()
        end_ns = time.time_ns()
        if self.owns_span and (deferred or self._size > INLINE_BYTES or self.state.enrichers or self._shadow()):
            self.state.background.submit(self._complete, error, end, end_ns)
        else:
            self._complete(error, end, end_ns)

    def _shadow(self) -> bool:
        ctx = self._ctx
        return ctx is not None and ctx.shadow

    def _complete(self, error: BaseException | None, end: float, end_ns: int) -> None:
        try:
            self._finish(error, end, end_ns)
        except Exception as exc:
            _safety.report("finish", exc)
            if self.owns_span:
                self.span.end(end_time=end_ns)

    def _stream_times(self) -> tuple[float, float]:
        """Parse the kept stream parts; (first content time, last part time), 0.0 when unknown."""
        if self._inline is None:
            if self._can_skip_middle():
                self._parse_head_and_tail()
            else:
                self._go_inline()
        return self._inline or (0.0, 0.0)

    def _can_skip_middle(self) -> bool:
        # Without content capture only the first content event (time to first chunk, model, Anthropic's input
        # usage) and the last events (usage, finish reasons) matter. SSE and NDJSON resynchronise at the next
        # event boundary, so the middle of a long stream need not be parsed; Gemini's JSON-array form does not.
        return not self.capture and len(self._parts) > _MIN_SKIP_PARTS and self.provider.wire != "gemini"

    def _parse_head_and_tail(self) -> None:
        parser, times, parts = self.parser, self._times, self._parts
        if parser is None or times is None:
            return
        first = 0.0
        head = 0
        for head, part in enumerate(parts):
            if parser.feed(part):
                first = times[head]
                break
        # Walk back from the end until the tail holds _TAIL_EVENTS whole events (plus the boundary before the
        # first of them), whatever their size and however the HTTP chunks cut them. A body without that many
        # event boundaries (e.g. one JSON document from a server that ignored "stream") is parsed whole.
        count = _event_boundaries(self.provider.wire)
        start = len(parts)
        seen = 0
        while start > head + 1 and seen <= _TAIL_EVENTS:
            start -= 1
            seen += count(parts[start])
        for part in parts[start:]:  # start == head + 1 when there were not enough boundaries: nothing skipped
            parser.feed(part)
        self._skipped = sum(count(p) for p in parts[head + 1 : start])
        self._parts = []
        self._inline = (first, times[-1])

    def _response(self) -> LLMResponse | None:
        if self.parser is not None:
            return self.parser.result()
        if not self._parts or self._size > self.state.settings.max_body_bytes:
            return None
        body = b"".join(self._parts)
        self._parts = []
        return self.provider.parse_response(body, capture_content=self.capture)  # type: ignore[no-any-return]

    def _finish(self, error: BaseException | None, end: float, end_ns: int) -> None:
        span = self.span
        state = self.state
        attrs = self.metric_attrs
        first_at, last_at = self._stream_times()
        resp = self._response() if error is None or self.parser is not None else None
        error_type: str | None = None
        if error is not None:
            error_type = type(error).__qualname__
            span.record_exception(error)
        elif self.status_code >= 400:
            error_type = str(self.status_code)
        elif resp is not None and resp.error_type:
            error_type = resp.error_type

        out: dict[str, Any] = {}
        if self.status_code:
            out[A.HTTP_RESPONSE_STATUS_CODE] = self.status_code
        inp = outp = None
        if resp is not None:
            if resp.model:
                out[A.GEN_AI_RESPONSE_MODEL] = attrs[A.GEN_AI_RESPONSE_MODEL] = resp.model
            if resp.response_id:
                out[A.GEN_AI_RESPONSE_ID] = resp.response_id
            if resp.finish_reasons:
                out[A.GEN_AI_RESPONSE_FINISH_REASONS] = list(resp.finish_reasons)
            inp, outp = resp.input_tokens, resp.output_tokens
            if inp is not None:
                out[A.GEN_AI_USAGE_INPUT_TOKENS] = inp
            if outp is not None:
                out[A.GEN_AI_USAGE_OUTPUT_TOKENS] = outp
            if resp.cache_read_input_tokens is not None:
                out[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = resp.cache_read_input_tokens
            if resp.cache_creation_input_tokens is not None:
                out[A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = resp.cache_creation_input_tokens
        has_usage = inp is not None or outp is not None
        out[A.LLM_USAGE_SOURCE] = A.USAGE_SOURCE_PROVIDER if has_usage else A.USAGE_SOURCE_UNKNOWN
        cost: float | None = None
        source = A.COST_SOURCE_UNKNOWN
        if has_usage and error_type is None and resp is not None:
            usage = Usage(inp, outp, resp.cache_read_input_tokens, resp.cache_creation_input_tokens)
            model = resp.model or self.request.model
            cost, source = state.costs.cost(self.provider.name, model, usage)
            if cost is None and self.request.model and model != self.request.model:
                cost, source = state.costs.cost(self.provider.name, self.request.model, usage)
            if cost is not None:
                out[A.LLM_COST_USD] = cost
        out[A.LLM_COST_SOURCE] = source

        if error_type is not None:
            out[A.ERROR_TYPE] = attrs[A.ERROR_TYPE] = error_type
            if self.owns_span:
                span.set_status(Status(StatusCode.ERROR, error_type))

        ttfc = tpc = None
        if first_at:
            ttfc = first_at - self.start
            out[A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            chunks = resp.chunks + self._skipped if resp is not None else 0
            if chunks > 1:
                tpc = (last_at - first_at) / (chunks - 1)
        if self.owns_span and not self.capture:
            out[A.LLM_REDACTION_STATUS] = A.REDACTION_SKIPPED
        span.set_attributes(out)
        ctx = self._ctx
        if self.owns_span and ctx is not None and ctx.experiment_id is not None and ctx.variant is not None:
            span.add_event(
                A.FEATURE_FLAG_EVENT,
                {
                    A.FEATURE_FLAG_KEY: ctx.experiment_id,
                    A.FEATURE_FLAG_RESULT_VARIANT: ctx.variant,
                    A.FEATURE_FLAG_PROVIDER_NAME: A.FEATURE_FLAG_PROVIDER,
                },
                timestamp=self.start_ns,
            )
        state.instruments.record(attrs, end - self.start, inp, outp, cost, ttfc, tpc)

        for enricher in state.enrichers:
            try:
                enricher(span, CallInfo(self.provider.name, self.request, resp, error_type))
            except Exception as exc:
                _safety.report("enricher", exc)

        if not self.owns_span:
            return
        content = self._content(resp) if self.capture else None
        worker = state.redaction_worker
        if content and worker is not None:
            worker.submit(span, end_ns, content)
            return
        if self.capture:
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


def _count_ndjson(part: bytes) -> int:
    return part.count(b"\n")


def _count_sse(part: bytes) -> int:
    # An SSE event ends with a blank line: "\n\n", or "\r\n\r\n" (whose "\n\r\n" is counted). A boundary cut
    # between two parts is not counted, which only makes the tail longer.
    return part.count(b"\n\n") + part.count(b"\n\r\n")


def _event_boundaries(wire: str) -> Callable[[bytes], int]:
    return _count_ndjson if wire == "ollama" else _count_sse


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
