"""A simulated OpenAI-compatible chat server for one variant (real HTTP on 127.0.0.1, JSON and SSE).

Every answer is drawn from the scenario by construction: per field, a correct value with the variant's
accuracy (on fields that have a value), a filled-in value on null fields with its hallucination rate; HTTP 500
with its error rate; latency from a log-normal fitted to p50/p99 (× time_scale); token counts uniform around
the scenario mean (exact in expectation).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otel_llm.demo.documents import FIELDS, NULL_SHARE, Invoice
from otel_llm.demo.scenario import VariantSpec

_DOC_ID = re.compile(r"Document ID: (inv-\d+)")
_Z99 = 2.3263478740408408  # standard normal 99th percentile


def non_null_accuracy(spec: VariantSpec, null_share: float = NULL_SHARE) -> float:
    """Accuracy on fields with a value so that overall field accuracy equals the scenario's in expectation,
    given the share of null fields in the document set."""
    q = (spec.field_accuracy - null_share * (1 - spec.hallucination_rate)) / (1 - null_share)
    return min(max(q, 0.0), 1.0)


def _wrong(value: Any, rng: random.Random) -> Any:
    if isinstance(value, float | int):
        return round(float(value) + rng.choice([-1, 1]) * rng.uniform(1, 50), 2)
    text = str(value)
    return text[:-1] + ("X" if not text.endswith("X") else "Y") if text else "X"


def _filled(name: str, rng: random.Random) -> Any:
    return {"subtotal": 100.0, "tax": 20.0, "total": 120.0}.get(name, f"N/A-{rng.randrange(100)}")


class VariantServer:
    """Serves ``/v1/chat/completions`` for one variant of the scenario."""

    def __init__(
        self, name: str, spec: VariantSpec, invoices: dict[str, Invoice], *, seed: int, time_scale: float
    ) -> None:
        self.name = name
        self.spec = spec
        self.invoices = invoices
        self.time_scale = time_scale
        cells = [v is None for inv in invoices.values() for v in inv.fields.values()]
        self.q = non_null_accuracy(spec, sum(cells) / len(cells) if cells else NULL_SHARE)
        self.mu = math.log(spec.latency_ms.p50 / 1000.0)
        self.sigma = math.log(spec.latency_ms.p99 / spec.latency_ms.p50) / _Z99
        self._seed = seed
        self._counter = 0
        self._lock = threading.Lock()
        self.calls = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server._serve(self, body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"demo-{name}", daemon=True)

    def start(self) -> VariantServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _rng(self, doc_id: str) -> random.Random:
        with self._lock:
            self._counter += 1
            n = self._counter
        digest = hashlib.sha256(f"{self._seed}:{self.name}:{doc_id}:{n}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def answer(self, doc_id: str, rng: random.Random) -> dict[str, Any]:
        truth = self.invoices[doc_id].fields if doc_id in self.invoices else dict.fromkeys(FIELDS)
        out: dict[str, Any] = {}
        for name in FIELDS:
            ref = truth.get(name)
            if ref is None:
                out[name] = _filled(name, rng) if rng.random() < self.spec.hallucination_rate else None
            else:
                out[name] = ref if rng.random() < self.q else _wrong(ref, rng)
        return out

    def _serve(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        with self._lock:
            self.calls += 1
        try:
            request = json.loads(raw)
            prompt = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
        except (ValueError, AttributeError):
            request, prompt = {}, ""
        match = _DOC_ID.search(prompt)
        doc_id = match.group(1) if match else "unknown"
        rng = self._rng(doc_id)
        latency = rng.lognormvariate(self.mu, self.sigma) * self.time_scale
        failed = rng.random() < self.spec.error_rate
        fields = self.answer(doc_id, rng)
        spec = self.spec
        inp = rng.randint(round(spec.input_tokens * 0.75), round(spec.input_tokens * 1.25))
        out = rng.randint(round(spec.output_tokens * 0.75), round(spec.output_tokens * 1.25))
        time.sleep(latency)
        if failed:
            payload = json.dumps({"error": {"message": "simulated server error", "type": "server_error"}}).encode()
            self._send(handler, 500, "application/json", payload)
            return
        content = json.dumps(fields)
        rid = f"chatcmpl-{self.name}-{rng.getrandbits(48):012x}"
        usage = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}
        if not request.get("stream"):
            payload = json.dumps(
                {
                    "id": rid,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": spec.model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                }
            ).encode()
            self._send(handler, 200, "application/json", payload)
            return
        base = {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": spec.model}
        pieces = [content[i : i + 40] for i in range(0, len(content), 40)]
        events = [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": usage})
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for data in [*(f"data: {json.dumps(e)}\n\n" for e in events), "data: [DONE]\n\n"]:
            chunk = data.encode()
            handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, ctype: str, payload: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


def _serve_forever(  # noqa: PLR0917 - a process target takes positional arguments
    name: str, spec_json: str, documents: int, seed: int, time_scale: float, conn: Any
) -> None:
    from otel_llm.demo.documents import generate

    invoices = {inv.id: inv for inv in generate(documents, seed)}
    server = VariantServer(
        name, VariantSpec.model_validate_json(spec_json), invoices, seed=seed, time_scale=time_scale
    ).start()
    conn.send(server.url)
    conn.recv()  # any message (or the parent's end closing) stops the server
    server.stop()


class ServerProcess:
    """A :class:`VariantServer` in its own process, so its work never competes with the app for the GIL."""

    def __init__(self, name: str, spec: VariantSpec, *, documents: int, seed: int, time_scale: float) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve_forever,
            args=(name, spec.model_dump_json(), documents, seed, time_scale, child),
            name=f"otel-llm-demo-{name}",
            daemon=True,
        )
        self._proc.start()
        if not self._conn.poll(60):
            self._proc.kill()
            raise RuntimeError(f"demo server {name!r} did not start")
        self.url: str = self._conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
