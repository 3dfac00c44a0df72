"""The OpenAI Responses API (/responses): input items, response objects and the typed event stream."""

from __future__ import annotations

from typing import Any

from otel_llm.providers._common import (
    BaseStreamParser,
    as_int,
    as_str,
    b64_blob_part,
    error_type,
    get_dict,
    get_list,
    loads,
    loads_chunk,
    message,
    text_part,
    tool_call_part,
    tool_response_part,
    url_part,
)
from otel_llm.providers.base import LLMResponse, Message

_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _input_parts(content: Any) -> list[dict[str, Any]]:
    if type(content) is str:
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    for p in content if type(content) is list else ():
        if type(p) is not dict:
            continue
        kind = p.get("type")
        if kind in ("input_text", "output_text", "text") and type(p.get("text")) is str:
            parts.append(text_part(p["text"]))
        elif kind == "refusal" and type(p.get("refusal")) is str:
            parts.append(text_part(p["refusal"]))
        elif kind == "input_image":
            if p.get("image_url") is not None:
                parts.append(url_part(p.get("image_url"), "image"))
            else:
                parts.append({"type": "file", "file_id": as_str(p.get("file_id")), "modality": "image"})
        elif kind == "input_file":
            data = p.get("file_data")
            if type(data) is str:
                parts.append(url_part(data) if data.startswith("data:") else b64_blob_part(None, data))
            elif p.get("file_url") is not None:
                parts.append(url_part(p.get("file_url")))
            else:
                parts.append({"type": "file", "file_id": as_str(p.get("file_id"))})
        elif kind == "input_audio":
            audio = get_dict(p, "input_audio") or {}
            fmt = as_str(audio.get("format"))
            parts.append(b64_blob_part(f"audio/{fmt}" if fmt else None, audio.get("data")))
        elif type(kind) is str:
            parts.append({"type": kind})
    return parts


def responses_input(value: Any) -> list[Message]:
    """The ``input`` of a Responses request (a string or a list of items) as semconv messages."""
    if type(value) is str:
        return [message("user", [text_part(value)])]
    out: list[Message] = []
    for item in value if type(value) is list else ():
        if type(item) is not dict:
            continue
        kind = item.get("type")
        if kind == "function_call":
            out.append(
                message(
                    "assistant",
                    [tool_call_part(item.get("call_id"), item.get("name"), item.get("arguments"))],
                )
            )
        elif kind == "function_call_output":
            out.append(message("tool", [tool_response_part(item.get("call_id"), item.get("output"))]))
        elif "role" in item:
            out.append(message(item.get("role"), _input_parts(item.get("content"))))
    return out


def _finish_reason(obj: dict[str, Any]) -> str | None:
    status = obj.get("status")
    if status == "completed":
        calls = any(type(i) is dict and i.get("type") == "function_call" for i in get_list(obj, "output"))
        return "tool_calls" if calls else "stop"
    if status == "incomplete":
        reason = as_str((get_dict(obj, "incomplete_details") or {}).get("reason"))
        return _INCOMPLETE.get(reason or "", reason or "incomplete")
    if status == "failed":
        return "error"
    return as_str(status) if status in ("cancelled",) else None


def _output_message(obj: dict[str, Any], finish: str | None) -> Message:
    parts: list[dict[str, Any]] = []
    for item in get_list(obj, "output"):
        if type(item) is not dict:
            continue
        kind = item.get("type")
        if kind == "message":
            parts.extend(_input_parts(item.get("content")))
        elif kind == "function_call":
            parts.append(tool_call_part(item.get("call_id"), item.get("name"), item.get("arguments")))
        elif kind == "reasoning":
            texts = [s.get("text") for s in get_list(item, "summary") if type(s) is dict]
            text = "".join(t for t in texts if type(t) is str)
            if text:
                parts.append({"type": "reasoning", "content": text_part(text)["content"]})
    return message("assistant", parts, finish)


def apply_usage(resp: LLMResponse, usage: Any) -> None:
    """Chat/completions (prompt_/completion_tokens) and Responses (input_/output_tokens) usage objects."""
    if type(usage) is not dict:
        return
    inp = as_int(usage.get("prompt_tokens"))
    if inp is None:
        inp = as_int(usage.get("input_tokens"))
    out = as_int(usage.get("completion_tokens"))
    if out is None:
        out = as_int(usage.get("output_tokens"))
    details = get_dict(usage, "prompt_tokens_details") or get_dict(usage, "input_tokens_details")
    cached = as_int(details.get("cached_tokens")) if details else None
    if inp is not None:
        resp.input_tokens = inp
    if out is not None:
        resp.output_tokens = out
    if cached is not None:
        resp.cache_read_input_tokens = cached


def fill_responses(resp: LLMResponse, obj: dict[str, Any], capture: bool) -> None:
    """A response object (the body, or the ``response`` of response.completed/failed/incomplete)."""
    resp.model = as_str(obj.get("model")) or resp.model
    resp.response_id = as_str(obj.get("id")) or resp.response_id
    resp.error_type = error_type(obj) or resp.error_type
    apply_usage(resp, obj.get("usage"))
    finish = _finish_reason(obj)
    resp.finish_reasons = [finish] if finish else []
    if capture and get_list(obj, "output"):
        resp.output_messages = [_output_message(obj, finish)]


class ResponsesStreamParser(BaseStreamParser):
    """response.* events; usage and status come with response.completed / incomplete / failed."""

    _BEARING = frozenset(
        (
            "response.output_text.delta",
            "response.refusal.delta",
            "response.function_call_arguments.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_text.delta",
            "response.audio.delta",
            "response.audio.transcript.delta",
        )
    )

    def __init__(self, *, capture_content: bool) -> None:
        super().__init__(capture_content=capture_content)
        self._resp = LLMResponse()
        self._final = False
        self._texts: dict[int, list[str]] = {}
        self._calls: dict[int, list[Any]] = {}  # output_index -> [call_id, name, [args]]

    def _whole(self, body: bytes) -> LLMResponse:
        resp = LLMResponse()
        obj = loads(body)
        if type(obj) is dict:
            resp.error_type = error_type(obj)
            if obj.get("object") == "response":
                fill_responses(resp, obj, self.capture)
        return resp

    def _event(self, name: str, data: bytes) -> bool:
        if name in self._BEARING and not self.capture:
            return True
        obj = loads_chunk(data)
        if type(obj) is not dict:
            return False
        kind = obj.get("type")
        if type(kind) is not str:
            kind = name
        resp = self._resp
        if kind in self._BEARING:
            if self.capture:
                idx = as_int(obj.get("output_index")) or 0
                delta = obj.get("delta")
                if type(delta) is str:
                    if kind == "response.function_call_arguments.delta":
                        self._calls.setdefault(idx, [None, None, []])[2].append(delta)
                    elif kind in ("response.output_text.delta", "response.refusal.delta"):
                        self._texts.setdefault(idx, []).append(delta)
            return True
        if kind == "response.output_item.added":
            item = get_dict(obj, "item") or {}
            if self.capture and item.get("type") == "function_call":
                idx = as_int(obj.get("output_index")) or 0
                entry = self._calls.setdefault(idx, [None, None, []])
                entry[0], entry[1] = item.get("call_id"), item.get("name")
        elif kind == "error":
            resp.error_type = as_str(obj.get("code")) or error_type(obj) or "error"
        else:
            inner = get_dict(obj, "response")
            if inner is not None:
                fill_responses(resp, inner, self.capture)
                if kind in ("response.completed", "response.incomplete", "response.failed"):
                    self._final = True
        return False

    def _build(self) -> LLMResponse:
        src = self._resp
        resp = LLMResponse(
            model=src.model,
            response_id=src.response_id,
            finish_reasons=list(src.finish_reasons) if self._final else [],
            input_tokens=src.input_tokens,
            output_tokens=src.output_tokens,
            cache_read_input_tokens=src.cache_read_input_tokens,
            error_type=src.error_type,
            output_messages=src.output_messages,
        )
        if self.capture and resp.output_messages is None and (self._texts or self._calls):
            parts: list[dict[str, Any]] = []
            for i in sorted(set(self._texts) | set(self._calls)):
                if i in self._texts:
                    parts.append(text_part("".join(self._texts[i])))
                if i in self._calls:
                    call_id, fn, args = self._calls[i]
                    parts.append(tool_call_part(call_id, fn, "".join(args)))
            finish = resp.finish_reasons[0] if resp.finish_reasons else None
            resp.output_messages = [message("assistant", parts, finish)]
        return resp
