"""Helpers shared by the provider parsers: forgiving JSON, typed field access, semconv message parts, blobs,
and the base class of the incremental stream parsers. Nothing here raises on bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from otel_llm.providers._events import JSONStreamDecoder, NDJSONDecoder, SSEDecoder
from otel_llm.providers.base import LLMResponse, Message

# The C scanner behind json.loads, without the str/bytes dispatch and the trailing-whitespace check.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

# A streamed body that turns out to be one plain JSON document (an error, or a server that ignored "stream")
# is kept up to this many bytes and parsed whole at the end.
RAW_BODY_CAP = 8 * 1024 * 1024


def loads(data: bytes | bytearray | str) -> Any:
    """``json.loads`` that returns None instead of raising; invalid UTF-8 is decoded with replacement."""
    if type(data) is bytes:  # the common case, without json.loads' encoding detection and wrapper layers
        try:
            text = data.decode("utf-8")
            value, end = _scan_once(text, 0)
            if end == len(text) or not text[end:].strip(" \t\n\r"):  # JSON's own whitespace only
                return value
        except (StopIteration, ValueError, RecursionError):
            pass  # leading whitespace, BOM, invalid UTF-8 or JSON: the general path below decides
    try:
        return json.loads(data)
    except RecursionError:
        return None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        if isinstance(data, str):
            return None
    try:
        return json.loads(bytes(data).decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None


# A request body this large, with few strings for its size, is parsed without its long strings when content is
# not captured: base64 images and long documents then cost a few memchr scans instead of a full JSON parse on
# the request thread (~3 ms per MB).
SKELETON_MIN_BYTES = 256 * 1024
_LONG_STRING = 1024  # bytes: longer strings are emptied (no field read from a request is that long)
_BYTES_PER_STRING = 16 * 1024  # more strings than 64 + one per this many bytes: the plain parse is faster


def loads_request(data: bytes, capture_content: bool) -> Any:
    """The request body as JSON for reading its fields; None when unreadable.

    With content capture off, a large body whose strings are few and long is parsed as a "skeleton": every
    string longer than ``_LONG_STRING`` bytes becomes ``""``. Every other value, and the structure, is exactly
    what ``loads`` gives. (In JSON a double quote outside a string delimits one, and inside one it is escaped by
    an odd number of backslashes, so the strings can be found with ``bytes.find`` alone.)
    """
    if capture_content or type(data) is not bytes or len(data) < SKELETON_MIN_BYTES:
        return loads(data)
    find = data.find
    parts: list[bytes] = []
    copied = pos = 0
    strings_left = 64 + len(data) // _BYTES_PER_STRING
    while True:
        opening = find(b'"', pos)
        if opening < 0:
            break
        strings_left -= 1
        if strings_left < 0:  # many short strings: the plain parse is faster than this walk
            return loads(data)
        closing = find(b'"', opening + 1)
        while closing > 0 and _escaped(data, closing):
            closing = find(b'"', closing + 1)
        if closing < 0:  # an unterminated string: the plain parse says what it is
            return loads(data)
        if closing - opening - 1 > _LONG_STRING:
            parts.append(data[copied : opening + 1])
            copied = closing
        pos = closing + 1
    if not parts:
        return loads(data)
    parts.append(data[copied:])
    return loads(b"".join(parts))


def _escaped(data: bytes, quote: int) -> bool:
    """Whether the double quote at ``quote`` is preceded by an odd number of backslashes."""
    i = quote - 1
    while i >= 0 and data[i] == 0x5C:
        i -= 1
    return (quote - 1 - i) % 2 == 1


def loads_chunk(data: bytes) -> Any:
    """Fast path for one small stream event (a few hundred bytes of compact JSON): None when unreadable."""
    try:
        return _scan_once(data.decode("utf-8"), 0)[0]
    except (StopIteration, ValueError, RecursionError):  # StopIteration: no JSON value at offset 0
        return loads(data)


def as_int(v: Any) -> int | None:
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    return None


def as_float(v: Any) -> float | None:
    if type(v) is float or type(v) is int:
        return float(v)
    return None


def clean(s: str) -> str:
    """Make a string safe to encode as UTF-8 (lone surrogates from JSON escapes become U+FFFD)."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return s


def as_str(v: Any) -> str | None:
    return clean(v) if type(v) is str else None


def get_dict(d: Any, key: str) -> dict[str, Any] | None:
    v = d.get(key) if type(d) is dict else None
    return v if type(v) is dict else None


def get_list(d: Any, key: str) -> list[Any]:
    v = d.get(key) if type(d) is dict else None
    return v if type(v) is list else []


def error_type(obj: Any) -> str | None:
    """The type of an ``error`` member inside a 2xx body: error.type, else error.code/status, as a string."""
    if type(obj) is not dict:
        return None
    err = obj.get("error")
    if err is None or err is False:
        return None
    if type(err) is dict:
        for key in ("type", "code", "status"):
            v = err.get(key)
            if type(v) is str and v:
                return clean(v)
        v = err.get("code")
        if type(v) is int:
            return str(v)
        return "error"
    if type(err) is str:
        return "error" if err else None
    return None


def sum_opt(*values: int | None) -> int | None:
    """Sum of the reported values; None when none was reported."""
    total: int | None = None
    for v in values:
        if v is not None:
            total = v if total is None else total + v
    return total


def value_start(data: bytes, key: bytes) -> int:
    """-1 when key is absent, -2 when it occurs more than once, else the offset of its value's first byte."""
    i = data.find(key)
    if i < 0:
        return -1
    j = i + len(key)
    if data.find(key, j) >= 0:
        return -2
    n = len(data)
    while j < n and data[j] in b" \t:":
        j += 1
    return j


def has_value(data: bytes, key: bytes) -> bool | None:
    """Whether key has a non-empty string/list/object value; None when unsure (then parse the chunk)."""
    j = value_start(data, key)
    if j == -1:
        return False
    if j < 0 or j + 1 >= len(data):
        return None
    c, nxt = data[j], data[j + 1]
    if c == 110:  # null
        return False
    if c == 34:  # "
        return nxt != 34
    if c == 91:  # [
        return nxt != 93
    return None


# --- semconv message parts -------------------------------------------------------------------------------


def text_part(content: str) -> dict[str, Any]:
    return {"type": "text", "content": clean(content)}


def tool_call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "tool_call", "id": as_str(call_id), "name": as_str(name)}
    part["arguments"] = clean(arguments) if type(arguments) is str else arguments
    return part


def tool_response_part(call_id: Any, response: Any) -> dict[str, Any]:
    return {
        "type": "tool_call_response",
        "id": as_str(call_id),
        "response": clean(response) if type(response) is str else response,
    }


def modality(mime: str | None) -> str | None:
    if not mime:
        return None
    major = mime.split("/", 1)[0]
    return major if major in ("image", "audio", "video") else None


def b64_size(s: str) -> int:
    """Decoded size of a base64 string without decoding it: 3/4 of its length minus padding."""
    pad = 2 if s.endswith("==") else 1 if s.endswith("=") else 0
    return max(len(s) * 3 // 4 - pad, 0)


def blob_part(mime: Any, size: int) -> dict[str, Any]:
    mime_s = as_str(mime)
    part: dict[str, Any] = {"type": "blob", "mime_type": mime_s, "size": size}
    mod = modality(mime_s)
    if mod:
        part["modality"] = mod
    return part


def b64_blob_part(mime: Any, data: Any) -> dict[str, Any]:
    return blob_part(mime, b64_size(data) if isinstance(data, str) else 0)


def url_part(url: Any, default_modality: str | None = None) -> dict[str, Any]:
    """A ``data:`` URL becomes a blob (never its bytes); any other URL a uri part."""
    if type(url) is not str:
        return {"type": "uri", "uri": None}
    if url.startswith("data:"):
        comma = url.find(",", 0, 256)
        header = url[5:comma] if comma >= 0 else url[5:256]
        mime = header.split(";", 1)[0] or None
        if comma < 0:
            size = 0
        elif header.endswith(";base64"):
            n = len(url) - comma - 1
            pad = 2 if url.endswith("==") else 1 if url.endswith("=") else 0
            size = max(n * 3 // 4 - pad, 0)
        else:
            size = len(url) - comma - 1
        return blob_part(mime, size)
    part: dict[str, Any] = {"type": "uri", "uri": clean(url)}
    if default_modality:
        part["modality"] = default_modality
    return part


def message(role: Any, parts: list[dict[str, Any]], finish_reason: str | None = None) -> Message:
    msg: Message = {"role": as_str(role) or "user", "parts": parts}
    if finish_reason is not None:
        msg["finish_reason"] = finish_reason
    return msg


def parse_arguments(text: str) -> Any:
    """Streamed tool arguments arrive as JSON text; keep the object when it parses, else the text."""
    if not text:
        return {}
    v = loads(text)
    return v if type(v) in (dict, list) else clean(text)


# --- stream parser base ----------------------------------------------------------------------------------


class BaseStreamParser:
    """Feeds decoded events to ``_event`` (returns True for a content-bearing event) and builds the result.

    ``_kind`` picks the framing: "sse", "ndjson", or "gemini" (SSE, or a streamed JSON array when the body
    starts with ``[``). For "sse" a body starting with ``{`` or ``[`` is not a stream at all (an error, or a
    server that ignored ``stream``): it is kept and parsed whole by ``_whole``.
    """

    _kind = "sse"

    def __init__(self, *, capture_content: bool) -> None:
        self.capture = capture_content
        self._decoder: SSEDecoder | NDJSONDecoder | JSONStreamDecoder | None = None
        self._raw: list[bytes] | None = None
        self._raw_len = 0
        self._first = False
        self.chunks = 0

    def feed(self, data: bytes) -> bool:
        try:
            dec = self._decoder
            if dec is None:
                if self._raw is not None:
                    if self._raw_len < RAW_BODY_CAP:
                        self._raw.append(data)
                        self._raw_len += len(data)
                    return False
                dec = self._start(data)
                if dec is None:
                    return False
            hit = False
            if isinstance(dec, SSEDecoder):
                for name, payload in dec.feed(data):
                    if self._event(name, payload):
                        self.chunks += 1
                        if not self._first:
                            self._first = hit = True
            else:
                for payload in dec.feed(data):
                    if self._event("", payload):
                        self.chunks += 1
                        if not self._first:
                            self._first = hit = True
        except Exception:
            return False
        return hit

    def _start(self, data: bytes) -> SSEDecoder | NDJSONDecoder | JSONStreamDecoder | None:
        head = data.lstrip()
        if not head:
            return None  # leading whitespace only: decide on the next bytes
        first = head[0]
        dec: SSEDecoder | NDJSONDecoder | JSONStreamDecoder
        if self._kind == "ndjson":
            dec = NDJSONDecoder()
        elif self._kind == "gemini" and first in b"[{":
            dec = JSONStreamDecoder()
        elif first in b"[{" and self._kind == "sse":
            self._raw = [data]
            self._raw_len = len(data)
            return None
        else:
            dec = SSEDecoder()
        self._decoder = dec
        return dec

    def result(self) -> LLMResponse:
        try:
            if self._raw is not None:
                return self._whole(b"".join(self._raw))
            dec = self._decoder
            if dec is not None:
                if isinstance(dec, SSEDecoder):
                    for name, payload in dec.flush():
                        if self._event(name, payload):
                            self.chunks += 1
                else:
                    for payload in dec.flush():
                        if self._event("", payload):
                            self.chunks += 1
            resp = self._build()
            resp.chunks = self.chunks
        except Exception:
            return LLMResponse(chunks=self.chunks)
        return resp

    # --- for subclasses ---
    def _event(self, name: str, data: bytes) -> bool:
        raise NotImplementedError

    def _build(self) -> LLMResponse:
        raise NotImplementedError

    def _whole(self, body: bytes) -> LLMResponse:
        raise NotImplementedError
