"""Run inside .venv-openai2 (openai 2.x on httpx) by tests/instrumentation/test_openai2.py.

Not collected by the main suite (the file name does not start with ``test_``).
"""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

import otel_llm
from tests.instrumentation.loopback import LoopbackServer, Reply
from tests.instrumentation.payloads import openai_chat, openai_stream_chunks


def test_openai2_is_on_httpx():
    assert openai.__version__.startswith("2.")
    client = openai.OpenAI(api_key="x")
    assert isinstance(client._client, httpx.Client)


def test_sync_and_stream_and_async():
    from otel_llm.testing import capture_spans

    with LoopbackServer() as server:
        server.route(
            "/v1/chat/completions",
            lambda seen: (
                Reply.sse(openai_stream_chunks(with_usage="stream_options" in seen.json()))
                if seen.json().get("stream")
                else Reply.json(openai_chat())
            ),
        )
        with capture_spans() as spans:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)
            with otel_llm.experiment("exp2", variant="control"):
                r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
                chunks = list(
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
                    )
                )

            async def main():
                ac = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)
                await ac.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
                await ac.close()

            asyncio.run(main())
    assert r.choices[0].message.content == "Hello!"
    assert all(c.usage is None for c in chunks)
    spans.refresh()
    assert len(spans) == 3
    by_name = sorted(s.attributes["gen_ai.usage.input_tokens"] for s in spans)
    assert by_name == [12, 1600, 1600]
    assert spans[0].attributes["llm.experiment.id"] == "exp2"
    assert spans[0].attributes["llm.cost.usd"] == pytest.approx(0.00042)
