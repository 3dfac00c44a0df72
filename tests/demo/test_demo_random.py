"""The demo on a randomised scenario (issue 9): the report recovers whatever the servers were told to inject.

One run of 1,200 requests per suite. The scenario is drawn from a fresh seed each time (set
``OTEL_LLM_DEMO_RANDOM_SEED`` to replay one; the seed is in every failure message). Each figure is judged as
``test_demo.py`` judges it at a Bonferroni level that counts this file's checks too (rates by their score or
exact binomial test, means by the report's interval widened about its midpoint), so the suite as a whole fails
by chance at most ``test_demo.SUITE_FALSE_ALARM`` of the time (0.5 %).
"""

from __future__ import annotations

import os
import random

import pytest
import yaml
from scipy.stats import norm

from otel_llm.demo.documents import NULL_SHARE
from tests.demo import test_demo
from tests.demo.test_demo import _attr, _run

GPT_4O_MINI = (0.15, 0.60)  # USD per million input / output tokens (genai-prices)
# test_demo widens each 95 % interval by Bonferroni over its ~20 checks. This file adds 10 more, so the suite
# has ~30: widen to z = Phi^-1(1 - alpha / 60) the same way (half-width about the midpoint), keeping the whole
# suite's chance of a false alarm at test_demo.SUITE_FALSE_ALARM.
_CHECKS_IN_SUITE = 20 + 10
_EXTRA = float(norm.isf(test_demo.SUITE_FALSE_ALARM / 2 / _CHECKS_IN_SUITE)) / (1.96 * test_demo._BONFERRONI)


def _inside(value: float, ci: list[float]) -> bool:
    """test_demo's check on the interval widened by the extra factor for this file's checks."""
    mid, half = (ci[0] + ci[1]) / 2, (ci[1] - ci[0]) / 2 * _EXTRA
    return test_demo._inside(value, [mid - half, mid + half])


SEED = int(os.environ.get("OTEL_LLM_DEMO_RANDOM_SEED") or random.SystemRandom().randrange(1, 2**31))


def _variant(rng: random.Random) -> dict:
    hallucination = round(rng.uniform(0.002, 0.05), 4)
    # Keep the accuracy on fields that have a value (what the server draws) inside (0, 1) for any null share.
    accuracy = round(rng.uniform(0.85, 0.97), 4)
    p50 = round(rng.uniform(150, 800))
    return {
        "field_accuracy": accuracy,
        "hallucination_rate": hallucination,
        "error_rate": round(rng.uniform(0.005, 0.05), 4),
        "input_tokens": rng.randint(400, 3000),
        "output_tokens": rng.randint(80, 600),
        "latency_ms": {"p50": p50, "p99": round(p50 * rng.uniform(1.5, 5))},
    }


def random_scenario(seed: int) -> dict:
    rng = random.Random(seed)
    share = rng.choice([10, 20, 30])
    return {
        "seed": seed,
        "requests": 1200,
        "time_scale": 0.05,
        "split": {"control": 100 - share, "candidate": share},
        "variants": {"control": _variant(rng), "candidate": _variant(rng)},
    }


def _expected_cost_per_1k(spec: dict, name: str) -> float:
    prices = spec.get("prices")
    per_in, per_out = (prices["input_per_mtok"], prices["output_per_mtok"]) if prices else GPT_4O_MINI
    if name == "control":
        assert prices is None, "the control is priced by genai-prices (gpt-4o-mini)"
    return (spec["input_tokens"] * per_in + spec["output_tokens"] * per_out) / 1e6 * 1000


def test_report_recovers_a_random_scenario(tmp_path) -> None:
    overrides = random_scenario(SEED)
    where = f"OTEL_LLM_DEMO_RANDOM_SEED={SEED} scenario={overrides}"
    report, sc, spans = _run(tmp_path, overrides)
    live = report["variants"]
    for name, figures in (("control", live["control"]), ("candidate", report["shadow"]["variants"]["candidate"])):
        spec = sc["variants"][name]
        for metric in ("field_accuracy", "hallucination_rate"):
            ok = test_demo._wilson_rate_consistent(
                spec[metric], figures[metric], figures[f"{metric}_ci"], _CHECKS_IN_SUITE
            )
            assert ok, (name, metric, figures[metric], figures[f"{metric}_ci"], where)
        counts = (figures["errors"], figures["requests"])
        assert test_demo._error_rate_consistent(spec["error_rate"], figures, _CHECKS_IN_SUITE), (name, counts, where)
        expected_cost = _expected_cost_per_1k(spec, name)
        assert _inside(expected_cost, figures["cost_per_1k_requests_usd_ci"]), (name, expected_cost, where)
        assert figures["latency_ms"]["p50"] >= spec["latency_ms"]["p50"] * sc["time_scale"] * 0.9, where
    control = sc["variants"]["control"]
    for kind in ("input", "output"):
        ci = live["control"][f"{kind}_tokens_per_request_ci"]
        assert _inside(control[f"{kind}_tokens"], ci), (kind, ci, where)

    assert report["srm"]["ok"], (report["srm"], where)
    n_live = live["control"]["requests"] + live["candidate"]["requests"]
    assert n_live == sc["requests"], where
    shadow_spans = [s for s in spans if _attr(s, "llm.route") == "shadow"]
    assert len(shadow_spans) == live["control"]["requests"], where  # shadow_sample 1.0
    assert report["shadow"]["paired"][0]["n_pairs"] == len(shadow_spans), where


@pytest.mark.parametrize("seed", [1, 2, 3, 99])
def test_random_scenarios_are_valid_and_reachable(seed: int, tmp_path) -> None:
    from otel_llm.demo.scenario import load_scenario

    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(random_scenario(seed)))
    scenario = load_scenario(path)
    for spec in scenario.variants.values():
        # The server's accuracy on fields that have a value must not need clipping to [0, 1], or the injected
        # field accuracy would not be what the scenario says.
        q = (spec.field_accuracy - NULL_SHARE * (1 - spec.hallucination_rate)) / (1 - NULL_SHARE)
        assert 0 < q < 1, (seed, spec)
