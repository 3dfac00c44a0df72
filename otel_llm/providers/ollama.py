"""Ollama native API: /api/chat, /api/generate, /api/embed and the older /api/embeddings; NDJSON streams.

``stream`` defaults to **true** in Ollama when the request does not say otherwise (chat and generate).
Tokens: prompt_eval_count (input) and eval_count (output). Public functions never raise.
"""

from __future__ import annotations

from typing import Any

from otel_llm.attributes import OP_CHAT, OP_EMBEDDINGS, OP_TEXT_COMPLETION
from otel_llm.providers._common import (
    BaseStreamParser,
    as_float,
    as_int,
    as_str,
    b64_blob_part,
    clean,
    get_dict,
    get_list,
    has_value,
    loads,
    loads_chunk,
    loads_request,
    message,
    text_part,
    tool_call_part,
    tool_response_part,
)
from otel_llm.providers.base import LLMRequest, LLMResponse, Message, StreamParser

__all__ = ["is_streaming", "parse_request", "parse_response", "stream_parser"]


def _images(images: Any) -> list[dict[str, Any]]:
    """Ollama images are bare base64 strings; the format is not given."""
    return [b64_blob_part("image/*", img) for img in images if type(img) is str] if type(images) is list else []


def parse_request(body: bytes, *, operation: str, path: str, capture_content: bool) -> LLMRequest:
    req = LLMRequest(operation=operation, stream=operation != OP_EMBEDDINGS)
    try:
        obj = loads_request(body, capture_content)
        if type(obj) is not dict:
            return req
        req.model = as_str(obj.get("model")) or None
        if operation == OP_EMBEDDINGS:
            req.stream = False
            return req
        req.stream = obj.get("stream") is not False
        opts = get_dict(obj, "options") or {}
        req.temperature = as_float(opts.get("temperature"))
        req.top_p = as_float(opts.get("top_p"))
        req.seed = as_int(opts.get("seed"))
        req.max_tokens = as_int(opts.get("num_predict"))
        if capture_content:
            if operation == OP_CHAT:
                req.input_messages = [_message(m) for m in get_list(obj, "messages") if type(m) is dict]
            else:
                prompt = obj.get("prompt")
                parts = [text_part(prompt)] if type(prompt) is str else []
                parts.extend(_images(obj.get("images")))
                req.input_messages = [message("user", parts)]
                system = as_str(obj.get("system"))
                if system:
                    req.system_instructions = [text_part(system)]
    except Exception:
        return req
    return req


def _message(m: dict[str, Any], finish: str | None = None) -> Message:
    role = as_str(m.get("role")) or "user"
    content = m.get("content")
    if role == "tool":
        return message(role, [tool_response_part(m.get("tool_call_id") or m.get("tool_name"), content)])
    parts: list[dict[str, Any]] = []
    thinking = m.get("thinking")
    if type(thinking) is str and thinking:
        parts.append({"type": "reasoning", "content": clean(thinking)})
    if type(content) is str and (content or not m.get("tool_calls")):
        parts.append(text_part(content))
    parts.extend(_images(m.get("images")))
    for tc in get_list(m, "tool_calls"):
        fn = get_dict(tc, "function") or {}
        parts.append(tool_call_part(tc.get("id"), fn.get("name"), fn.get("arguments")))
    return message(role, parts, finish)


def is_streaming(request: LLMRequest, path: str) -> bool:
    return request.stream


class _State:
    def __init__(self, operation: str) -> None:
        self.op = operation
        self.model: str | None = None
        self.error: str | None = None
        self.finish: str | None = None
        self.input: int | None = None
        self.output: int | None = None
        self.texts: list[str] = []
        self.thinking: list[str] = []
        self.tool_calls: list[Any] = []

    def read(self, obj: dict[str, Any], capture: bool) -> bool:
        self.model = self.model or as_str(obj.get("model")) or None
        if obj.get("error") is not None:
            err = obj["error"]
            self.error = (as_str(err.get("type")) if type(err) is dict else None) or "error"
        if obj.get("done") is True:
            self.finish = as_str(obj.get("done_reason")) or "stop"
        inp, out = as_int(obj.get("prompt_eval_count")), as_int(obj.get("eval_count"))
        if inp is not None:
            self.input = inp
        if out is not None:
            self.output = out
        if self.op == OP_TEXT_COMPLETION:
            text = obj.get("response")
            thinking = obj.get("thinking")
            tool_calls: Any = None
        else:
            msg = get_dict(obj, "message") or {}
            text, thinking, tool_calls = msg.get("content"), msg.get("thinking"), msg.get("tool_calls")
        bearing = False
        if type(text) is str and text:
            bearing = True
            if capture:
                self.texts.append(text)
        if type(thinking) is str and thinking:
            bearing = True
            if capture:
                self.thinking.append(thinking)
        if type(tool_calls) is list and tool_calls:
            bearing = True
            if capture:
                self.tool_calls.extend(tool_calls)
        return bearing

    def response(self, capture: bool) -> LLMResponse:
        resp = LLMResponse(model=self.model, error_type=self.error, input_tokens=self.input)
        if self.op == OP_EMBEDDINGS:
            return resp
        resp.output_tokens = self.output
        if self.finish:
            resp.finish_reasons = [self.finish]
        if capture and (self.texts or self.thinking or self.tool_calls or self.finish):
            msg: dict[str, Any] = {"role": "assistant", "content": "".join(self.texts)}
            if self.thinking:
                msg["thinking"] = "".join(self.thinking)
            if self.tool_calls:
                msg["tool_calls"] = self.tool_calls
            resp.output_messages = [_message(msg, self.finish)]
        return resp


def parse_response(body: bytes, *, operation: str, capture_content: bool) -> LLMResponse:
    try:
        state = _State(operation)
        obj = loads(body)
        if type(obj) is dict:
            state.read(obj, capture_content)
        elif b"\n" in body:  # an NDJSON stream read whole
            for line in body.splitlines():
                item = loads(line) if line.strip() else None
                if type(item) is dict:
                    state.read(item, capture_content)
        return state.response(capture_content)
    except Exception:
        return LLMResponse()


class NDJSONStreamParser(BaseStreamParser):
    _kind = "ndjson"

    def __init__(self, *, capture_content: bool, operation: str) -> None:
        super().__init__(capture_content=capture_content)
        self._state = _State(operation)

    def _event(self, name: str, data: bytes) -> bool:
        if not self.capture and self._first and data.find(b'"done":false') >= 0 and data.find(b'"error"') < 0:
            # An ordinary token line after the first: only whether it carries text matters.
            key = b'"response"' if self._state.op == OP_TEXT_COMPLETION else b'"content"'
            if has_value(data, key):
                return True
        obj = loads_chunk(data)
        if type(obj) is not dict:
            return False
        return self._state.read(obj, self.capture)

    def _build(self) -> LLMResponse:
        return self._state.response(self.capture)

    def _whole(self, body: bytes) -> LLMResponse:
        return parse_response(body, operation=self._state.op, capture_content=self.capture)


def stream_parser(*, operation: str, capture_content: bool) -> StreamParser:
    return NDJSONStreamParser(capture_content=capture_content, operation=operation)
