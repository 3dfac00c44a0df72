"""Zero-code: this app has no OpenTelemetry or otel-llm code. ``opentelemetry-instrument`` loads otel-llm through
its ``opentelemetry_instrumentor`` entry point, configured by ``OTEL_LLM_*`` environment variables:

    pip install otel-llm opentelemetry-distro
    OTEL_TRACES_EXPORTER=console OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none \\
    OTEL_SERVICE_NAME=invoice-app OTEL_LLM_PROVIDER_HOSTS=127.0.0.1=vllm \\
        opentelemetry-instrument python examples/zero_code_app.py

(use ``OTEL_TRACES_EXPORTER=otlp`` and ``OTEL_EXPORTER_OTLP_ENDPOINT`` to send to a collector). The app starts
its own loopback OpenAI-compatible server standing in for a self-hosted vLLM, so the console shows one
``chat …`` GenAI span per call with ``gen_ai.provider.name = vllm``, tokens and the HTTP span nested under it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import openai
from _fake_openai import start


def main() -> None:
    base_url, server = start()
    with openai.OpenAI(base_url=base_url, api_key="sk-example", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="qwen2.5-7b-instruct", messages=[{"role": "user", "content": "Extract the invoice total."}]
        )
        print("app got:", reply.choices[0].message.content)
        stream = client.chat.completions.create(
            model="qwen2.5-7b-instruct", messages=[{"role": "user", "content": "Again, streamed."}], stream=True
        )
        print("app streamed:", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    server.shutdown()


if __name__ == "__main__":
    main()
