"""An app with no OpenTelemetry code at all, run by test_zero_code.py under ``opentelemetry-instrument``.

The openai SDK reads ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` from the environment; the test points it at a
loopback server.
"""

import openai

client = openai.OpenAI(max_retries=0)
reply = client.chat.completions.create(model="qwen2.5-7b-instruct", messages=[{"role": "user", "content": "hi"}])
print("app got:", reply.choices[0].message.content)
stream = client.chat.completions.create(
    model="qwen2.5-7b-instruct", messages=[{"role": "user", "content": "again"}], stream=True
)
print("app streamed:", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))
client.close()
