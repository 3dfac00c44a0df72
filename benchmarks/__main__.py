"""``make bench``: run every benchmark this package knows, each as its own process, and carry on past failures.

    python -m benchmarks [--only overhead,redaction_throughput]

Each benchmark writes ``benchmarks/results/<name>.json`` and ``.md``. A benchmark that is missing is listed as
skipped; one that fails (non-zero exit or timeout) is reported and the others still run. The exit status is
non-zero when any benchmark that ran failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

# name -> timeout in seconds. Order: cheapest first, so a late failure costs the least.
BENCHMARKS: dict[str, float] = {
    "sdk_costs": 300,
    "capture_overhead": 600,
    "shadow_isolation": 900,
    "redaction_throughput": 1800,
    "report_throughput": 1200,
    "collector_throughput": 1800,
    "overhead": 2400,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    args = p.parse_args(argv)
    wanted = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in wanted if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    outcome: dict[str, str] = {}
    for name in wanted:
        script = BENCH / f"{name}.py"
        if not script.exists():
            outcome[name] = "skipped (not present)"
            continue
        print(f"==> {name}", flush=True)
        t0 = time.monotonic()
        cmd = [sys.executable, str(script)]
        try:
            rc = subprocess.run(cmd, cwd=REPO, check=False, timeout=BENCHMARKS[name]).returncode
        except subprocess.TimeoutExpired:
            outcome[name] = f"FAILED (timed out after {BENCHMARKS[name]:.0f} s)"
            continue
        took = time.monotonic() - t0
        outcome[name] = f"ok ({took:.0f} s)" if rc == 0 else f"FAILED (exit {rc} after {took:.0f} s)"

    print("\nbenchmarks:", flush=True)
    for name, what in outcome.items():
        print(f"  {name:24} {what}")
    return 1 if any(v.startswith("FAILED") for v in outcome.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
