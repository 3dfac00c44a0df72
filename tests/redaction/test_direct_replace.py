"""Disjoint findings are replaced without Presidio's AnonymizerEngine: the text must come out exactly the same."""

from __future__ import annotations

import random

import pytest
from presidio_analyzer import RecognizerResult

from otel_llm.redaction import PresidioRedactor

TYPES = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "NOT_CONFIGURED"]


def _cases(n: int, seed: int) -> list[tuple[str, list[RecognizerResult]]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        text = "".join(rng.choice("ab  é🦊\n-") for _ in range(rng.randint(0, 60)))
        found = []
        for _ in range(rng.randint(1, 5)):
            start = rng.randint(0, len(text))
            end = min(len(text), start + rng.randint(0, 12))
            found.append(RecognizerResult(rng.choice(TYPES), start, end, rng.choice([0.4, 0.6, 1.0])))
        cases.append((text, found))
    return cases


@pytest.mark.parametrize("operator", ["replace", "mask", "hash"])
def test_direct_replacement_equals_the_anonymizer(operator):
    redactor = PresidioRedactor(operator=operator, hmac_key="k", entities=TYPES[:3])
    direct_cases = 0
    for text, found in _cases(3000, seed=5):
        direct = redactor._replace_disjoint(text, found)
        if direct is None:
            continue
        direct_cases += 1
        assert direct == redactor._anonymize(text, found), (text, found)
    assert direct_cases > 300


def test_overlapping_or_space_separated_findings_go_to_the_anonymizer(redactor):
    text = "a 12345 67890 b"
    overlapping = [RecognizerResult("PHONE_NUMBER", 2, 7, 0.4), RecognizerResult("CREDIT_CARD", 5, 13, 1.0)]
    assert redactor._replace_disjoint(text, overlapping) is None
    spaced = [RecognizerResult("PHONE_NUMBER", 2, 7, 0.4), RecognizerResult("PHONE_NUMBER", 8, 13, 0.4)]
    assert redactor._replace_disjoint(text, spaced) is None
    assert redactor._anonymize(text, spaced) == "a <PHONE_NUMBER> b"  # merged into one


def test_redaction_of_the_corpus_is_unchanged_by_the_direct_path(corpus, redactor):
    for t in corpus[:400]:
        found = redactor._get_engine().analyze(t.text)
        if found:
            assert redactor._redact(t.text) == redactor._anonymize(t.text, found)
