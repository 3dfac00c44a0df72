"""``otel_llm.experiment()`` keeps the immutable context of each argument set: repeated requests of one user or
session reuse it (and the span attributes it computed), different arguments never share one."""

from __future__ import annotations

import otel_llm
from otel_llm.enrich import experiment as exp


def _ctx(active: object) -> exp.ExperimentContext:
    with active as ctx:  # type: ignore[attr-defined]
        return ctx


def test_same_arguments_reuse_one_context_and_different_ones_do_not():
    a = _ctx(otel_llm.experiment("e-cache", variant="control", prompt_version="v1", subject="user-1"))
    b = _ctx(otel_llm.experiment("e-cache", variant="control", prompt_version="v1", subject="user-1"))
    assert a is b
    others = [
        _ctx(otel_llm.experiment("e-cache", variant="candidate", prompt_version="v1", subject="user-1")),
        _ctx(otel_llm.experiment("e-cache", variant="control", prompt_version="v2", subject="user-1")),
        _ctx(otel_llm.experiment("e-cache", variant="control", prompt_version="v1", subject="user-2")),
        _ctx(otel_llm.experiment("e-cache", variant="control", prompt_version="v1", rag_index_version="i1")),
    ]
    assert all(o is not a for o in others)
    assert a.subject_hash == exp.hash_subject("user-1") != others[2].subject_hash


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(exp, "_CONTEXTS", {})
    for i in range(exp._HASHES_MAX + 10):
        otel_llm.experiment("e-bound", subject=f"user-{i}")
    assert len(exp._CONTEXTS) <= exp._HASHES_MAX


def test_unhashable_arguments_are_not_cached_and_do_not_raise():
    ctx = _ctx(otel_llm.experiment(["not", "a", "string"], variant="v"))  # type: ignore[arg-type]
    assert ctx.experiment_id == ["not", "a", "string"]
