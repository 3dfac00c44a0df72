"""Sample size and power against statsmodels, the seed's table, and the ``sample-size`` command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize
from typer.testing import CliRunner

from otel_llm.stats import power_means, power_proportions, sample_size_means, sample_size_proportions
from otel_llm.stats._cli import register

REPO = Path(__file__).resolve().parents[2]


def _statsmodels_n(baseline: float, target: float, alpha: float, power: float, ratio: float, sides: int) -> float:
    h = abs(proportion_effectsize(target, baseline))
    alternative = "two-sided" if sides == 2 else "larger"
    return float(NormalIndPower().solve_power(h, alpha=alpha, power=power, ratio=ratio, alternative=alternative))


@pytest.mark.parametrize("sides", [1, 2])
@pytest.mark.parametrize("ratio", [0.111, 0.25, 1.0, 3.0, 9.0])
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
@pytest.mark.parametrize("power", [0.8, 0.9])
def test_sample_size_proportions_matches_statsmodels_over_a_grid(
    sides: int, ratio: float, alpha: float, power: float
) -> None:
    for baseline, mde in [(0.05, 0.01), (0.3, 0.05), (0.5, 0.1), (0.941, 0.02), (0.97, 0.04), (0.997, 0.008)]:
        target = baseline + mde if baseline + mde < 1 else baseline - mde
        expected = _statsmodels_n(baseline, target, alpha, power, ratio, sides)
        got = sample_size_proportions(baseline, mde, alpha=alpha, power=power, ratio=ratio, sides=sides)
        assert got.n_control == pytest.approx(expected, rel=0.01)
        assert expected - 1e-6 <= got.n_control < expected + 1
        assert got.n_candidate == math.ceil(got.n_control * ratio)
        assert got.n_total == got.n_control + got.n_candidate
        achieved = power_proportions(baseline, mde, got.n_control, alpha=alpha, ratio=ratio, sides=sides)
        assert power <= achieved < power + 0.01


def test_relative_mde_and_the_direction_rule() -> None:
    relative = sample_size_proportions(0.8, 0.05, relative=True)
    assert relative == sample_size_proportions(0.8, 0.04)
    # 0.97 + 0.04 would reach 1, so the alternative is 0.93.
    assert sample_size_proportions(0.97, 0.04).n_control == math.ceil(_statsmodels_n(0.97, 0.93, 0.05, 0.8, 1, 2))


def test_the_seed_rule_of_thumb_table() -> None:
    """Seed 000: 5 % difference at 80 % / 90 % / 95 % baseline → ~1,500 / ~3,500 / ~7,300 per variant.

    Only the first row holds (as a 5 % relative lift at 80 % power); the required sample falls, not rises,
    as the baseline nears 1. The numbers below are documented in ``otel_llm/stats/_power.py``.
    """
    relative = [sample_size_proportions(b, 0.05, relative=True).n_control for b in (0.8, 0.9, 0.95)]
    absolute = [sample_size_proportions(b, 0.05).n_control for b in (0.8, 0.9, 0.95)]
    assert relative == [1445, 543, 128]
    assert absolute == [903, 424, 424]
    assert abs(relative[0] - 1500) / 1500 < 0.05
    assert relative[1] < 3500 / 5
    assert relative[2] < 7300 / 50
    # What the 90 % and 95 % rows would need instead: a 20 % cut in the failure rate.
    assert sample_size_proportions(0.9, 0.02).n_control == 3205
    assert sample_size_proportions(0.95, 0.01).n_control == 6726


@pytest.mark.parametrize("sides", [1, 2])
@pytest.mark.parametrize("ratio", [0.25, 1.0, 4.0])
@pytest.mark.parametrize("alpha", [0.01, 0.05])
@pytest.mark.parametrize("effect", [0.05, 0.2, 0.8, 1.5])
def test_sample_size_means_matches_statsmodels_ttest_power(
    sides: int, ratio: float, alpha: float, effect: float
) -> None:
    alternative = "two-sided" if sides == 2 else "larger"
    expected = TTestIndPower().solve_power(effect, alpha=alpha, power=0.8, ratio=ratio, alternative=alternative)
    got = sample_size_means(effect * 250.0, 250.0, alpha=alpha, ratio=ratio, sides=sides)
    # Rounded up, so within one observation above the real-valued root (1 % once n >= 100).
    assert expected - 1e-6 <= got.n_control < expected + 1
    ref_power = TTestIndPower().power(effect, got.n_control, alpha, ratio=ratio, alternative=alternative)
    assert power_means(-effect * 2.0, 2.0, got.n_control, alpha=alpha, ratio=ratio, sides=sides) == pytest.approx(
        ref_power, rel=1e-6
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline": 0.0, "mde": 0.1}, "baseline"),
        ({"baseline": 1.0, "mde": 0.1}, "baseline"),
        ({"baseline": 0.5, "mde": 0.0}, "mde"),
        ({"baseline": 0.5, "mde": 0.6}, "too large"),
        ({"baseline": 0.5, "mde": 0.1, "alpha": 1.5}, "alpha"),
        ({"baseline": 0.5, "mde": 0.1, "power": 0.01}, "power"),
        ({"baseline": 0.5, "mde": 0.1, "ratio": 0.0}, "ratio"),
        ({"baseline": 0.5, "mde": 0.1, "sides": 3}, "sides"),
    ],
)
def test_out_of_range_inputs_raise(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sample_size_proportions(**kwargs)  # type: ignore[arg-type]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root so sample-size stays a subcommand."""

    register(app)
    return app


def test_cli_json_via_cli_runner() -> None:
    result = CliRunner().invoke(
        _app(), ["sample-size", "--baseline", "0.941", "--mde", "0.02", "--ratio", "0.111", "--json"]
    )
    assert result.exit_code == 0, result.output
    expected = sample_size_proportions(0.941, 0.02, ratio=0.111)
    assert json.loads(result.output) == {
        "n_control": expected.n_control,
        "n_candidate": expected.n_candidate,
        "n_total": expected.n_total,
    }


def test_cli_table_and_errors() -> None:
    runner = CliRunner()
    table = runner.invoke(_app(), ["sample-size", "--baseline", "0.8", "--mde", "0.05", "--relative"])
    assert table.exit_code == 0
    assert "1,445" in table.output
    assert "2,890" in table.output
    bad = runner.invoke(_app(), ["sample-size", "--baseline", "1.2", "--mde", "0.02"])
    assert bad.exit_code == 2
    assert "baseline must be in (0, 1)" in bad.output
    too_big = runner.invoke(_app(), ["sample-size", "--baseline", "0.5", "--mde", "0.7", "--json"])
    assert too_big.exit_code == 2
    assert "too large" in too_big.output
    assert runner.invoke(_app(), ["sample-size", "--help"]).exit_code == 0


def test_cli_subprocess_json() -> None:
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "otel_llm.cli", "sample-size", "--baseline", "0.9", "--mde", "0.05"),
            *("--relative", "--sides", "1", "--alpha", "0.1", "--power", "0.9", "--ratio", "0.25", "--json"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    n = math.ceil(_statsmodels_n(0.9, 0.945, 0.1, 0.9, 0.25, 1) - 1e-9)
    assert json.loads(completed.stdout) == {
        "n_control": n,
        "n_candidate": math.ceil(n * 0.25),
        "n_total": n + math.ceil(n * 0.25),
    }
