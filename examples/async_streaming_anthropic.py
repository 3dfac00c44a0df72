"""Async streaming with the anthropic SDK: the call's GenAI span carries tokens, cost and experiment tags.

anthropic >= 2 makes its own GenAI span through the global tracer provider; otel-llm adds its attributes
(experiment, variant, cost, ...) to that span instead of starting a second one: one LLM span per call.

Run: python examples/async_streaming_anthropic.py   (starts its own loopback Anthropic-compatible server)
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import anthropic
from _fake_anthropic import start
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llm


async def ask(base_url: str) -> str:
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="sk-ant-example", max_retries=0) as client:
        with otel_llm.experiment("invoice-extractor-ft", variant="candidate", prompt_version="v7"):
            async with client.messages.stream(
                model="claude-3-5-haiku-20241022",
                max_tokens=256,
                messages=[{"role": "user", "content": "Extract the invoice total."}],
            ) as stream:
                return "".join([text async for text in stream.text_stream])


def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    otel_llm.instrument()  # <- the one line

    base_url, server = start()
    print("app streamed:", asyncio.run(ask(base_url)))
    server.shutdown()
    otel_llm.uninstrument()  # completes and exports what is still in flight

    for span in exporter.get_finished_spans():
        attributes = dict(span.attributes or {})
        if "gen_ai.operation.name" in attributes:
            print(json.dumps({"name": span.name, "attributes": attributes}, default=list))


if __name__ == "__main__":
    main()
