"""Circuit breaker state machine (SPEC §7.3)."""

from __future__ import annotations

import logging

import pytest

from otel_llm.routing.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from otel_llm.routing.config import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def setup() -> tuple[Breaker, Clock, list[tuple[str, str, str]]]:
    clock = Clock()
    changes: list[tuple[str, str, str]] = []
    cfg = CircuitBreaker(failure_rate=0.5, min_calls=4, window_s=10, cooldown_s=5, half_open_probes=1)
    return Breaker("e/candidate", cfg, lambda *c: changes.append(c), clock), clock, changes


def test_opens_on_failure_rate_after_min_calls(setup, caplog: pytest.LogCaptureFixture) -> None:
    br, _clock, changes = setup
    for ok in (False, False, False):
        br.record(ok)
    assert br.state == CLOSED  # below min_calls
    with caplog.at_level(logging.WARNING, logger="otel_llm.routing"):
        br.record(True)  # 3/4 failed
    assert br.state == OPEN and not br.allow()
    assert changes == [("e/candidate", CLOSED, OPEN)]
    assert "closed -> open" in caplog.text


def test_old_failures_leave_the_window(setup) -> None:
    br, clock, _ = setup
    for _ in range(3):
        br.record(False)
    clock.t += 11
    br.record(True)
    br.record(True)
    br.record(True)
    br.record(False)
    assert br.state == CLOSED  # 1/4 in the window


def test_half_open_probe_closes_on_success(setup) -> None:
    br, clock, changes = setup
    for _ in range(4):
        br.record(False)
    clock.t += 4.9
    assert not br.allow()
    clock.t += 0.2
    assert br.allow() and br.state == HALF_OPEN
    assert not br.allow()  # only one probe at a time
    br.record(True)
    assert br.state == CLOSED and br.allow()
    assert [c[2] for c in changes] == [OPEN, HALF_OPEN, CLOSED]


def test_half_open_probe_failure_reopens_and_restarts_cooldown(setup) -> None:
    br, clock, changes = setup
    for _ in range(4):
        br.record(False)
    clock.t += 5
    assert br.allow()
    br.record(False)
    assert br.state == OPEN
    clock.t += 4
    assert not br.allow()
    clock.t += 1
    assert br.allow()
    assert [c[2] for c in changes] == [OPEN, HALF_OPEN, OPEN, HALF_OPEN]
