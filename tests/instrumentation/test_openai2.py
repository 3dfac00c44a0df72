"""openai 2.x (built on httpx, not httpx2) in its own environment, built by ``make venv-openai2``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv-openai2" / "bin" / "python"


def test_openai2_suite_passes_in_its_own_environment():
    assert PY.exists(), "run 'make venv-openai2' (make test does) to build the openai 2.x environment"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            str(PY),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "-W",
            "error",
            str(ROOT / "tests" / "openai2" / "cases_openai2.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    m = re.search(r"(\d+) passed", out)
    assert m and int(m.group(1)) == 2, out
    assert sys.executable != str(PY)
