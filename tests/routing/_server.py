"""A loopback OpenAI-compatible server whose behaviour is chosen per variant (first path segment).

``/control/v1/chat/completions`` and ``/candidate/v1/...`` answer according to ``server.behaviour[name]``:
``ok`` (an Anthropic message for ``.../messages``, else a chat completion), ``500``, ``429``, ``slow`` (waits ``server.slow_s``), ``reset`` (TCP reset), ``forever`` (SSE that never
ends). Every request is recorded with its headers and JSON body.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Seen:
    variant: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)
    done: float | None = None


class LLMServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour: dict[str, str] = {}
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        self.slow_s = 10.0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def base(self, variant: str) -> str:
        return f"{self.url}/{variant}/v1"

    def requests_for(self, variant: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.variant == variant]

    def wait_for(self, variant: str, n: int = 1, timeout: float = 5.0) -> list[Seen]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests_for(variant)
            if len(got) >= n:
                return got
            time.sleep(0.005)
        raise AssertionError(f"{variant}: expected {n} requests, got {len(self.requests_for(variant))}")


def anthropic_message(model: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }


def completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LLMServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, payload: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        variant = self.path.strip("/").split("/", 1)[0]
        seen = Seen(variant, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.server.lock:
            self.server.seen.append(seen)
        mode = self.server.behaviour.get(variant, "ok")
        model = body.get("model", "?") if isinstance(body, dict) else "?"
        try:
            if mode == "500":
                self._send(500, b'{"error": {"message": "boom", "type": "server_error"}}')
            elif mode == "429":
                self._send(429, b'{"error": {"message": "slow down", "type": "rate_limit"}}')
            elif mode == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            elif mode == "slow":
                self.server.stop.wait(self.server.slow_s)
                self._send(200, json.dumps(completion(model)).encode())
            elif mode == "forever" or (isinstance(body, dict) and body.get("stream")):
                self._stream(model, forever=mode == "forever")
            elif self.path.split("?", 1)[0].endswith("/messages"):
                self._send(200, json.dumps(anthropic_message(model)).encode())
            else:
                self._send(200, json.dumps(completion(model)).encode())
        except OSError:
            self.close_connection = True
        seen.done = time.monotonic()

    def _stream(self, model: str, forever: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        event = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model}
        n = 0
        while True:
            delta = {**event, "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}
            chunk(b"data: " + json.dumps(delta).encode() + b"\n\n")
            n += 1
            if not forever and n >= 3:
                break
            if forever and self.server.stop.wait(0.05):
                break
        done = {**event, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        chunk(b"data: " + json.dumps(done).encode() + b"\n\n")
        chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    server = LLMServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def experiments_yaml(server_url: str, **overrides: str) -> str:
    """A two-variant experiments file pointing at the loopback server."""
    values = {
        "assign_by": "header:X-Session-Id",
        "control_weight": "90",
        "candidate_weight": "10",
        "extra": "",
        "enabled": "true",
        **overrides,
    }
    return f"""\
experiments:
  - id: invoice-extractor-ft
    assign_by: {values["assign_by"]}
    variants:
      - {{name: control, weight: {values["control_weight"]}, model: gpt-4o-mini,
         base_url: {server_url}/control/v1, prompt_version: v6}}
      - {{name: candidate, weight: {values["candidate_weight"]}, model: llama-3.1-8b-extract-v4,
         base_url: {server_url}/candidate/v1, prompt_version: v6-ft, api_key_env: CANDIDATE_API_KEY}}
{values["extra"]}    enabled: {values["enabled"]}
"""


def shadow_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("otel-llm-shadow")]
