"""Gemini API (generativelanguage / Vertex AI): ``models/{model}:generateContent`` and
``:streamGenerateContent`` (``?alt=sse`` SSE, else a streamed JSON array).

The model comes from the URL path; streaming is decided by the path. Requests may use camelCase or snake_case
field names (both are accepted by the API). Token counts follow genai-prices: input = promptTokenCount +
toolUsePromptTokenCount, output = candidatesTokenCount + thoughtsTokenCount. Public functions never raise.
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
    get_list,
    has_value,
    loads,
    loads_chunk,
    loads_request,
    message,
    sum_opt,
    text_part,
    tool_call_part,
    tool_response_part,
    url_part,
)
from otel_llm.providers.base import LLMRequest, LLMResponse, Message, StreamParser

__all__ = ["is_streaming", "model_from_path", "parse_request", "parse_response", "stream_parser"]

_ROLES = {"model": "assistant", "function": "tool"}
# Part members that are not content by themselves (an empty text with a thought signature is no chunk).
_NON_CONTENT = frozenset(("text", "thought", "thoughtSignature", "thought_signature", "videoMetadata"))


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    v = d.get(camel)
    return d.get(snake) if v is None else v


def _get_dict(d: dict[str, Any], camel: str, snake: str) -> dict[str, Any]:
    v = _get(d, camel, snake)
    return v if type(v) is dict else {}


def model_from_path(path: str) -> str | None:
    """``/v1beta/models/gemini-2.0-flash:generateContent`` -> ``gemini-2.0-flash`` (also Vertex paths)."""
    last = path.rsplit("/", 1)[-1].split(":", 1)[0]
    return last or None


def parse_request(body: bytes, *, operation: str, path: str, capture_content: bool) -> LLMRequest:
    req = LLMRequest(operation=operation, model=model_from_path(path), stream=path.endswith(":streamGenerateContent"))
    try:
        obj = loads_request(body, capture_content)
        if type(obj) is not dict:
            return req
        cfg = _get_dict(obj, "generationConfig", "generation_config")
        req.temperature = as_float(cfg.get("temperature"))
        req.top_p = as_float(_get(cfg, "topP", "top_p"))
        req.max_tokens = as_int(_get(cfg, "maxOutputTokens", "max_output_tokens"))
        req.seed = as_int(cfg.get("seed"))
        if capture_content:
            system = _get(obj, "systemInstruction", "system_instruction")
            if type(system) is dict:
                req.system_instructions = _parts(system.get("parts"))
            elif type(system) is str:
                req.system_instructions = [text_part(system)]
            req.input_messages = [_content(c) for c in get_list(obj, "contents") if type(c) is dict]
    except Exception:
        return req
    return req


def _content(c: dict[str, Any], finish: str | None = None) -> Message:
    role = as_str(c.get("role")) or "user"
    return message(_ROLES.get(role, role), _parts(c.get("parts")), finish)


def _parts(parts: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts if type(parts) is list else ():
        if type(p) is not dict:
            continue
        text = p.get("text")
        if type(text) is str:
            if p.get("thought") is True:
                out.append({"type": "reasoning", "content": text_part(text)["content"]})
            else:
                out.append(text_part(text))
            continue
        inline = _get(p, "inlineData", "inline_data")
        if type(inline) is dict:
            out.append(b64_blob_part(_get(inline, "mimeType", "mime_type"), inline.get("data")))
            continue
        file_data = _get(p, "fileData", "file_data")
        if type(file_data) is dict:
            part = url_part(_get(file_data, "fileUri", "file_uri"))
            mime = as_str(_get(file_data, "mimeType", "mime_type"))
            if mime:
                part["mime_type"] = mime
            out.append(part)
            continue
        call = _get(p, "functionCall", "function_call")
        if type(call) is dict:
            out.append(tool_call_part(call.get("id"), call.get("name"), call.get("args")))
            continue
        result = _get(p, "functionResponse", "function_response")
        if type(result) is dict:
            out.append(tool_response_part(result.get("id") or result.get("name"), result.get("response")))
            continue
        if p:
            out.append({"type": next(iter(p))})
    return out


def is_streaming(request: LLMRequest, path: str) -> bool:
    return path.endswith(":streamGenerateContent")


class _State:
    """What a GenerateContentResponse (whole, or one stream chunk) tells us; later chunks override."""

    def __init__(self) -> None:
        self.model: str | None = None
        self.response_id: str | None = None
        self.error: str | None = None
        self.finish: dict[int, str] = {}
        self.usage: dict[str, int] = {}
        self.parts: dict[int, list[dict[str, Any]]] = {}
        self.roles: dict[int, str] = {}

    def read(self, obj: dict[str, Any], capture: bool) -> bool:
        """Returns whether this response carries content."""
        self.model = as_str(_get(obj, "modelVersion", "model_version")) or self.model
        self.response_id = as_str(_get(obj, "responseId", "response_id")) or self.response_id
        self.error = error_type(obj) or self.error
        usage = _get(obj, "usageMetadata", "usage_metadata")
        if type(usage) is dict:
            for camel, snake in (
                ("promptTokenCount", "prompt_token_count"),
                ("candidatesTokenCount", "candidates_token_count"),
                ("thoughtsTokenCount", "thoughts_token_count"),
                ("toolUsePromptTokenCount", "tool_use_prompt_token_count"),
                ("cachedContentTokenCount", "cached_content_token_count"),
            ):
                v = as_int(_get(usage, camel, snake))
                if v is not None:
                    self.usage[camel] = v
        feedback = _get(obj, "promptFeedback", "prompt_feedback")
        if type(feedback) is dict and as_str(_get(feedback, "blockReason", "block_reason")):
            self.finish.setdefault(-1, as_str(_get(feedback, "blockReason", "block_reason")) or "")
        bearing = False
        for pos, cand in enumerate(get_list(obj, "candidates")):
            if type(cand) is not dict:
                continue
            idx = as_int(cand.get("index"))
            idx = pos if idx is None else idx
            fr = as_str(_get(cand, "finishReason", "finish_reason"))
            if fr:
                self.finish[idx] = fr
            content = cand.get("content")
            if type(content) is not dict:
                continue
            parts = get_list(content, "parts")
            if any(type(p) is dict and (p.get("text") or not _NON_CONTENT.issuperset(p)) for p in parts):
                bearing = True
            if capture:
                self.roles[idx] = as_str(content.get("role")) or "model"
                self.parts.setdefault(idx, []).extend(_parts(parts))
        return bearing

    def response(self, capture: bool) -> LLMResponse:
        u = self.usage
        resp = LLMResponse(
            model=self.model,
            response_id=self.response_id,
            error_type=self.error,
            finish_reasons=[self.finish[i] for i in sorted(self.finish)],
            input_tokens=sum_opt(u.get("promptTokenCount"), u.get("toolUsePromptTokenCount")),
            output_tokens=sum_opt(u.get("candidatesTokenCount"), u.get("thoughtsTokenCount")),
            cache_read_input_tokens=u.get("cachedContentTokenCount"),
        )
        if u.get("promptTokenCount") is None:
            resp.input_tokens = None  # a tool-use count alone is not the prompt size
        if capture:
            outputs: list[Message] = []
            for i in sorted(set(self.parts) | {k for k in self.finish if k >= 0}):
                role = self.roles.get(i, "model")
                outputs.append(message(_ROLES.get(role, role), _merge_text(self.parts.get(i, [])), self.finish.get(i)))
            resp.output_messages = outputs
        return resp


def _merge_text(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent streamed text pieces become one text part."""
    out: list[dict[str, Any]] = []
    for p in parts:
        if out and p.get("type") in ("text", "reasoning") and out[-1].get("type") == p.get("type"):
            out[-1] = {"type": p["type"], "content": out[-1]["content"] + p["content"]}
        else:
            out.append(p)
    return out


def parse_response(body: bytes, *, operation: str, capture_content: bool) -> LLMResponse:
    try:
        obj = loads(body)
        state = _State()
        if type(obj) is list:  # a whole streamed array read at once
            for item in obj:
                if type(item) is dict:
                    state.read(item, capture_content)
        elif type(obj) is dict:
            state.read(obj, capture_content)
        else:
            return LLMResponse()
        return state.response(capture_content)
    except Exception:
        return LLMResponse()


class GenerateContentStreamParser(BaseStreamParser):
    _kind = "gemini"

    def __init__(self, *, capture_content: bool) -> None:
        super().__init__(capture_content=capture_content)
        self._state = _State()
        self._deferred: bytes | None = None

    def _event(self, name: str, data: bytes) -> bool:
        if not self.capture and self._first:
            # Every chunk repeats model, id and the running usage: an ordinary text chunk is only parsed if it
            # turns out to be the last one before a finish/error chunk or the end of the stream.
            find = data.find
            if find(b"inishReason") < 0 and find(b"inish_reason") < 0 and find(b'"error"') < 0:
                bearing = has_value(data, b'"text"')
                if bearing is not None:
                    self._deferred = data
                    return bearing
        self._parse_deferred()
        obj = loads_chunk(data)
        if type(obj) is not dict:
            return False
        return self._state.read(obj, self.capture)

    def _parse_deferred(self) -> None:
        if self._deferred is not None:
            obj = loads_chunk(self._deferred)
            self._deferred = None
            if type(obj) is dict:
                self._state.read(obj, self.capture)

    def _build(self) -> LLMResponse:
        self._parse_deferred()
        return self._state.response(self.capture)

    def _whole(self, body: bytes) -> LLMResponse:
        return parse_response(body, operation="generate_content", capture_content=self.capture)


def stream_parser(*, operation: str, capture_content: bool) -> StreamParser:
    return GenerateContentStreamParser(capture_content=capture_content)
