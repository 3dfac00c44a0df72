"""The collector's redaction safety net: secrets and personal data in span attributes never reach a destination."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import yaml
from opentelemetry.trace import SpanKind

from otel_llm import attributes as A
from otel_llm.redaction._collector import blocked_values
from tests.integration.harness import DROP_CONFIG, GATEWAY_CONFIG, TAG_CONFIG
from tests.integration.traffic import llm_attributes, sdk_tracer_provider

pytestmark = pytest.mark.integration

SECRETS = (
    "sk-proj-Abcdefghijklmnopqrstuvwxyz012345",
    "jane.doe@example.com",
    "AKIAIOSFODNN7EXAMPLE",
    "4111 1111 1111 1111",
    "10.1.2.3",
)


@pytest.mark.parametrize("config", [TAG_CONFIG, DROP_CONFIG, GATEWAY_CONFIG], ids=lambda p: p.name)
def test_config_blocks_exactly_the_sdk_rules(config) -> None:
    """The collector masks the same formats the SDK redacts (collector/redaction-snippet.yaml's list)."""
    settings = yaml.safe_load(config.read_text())["processors"]["redaction"]
    assert settings["blocked_values"] == [regex for _, regex in blocked_values()], (
        f"{config.name}: copy blocked_values from collector/redaction-snippet.yaml"
    )


def test_secrets_in_content_are_masked_on_both_destinations(llm_stack) -> None:
    experiment_id = f"exp-{uuid.uuid4().hex[:10]}"
    content = json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": f"use {' and '.join(SECRETS)} please"}]}]
    )
    provider = sdk_tracer_provider(llm_stack.collector, "grpc", f"redaction-app-{experiment_id}")
    tracer = provider.get_tracer("app")
    trace_ids = set()
    try:
        for shadow in (False, True):
            attrs = {
                **llm_attributes(experiment_id, shadow=shadow),
                A.GEN_AI_INPUT_MESSAGES: content,
                "url.full": "https://alice:hunter2@api.example.com/v1/chat/completions",
                A.SERVER_ADDRESS: "10.1.2.3",  # matches the IP rule, but the key is skipped on purpose
            }
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attrs) as span:
                trace_ids.add(f"{span.get_span_context().trace_id:032x}")
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()

    llm_stack.primary.recorder.wait_for_count(1, trace_ids=trace_ids)
    llm_stack.shadow.recorder.wait_for_count(1, trace_ids=trace_ids)
    time.sleep(0.5)
    received = llm_stack.primary.recorder.matching(trace_ids) + llm_stack.shadow.recorder.matching(trace_ids)
    assert len(received) == 2
    for span in received:
        exported = json.dumps({k: v for k, v in span.attributes.items() if k != A.SERVER_ADDRESS})
        for secret in SECRETS:
            assert secret not in exported
        assert "hunter2" not in exported
        # The structure around the secrets survives, and the low-cardinality keys are untouched.
        assert span.attributes[A.GEN_AI_INPUT_MESSAGES].startswith('[{"role": "user"')
        assert "****" in span.attributes[A.GEN_AI_INPUT_MESSAGES]
        assert span.attributes[A.LLM_EXPERIMENT_ID] == experiment_id
        assert span.attributes[A.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
        assert span.attributes[A.SERVER_ADDRESS] == "10.1.2.3"
