"""``otel-llm report`` throughput and peak memory on a large OTLP JSON-lines file (issue 8, SPEC §10).

Generates a seeded file of LLM spans the way the collector's ``file`` exporter writes them (one
``ExportTraceServiceRequest`` per line, ``--batch`` spans per line), with the attribute set otel-llm puts on
its spans: two live variants split 90/10, and for every control request a shadow call of the candidate in the
same trace. Then runs ``otel-llm report FILE --format json --output OUT --split control=90,candidate=10`` as a
child process and measures its wall time (spans/s) and its peak RSS (``wait4`` rusage of that child) against
the file size. The report's request counts must equal what was generated, or the benchmark fails.

A small run first gives the fixed cost (interpreter, imports, statistics) so the per-span rate can be read
apart from it. Writes benchmarks/results/report_throughput.{json,md}; the big file is deleted afterwards.

    python benchmarks/report_throughput.py [--spans 1000000] [--batch 500] [--seed 11]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otel_llm import attributes as A  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
EXPERIMENT = "invoice-extractor-ft"
SPLIT = {"control": 90, "candidate": 10}
T0_NS = 1_760_000_000_000_000_000
# per variant: p50 / p99 latency (ms), error rate, field accuracy, null-field hallucination, cost per call (USD)
PROFILE = {
    "control": {"model": "gpt-4.1", "p50": 420.0, "p99": 900.0, "error": 0.02, "acc": 0.95, "halluc": 0.05},
    "candidate": {"model": "ft:gpt-4.1-mini:inv", "p50": 190.0, "p99": 410.0, "error": 0.01, "acc": 0.96},
}
PROFILE["control"]["cost"] = 0.0048
PROFILE["candidate"].update(halluc=0.08, cost=0.0011)
Z99 = 2.3263478740408408
FIELDS = 5  # fields the judge scores per call


def _kv(key: str, kind: str, slot: str) -> str:
    """One OTLP/JSON KeyValue with a ``%s`` slot (``intValue`` is a string, as in OTLP/JSON)."""
    quoted = f'"{slot}"' if kind in {"stringValue", "intValue"} else slot
    return f'{{"key":"{key}","value":{{"{kind}":{quoted}}}}}'


def _span_template(*, shadow: bool, error: bool) -> str:
    """The JSON of one LLM span with ``%s`` slots, in the order :func:`_fill` supplies them."""
    attrs = [
        _kv(A.GEN_AI_OPERATION_NAME, "stringValue", A.OP_CHAT),
        _kv(A.GEN_AI_PROVIDER_NAME, "stringValue", A.PROVIDER_OPENAI),
        _kv(A.GEN_AI_REQUEST_MODEL, "stringValue", "%s"),
        _kv(A.GEN_AI_REQUEST_TEMPERATURE, "doubleValue", "0.0"),
        _kv(A.GEN_AI_REQUEST_MAX_TOKENS, "intValue", "1024"),
        _kv(A.GEN_AI_REQUEST_STREAM, "boolValue", "true"),
        _kv(A.SERVER_ADDRESS, "stringValue", "api.openai.com"),
        _kv(A.SERVER_PORT, "intValue", "443"),
        _kv(A.LLM_EXPERIMENT_ID, "stringValue", EXPERIMENT),
        _kv(A.LLM_VARIANT, "stringValue", "%s"),
        _kv(A.LLM_ROUTE, "stringValue", A.ROUTE_SHADOW if shadow else A.ROUTE_PRIMARY),
        _kv(A.LLM_VARIANT_WEIGHT, "doubleValue", "%s"),
        _kv(A.LLM_PROMPT_VERSION, "stringValue", "v7"),
        _kv(A.LLM_SUBJECT_HASH, "stringValue", "%s"),
        _kv(A.LLM_DOCUMENT_ID, "stringValue", "doc-%s"),
        _kv(A.LLM_REDACTION_STATUS, "stringValue", A.REDACTION_REDACTED),
    ]
    if shadow:
        attrs.append(_kv(A.LLM_SHADOW, "boolValue", "true"))
    if error:
        attrs.append(_kv(A.ERROR_TYPE, "stringValue", "500"))
        attrs.append(_kv(A.HTTP_RESPONSE_STATUS_CODE, "intValue", "500"))
    else:
        attrs += [
            _kv(A.GEN_AI_RESPONSE_MODEL, "stringValue", "%s"),
            _kv(A.GEN_AI_RESPONSE_ID, "stringValue", "chatcmpl-%s"),
            f'{{"key":"{A.GEN_AI_RESPONSE_FINISH_REASONS}","value":{{"arrayValue":{{"values":[{{"stringValue":"stop"}}]}}}}}}',
            _kv(A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, "doubleValue", "%s"),
            _kv(A.GEN_AI_USAGE_INPUT_TOKENS, "intValue", "%s"),
            _kv(A.GEN_AI_USAGE_OUTPUT_TOKENS, "intValue", "%s"),
            _kv(A.LLM_USAGE_SOURCE, "stringValue", A.USAGE_SOURCE_PROVIDER),
            _kv(A.LLM_COST_USD, "doubleValue", "%s"),
            _kv(A.LLM_COST_SOURCE, "stringValue", A.COST_SOURCE_GENAI_PRICES),
            _kv(A.LLM_SCHEMA_VALID, "boolValue", "%s"),
            _kv(A.LLM_EVAL_FIELDS_TOTAL, "intValue", "%s"),
            _kv(A.LLM_EVAL_FIELDS_CORRECT, "intValue", "%s"),
            _kv(A.LLM_EVAL_NULL_FIELDS, "intValue", "%s"),
            _kv(A.LLM_EVAL_NULL_FILLED, "intValue", "%s"),
            # the extraction result as the semconv output message (a JSON string inside the JSON line)
            _kv(A.GEN_AI_OUTPUT_MESSAGES, "stringValue", "%s"),
        ]
    status = '{"code":2,"message":"HTTP 500"}' if error else "{}"
    return (
        '{"traceId":"%s","spanId":"%s","parentSpanId":"%s","name":"chat %s","kind":3,'
        '"startTimeUnixNano":"%s","endTimeUnixNano":"%s","attributes":['
        + ",".join(attrs)
        + '],"status":'
        + status
        + "}"
    )


TEMPLATES = {(s, e): _span_template(shadow=s, error=e) for s in (False, True) for e in (False, True)}
LINE_HEAD = (
    '{"resourceSpans":[{"resource":{"attributes":['
    + ",".join(
        (
            _kv("service.name", "stringValue", "invoice-api"),
            _kv("service.version", "stringValue", "2.14.0"),
            _kv("deployment.environment.name", "stringValue", "prod"),
            _kv("telemetry.sdk.language", "stringValue", "python"),
            _kv("telemetry.sdk.name", "stringValue", "opentelemetry"),
            _kv("telemetry.sdk.version", "stringValue", "1.38.0"),
        )
    )
    + ']},"scopeSpans":[{"scope":{"name":"otel_llm","version":"0.1.0"},"spans":['
)
LINE_TAIL = "]}]}]}\n"


_MESSAGES: dict[tuple[int, bool, bool], str] = {}


def _message(doc: int, wrong: bool, filled: bool) -> str:
    """An assistant message holding a JSON extraction, escaped for use inside a JSON string (cached)."""
    key = (doc, wrong, filled)
    text = _MESSAGES.get(key)
    if text is None:
        extraction = {
            "invoice_number": f"INV-{doc:05d}",
            "vendor": f"Vendor {doc % 37}",
            "total": round(1000 + (doc * 37) % 4000 + (0.5 if wrong else 0.0), 2),
            "po_number": f"PO-{doc}" if filled else None,
        }
        message = [{"role": "assistant", "parts": [{"type": "text", "content": json.dumps(extraction)}]}]
        message[0]["finish_reason"] = "stop"
        text = _MESSAGES[key] = json.dumps(json.dumps(message))[1:-1]
    return text


def generate(path: Path, n_spans: int, batch: int, seed: int) -> dict:
    """Write ``n_spans`` LLM spans to ``path``; return the counts the report must reproduce."""
    rng = np.random.default_rng(seed)
    n_requests = n_spans  # an upper bound: the loop stops at n_spans (a control request carries 2 spans)
    is_candidate = rng.random(n_requests) < SPLIT["candidate"] / 100
    counts = {"spans": 0, "live": {"control": 0, "candidate": 0}, "shadow": {"candidate": 0}}
    errors = {"live": {"control": 0, "candidate": 0}, "shadow": {"candidate": 0}}
    pending: list[str] = []
    # per-call random draws, taken in blocks so the loop below only formats strings
    block = 65_536
    draws: dict[str, np.ndarray] = {}
    k = block
    sigma = {v: np.log(p["p99"] / p["p50"]) / Z99 for v, p in PROFILE.items()}

    with path.open("w", encoding="ascii", buffering=1 << 20) as out:
        for i in range(n_requests):
            if counts["spans"] >= n_spans:
                break
            trace = rng.bytes(16).hex()
            parent = rng.bytes(8).hex()
            start = T0_NS + i * 2_000_000
            variant = "candidate" if is_candidate[i] else "control"
            calls = [(variant, False)]
            if variant == "control" and counts["spans"] + 2 <= n_spans:
                calls.append(("candidate", True))
            for served, shadow in calls:
                if k >= block:
                    draws = {
                        "z": rng.standard_normal(block),
                        "u_err": rng.random(block),
                        "doc": rng.integers(0, 20_000, block),
                        "in": rng.integers(1400, 1800, block),
                        "out": rng.integers(250, 350, block),
                        "ttft": rng.uniform(0.05, 0.2, block),
                        "cost": rng.uniform(0.5, 1.5, block),
                        "schema": rng.random(block),
                        "nulls": rng.binomial(FIELDS, 0.3, block),
                        "u_acc": rng.random((block, FIELDS)),
                        "u_hal": rng.random((block, FIELDS)),
                        "subject": rng.integers(0, 1 << 62, block),
                        "span": rng.integers(1, 1 << 63, block),
                    }
                    k = 0
                p = PROFILE[served]
                error = bool(draws["u_err"][k] < p["error"])
                latency_ns = int(p["p50"] * np.exp(sigma[served] * draws["z"][k]) * 1e6)
                head = (
                    trace,
                    f"{draws['span'][k]:016x}",
                    parent,
                    served,
                    start + 1000,
                    start + 1000 + latency_ns,
                    p["model"],
                    served,
                    SPLIT[served],
                    f"{draws['subject'][k]:016x}",
                    draws["doc"][k],
                )
                route = "shadow" if shadow else "live"
                if error:
                    values = head
                    errors[route][served] += 1
                else:
                    nulls = int(draws["nulls"][k])
                    non_null = FIELDS - nulls
                    correct = int((draws["u_acc"][k, :non_null] < p["acc"]).sum())
                    filled = int((draws["u_hal"][k, :nulls] < p["halluc"]).sum())
                    values = (
                        *head,
                        p["model"],
                        f"{draws['subject'][k]:016x}",
                        f"{draws['ttft'][k]:.4f}",
                        draws["in"][k],
                        draws["out"][k],
                        f"{p['cost'] * draws['cost'][k]:.7f}",
                        "true" if draws["schema"][k] < 0.97 else "false",
                        FIELDS,
                        correct,
                        nulls,
                        filled,
                        _message(int(draws["doc"][k]), correct < FIELDS - 1, filled > 0),
                    )
                k += 1
                pending.append(TEMPLATES[shadow, error] % values)
                counts[route][served] += 1
                counts["spans"] += 1
                if len(pending) >= batch:
                    out.write(LINE_HEAD + ",".join(pending) + LINE_TAIL)
                    pending = []
        if pending:
            out.write(LINE_HEAD + ",".join(pending) + LINE_TAIL)
    if counts["spans"] != n_spans:
        raise RuntimeError(f"generated {counts['spans']} spans, wanted {n_spans}")
    counts["errors"] = errors
    return counts


def run_report(path: Path, out: Path) -> dict:
    """Run ``otel-llm report`` on ``path`` as a child; wall seconds, peak RSS (bytes) and the report's JSON."""
    exe = Path(sys.executable).with_name("otel-llm")
    split = ",".join(f"{k}={v}" for k, v in SPLIT.items())
    cmd = [str(exe), "report", str(path), "--format", "json", "--output", str(out), "--split", split]
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not every child's
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if child.returncode != 0:
        raise RuntimeError(f"otel-llm report exited {child.returncode}: {stderr[-2000:]}")
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return {"seconds": seconds, "peak_rss_bytes": rss, "report": json.loads(out.read_text())}


def check(report: dict, counts: dict) -> list[str]:
    """Every disagreement between the report's counts and the generated ones."""
    problems = []
    got_spans = report["input"]["llm_spans"]
    if got_spans != counts["spans"] or report["input"]["spans"] != counts["spans"]:
        problems.append(f"spans: report read {report['input']} vs generated {counts['spans']}")
    if report["input"]["llm_spans_without_experiment"] != 0:
        problems.append(f"unattributed spans: {report['input']['llm_spans_without_experiment']}")
    for block, figures in (("live", report["variants"]), ("shadow", report["shadow"]["variants"])):
        for variant, n in counts[block].items():
            got = figures.get(variant, {})
            if got.get("requests") != n:
                problems.append(f"{block} {variant} requests: report {got.get('requests')} vs generated {n}")
            if got.get("errors") != counts["errors"][block][variant]:
                problems.append(
                    f"{block} {variant} errors: report {got.get('errors')} vs {counts['errors'][block][variant]}"
                )
        extra = set(figures) - set(counts[block])
        if extra:
            problems.append(f"{block}: unexpected variants {sorted(extra)}")
    return problems


def measure(workdir: Path, n_spans: int, batch: int, seed: int) -> dict:
    path = workdir / f"spans-{n_spans}.jsonl"
    t = time.perf_counter()
    counts = generate(path, n_spans, batch, seed)
    gen_seconds = time.perf_counter() - t
    size = path.stat().st_size
    try:
        run = run_report(path, workdir / f"report-{n_spans}.json")
    finally:
        path.unlink()
    problems = check(run["report"], counts)
    if problems:
        raise SystemExit("report counts disagree with the generated file:\n  " + "\n  ".join(problems))
    rss = run["peak_rss_bytes"]
    return {
        "spans": n_spans,
        "lines": -(-n_spans // batch),
        "file_bytes": size,
        "file_mib": size / 2**20,
        "bytes_per_span": size / n_spans,
        "generate_seconds": gen_seconds,
        "report_seconds": run["seconds"],
        "spans_per_s": n_spans / run["seconds"],
        "mib_per_s": size / 2**20 / run["seconds"],
        "peak_rss_bytes": rss,
        "peak_rss_mib": rss / 2**20,
        "rss_to_file_ratio": rss / size,
        "counts": {k: counts[k] for k in ("live", "shadow", "errors")},
        "decision": run["report"]["decision"],
        "counts_match": True,
    }


def write_results(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "report_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    big, small = result["runs"]["large"], result["runs"]["small"]
    marginal = (big["report_seconds"] - small["report_seconds"]) / (big["spans"] - small["spans"])
    rows = "\n".join(
        f"| {r['spans']:,} | {r['file_mib']:,.1f} | {r['report_seconds']:.1f} | {r['spans_per_s']:,.0f} | "
        f"{r['mib_per_s']:.1f} | {r['peak_rss_mib']:,.0f} | {r['rss_to_file_ratio']:.3f} |"
        for r in (small, big)
    )
    note = result.get("note", "")
    md = f"""# `otel-llm report` throughput and peak memory

{result["machine"]}. Seeded OTLP JSON-lines file (collector `file` exporter format, {result["batch"]} spans per
line, {big["bytes_per_span"]:.0f} bytes per span: the gen_ai.* / llm.* / llm.eval.* attributes otel-llm writes,
cost, tokens, and a short `gen_ai.output.messages` on successful calls). Live split control 90 / candidate 10;
every control request also carries a shadow call of the candidate in the same trace. Command:
`otel-llm report FILE --format json --output OUT --split control=90,candidate=10` as a child process; time is
wall time of the whole command (start-up, reading, statistics, writing), peak RSS is the child's `ru_maxrss`.

| spans | file MiB | seconds | spans/s | MiB/s | peak RSS MiB | RSS / file size |
|---:|---:|---:|---:|---:|---:|---:|
{rows}

Marginal cost from the two sizes: {marginal * 1e6:.1f} µs per span ({1 / marginal:,.0f} spans/s once start-up
and the fixed statistics are paid). The report's request and error counts matched the generated ones exactly for
every variant, live and shadow (the benchmark exits non-zero otherwise); decision on the large file:
`{big["decision"]}`.
{note}"""
    (RESULTS / "report_throughput.md").write_text(md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=20_000, help="size of the run that gives the fixed cost")
    parser.add_argument("--batch", type=int, default=500, help="spans per line (per export request)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--note", default="", help="a sentence for the .md (e.g. why the size differs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otel-llm-report-bench-") as tmp:
        small = measure(Path(tmp), args.small, args.batch, args.seed)
        print(json.dumps({k: v for k, v in small.items() if k != "counts"}), flush=True)
        large = measure(Path(tmp), args.spans, args.batch, args.seed + 1)
        print(json.dumps({k: v for k, v in large.items() if k != "counts"}), flush=True)
    result = {
        "benchmark": "report_throughput",
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.machine()}",
        "batch": args.batch,
        "seed": args.seed,
        "runs": {"small": small, "large": large},
        "note": args.note,
    }
    write_results(result)


if __name__ == "__main__":
    main()
