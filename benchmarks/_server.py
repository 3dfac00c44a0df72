"""A fast loopback OpenAI-compatible chat completions server for the overhead benchmark.

Raw asyncio HTTP/1.1 with keep-alive: it parses just enough of each request to answer, and every answer is
pre-encoded, so the server costs the measured process nothing but the bytes it reads. Run it in its own process
(pinned to another CPU) so its work never mixes with the measured process's CPU time:

    python benchmarks/_server.py [--cpu 1]          # prints "PORT <n>" on stdout, then serves until killed

``POST .../chat/completions`` answers a ``chat.completion`` JSON, or — when the body asks ``"stream": true`` — an
SSE stream of ``max_tokens`` content chunks (default 200), each event in its own HTTP chunk and its own write,
plus the usage event when ``stream_options.include_usage`` is set. Anything else is a 404.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import sys

MODEL = "gpt-4o-mini-2024-07-18"
_MAX_TOKENS = re.compile(rb'"max_(?:completion_)?tokens"\s*:\s*(\d+)')
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_INCLUDE_USAGE = re.compile(rb'"include_usage"\s*:\s*true')
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length\s*:\s*(\d+)\s*$")


def chat_completion_body() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench0001",
            "object": "chat.completion",
            "created": 1730000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "The invoice total is 1,234.56 EUR.", "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 1600, "completion_tokens": 300, "total_tokens": 1900},
            "system_fingerprint": "fp_bench",
        },
        separators=(",", ":"),
    ).encode()


def stream_events(n: int, include_usage: bool) -> list[bytes]:
    base = {"id": "chatcmpl-bench0002", "object": "chat.completion.chunk", "created": 1730000000, "model": MODEL}
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    events += [
        {**base, "choices": [{"index": 0, "delta": {"content": f" tok{i}"}, "finish_reason": None}]} for i in range(n)
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage:
        events.append(
            {**base, "choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": n, "total_tokens": 40 + n}}
        )
    out = [b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\n\n" for e in events]
    out.append(b"data: [DONE]\n\n")
    return [f"{len(e):x}\r\n".encode() + e + b"\r\n" for e in out] + [b"0\r\n\r\n"]


_BODY = chat_completion_body()
_JSON_REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_BODY)).encode()
    + b"\r\nx-request-id: req_bench\r\n\r\n"
    + _BODY
)
_SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
_STREAMS: dict[tuple[int, bool], list[bytes]] = {}


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            m = _CONTENT_LENGTH.search(head)
            length = int(m.group(1)) if m else 0
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = self.buf[end + 4 : total]
            self.buf = self.buf[total:]
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        line = head.split(b"\r\n", 1)[0]
        path = line.split(b" ")[1].split(b"?")[0] if b" " in line else b""
        if not path.endswith(b"/chat/completions"):
            transport.write(_NOT_FOUND)
            return
        if not _STREAM.search(body):
            transport.write(_JSON_REPLY)
            return
        m = _MAX_TOKENS.search(body)
        key = (int(m.group(1)) if m else 200, bool(_INCLUDE_USAGE.search(body)))
        chunks = _STREAMS.get(key)
        if chunks is None:
            chunks = _STREAMS[key] = stream_events(*key)
        transport.write(_SSE_HEAD)
        for chunk in chunks:  # one write per event, as a model server flushes each token
            transport.write(chunk)


async def _serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, host, port, backlog=128)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {args.cpu})
        except OSError as exc:
            print(f"cannot pin to CPU {args.cpu}: {exc}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
