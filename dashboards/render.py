"""Preview the generated dashboards as PNG: each panel's queries run on a Prometheus, drawn with matplotlib.

No Grafana server is needed (or available in CI): this shows what the panels show on real data. Time series
panels are drawn as lines over the queried range; stat panels as one bar per series (the value at the end).

``python -m dashboards.render --prometheus http://127.0.0.1:9090 --out dashboards/previews`` renders the last
15 minutes (``make dashboards-png``); tests call :func:`render_all` with their own Prometheus and time range.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

GENERATED = Path(__file__).resolve().parent / "generated"
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """Replace ``$name`` Grafana variables (longest names first, so ``$__range`` is not read as ``$__r``)."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(f"${name}", variables[name])
    return expr


def legend(fmt: str, labels: Mapping[str, str]) -> str:
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt).strip() or json.dumps(labels)


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    qs = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{qs}", timeout=30) as resp:
        payload = json.load(resp)
    return list(payload["data"]["result"])


def _unit_scale(unit: str) -> tuple[float, str]:
    return {"percentunit": (100.0, "%"), "s": (1.0, "s"), "currencyUSD": (1.0, "USD")}.get(unit, (1.0, unit))


def render_dashboard(
    dashboard: Mapping[str, Any],
    prometheus: str,
    out: Path,
    *,
    variables: Mapping[str, str],
    start: float,
    end: float,
    step: float = 2.0,
) -> Path:
    panels = [p for p in dashboard["panels"] if p.get("targets")]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(18, rows * 0.55), dpi=80)
    fig.suptitle(dashboard["title"], fontsize=14, x=0.01, ha="left")
    grid = fig.add_gridspec(rows, 24, hspace=2.2, wspace=1.2, top=1 - 1.2 / rows, bottom=0.03, left=0.03, right=0.99)
    for p in panels:
        g = p["gridPos"]
        ax = fig.add_subplot(grid[g["y"] : g["y"] + g["h"], g["x"] : g["x"] + g["w"]])
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        scale, suffix = _unit_scale(unit)
        ax.set_title(p["title"], fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        bars: list[tuple[str, float]] = []
        for t in p["targets"]:
            for series in query_range(prometheus, substitute(t["expr"], variables), start, end, step):
                xs = [float(v[0]) - start for v in series["values"]]
                ys = [float(v[1]) * scale for v in series["values"]]
                name = legend(t.get("legendFormat", ""), series["metric"])
                if p["type"] == "timeseries":
                    ax.plot(xs, ys, label=name, linewidth=1.5)
                elif ys:
                    bars.append((name, ys[-1]))
        if p["type"] == "timeseries":
            ax.set_xlabel("seconds", fontsize=7)
            ax.set_ylabel(suffix, fontsize=7)
            if ax.lines:
                ax.legend(fontsize=6, loc="best")
        else:
            finite = [(n, v) for n, v in bars if math.isfinite(v)]
            ax.barh([n for n, _ in finite], [v for _, v in finite], color="#3d71d9")
            for i, (_, v) in enumerate(finite):
                ax.text(v, i, f" {v:.4g} {suffix}", va="center", fontsize=7)
            ax.tick_params(axis="y", labelsize=6)
        if not ax.lines and not bars:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def render_all(
    prometheus: str, out_dir: Path, *, variables: Mapping[str, str], start: float, end: float, step: float = 2.0
) -> list[Path]:
    return [
        render_dashboard(
            json.loads(path.read_text()),
            prometheus,
            out_dir / f"{path.stem}.png",
            variables=variables,
            start=start,
            end=end,
            step=step,
        )
        for path in sorted(GENERATED.glob("*.json"))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "previews")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--experiment", default="invoice-extractor-ft")
    args = parser.parse_args()
    end = time.time()
    start = end - args.minutes * 60
    variables = {
        "experiment": args.experiment,
        "variant": ".+",
        "model": ".+",
        "control": "control",
        "__rate_interval": "1m",
        "__range": f"{int(args.minutes)}m",
    }
    for path in render_all(
        args.prometheus, args.out, variables=variables, start=start, end=end, step=max(2.0, args.minutes * 60 / 300)
    ):
        print(path)


if __name__ == "__main__":
    main()
