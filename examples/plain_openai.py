"""One line of set-up: every openai call gets a GenAI span with model, tokens, cost and experiment tags.

Run: python examples/plain_openai.py   (starts its own loopback OpenAI-compatible server)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import openai
from _fake_openai import start
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llm


def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    otel_llm.instrument()  # <- the one line

    base_url, server = start()
    client = openai.OpenAI(base_url=base_url, api_key="sk-example")
    with otel_llm.experiment("invoice-extractor-ft", variant="control", prompt_version="v6", subject="session-42"):
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Extract the invoice total."}]
        )
        print("app got:", reply.choices[0].message.content)
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Again, streamed."}], stream=True
        )
        print("app streamed:", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    server.shutdown()

    for span in exporter.get_finished_spans():
        print(f"\nspan {span.name!r}")
        print(json.dumps(dict(span.attributes or {}), indent=2, default=list))


if __name__ == "__main__":
    main()
