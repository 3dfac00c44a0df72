"""``stream_options.include_usage`` for OpenAI-compatible streams, added by us and hidden from the app.

:func:`inject_include_usage` adds the option to a streaming chat/completions request body that lacks it;
:class:`UsageChunkStripper` then removes, from the bytes the app reads, the one usage-only event
(``"choices": []`` with a ``usage`` object) that the option caused, so the app's SDK yields exactly the chunks
it would have yielded without us. Neither ever raises.
"""

from __future__ import annotations

import json
from typing import Any

from otel_llm.providers.base import LLMRequest

__all__ = ["UsageChunkStripper", "inject_include_usage"]

_OPTION = b'"stream_options":{"include_usage":true},'
_WS = b" \t\r\n"
_WS_BYTES = frozenset(bytes([c]) for c in _WS)


def inject_include_usage(body: bytes, request: LLMRequest | None = None) -> bytes | None:
    """The body with ``"stream_options": {"include_usage": true}`` added, or None when there is nothing to do.

    Nothing to do: not a JSON object, ``stream`` not true, or ``stream_options.include_usage`` already given
    (true or false: an explicit choice of the app is kept). The common case inserts bytes after the opening
    brace without re-serialising the body.

    Pass the :class:`LLMRequest` that ``openai.parse_request`` made of this body to skip parsing it again:
    its ``stream`` is only true for a JSON object with ``"stream": true``, and a body whose bytes never spell
    ``"stream_options"`` (an escaped quote inside a string cannot) has no such key.
    """
    try:
        if request is not None:
            if not request.stream:
                return None
            if body.find(b'"stream_options"') < 0:
                return _insert(body)
        obj: Any = json.loads(body)
        if type(obj) is not dict or obj.get("stream") is not True:
            return None
        options = obj.get("stream_options")
        if "stream_options" not in obj:
            return _insert(body)
        if options is None or (type(options) is dict and "include_usage" not in options):
            obj["stream_options"] = {**(options or {}), "include_usage": True}
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    except Exception:
        return None
    return None


def _insert(body: bytes) -> bytes | None:
    i = 0
    while body[i : i + 1] in _WS_BYTES:  # leading whitespace, without copying a large body to strip it
        i += 1
    if body[i : i + 1] != b"{":
        return None  # e.g. a UTF-16 body: leave it alone
    return b"".join((body[: i + 1], _OPTION, memoryview(body)[i + 1 :]))


def _is_usage_only(event: bytes) -> bool:
    """A complete SSE event whose data is a chunk with ``"choices": []`` and a usage object."""
    if b'"usage"' not in event or b"[]" not in event:
        return False
    data = [line[5:] for line in event.splitlines() if line.startswith(b"data:")]
    if not data:
        return False
    try:
        obj = json.loads(b"\n".join(data))
    except (ValueError, RecursionError):
        return False
    return type(obj) is dict and obj.get("choices") == [] and type(obj.get("usage")) is dict


class UsageChunkStripper:
    """Pass SSE bytes through unchanged except for the first usage-only event.

    Holds back only the bytes of the current incomplete event; once that event has been removed every later
    byte is passed through as it comes.
    """

    __slots__ = ("_done", "_drop_lf", "_pending")

    def __init__(self) -> None:
        self._pending = b""
        self._done = False
        self._drop_lf = False  # the removed event ended in "\r"; a "\n" right after it belongs to it

    def feed(self, data: bytes) -> bytes:
        try:
            if self._drop_lf and data:
                self._drop_lf = False
                if data[0] == 10:
                    data = data[1:]
            if self._done:
                return data
            if not self._pending:
                if b'"usage"' not in data and data.endswith((b"\n\n", b"\r\r", b"\n\r\n")):
                    return data  # only complete events, none of them the usage event
                buf = data
            else:
                buf = self._pending + data
                if b"\n" not in data and b"\r" not in data:
                    self._pending = buf
                    return b""
            return self._split(buf)
        except Exception:
            out, self._pending, self._done = self._pending + data, b"", True
            return out

    def _split(self, buf: bytes) -> bytes:
        out: list[bytes] = []
        start = pos = 0
        for line in buf.splitlines(keepends=True):
            pos += len(line)
            if line not in (b"\n", b"\r\n", b"\r"):
                continue
            event = buf[start:pos]
            if not self._done and _is_usage_only(event):
                self._done = True
                if pos == len(buf) and buf.endswith(b"\r"):
                    self._drop_lf = True
            else:
                out.append(event)
            start = pos
            if self._done:
                break
        rest = buf[start:]
        if self._done:
            out.append(rest)
            self._pending = b""
        else:
            self._pending = rest
        return b"".join(out)

    def flush(self) -> bytes:
        """End of stream: the held-back bytes (unless they are the usage event without its blank line)."""
        rest, self._pending = self._pending, b""
        try:
            if rest and not self._done and _is_usage_only(rest):
                self._done = True
                return b""
        except Exception:
            return rest
        return rest
