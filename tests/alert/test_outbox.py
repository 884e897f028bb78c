from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from watchtower.alert import (
    Alert,
    Backoff,
    DeliveryError,
    EntryState,
    Outbox,
    WebhookSink,
    verify_signature,
)
from watchtower.alert.outbox import SCHEMA_VERSION
from watchtower.errors import StateCorruptionError

from .conftest import T0
from .receiver import Receiver

SECRET = b"outbox-test-secret"


class RecordingSink:
    """A sink that needs no network: fails ``failures`` times, then accepts."""

    def __init__(self, name: str = "rec", failures: int = 0) -> None:
        self.name = name
        self.failures = failures
        self.sent: list[Alert] = []
        self.calls = 0

    def send(self, alert: Alert) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise DeliveryError(self.name, "HTTP 503", 503)
        self.sent.append(alert)


def fraud(batch: int = 3, step: int = 7) -> Alert:
    return Alert.create("fraud_detected", {"batch": batch, "step": step}, T0)


def test_schema_pragmas_and_migrations(tmp_path: Path) -> None:
    path = tmp_path / "alerts" / "outbox.sqlite"
    with Outbox(path) as outbox:
        assert outbox.schema_version == SCHEMA_VERSION == 1
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        db.commit()
    finally:
        db.close()
    with pytest.raises(StateCorruptionError, match="has schema 2; this watchtower knows 1"):
        Outbox(path)


def test_synchronous_full(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as outbox:
        assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_enqueue_once_per_dedup_key_and_sink(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as outbox:
        first = outbox.enqueue(fraud(), ["a", "b"])
        assert (first.queued, first.duplicate) == (2, 0)
        again = outbox.enqueue(
            Alert.create("fraud_detected", {"batch": 3, "step": 7}, T0 + 9), ["a", "b", "c"]
        )
        assert (again.queued, again.duplicate) == (1, 2)
        assert outbox.depth() == 3
        assert {e.sink for e in outbox.entries()} == {"a", "b", "c"}


def test_backoff_schedule() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 12)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        300,
        300,
    ]
    assert backoff.delay(10_000) == 300
    jittered = Backoff(jitter=0.5)
    delays = [jittered.delay(4, f"row{i}") for i in range(20)]
    assert delays == [jittered.delay(4, f"row{i}") for i in range(20)]  # deterministic
    assert all(4 <= d <= 8 for d in delays)
    assert len(set(delays)) > 1  # spread out
    with pytest.raises(ValueError):
        Backoff(jitter=1.5)


def test_failures_back_off_exponentially_and_record_the_error(tmp_path: Path) -> None:
    sink = RecordingSink(failures=4)
    with Outbox(tmp_path / "o.sqlite") as outbox:
        outbox.enqueue(fraud(), [sink.name])
        now = T0
        expected_delays = [1, 2, 4, 8]
        for attempt, delay in enumerate(expected_delays, start=1):
            report = outbox.deliver_pending([sink], now)
            assert (report.delivered, report.failed, report.pending) == (0, 1, 1)
            [entry] = outbox.entries()
            assert entry.attempts == attempt
            assert entry.last_error == "alert sink 'rec': delivery failed: HTTP 503"
            assert entry.next_attempt_at == now + delay
            # not due a moment before the retry time: no attempt at all
            assert outbox.deliver_pending([sink], now + delay - 0.01).failed == 0
            assert sink.calls == attempt
            now += delay
        report = outbox.deliver_pending([sink], now)
        assert (report.delivered, report.failed, report.pending) == (1, 0, 0)
        [entry] = outbox.entries()
        assert entry.state is EntryState.DELIVERED
        assert entry.attempts == 5
        assert entry.delivered_at == now
        assert outbox.deliver_pending([sink], now + 1e6).delivered == 0
        assert len(sink.sent) == 1


def test_a_500_then_200_is_retried_over_real_http(tmp_path: Path, receiver: Receiver) -> None:
    receiver.statuses.extend([500])
    sink = WebhookSink(receiver.url(), SECRET, timeout=2)
    with Outbox(tmp_path / "o.sqlite") as outbox:
        outbox.enqueue(fraud(), [sink.name])
        assert outbox.deliver_pending([sink], T0).failed == 1
        [entry] = outbox.entries()
        assert "HTTP 500" in entry.last_error
        assert outbox.deliver_pending([sink], T0 + 1).delivered == 1
        assert outbox.depth() == 0
    assert [r.status for r in receiver.requests] == [500, 200]
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 1
    assert all(
        verify_signature(SECRET, r.body, r.headers["x-watchtower-signature"])
        for r in receiver.requests
    )


def test_a_failing_sink_is_skipped_for_the_rest_of_the_pass(tmp_path: Path) -> None:
    down = RecordingSink("down", failures=100)
    up = RecordingSink("up")
    with Outbox(tmp_path / "o.sqlite") as outbox:
        for batch in range(5):
            outbox.enqueue(fraud(batch), ["down", "up"])
        report = outbox.deliver_pending([down, up], T0, limit=2)
        assert (report.delivered, report.failed, report.pending) == (2, 1, 8)
        assert down.calls == 1  # one attempt per pass for a sink that is down
        report = outbox.deliver_pending([down, up], T0)
        assert (report.delivered, report.failed, report.pending) == (3, 1, 5)
        assert down.calls == 2
        assert len(up.sent) == 5


def test_a_sink_bug_is_recorded_not_raised(tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def send(self, alert: Alert) -> None:
            raise KeyError("boom")

    with Outbox(tmp_path / "o.sqlite") as outbox:
        outbox.enqueue(fraud(), ["broken"])
        assert outbox.deliver_pending([Broken()], T0).failed == 1
        assert outbox.entries()[0].last_error == "alert sink 'broken': unexpected KeyError"


def test_rows_for_an_unconfigured_sink_stay_pending(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as outbox:
        outbox.enqueue(fraud(), ["gone"])
        report = outbox.deliver_pending([RecordingSink()], T0 + 10)
        assert (report.delivered, report.failed, report.pending) == (0, 0, 1)


def test_pending_rows_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    sink = RecordingSink(failures=1)
    with Outbox(path) as outbox:
        outbox.enqueue(fraud(1), [sink.name])
        outbox.enqueue(fraud(2), [sink.name])
        outbox.deliver_pending([sink], T0)
    with Outbox(path) as outbox:
        assert outbox.depth() == 2
        [second, first] = outbox.entries()
        assert (first.attempts, second.attempts) == (1, 0)
        assert first.alert == fraud(1)
        assert outbox.deliver_pending([sink], T0 + 1).delivered == 2
    with Outbox(path) as outbox:
        assert outbox.depth() == 0
        assert outbox.counts()[EntryState.DELIVERED] == 2


def test_prune_deletes_only_old_delivered_rows(tmp_path: Path) -> None:
    sink = RecordingSink()
    with Outbox(tmp_path / "o.sqlite") as outbox:
        outbox.enqueue(fraud(1), ["rec", "never-configured"])
        outbox.deliver_pending([sink], T0)
        assert outbox.prune(T0 + 29 * 86400, older_than_days=30) == 0
        assert outbox.prune(T0 + 31 * 86400, older_than_days=30) == 1
        assert outbox.depth() == 1  # the undelivered row is never pruned
        [entry] = outbox.entries()
        assert entry.sink == "never-configured"
