"""The OpenFeature provider serves the router's own sticky assignment through the real openfeature-sdk."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("openfeature")

from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from otel_llm import attributes as A
from otel_llm.routing import Router, parse
from otel_llm.routing.openfeature import RouterProvider
from tests.routing._server import LLMServer, experiments_yaml

EXP = "invoice-extractor-ft"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ENV = {"CANDIDATE_API_KEY": "sk-candidate"}


@pytest.fixture
def of_client() -> Iterator[tuple[Router, OpenFeatureClient]]:
    router = Router(parse(experiments_yaml("http://llm.invalid", control_weight="50", candidate_weight="50")))
    api.set_provider(RouterProvider(router), domain="otel-llm-test")
    try:
        yield router, api.get_client(domain="otel-llm-test")
    finally:
        api.clear_providers()
        router.close()


def test_string_value_is_the_routers_sticky_variant(of_client: tuple[Router, OpenFeatureClient]) -> None:
    router, client = of_client
    seen = set()
    for i in range(200):
        key = f"session-{i}"
        d = client.get_string_details(EXP, "fallback-default", EvaluationContext(key))
        assert d.value == d.variant == router.assign(EXP, key)
        assert d.reason == Reason.SPLIT and d.error_code is None
        assert d.flag_metadata == {A.LLM_EXPERIMENT_ID: EXP, A.LLM_VARIANT_WEIGHT: 50.0}
        assert client.get_string_value(EXP, "x", EvaluationContext(key)) == d.value  # sticky
        seen.add(d.value)
    assert seen == {"control", "candidate"}


def test_same_variant_as_the_router_routes_to(llm_server: LLMServer) -> None:
    router = Router(parse(experiments_yaml(llm_server.url, control_weight="50", candidate_weight="50")), environ=ENV)
    provider = RouterProvider(router)
    with httpx.Client(transport=router.transport(), base_url=llm_server.base("control")) as http:
        for i in range(20):
            r = http.post("/chat/completions", json=CHAT, headers={"X-Session-Id": f"s{i}"})
            routed = "candidate" if r.json()["model"] == "llama-3.1-8b-extract-v4" else "control"
            assert provider.resolve_string_details(EXP, "?", EvaluationContext(f"s{i}")).value == routed
    router.close()


def test_object_value_carries_the_variant_settings(of_client: tuple[Router, OpenFeatureClient]) -> None:
    router, client = of_client
    key = next(f"k{i}" for i in range(100) if router.assign(EXP, f"k{i}") == "candidate")
    d = client.get_object_details(EXP, {}, EvaluationContext(key))
    assert d.value == {
        "name": "candidate",
        "weight": 50.0,
        "model": "llama-3.1-8b-extract-v4",
        "base_url": "http://llm.invalid/candidate/v1",
        "prompt_version": "v6-ft",
    }
    assert d.variant == "candidate" and d.reason == Reason.SPLIT


def test_errors_answer_the_default(of_client: tuple[Router, OpenFeatureClient]) -> None:
    _, client = of_client
    d = client.get_string_details("no-such-experiment", "dflt", EvaluationContext("k"))
    assert (d.value, d.error_code, d.reason) == ("dflt", ErrorCode.FLAG_NOT_FOUND, Reason.ERROR)
    d = client.get_string_details(EXP, "dflt", EvaluationContext())  # assign_by header: needs a subject
    assert (d.value, d.error_code) == ("dflt", ErrorCode.TARGETING_KEY_MISSING)
    b = client.get_boolean_details(EXP, True, EvaluationContext("k"))
    assert (b.value, b.error_code) == (True, ErrorCode.TYPE_MISMATCH)


def test_random_experiment_needs_no_targeting_key() -> None:
    router = Router(parse(experiments_yaml("http://x.invalid", assign_by="random", candidate_weight="10")), seed=3)
    d = RouterProvider(router).resolve_string_details(EXP, "?", None)
    assert d.value in {"control", "candidate"} and d.reason == Reason.SPLIT
    assert d.flag_metadata[A.LLM_SUBJECT_RANDOM] is True
    router.close()


def test_kill_switch_via_hot_reload_sends_everyone_to_control(tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(experiments_yaml("http://x.invalid", control_weight="0", candidate_weight="100"))
    router = Router(path, reload_interval_s=0.0)
    provider = RouterProvider(router)
    assert provider.resolve_string_details(EXP, "?", EvaluationContext("u1")).value == "candidate"
    path.write_text(experiments_yaml("http://x.invalid", control_weight="0", candidate_weight="100", enabled="false"))
    router.reload()
    d = provider.resolve_string_details(EXP, "?", EvaluationContext("u1"))
    assert (d.value, d.reason) == ("control", Reason.DISABLED)
    assert d.flag_metadata[A.LLM_VARIANT_WEIGHT] == 100.0
    router.close()


def test_async_evaluation(of_client: tuple[Router, OpenFeatureClient]) -> None:
    router, client = of_client
    value = asyncio.run(client.get_string_value_async(EXP, "?", EvaluationContext("u7")))
    assert value == router.assign(EXP, "u7")
