"""A server that instruments the app and then forks its workers (gunicorn ``--preload``, uWSGI): each worker
records, redacts and ends its own calls, with its own redaction process, and never touches the parent's."""

from __future__ import annotations

import json
import os
import select
import time

import openai
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

import otel_llm
from otel_llm import _call, _state
from otel_llm import attributes as A
from otel_llm.redaction import ProcessRedactionWorker, RedactionWorker
from tests.instrumentation.loopback import LoopbackServer, Reply
from tests.instrumentation.payloads import openai_chat

SECRET = "sk-proj-" + "Fk3vX9mN2pL7kR1sT8wY4zB6cD0fG5hJ"
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _call_in(client: openai.OpenAI, content: str) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": content}])


def _in_forked_child(work) -> dict:
    """Run ``work()`` in a forked child and return the JSON object it returns (or its error)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            out = json.dumps(work()).encode()
        except BaseException as exc:
            out, code = json.dumps({"error": repr(exc)}).encode(), 1
        try:
            os.write(write_end, out)
        finally:
            os._exit(code)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read_end], [], [], 1.0)
        if ready:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks) or b'{"error": "no answer from the forked child"}')
    result["exit"] = os.waitstatus_to_exitcode(status)
    return result


@pytest.mark.parametrize("backend", ["process", "thread"])
def test_a_forked_worker_records_redacts_and_ends_its_own_calls(telemetry, backend):
    tracer_provider, exporter, meter_provider, reader = telemetry
    big = "x" * (_call.INLINE_BYTES + 1024)  # completed on the background thread
    with LoopbackServer() as server:
        server.route("/v1/chat/completions", Reply.json(openai_chat(content=f"reply {big}")))
        otel_llm.instrument(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            capture_content=True,
            redaction_process=backend == "process",
        )
        try:
            worker = _state.get().redaction_worker
            assert isinstance(worker, ProcessRedactionWorker if backend == "process" else RedactionWorker)
            parent_pid = worker.child_pid if backend == "process" else None
            base_url = server.url + "/v1"
            with openai.OpenAI(base_url=base_url, api_key="sk-test-0123456789", max_retries=0) as client:
                _call_in(client, "parent call before the fork")  # threads and the redaction process running
            # Settled before forking, as a server forks before traffic: a lock one of the parent's threads holds at
            # the fork (the SDK's, the exporter's) stays held in the child, whoever's code it is.
            assert _state.get().background.flush(30)
            assert worker.flush(60)

            def in_child() -> dict:
                exporter.clear()
                with openai.OpenAI(base_url=base_url, api_key="sk-test-0123456789", max_retries=0) as client:
                    for i in range(3):
                        _call_in(client, f"child call {i}, key {SECRET}")
                state = _state.get()
                assert state.background.flush(30)
                assert state.redaction_worker.flush(90)
                spans = [s for s in exporter.get_finished_spans() if A.GEN_AI_OPERATION_NAME in (s.attributes or {})]
                data = reader.get_metrics_data()
                durations = [
                    p.count
                    for rm in data.resource_metrics
                    for sm in rm.scope_metrics
                    for m in sm.metrics
                    if m.name == A.METRIC_OPERATION_DURATION
                    for p in m.data.data_points
                ]
                child_worker = state.redaction_worker
                return {
                    "statuses": [s.attributes.get(A.LLM_REDACTION_STATUS) for s in spans],
                    "leaked": SECRET.encode() in encode_spans(spans).SerializeToString(),
                    "inputs": [s.attributes.get(A.GEN_AI_INPUT_MESSAGES, "") for s in spans],
                    "redaction_pid": getattr(child_worker, "child_pid", None),
                    "duration_count": sum(durations),
                }

            result = _in_forked_child(in_child)
            # the parent's instrumentation still works after the fork
            with openai.OpenAI(base_url=base_url, api_key="sk-test-0123456789", max_retries=0) as client:
                _call_in(client, f"parent call after the fork, key {SECRET}")
            assert worker.flush(60)
            if backend == "process":
                assert worker.child_pid == parent_pid  # the parent's redaction process was left alone
        finally:
            otel_llm.uninstrument()
    assert result.get("error") is None and result["exit"] == 0, result
    assert result["statuses"] == [A.REDACTION_REDACTED] * 3, result
    assert not result["leaked"]
    assert all("<OPENAI_API_KEY>" in text for text in result["inputs"])
    if backend == "process":
        assert result["redaction_pid"] not in (None, parent_pid)  # the worker started its own
    # the child's histograms: the SDK state copied at the fork (the parent's call) plus its own three calls
    assert result["duration_count"] == 1 + 3
    parent_spans = [s for s in exporter.get_finished_spans() if A.GEN_AI_OPERATION_NAME in (s.attributes or {})]
    assert [s.attributes[A.LLM_REDACTION_STATUS] for s in parent_spans] == [A.REDACTION_REDACTED] * 2
