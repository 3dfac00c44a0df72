"""A real HTTP/1.1 server on 127.0.0.1 that speaks whatever wire format a test scripts.

Each route returns a status, headers and either a body or a list of chunks (sent with chunked encoding, one
flush per chunk, so SSE/NDJSON streams arrive as a real client would see them). Requests are recorded.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    chunks: Iterable[bytes] | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    reset_after: int | None = None  # close the socket abruptly after this many chunks

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Reply:
        return cls(status=status, body=json.dumps(obj).encode())

    @classmethod
    def sse(cls, events: Iterable[Any], *, done: bool = True, event_names: Iterable[str] | None = None) -> Reply:
        names = list(event_names) if event_names is not None else None
        chunks = []
        for i, ev in enumerate(events):
            data = ev if isinstance(ev, str) else json.dumps(ev)
            prefix = f"event: {names[i]}\n" if names else ""
            chunks.append(f"{prefix}data: {data}\n\n".encode())
        if done:
            chunks.append(b"data: [DONE]\n\n")
        return cls(chunks=chunks, content_type="text/event-stream")

    @classmethod
    def ndjson(cls, objs: Iterable[Any]) -> Reply:
        return cls(chunks=[(json.dumps(o) + "\n").encode() for o in objs], content_type="application/x-ndjson")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Seen], Reply]


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Seen] = []
        server = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path
                seen = Seen(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
                server.requests.append(seen)
                route = path.split("?", 1)[0]
                handler = server.routes.get(route)
                if handler is None:
                    for key, h in server.routes.items():
                        if key.endswith("*") and route.startswith(key[:-1]):
                            handler = h
                            break
                reply = handler(seen) if handler else Reply(status=404, body=b'{"error":"no route"}')
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.chunks is None:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, chunk in enumerate(reply.chunks):
                    if reply.reset_after is not None and i >= reply.reset_after:
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                        self.close_connection = True
                        self.connection.close()
                        return
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            do_POST = _handle
            do_GET = _handle

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that close early (tests of early close) are expected

        self._server = _Server(("127.0.0.1", 0), _H)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def route(self, path: str, handler: Handler | Reply) -> None:
        self.routes[path] = handler if callable(handler) else (lambda _s, r=handler: r)
