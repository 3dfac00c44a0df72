"""OpenAI-compatible wire format: /chat/completions, /completions, /responses, /embeddings.

Also spoken by Azure OpenAI, vLLM, OpenRouter, LM Studio, Bifrost and the OpenAI-compatible endpoints of
Anthropic, Gemini and Ollama. Public functions never raise.
"""

from __future__ import annotations

import json
from typing import Any

from otel_llm.attributes import OP_CHAT, OP_EMBEDDINGS, OP_TEXT_COMPLETION
from otel_llm.providers._common import (
    BaseStreamParser,
    as_float,
    as_int,
    as_str,
    b64_blob_part,
    error_type,
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
    url_part,
    value_start,
)
from otel_llm.providers._include_usage import UsageChunkStripper, inject_include_usage
from otel_llm.providers._openai_responses import (
    ResponsesStreamParser,
    apply_usage,
    fill_responses,
    responses_input,
)
from otel_llm.providers.base import LLMRequest, LLMResponse, Message, StreamParser

__all__ = [
    "UsageChunkStripper",
    "inject_include_usage",
    "is_streaming",
    "parse_request",
    "parse_response",
    "stream_parser",
]

OP_RESPONSES = "responses"  # internal marker; reported as gen_ai.operation.name "chat"

_decoder = json.JSONDecoder()


# --- request ---------------------------------------------------------------------------------------------


def _azure_deployment(path: str) -> str | None:
    """Azure's classic URLs name the deployment, not the model: /openai/deployments/{name}/chat/..."""
    i = path.find("/deployments/")
    if i < 0:
        return None
    name = path[i + 13 :].split("/", 1)[0]
    return name or None


def parse_request(body: bytes, *, operation: str, path: str, capture_content: bool) -> LLMRequest:
    req = LLMRequest(operation=OP_CHAT if operation == OP_RESPONSES else operation)
    try:
        obj = loads_request(body, capture_content)
        if type(obj) is not dict:
            req.model = _azure_deployment(path)
            return req
        req.model = as_str(obj.get("model")) or _azure_deployment(path)
        req.stream = obj.get("stream") is True
        if operation == OP_EMBEDDINGS:
            return req
        req.temperature = as_float(obj.get("temperature"))
        req.top_p = as_float(obj.get("top_p"))
        req.seed = as_int(obj.get("seed"))
        if operation == OP_RESPONSES:
            req.max_tokens = as_int(obj.get("max_output_tokens"))
        else:
            req.max_tokens = as_int(obj.get("max_completion_tokens"))
            if req.max_tokens is None:
                req.max_tokens = as_int(obj.get("max_tokens"))
        if capture_content:
            if operation == OP_CHAT:
                req.input_messages = [_chat_message(m) for m in get_list(obj, "messages") if type(m) is dict]
            elif operation == OP_TEXT_COMPLETION:
                req.input_messages = _prompt_messages(obj.get("prompt"))
            elif operation == OP_RESPONSES:
                req.input_messages = responses_input(obj.get("input"))
                instructions = as_str(obj.get("instructions"))
                if instructions:
                    req.system_instructions = [text_part(instructions)]
    except Exception:
        return req
    return req


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Chat-completions message content (a string or a list of typed parts) as semconv parts."""
    if type(content) is str:
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    if type(content) is not list:
        return parts
    for p in content:
        if type(p) is str:
            parts.append(text_part(p))
            continue
        if type(p) is not dict:
            continue
        kind = p.get("type")
        if kind == "text" and type(p.get("text")) is str:
            parts.append(text_part(p["text"]))
        elif kind == "refusal" and type(p.get("refusal")) is str:
            parts.append(text_part(p["refusal"]))
        elif kind == "image_url":
            img = p.get("image_url")
            parts.append(url_part(img.get("url") if type(img) is dict else img, "image"))
        elif kind == "input_audio":
            audio = get_dict(p, "input_audio") or {}
            fmt = as_str(audio.get("format"))
            parts.append(b64_blob_part(f"audio/{fmt}" if fmt else None, audio.get("data")))
        elif kind == "file":
            f = get_dict(p, "file") or {}
            if type(f.get("file_data")) is str:
                data = f["file_data"]
                parts.append(url_part(data) if data.startswith("data:") else b64_blob_part(None, data))
            else:
                parts.append({"type": "file", "file_id": as_str(f.get("file_id"))})
        elif type(kind) is str:
            parts.append({"type": kind})
    return parts


def _text_of(content: Any) -> Any:
    if type(content) is list:
        texts: list[str] = [p["text"] for p in content if type(p) is dict and type(p.get("text")) is str]
        return "".join(texts) if len(texts) == len(content) else content
    return content


def _chat_message(m: dict[str, Any]) -> Message:
    role = as_str(m.get("role")) or "user"
    if role in ("tool", "function"):
        call_id = m.get("tool_call_id") if role == "tool" else m.get("name")
        return message(role, [tool_response_part(call_id, _text_of(m.get("content")))])
    parts = content_parts(m.get("content"))
    for tc in get_list(m, "tool_calls"):
        fn = get_dict(tc, "function") or {}
        parts.append(tool_call_part(tc.get("id"), fn.get("name"), fn.get("arguments")))
    fc = get_dict(m, "function_call")
    if fc is not None:
        parts.append(tool_call_part(None, fc.get("name"), fc.get("arguments")))
    return message(role, parts)


def _prompt_messages(prompt: Any) -> list[Message]:
    if type(prompt) is str:
        return [message("user", [text_part(prompt)])]
    if type(prompt) is list and all(type(p) is str for p in prompt):
        return [message("user", [text_part(p) for p in prompt])]
    return []  # token-id prompts carry no text


def is_streaming(request: LLMRequest, path: str) -> bool:
    return request.stream


# --- response --------------------------------------------------------------------------------------------


def parse_response(body: bytes, *, operation: str, capture_content: bool) -> LLMResponse:
    resp = LLMResponse()
    try:
        if operation == OP_EMBEDDINGS and len(body) > 65536:
            return _embeddings_tail(body) or _parse_obj(loads(body), resp, operation, capture_content)
        return _parse_obj(loads(body), resp, operation, capture_content)
    except Exception:
        return resp


def _parse_obj(obj: Any, resp: LLMResponse, operation: str, capture: bool) -> LLMResponse:
    if type(obj) is not dict:
        return resp
    resp.error_type = error_type(obj)
    resp.model = as_str(obj.get("model")) or None
    resp.response_id = as_str(obj.get("id")) or None
    if operation == OP_RESPONSES or obj.get("object") == "response":
        fill_responses(resp, obj, capture)
        return resp
    apply_usage(resp, obj.get("usage"))
    if operation == OP_EMBEDDINGS:
        resp.output_tokens = None
        return resp
    outputs: list[Message] = []
    for ch in get_list(obj, "choices"):
        if type(ch) is not dict:
            continue
        fr = as_str(ch.get("finish_reason"))
        if fr is not None:
            resp.finish_reasons.append(fr)
        if capture:
            msg = get_dict(ch, "message")
            if msg is not None:
                out = _chat_message(msg)
                out["role"] = as_str(msg.get("role")) or "assistant"
            else:
                text = ch.get("text")
                out = message("assistant", [text_part(text)] if type(text) is str else [])
            if fr is not None:
                out["finish_reason"] = fr
            outputs.append(out)
    if capture:
        resp.output_messages = outputs
    return resp


def _tail_value(body: bytes, key: bytes) -> Any:
    """The JSON value of the last ``"key":`` in body, read from a small slice (no full parse)."""
    i = body.rfind(key)
    if i < 0:
        return None
    j = body.find(b":", i + len(key), i + len(key) + 16)
    if j < 0:
        return None
    text = body[j + 1 : j + 1 + 2048].decode("utf-8", "replace").lstrip()
    try:
        return _decoder.raw_decode(text)[0]
    except ValueError:
        return None


def _embeddings_tail(body: bytes) -> LLMResponse | None:
    """Multi-MB embedding responses: read model and usage after the vectors instead of parsing them."""
    usage = _tail_value(body, b'"usage"')
    if type(usage) is not dict:
        return None
    resp = LLMResponse(model=as_str(_tail_value(body, b'"model"')) or None)
    apply_usage(resp, usage)
    resp.output_tokens = None
    return resp


# --- streaming -------------------------------------------------------------------------------------------


def _is_null(data: bytes, key: bytes) -> bool:
    """True when key is absent or null (then the chunk carries no finish reason / usage / error)."""
    j = value_start(data, key)
    return j == -1 or (j >= 0 and data[j : j + 4] == b"null")


class ChatStreamParser(BaseStreamParser):
    """chat.completion.chunk and text_completion streams, usage from the include_usage event."""

    def __init__(self, *, capture_content: bool, completions: bool = False) -> None:
        super().__init__(capture_content=capture_content)
        self._completions = completions
        self._resp = LLMResponse()
        self._finish: dict[int, str] = {}
        self._roles: dict[int, str] = {}
        self._texts: dict[int, list[str]] = {}
        self._tools: dict[int, dict[int, list[Any]]] = {}  # choice -> tool index -> [id, name, [args]]

    def _whole(self, body: bytes) -> LLMResponse:
        op = OP_TEXT_COMPLETION if self._completions else OP_CHAT
        return parse_response(body, operation=op, capture_content=self.capture)

    def _fast(self, data: bytes) -> bool | None:
        """Content-bearing or not, read from the bytes of an ordinary delta chunk; None: parse it.

        Only chunks that cannot carry a finish reason, usage or error are read this way: first a quick check
        for the compact JSON that OpenAI, vLLM and most servers send, then a spacing-tolerant one.
        """
        find = data.find
        i = find(b'"finish_reason":null')
        if i >= 0 and find(b'"finish_reason"', i + 20) < 0 and find(b'"error"') < 0:
            u = find(b'"usage"')
            if u < 0 or data.startswith(b'"usage":null', u):
                key = b'"text":"' if self._completions else b'"content":"'
                j = find(key)
                k = j + len(key)
                if j >= 0 and k < len(data) and data[k] != 34 and find(key, k) < 0:
                    return True
        if not (_is_null(data, b'"finish_reason"') and _is_null(data, b'"usage"') and b'"error"' not in data):
            return None
        if self._completions:
            return has_value(data, b'"text"')
        bearing = has_value(data, b'"content"')
        if bearing is None or bearing:
            return bearing
        for key in (b'"tool_calls"', b'"reasoning_content"', b'"reasoning"', b'"refusal"'):
            v = has_value(data, key)
            if v is None or v:
                return v
        return b'"function_call"' in data or None

    def _event(self, name: str, data: bytes) -> bool:
        if data[:6] == b"[DONE]":
            return False
        resp = self._resp
        if not self.capture and self._first and resp.model is not None and resp.response_id is not None:
            fast = self._fast(data)
            if fast is not None:
                return fast
        obj = loads_chunk(data)
        if type(obj) is not dict:
            return False
        if resp.response_id is None:
            resp.response_id = as_str(obj.get("id")) or None
        if resp.model is None:
            resp.model = as_str(obj.get("model")) or None
        err = error_type(obj)
        if err is not None:
            resp.error_type = err
        apply_usage(resp, obj.get("usage"))
        bearing = False
        for ch in get_list(obj, "choices"):
            if type(ch) is not dict:
                continue
            idx = as_int(ch.get("index")) or 0
            fr = ch.get("finish_reason")
            if type(fr) is str:
                self._finish[idx] = as_str(fr) or fr
            if self._completions:
                text = ch.get("text")
                if type(text) is str and text:
                    bearing = True
                    if self.capture:
                        self._texts.setdefault(idx, []).append(text)
                continue
            delta = ch.get("delta")
            if type(delta) is not dict:
                continue
            if self._delta(idx, delta):
                bearing = True
        return bearing

    def _delta(self, idx: int, delta: dict[str, Any]) -> bool:
        bearing = False
        content = delta.get("content")
        if type(content) is str and content:
            bearing = True
            if self.capture:
                self._texts.setdefault(idx, []).append(content)
        refusal = delta.get("refusal")
        if type(refusal) is str and refusal:
            bearing = True
            if self.capture:
                self._texts.setdefault(idx, []).append(refusal)
        for key in ("reasoning_content", "reasoning"):
            r = delta.get(key)
            if type(r) is str and r:
                bearing = True
        tool_calls = delta.get("tool_calls")
        if type(tool_calls) is list and tool_calls:
            bearing = True
            if self.capture:
                self._tool_deltas(idx, tool_calls)
        fc = delta.get("function_call")
        if type(fc) is dict:
            bearing = True
            if self.capture:
                self._tool_deltas(idx, [{"index": 0, "function": fc}])
        if self.capture:
            role = delta.get("role")
            if type(role) is str:
                self._roles[idx] = role
        return bearing

    def _tool_deltas(self, idx: int, tool_calls: list[Any]) -> None:
        tools = self._tools.setdefault(idx, {})
        for tc in tool_calls:
            if type(tc) is not dict:
                continue
            ti = as_int(tc.get("index"))
            if ti is None:
                ti = len(tools)
            entry = tools.setdefault(ti, [None, None, []])
            if type(tc.get("id")) is str:
                entry[0] = tc["id"]
            fn = get_dict(tc, "function") or {}
            if type(fn.get("name")) is str:
                entry[1] = fn["name"]
            args = fn.get("arguments")
            if type(args) is str:
                entry[2].append(args)
            elif args is not None:
                entry[2] = [args]

    def _build(self) -> LLMResponse:
        src = self._resp
        resp = LLMResponse(
            model=src.model,
            response_id=src.response_id,
            finish_reasons=[self._finish[i] for i in sorted(self._finish)],
            input_tokens=src.input_tokens,
            output_tokens=src.output_tokens,
            cache_read_input_tokens=src.cache_read_input_tokens,
            error_type=src.error_type,
        )
        if self.capture:
            outputs: list[Message] = []
            for i in sorted(set(self._texts) | set(self._tools) | set(self._finish) | set(self._roles)):
                parts: list[dict[str, Any]] = []
                if i in self._texts:
                    parts.append(text_part("".join(self._texts[i])))
                for _, (call_id, name, args) in sorted(self._tools.get(i, {}).items()):
                    joined: Any = "".join(args) if all(type(a) is str for a in args) else args[-1]
                    parts.append(tool_call_part(call_id, name, joined))
                outputs.append(message(self._roles.get(i, "assistant"), parts, self._finish.get(i)))
            resp.output_messages = outputs
        return resp


class _NoStream(BaseStreamParser):
    """Embeddings never stream; whatever arrives is parsed whole."""

    def __init__(self, *, capture_content: bool, operation: str) -> None:
        super().__init__(capture_content=capture_content)
        self._op = operation
        self._raw = []

    def _whole(self, body: bytes) -> LLMResponse:
        return parse_response(body, operation=self._op, capture_content=self.capture)


def stream_parser(*, operation: str, capture_content: bool) -> StreamParser:
    if operation == OP_RESPONSES:
        return ResponsesStreamParser(capture_content=capture_content)
    if operation == OP_EMBEDDINGS:
        return _NoStream(capture_content=capture_content, operation=operation)
    return ChatStreamParser(capture_content=capture_content, completions=operation == OP_TEXT_COMPLETION)
