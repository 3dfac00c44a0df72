"""The prefilters in front of Presidio's recognisers only skip work: they never hide a finding."""

from __future__ import annotations

import random

import pytest


def _digit_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        groups = ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 6))]
        seps = [rng.choice([" ", "-", ".", "", "  ", "/", "(", ")", "+", "x", "_"]) for _ in groups]
        body = "".join(g + s for g, s in zip(groups, seps, strict=True))
        texts.append(rng.choice(["", "call ", "card ", "ssn ", "+", "a"]) + body + rng.choice(["", " end", "."]))
    # Known valid values of each kind, so that positives are in the sample too.
    texts += ["4111 1111 1111 1111", "5555-5555-5555-4444", "card 4012888888881881.", "078-05-1120", "078 05 1120"]
    texts += ["ip 192.168.10.1 and fe80::1", "DE89 3704 0044 0532 0130 00", "mail a.b@example.com"]
    return texts


@pytest.fixture(scope="module")
def stages(redactor):
    return [stage for stage in redactor._get_engine().stages if stage.check is not None]


def test_every_pattern_recogniser_is_checked(stages):
    names = {type(stage.recogniser).__name__ for stage in stages}
    assert {"WideCreditCardRecognizer", "UsSsnRecognizer", "IpRecognizer", "OfflineEmailRecognizer"} <= names


def test_check_never_rejects_a_text_the_recogniser_finds_something_in(stages):
    rejected = 0
    for text in _digit_texts(3000, seed=11):
        for stage in stages:
            entities = list(stage.recogniser.supported_entities)
            found = stage.recogniser.analyze(text, entities, None)
            if not stage.check(text):
                rejected += 1
                assert found == [], (type(stage.recogniser).__name__, text, found)
    assert rejected > 0  # the check does skip work


def test_a_phone_number_does_not_run_the_card_and_ssn_recognisers(redactor, monkeypatch):
    stages = {type(s.recogniser).__name__: s for s in redactor._get_engine().stages}
    calls: list[str] = []
    for name in ("WideCreditCardRecognizer", "UsSsnRecognizer"):
        recogniser = stages[name].recogniser
        original = recogniser.analyze
        monkeypatch.setattr(
            recogniser, "analyze", lambda *a, _n=name, _o=original, **k: calls.append(_n) or _o(*a, **k)
        )
    out = redactor._redact("please call +44 20 7946 0958 today")
    assert out == "please call <PHONE_NUMBER> today"
    assert calls == []
    # A Luhn-valid card still reaches its recogniser.
    assert redactor._redact("card 4111 1111 1111 1111 ok") == "card <CREDIT_CARD> ok"
    assert "WideCreditCardRecognizer" in calls
