"""The service edge's retry policies: backoff between failed ticks, retries at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from watchtower import runner
from watchtower.backoff import Backoff, RetrySchedule
from watchtower.config import load_settings
from watchtower.errors import InputError
from watchtower.l1.rollup import L1UnavailableError
from watchtower.runner import STARTUP_RETRIES, start_service


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = RetrySchedule(Backoff(base=0.5, cap=3.0))
    assert backoff.due(0.0)
    waits = [backoff.failed(now=10.0) for _ in range(5)]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert not backoff.due(12.9) and backoff.due(13.0)
    assert backoff.succeeded() == 5
    assert backoff.due(0.0) and backoff.failed(now=0.0) == 0.5


def _settings(tmp_path: Path) -> Any:
    return load_settings(
        flags={
            "l1.rpc": ["http://127.0.0.1:1"],
            "l1.rollup": "0x" + "11" * 20,
            "service.data_dir": str(tmp_path),
            "service.mode": "watch",
        },
        env={},
    )


def test_an_unreachable_node_at_start_up_is_retried_then_reported(tmp_path: Path) -> None:
    slept: list[float] = []
    with pytest.raises(L1UnavailableError) as raised:
        start_service(_settings(tmp_path), lambda _: {}, sleep=slept.append)
    assert slept == list(STARTUP_RETRIES)
    message = str(raised.value)
    assert message == "cannot reach the L1 node at 127.0.0.1:1 (gave up after 5 attempts)"


@pytest.mark.parametrize(
    ("failure", "retried"),
    [
        (OSError("connection reset"), True),
        (ValueError("Could not decode the answer"), True),
        (InputError("no contract at 0x11… on 127.0.0.1:1"), False),
        (RuntimeError("a bug"), False),
    ],
)
def test_only_l1_failures_are_retried_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception, retried: bool
) -> None:
    calls: list[int] = []

    def failing(*_: object) -> Any:
        calls.append(1)
        raise failure

    monkeypatch.setattr(runner, "build_service", failing)
    slept: list[float] = []
    expected = L1UnavailableError if retried else type(failure)
    with pytest.raises(expected):
        start_service(_settings(tmp_path), lambda _: {}, sleep=slept.append)
    assert len(calls) == (len(STARTUP_RETRIES) + 1 if retried else 1)
    assert len(slept) == (len(STARTUP_RETRIES) if retried else 0)


def test_a_cap_below_the_poll_interval_waits_the_cap() -> None:
    # --max-backoff below --poll-interval: accepted, as before the backoffs were one class.
    backoff = RetrySchedule(Backoff(base=4.0, cap=1.0))
    assert [backoff.failed(now=0.0) for _ in range(3)] == [1.0, 1.0, 1.0]
