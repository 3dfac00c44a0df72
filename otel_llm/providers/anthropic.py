"""Anthropic Messages API (/v1/messages): JSON and SSE (message_start ... message_stop).

Token counts follow the semconv (and genai-prices) convention: ``input_tokens`` is the whole prompt, i.e.
Anthropic's ``input_tokens`` + ``cache_read_input_tokens`` + ``cache_creation_input_tokens``; the two cache
counts are reported on their own as well. Public functions never raise.
"""

from __future__ import annotations

from typing import Any

from otel_llm.providers._common import (
    BaseStreamParser,
    as_float,
    as_int,
    as_str,
    b64_blob_part,
    error_type,
    get_dict,
    get_list,
    loads,
    loads_chunk,
    loads_request,
    message,
    parse_arguments,
    text_part,
    tool_call_part,
    tool_response_part,
    url_part,
)
from otel_llm.providers.base import LLMRequest, LLMResponse, Message, StreamParser

__all__ = ["is_streaming", "parse_request", "parse_response", "stream_parser"]


def parse_request(body: bytes, *, operation: str, path: str, capture_content: bool) -> LLMRequest:
    req = LLMRequest(operation=operation)
    try:
        obj = loads_request(body, capture_content)
        if type(obj) is not dict:
            return req
        req.model = as_str(obj.get("model")) or None
        req.stream = obj.get("stream") is True
        req.temperature = as_float(obj.get("temperature"))
        req.top_p = as_float(obj.get("top_p"))
        req.max_tokens = as_int(obj.get("max_tokens"))
        if capture_content:
            system = obj.get("system")
            if system is not None:
                req.system_instructions = _parts(system)
            req.input_messages = [
                message(m.get("role"), _parts(m.get("content"))) for m in get_list(obj, "messages") if type(m) is dict
            ]
    except Exception:
        return req
    return req


def _source_part(block: dict[str, Any], modality: str | None) -> dict[str, Any]:
    src = get_dict(block, "source") or {}
    kind = src.get("type")
    if kind == "base64":
        return b64_blob_part(src.get("media_type"), src.get("data"))
    if kind == "url":
        return url_part(src.get("url"), modality)
    if kind == "text" and type(src.get("data")) is str:
        return text_part(src["data"])
    if kind == "file":
        return {"type": "file", "file_id": as_str(src.get("file_id"))}
    return {"type": as_str(block.get("type")) or "unknown"}


def _result_content(content: Any) -> Any:
    if type(content) is list and all(type(b) is dict and b.get("type") == "text" for b in content):
        return "".join(b["text"] for b in content if type(b.get("text")) is str)
    if type(content) is list:
        return _parts(content)
    return content


def _parts(content: Any) -> list[dict[str, Any]]:
    """A string or a list of content blocks as semconv parts (binary sources become blobs)."""
    if type(content) is str:
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    for b in content if type(content) is list else ():
        if type(b) is not dict:
            continue
        kind = b.get("type")
        if kind == "text" and type(b.get("text")) is str:
            parts.append(text_part(b["text"]))
        elif kind == "image":
            parts.append(_source_part(b, "image"))
        elif kind == "document":
            parts.append(_source_part(b, None))
        elif kind in ("tool_use", "server_tool_use"):
            parts.append(tool_call_part(b.get("id"), b.get("name"), b.get("input")))
        elif kind == "tool_result":
            parts.append(tool_response_part(b.get("tool_use_id"), _result_content(b.get("content"))))
        elif kind == "thinking" and type(b.get("thinking")) is str:
            parts.append({"type": "reasoning", "content": text_part(b["thinking"])["content"]})
        elif type(kind) is str:
            parts.append({"type": kind})
    return parts


def is_streaming(request: LLMRequest, path: str) -> bool:
    return request.stream


class _Usage:
    __slots__ = ("cache_creation", "cache_read", "input", "output")

    def __init__(self) -> None:
        self.input: int | None = None
        self.output: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None

    def update(self, usage: Any) -> None:
        """Later values win: message_delta's usage is cumulative and may repeat message_start's."""
        if type(usage) is not dict:
            return
        for attr, key in (
            ("input", "input_tokens"),
            ("output", "output_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("cache_creation", "cache_creation_input_tokens"),
        ):
            v = as_int(usage.get(key))
            if v is not None:
                setattr(self, attr, v)

    def apply(self, resp: LLMResponse) -> None:
        if self.input is not None:
            resp.input_tokens = self.input + (self.cache_read or 0) + (self.cache_creation or 0)
        resp.output_tokens = self.output
        resp.cache_read_input_tokens = self.cache_read
        resp.cache_creation_input_tokens = self.cache_creation


def parse_response(body: bytes, *, operation: str, capture_content: bool) -> LLMResponse:
    resp = LLMResponse()
    try:
        obj = loads(body)
        if type(obj) is not dict:
            return resp
        resp.error_type = error_type(obj)
        resp.model = as_str(obj.get("model")) or None
        resp.response_id = as_str(obj.get("id")) or None
        usage = _Usage()
        usage.update(obj.get("usage"))
        usage.apply(resp)
        stop = as_str(obj.get("stop_reason"))
        if stop:
            resp.finish_reasons = [stop]
        if capture_content and "content" in obj:
            resp.output_messages = [message(obj.get("role") or "assistant", _parts(obj.get("content")), stop)]
    except Exception:
        return resp
    return resp


class MessagesStreamParser(BaseStreamParser):
    def __init__(self, *, capture_content: bool) -> None:
        super().__init__(capture_content=capture_content)
        self._model: str | None = None
        self._id: str | None = None
        self._stop: str | None = None
        self._error: str | None = None
        self._usage = _Usage()
        self._blocks: dict[int, list[Any]] = {}  # index -> [kind, id, name, [text pieces]]

    def _whole(self, body: bytes) -> LLMResponse:
        return parse_response(body, operation="chat", capture_content=self.capture)

    def _event(self, name: str, data: bytes) -> bool:
        if name == "content_block_delta" and not self.capture and b'""' not in data:
            return b"signature_delta" not in data
        if name == "ping":
            return False
        obj = loads_chunk(data)
        if type(obj) is not dict:
            return False
        kind = obj.get("type")
        if kind == "content_block_delta":
            return self._delta(obj)
        if kind == "message_start":
            msg = get_dict(obj, "message") or {}
            self._model = as_str(msg.get("model")) or self._model
            self._id = as_str(msg.get("id")) or self._id
            self._usage.update(msg.get("usage"))
        elif kind == "message_delta":
            stop = as_str((get_dict(obj, "delta") or {}).get("stop_reason"))
            if stop:
                self._stop = stop
            self._usage.update(obj.get("usage"))
        elif kind == "content_block_start" and self.capture:
            block = get_dict(obj, "content_block") or {}
            idx = as_int(obj.get("index")) or 0
            entry: list[Any] = [block.get("type"), block.get("id"), block.get("name"), []]
            if type(block.get("text")) is str and block["text"]:
                entry[3].append(block["text"])
            self._blocks[idx] = entry
        elif kind == "error":
            self._error = error_type(obj) or "error"
        return False

    def _delta(self, obj: dict[str, Any]) -> bool:
        delta = get_dict(obj, "delta") or {}
        dtype = delta.get("type")
        key = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}.get(
            dtype if type(dtype) is str else ""
        )
        piece = delta.get(key) if key else None
        if type(piece) is not str or not piece:
            return False
        if self.capture:
            idx = as_int(obj.get("index")) or 0
            entry = self._blocks.setdefault(idx, [None, None, None, []])
            if entry[0] is None:
                entry[0] = {"text": "text", "partial_json": "tool_use", "thinking": "thinking"}[key or "text"]
            entry[3].append(piece)
        return True

    def _build(self) -> LLMResponse:
        resp = LLMResponse(model=self._model, response_id=self._id, error_type=self._error)
        if self._stop:
            resp.finish_reasons = [self._stop]
        self._usage.apply(resp)
        if self.capture:
            parts: list[dict[str, Any]] = []
            for _, (kind, call_id, name, pieces) in sorted(self._blocks.items()):
                text = "".join(pieces)
                if kind in ("tool_use", "server_tool_use"):
                    parts.append(tool_call_part(call_id, name, parse_arguments(text)))
                elif kind == "thinking":
                    parts.append({"type": "reasoning", "content": text_part(text)["content"]})
                elif kind == "text":
                    parts.append(text_part(text))
            out: Message = message("assistant", parts, self._stop)
            resp.output_messages = [out]
        return resp


def stream_parser(*, operation: str, capture_content: bool) -> StreamParser:
    return MessagesStreamParser(capture_content=capture_content)
