"""The service edge's retry policies: backoff between failed ticks, retries at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from watchtower import runner
from watchtower.backoff import Backoff, RetrySchedule
from watchtower.config import load_settings
from watchtower.errors import InputError, UnavailableError
from watchtower.l1.rollup import L1UnavailableError
from watchtower.runner import STARTUP_RETRIES, StopRequest, start_service


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = RetrySchedule(Backoff(base=0.5, cap=3.0))
    assert backoff.due(0.0)
    waits = [backoff.failed(now=10.0) for _ in range(5)]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert not backoff.due(12.9) and backoff.due(13.0)
    assert backoff.succeeded() == 5
    assert backoff.due(0.0) and backoff.failed(now=0.0) == 0.5


def _settings(tmp_path: Path, **more: Any) -> Any:
    return load_settings(
        flags={
            "l1.rpc": ["http://127.0.0.1:1"],
            "l1.rollup": "0x" + "11" * 20,
            "service.data_dir": str(tmp_path),
            "service.mode": "watch",
            **more,
        },
        env={},
    )


class FakeTime:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_an_unreachable_node_at_start_up_is_retried_until_the_timeout(tmp_path: Path) -> None:
    """Down at start-up is retried with backoff for l1.startup_timeout, then UnavailableError
    (exit status 75, which supervisors restart), not an InputError (2, not restarted)."""
    fake = FakeTime()
    settings = _settings(tmp_path, **{"l1.startup_timeout": 100.0})
    with pytest.raises(UnavailableError) as raised:
        start_service(settings, lambda _: {}, sleep=fake.sleep, clock=fake.clock)
    assert not isinstance(raised.value, InputError)
    assert fake.slept[: len(STARTUP_RETRIES)] == list(STARTUP_RETRIES)[: len(fake.slept)]
    assert sum(fake.slept) == pytest.approx(100.0)
    assert max(fake.slept) == STARTUP_RETRIES[-1]
    attempts = len(fake.slept) + 1
    assert str(raised.value) == (
        "cannot reach the L1 node at 127.0.0.1:1 "
        f"(gave up after {attempts} attempts in 100s: l1.startup_timeout)"
    )


def test_a_stop_request_ends_the_start_up_retries(tmp_path: Path) -> None:
    stop = StopRequest()
    fake = FakeTime()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.slept) == 2:
            stop.handle(15, None)

    started = start_service(
        _settings(tmp_path), lambda _: {}, sleep=sleep, stopping=stop, clock=fake.clock
    )
    assert started is None and len(fake.slept) == 2


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
    fake = FakeTime()
    settings = _settings(tmp_path, **{"l1.startup_timeout": 5.0})
    expected = UnavailableError if retried else type(failure)
    with pytest.raises(expected):
        start_service(settings, lambda _: {}, sleep=fake.sleep, clock=fake.clock)
    assert len(calls) == (len(fake.slept) + 1 if retried else 1)
    assert (len(fake.slept) >= 3) if retried else not fake.slept


def test_a_quorum_starts_with_the_endpoints_that_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """l1.quorum: the endpoints that answer are used (in order), one line names the others;
    fewer than the quorum is a failure of the start-up (retried)."""
    up = object()

    def connect(urls: tuple[str, ...], *_: object, **__: object) -> list[object]:
        if "down" in urls[0]:
            raise L1UnavailableError(f"cannot reach the L1 node at {urls[0][7:]}")
        return [up]

    monkeypatch.setattr(runner, "connect", connect)
    urls = ["http://down:1", "http://up:2"]
    settings = _settings(tmp_path, **{"l1.rpc": urls, "l1.quorum": 1})
    assert runner.connect_quorum(settings, runner.Metrics()) == [up]
    everyone = _settings(tmp_path, **{"l1.rpc": urls})
    with pytest.raises(L1UnavailableError, match=r"1 of 2 endpoints answer, l1.quorum is 2"):
        runner.connect_quorum(everyone, runner.Metrics())


def test_a_cap_below_the_poll_interval_waits_the_cap() -> None:
    # --max-backoff below --poll-interval: accepted, as before the backoffs were one class.
    backoff = RetrySchedule(Backoff(base=4.0, cap=1.0))
    assert [backoff.failed(now=0.0) for _ in range(3)] == [1.0, 1.0, 1.0]


def test_run_help_documents_the_exit_statuses() -> None:
    from click.testing import CliRunner

    from watchtower.cli import EXIT_INPUT, EXIT_TEMPFAIL, main

    text = " ".join(CliRunner().invoke(main, ["run", "--help"]).stdout.split())
    assert "Exit status:" in text
    for status, words in ((0, "SIGTERM"), (EXIT_INPUT, "unusable"), (EXIT_TEMPFAIL, "EX_TEMPFAIL")):
        assert f"{status} " in text and words in text
    assert "--startup-timeout" in text and "--l1-quorum" in text


def test_the_signal_handler_only_records_the_first_signal() -> None:
    import signal

    stop = StopRequest()
    stop.handle(signal.SIGTERM, None)
    stop.handle(signal.SIGINT, None)
    assert stop.requested and stop.signum == signal.SIGTERM
    stop.sleep(60.0)  # returns at once: a stop is requested
