"""Recall per entity on the generated corpus (SPEC §13: ≥ 0.99 for every pattern entity, every secret found)."""

from __future__ import annotations

import pytest

from otel_llm.redaction import _rules as R
from tests.redaction.corpus import ENTITIES, LOCALES, score


@pytest.fixture(scope="module")
def scores(corpus, redactor):
    findings = [[(e, s, end) for e, s, end, _ in redactor.analyze(t.text)] for t in corpus]
    return score(corpus, findings)


def test_corpus_is_large_varied_and_covers_every_entity(corpus):
    assert len(corpus) >= 1000
    assert {t.locale for t in corpus} == set(LOCALES)
    planted = {entity for t in corpus for entity, _, _ in t.gold}
    assert set(ENTITIES) <= planted
    for entity in ENTITIES:
        assert sum(e == entity for t in corpus for e, _, _ in t.gold) >= 100


@pytest.mark.parametrize("entity", R.PATTERN_ENTITIES)
def test_pattern_entity_recall(scores, entity):
    sc = scores[entity]
    assert sc.recall >= 0.99, (entity, sc)
    assert sc.typed_recall >= 0.99, (entity, sc)


@pytest.mark.parametrize("entity", R.SECRET_ENTITIES)
def test_every_secret_is_found(scores, entity):
    sc = scores[entity]
    assert sc.covered == sc.gold, (entity, sc)


@pytest.mark.parametrize("entity", [*R.SECRET_ENTITIES, R.EMAIL, R.CREDIT_CARD, R.IBAN, R.US_SSN])
def test_precision_of_specific_recognisers(scores, entity):
    # Findings that do not touch any planted value: distractors (order numbers, dates, prices) must not trip them.
    assert scores[entity].precision >= 0.95, scores[entity]


def test_redacted_text_keeps_no_planted_value(corpus, redactor):
    leaks = []
    for t in corpus[:400]:
        out = redactor.redact(t.text)
        leaks += [(e, v) for e, v in t.values() if e in ENTITIES and v in out]
    assert leaks == []
