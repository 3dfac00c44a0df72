"""Incremental decoders for streamed response bodies: SSE, NDJSON and streamed JSON arrays.

They run on every streamed chunk in the app's thread, so they work on bytes, split only complete lines with
``bytes.splitlines`` (which knows ``\\n``, ``\\r\\n`` and ``\\r`` and nothing else), and leave decoding of the
payload to the caller (``json.loads`` reads bytes directly). Each decoder holds back at most the current
incomplete line (or, for JSON arrays, the current incomplete object). None of them raises on bad input.
"""

from __future__ import annotations

import re

__all__ = ["JSONStreamDecoder", "NDJSONDecoder", "SSEDecoder", "SSEEvent"]


# One dispatched server-sent event: (the ``event:`` name, "" when none was given; the joined data lines).
# A plain tuple: creating a NamedTuple costs more than the rest of the common-case decode.
SSEEvent = tuple[str, bytes]


class SSEDecoder:
    """Server-sent events decoder (WHATWG event-stream rules) fed with bytes split anywhere.

    ``feed`` returns the events completed by the bytes, ``flush`` those left at the end of the stream (a final
    event without the trailing blank line, or a last line without its line ending).
    """

    __slots__ = ("_buf", "_data", "_event", "_skip_lf")

    def __init__(self) -> None:
        self._buf = b""  # incomplete last line
        self._data: list[bytes] = []  # data lines of the event being read
        self._event = ""
        self._skip_lf = False  # the previous chunk ended in "\r": a "\n" starting the next one belongs to it

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[0] == 10:  # b"\n"
                chunk = chunk[1:]
        if (
            not self._buf
            and not self._data
            and chunk.startswith(b"data: ")
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk.endswith(b"\n\n")
            and chunk.find(b"\r") < 0
        ):
            # The common chunk: exactly one "data: ...\n\n" event.
            event, self._event = self._event, ""
            return [(event, chunk[6:-2])]
        buf = self._buf + chunk if self._buf else chunk
        if b"\n" not in buf and b"\r" not in buf:
            self._buf = buf
            return []
        lines = buf.splitlines()
        last = buf[-1]
        if last == 13:  # b"\r"
            self._skip_lf = True
            self._buf = b""
        elif last == 10:
            self._buf = b""
        else:
            self._buf = lines.pop()
        return self._lines(lines)

    def flush(self) -> list[SSEEvent]:
        """End of stream: complete the last line and the last event."""
        lines = [self._buf] if self._buf else []
        self._buf = b""
        self._skip_lf = False
        events = self._lines(lines)
        if self._data:
            events.append(self._dispatch())
        self._event = ""
        return events

    def _dispatch(self) -> SSEEvent:
        data = self._data
        ev = (self._event, data[0] if len(data) == 1 else b"\n".join(data))
        self._data = []
        self._event = ""
        return ev

    def _lines(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = ""
                continue
            if line.startswith(b"data:"):  # the common case first
                value = line[5:]
                self._data.append(value[1:] if value[:1] == b" " else value)
                continue
            colon = line.find(b":")
            if colon == 0:  # comment, e.g. ": keep-alive" or ": OPENROUTER PROCESSING"
                continue
            if colon < 0:
                name, value = line, b""
            else:
                name, value = line[:colon], line[colon + 1 :]
                if value[:1] == b" ":
                    value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
            # "id", "retry" and unknown fields are ignored
        return events


class NDJSONDecoder:
    """Newline-delimited JSON: returns each complete non-blank line (without its line ending)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\n" not in buf and b"\r" not in buf:
            self._buf = buf
            return []
        lines = buf.splitlines()
        last = buf[-1]
        self._buf = b"" if last in (10, 13) else lines.pop()
        return [line for line in lines if line and not line.isspace()]

    def flush(self) -> list[bytes]:
        buf, self._buf = self._buf, b""
        return [buf] if buf and not buf.isspace() else []


# Structural bytes of JSON that matter for finding top-level objects: braces, quotes and backslashes.
_JSON_TOKENS = re.compile(rb'[{}"\\]')


class JSONStreamDecoder:
    """Top-level JSON objects from a streamed JSON array (``[{...},\\r\\n{...}]``) or concatenated objects.

    Scans each chunk once for braces, quotes and backslashes (one regex pass per chunk, not per byte) and
    returns the bytes of every object completed at depth 0. Brackets and commas between objects are ignored.
    """

    __slots__ = ("_buf", "_depth", "_escape_at", "_in_string", "_scan", "_start")

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # offset in _buf scanned so far
        self._start = -1  # offset of the current top-level object's "{"
        self._depth = 0
        self._in_string = False
        self._escape_at = -1  # offset of a byte escaped by a backslash

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf
        buf += chunk
        out: list[bytes] = []
        depth = self._depth
        in_string = self._in_string
        escape_at = self._escape_at
        start = self._start
        for m in _JSON_TOKENS.finditer(buf, self._scan):
            pos = m.start()
            if pos == escape_at:
                continue
            c = buf[pos]
            if in_string:
                if c == 92:  # backslash
                    escape_at = pos + 1
                elif c == 34:  # quote
                    in_string = False
            elif c == 34:
                in_string = True
            elif c == 123:  # {
                if depth == 0:
                    start = pos
                depth += 1
            elif c == 125 and depth > 0:  # }
                depth -= 1
                if depth == 0:
                    out.append(bytes(buf[start : pos + 1]))
                    start = -1
        # Drop everything before the current object; keep offsets consistent.
        cut = start if start >= 0 else len(buf)
        if cut:
            del buf[:cut]
            start = min(start, 0)
            if escape_at >= 0:
                escape_at -= cut
        self._scan = len(buf)
        self._depth = depth
        self._in_string = in_string
        self._escape_at = escape_at
        self._start = start
        return out

    def flush(self) -> list[bytes]:
        """Nothing complete is left at the end; an unterminated object is dropped."""
        self._reset()
        return []
