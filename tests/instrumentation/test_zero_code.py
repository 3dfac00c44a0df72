"""Zero-code: ``opentelemetry-instrument python app.py`` loads otel-llm from its entry point, configured only by
``OTEL_LLM_*`` environment variables; and every example in ``examples/`` runs and prints what it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.instrumentation.loopback import Reply
from tests.instrumentation.payloads import openai_chat, openai_stream_chunks

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODEL = "qwen2.5-7b-instruct"


def _console_spans(stdout: str) -> list[dict[str, Any]]:
    """The spans the console exporter printed (pretty-printed JSON objects), skipping the app's own lines."""
    decoder = json.JSONDecoder()
    spans, i = [], 0
    while (start := stdout.find("{", i)) != -1:
        try:
            obj, i = decoder.raw_decode(stdout, start)
        except json.JSONDecodeError:
            i = start + 1
            continue
        if isinstance(obj, dict) and "context" in obj and "attributes" in obj:
            spans.append(obj)
    return spans


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "ANTHROPIC_"))}
    return subprocess.run(
        args, cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=timeout, check=False
    )


def _instrument_env(**extra: str) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "zero-code-test",
        **extra,
    }


def _check_genai_spans(spans: list[dict[str, Any]], provider: str, calls: int) -> list[dict[str, Any]]:
    llm = [s for s in spans if "gen_ai.operation.name" in s["attributes"]]
    assert len(llm) == calls, [s["name"] for s in spans]  # one LLM span per call
    for s in llm:
        assert s["kind"] == "SpanKind.CLIENT"
        assert s["name"] == f"chat {MODEL}"
        assert s["attributes"]["gen_ai.provider.name"] == provider
        assert s["attributes"]["gen_ai.request.model"] == MODEL
        assert s["resource"]["attributes"]["service.name"] == "zero-code-test"
    # the entry point loads the httpx2 instrumentor too: its HTTP spans nest under ours
    ids = {s["context"]["span_id"] for s in llm}
    http = [s for s in spans if s not in llm]
    assert http and all(s["parent_id"] in ids for s in http)
    return llm


@pytest.fixture(scope="module")
def distro() -> None:
    # opentelemetry-instrument needs a distro to configure the SDK from OTEL_* variables
    # it is in the dev extra, which make test installs: missing means a broken environment, not a skip
    import importlib.util

    assert importlib.util.find_spec("opentelemetry.distro") is not None, "pip install opentelemetry-distro"


def test_opentelemetry_instrument_with_otel_llm_env(distro, server):
    server.route("/v1/chat/completions", lambda seen: _reply(seen.json()))
    env = _instrument_env(
        OPENAI_BASE_URL=server.url + "/v1",
        OPENAI_API_KEY="sk-zero-code-secret",
        OTEL_LLM_PROVIDER_HOSTS=f"127.0.0.1:{server.port}=vllm",
    )
    proc = _run([str(BIN / "opentelemetry-instrument"), sys.executable, "tests/instrumentation/_zero_code_app.py"], env)
    assert proc.returncode == 0, proc.stderr
    assert "app got: Hello!" in proc.stdout
    assert "app streamed: Hello!" in proc.stdout  # the usage event otel-llm asked for is hidden from the app
    llm = _check_genai_spans(_console_spans(proc.stdout), "vllm", calls=2)
    for s in llm:
        assert s["attributes"]["gen_ai.usage.input_tokens"] in (1600, 12)
    streamed = [s for s in llm if "gen_ai.response.time_to_first_chunk" in s["attributes"]]
    assert len(streamed) == 1 and streamed[0]["attributes"]["gen_ai.usage.output_tokens"] == 3
    assert "sk-zero-code-secret" not in proc.stdout


def test_opentelemetry_instrument_disabled_by_otel_setting(distro, server):
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otel_llm`` turns it off like any other instrumentor."""
    server.route("/v1/chat/completions", lambda seen: _reply(seen.json()))
    env = _instrument_env(
        OPENAI_BASE_URL=server.url + "/v1",
        OPENAI_API_KEY="sk-x",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="otel_llm",
    )
    proc = _run([str(BIN / "opentelemetry-instrument"), sys.executable, "tests/instrumentation/_zero_code_app.py"], env)
    assert proc.returncode == 0, proc.stderr
    spans = _console_spans(proc.stdout)
    assert spans and not [s for s in spans if "gen_ai.operation.name" in s["attributes"]]


def _reply(body: dict[str, Any]) -> Reply:
    if body.get("stream"):
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        return Reply.sse(openai_stream_chunks(model=MODEL, with_usage=include))
    return Reply.json(openai_chat(model=MODEL))


# --- examples/ ------------------------------------------------------------------------------------------------
def test_example_zero_code_app(distro):
    env = _instrument_env(OTEL_LLM_PROVIDER_HOSTS="127.0.0.1=vllm")
    proc = _run([str(BIN / "opentelemetry-instrument"), sys.executable, "examples/zero_code_app.py"], env)
    assert proc.returncode == 0, proc.stderr
    assert "app got: Invoice total: $1,234.50" in proc.stdout
    assert "app streamed: Invoice total: $1,234.50" in proc.stdout
    llm = _check_genai_spans(_console_spans(proc.stdout), "vllm", calls=2)
    assert all(s["attributes"]["gen_ai.usage.output_tokens"] == 9 for s in llm)


def test_example_plain_openai():
    proc = _run([sys.executable, "examples/plain_openai.py"], {})
    assert proc.returncode == 0, proc.stderr
    assert "app got: Invoice total: $1,234.50" in proc.stdout
    assert "app streamed: Invoice total: $1,234.50" in proc.stdout
    assert proc.stdout.count('"gen_ai.operation.name": "chat"') == 2
    assert proc.stdout.count('"llm.experiment.id": "invoice-extractor-ft"') == 2


def test_example_async_streaming_anthropic():
    proc = _run([sys.executable, "examples/async_streaming_anthropic.py"], {})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "app streamed: The invoice total is $1,234.50." in out
    spans = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    [span] = spans  # anthropic's own GenAI span, enriched: still one LLM span per call
    a = span["attributes"]
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.model"] == "claude-3-5-haiku-20241022"
    assert a["gen_ai.usage.input_tokens"] == 31
    assert a["gen_ai.usage.output_tokens"] == 12
    assert a["llm.variant"] == "candidate"
    assert a["llm.cost.usd"] > 0
