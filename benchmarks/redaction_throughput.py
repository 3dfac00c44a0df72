"""Redaction throughput and recall: Presidio's default pattern-only AnalyzerEngine vs otel-llm's default mode
vs NER mode, on 200-token messages, one core. Writes benchmarks/results/redaction_throughput.{json,md}.

The baseline is what a user gets from ``AnalyzerEngine()`` without a spaCy model: its default recogniser
registry with Presidio's ``NoOpNlpEngine`` (no tokeniser, no NER). Timing it with analysis only and ours with
analysis + anonymisation makes the ratio conservative.

    python benchmarks/redaction_throughput.py [--messages 300] [--corpus 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# Presidio's default e-mail recogniser would try to download the public suffix list: not on our machines.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otel_llm.redaction import PresidioRedactor  # noqa: E402
from tests.redaction.corpus import ENTITIES, NER_GOLD, generate, score  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "single-threaded (no affinity API)"


def _time(fn, texts, repeat: int = 1) -> dict[str, float]:
    for t in texts[:10]:
        fn(t)
    samples = []
    for _ in range(repeat):
        for t in texts:
            start = time.perf_counter()
            fn(t)
            samples.append(time.perf_counter() - start)
    samples.sort()
    total = sum(samples)
    return {
        "messages_per_s": len(samples) / total,
        "p50_ms": statistics.median(samples) * 1000,
        "p99_ms": samples[int(0.99 * (len(samples) - 1))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--corpus", type=int, default=1200)
    parser.add_argument("--ner-corpus", type=int, default=300)
    args = parser.parse_args()
    pinning = _pin_one_core()

    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    baseline = AnalyzerEngine(nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}]))
    anonymizer = AnonymizerEngine()
    # No cache of recent texts: the figure is the engine's throughput, not repeated texts answered from memory.
    ours = PresidioRedactor(cache_entries=0)
    ours.warm_up()
    ner = PresidioRedactor(mode="ner", cache_entries=0)
    ner.warm_up()

    messages = [t.text for t in generate(args.messages, seed=7, target_tokens=200)]
    tokens = statistics.mean(len(m.split()) for m in messages)
    runs = {
        "presidio_default_analyze": _time(lambda m: baseline.analyze(m, language="en"), messages),
        "presidio_default_analyze_anonymize": _time(
            lambda m: anonymizer.anonymize(m, baseline.analyze(m, language="en")), messages
        ),
        "otel_llm_patterns_redact": _time(ours.redact, messages, repeat=3),
        "otel_llm_ner_redact": _time(ner.redact, messages[: max(50, args.messages // 3)]),
    }
    base = runs["presidio_default_analyze"]["messages_per_s"]
    ratio = runs["otel_llm_patterns_redact"]["messages_per_s"] / base
    ratio_like_for_like = (
        runs["otel_llm_patterns_redact"]["messages_per_s"]
        / runs["presidio_default_analyze_anonymize"]["messages_per_s"]
    )

    corpus = generate(args.corpus)
    found_base = [[(r.entity_type, r.start, r.end) for r in baseline.analyze(t.text, language="en")] for t in corpus]
    found_ours = [[(e, s, end) for e, s, end, _ in ours.analyze(t.text)] for t in corpus]
    ner_corpus = corpus[: args.ner_corpus]
    found_ner = [[(e, s, end) for e, s, end, _ in ner.analyze(t.text)] for t in ner_corpus]
    scores = {
        "presidio_default": score(corpus, found_base),
        "otel_llm_patterns": score(corpus, found_ours),
        "otel_llm_ner": score(ner_corpus, found_ner),
    }
    recall = {
        name: {
            entity: {
                "gold": sc[entity].gold if entity in sc else 0,
                "recall": round(sc[entity].recall, 4) if entity in sc else None,
                "typed_recall": round(sc[entity].typed_recall, 4) if entity in sc else None,
                "precision": round(sc[entity].precision, 4) if entity in sc and sc[entity].predicted else None,
            }
            for entity in (*ENTITIES, *NER_GOLD)
        }
        for name, sc in scores.items()
    }
    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpu": pinning},
        "messages": len(messages),
        "mean_tokens": round(tokens, 1),
        "throughput": {k: {m: round(v, 3) for m, v in r.items()} for k, r in runs.items()},
        "ratio_vs_presidio_default_analyze": round(ratio, 2),
        "ratio_vs_presidio_default_analyze_anonymize": round(ratio_like_for_like, 2),
        "recall": recall,
        "corpus_texts": len(corpus),
        "ner_corpus_texts": len(ner_corpus),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "redaction_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "redaction_throughput.md").write_text(_markdown(result))
    print(_markdown(result))


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _markdown(result: dict) -> str:
    lines = [
        "# Redaction throughput",
        "",
        f"{result['messages']} messages of ~{result['mean_tokens']} tokens, {result['machine']['cpu']}, "
        f"Python {result['machine']['python']}.",
        "",
        "| engine | messages/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, r in result["throughput"].items():
        lines.append(f"| {name} | {r['messages_per_s']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    lines += [
        "",
        f"otel-llm default mode vs Presidio default pattern-only `AnalyzerEngine.analyze`: "
        f"**{result['ratio_vs_presidio_default_analyze']}×** "
        f"(vs analyze + anonymize: {result['ratio_vs_presidio_default_analyze_anonymize']}×).",
        "",
        f"Recall (gold span fully covered by findings) / precision on the generated corpus "
        f"({result['corpus_texts']} texts; NER mode on the first {result['ner_corpus_texts']}):",
        "",
        "| entity | Presidio default recall | otel-llm recall | otel-llm precision | otel-llm F2 "
        "| NER-mode recall | NER-mode precision | NER-mode F2 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rec = result["recall"]
    for entity in rec["otel_llm_patterns"]:
        lines.append(
            f"| {entity} | {_fmt(rec['presidio_default'][entity]['recall'])} "
            f"| {_fmt(rec['otel_llm_patterns'][entity]['recall'])} "
            f"| {_fmt(rec['otel_llm_patterns'][entity]['precision'])} | {_fmt(_f2(rec['otel_llm_patterns'][entity]))} "
            f"| {_fmt(rec['otel_llm_ner'][entity]['recall'])} | {_fmt(rec['otel_llm_ner'][entity]['precision'])} "
            f"| {_fmt(_f2(rec['otel_llm_ner'][entity]))} |"
        )
    return "\n".join(lines) + "\n"


def _f2(scores: dict) -> float | None:
    """F2 (recall weighted 4x precision): leaking is worse than over-redacting."""
    r, p = scores.get("recall"), scores.get("precision")
    if r is None or p is None or (4 * p + r) == 0:
        return None
    return round(5 * p * r / (4 * p + r), 4)


if __name__ == "__main__":
    main()
