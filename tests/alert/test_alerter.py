from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from watchtower.alert import (
    Alert,
    Alerter,
    AlertKind,
    EntryState,
    PagerDutySink,
    Silences,
    Sink,
    SlackSink,
    WebhookSink,
    verify_signature,
)

from .conftest import FakeClock
from .receiver import Received, Receiver, closed_port

SECRET = b"alerter-webhook-secret-7f3a"
ROUTING_KEY = "PDROUTINGKEY0123456789abcd"
SLACK_TOKEN = "SLACKHOOKTOKEN99"


def all_sinks(port: int, timeout: float = 2.0) -> list[Sink]:
    base = f"http://127.0.0.1:{port}"
    return [
        WebhookSink(f"{base}/hook", SECRET, timeout),
        SlackSink(f"{base}/slack/{SLACK_TOKEN}", timeout),
        PagerDutySink(ROUTING_KEY, url=f"{base}/pd", timeout=timeout),
    ]


def key_of(req: Received) -> str:
    """The dedup key of a received request, whatever the sink."""
    if req.path == "/hook":
        assert verify_signature(SECRET, req.body, req.headers["x-watchtower-signature"])
        assert req.json()["dedup_key"] == req.headers["idempotency-key"]
        return req.headers["idempotency-key"]
    if req.path == "/pd":
        return str(req.json()["dedup_key"])
    context = req.json()["blocks"][-1]["elements"][0]["text"]
    match = re.search(r"dedup key `([^`]+)`", context)
    assert match is not None
    return match.group(1)


def delivered_keys(receiver: Receiver) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for req in receiver.accepted():
        path = "/slack" if req.path.startswith("/slack/") else req.path
        counts.setdefault(path, Counter())[key_of(req)] += 1
    return counts


def raise_all(alert: Alerter) -> None:
    """What the service raises; the first one twice."""
    alert("fraud_detected", batch=1, step=7, l1_block=12, deadline=99)
    alert("fraud_detected", batch=1, step=7, l1_block=12, deadline=99)
    alert("fraud_detected", batch=2, step=0, l1_block=13, deadline=100)
    alert("challenge_submitted", batch=1, step=7, tx="0xabc")
    alert("challenge_failed", batch=2, reason="deadline passed before sending")
    alert("low_balance", balance=5, needed=10, signer="0x00000000000000000000000000000000000000aa")


EXPECTED_KEYS = {
    "fraud_detected:batch=1:step=7",
    "fraud_detected:batch=2:step=0",
    "challenge_submitted:batch=1:step=7:tx=0xabc",
    "challenge_failed:batch=2",
    "low_balance:window=1767225600",
}


def test_down_then_restart_then_back_delivers_everything_exactly_once(tmp_path: Path) -> None:
    port = closed_port()
    clock = FakeClock()
    path = tmp_path / "outbox.sqlite"

    alerter = Alerter(path, all_sinks(port), Silences(), clock)
    raise_all(alerter)
    assert alerter.depth() == 3 * len(EXPECTED_KEYS)
    # The receiver is down: every pass fails once per sink and moves the row back.
    for _ in range(6):
        report = alerter.deliver()
        assert report.delivered == 0
        assert report.failed <= 3
        assert report.pending == 15
        clock.advance(1.5)
    failed_rows = [e for e in alerter.entries() if e.attempts]
    assert failed_rows
    assert all("connection failed" in e.last_error for e in failed_rows)
    backoff = alerter.outbox.backoff
    for e in failed_rows:
        assert e.last_attempt_at is not None
        assert e.next_attempt_at == e.last_attempt_at + backoff.delay(e.attempts)
    assert max(e.attempts for e in failed_rows) >= 2
    alerter.close()

    # Restart: reopen from the same file; the service raises the same events again.
    clock.advance(60)
    alerter = Alerter(path, all_sinks(port), Silences(), clock)
    assert alerter.depth() == 15
    raise_all(alerter)
    assert alerter.depth() == 15

    receiver = Receiver(port).start()  # back, on the same port
    try:
        passes = 0
        while alerter.depth() and passes < 10:
            clock.advance(300)
            alerter.deliver()
            passes += 1
        assert alerter.depth() == 0
        for _ in range(3):  # nothing is sent again
            clock.advance(1000)
            assert alerter.deliver().delivered == 0
        raise_all(alerter)
        assert alerter.deliver(clock.now + 1).delivered == 0
    finally:
        receiver.stop()
        alerter.close()

    counts = delivered_keys(receiver)
    assert set(counts) == {"/hook", "/slack", "/pd"}
    for path_counts in counts.values():
        assert set(path_counts) == EXPECTED_KEYS
        assert set(path_counts.values()) == {1}
    assert len(receiver.requests) == 15


def test_same_alert_twice_is_delivered_once(
    tmp_path: Path, receiver: Receiver, clock: FakeClock
) -> None:
    with Alerter(tmp_path / "o.sqlite", all_sinks(receiver.port), None, clock) as alert:
        alert("fraud_detected", batch=3, step=7, l1_block=12)
        alert.deliver()
        clock.advance(5)
        alert("fraud_detected", batch=3, step=7, l1_block=12)
        report = alert.deliver()
        assert (report.delivered, report.failed, report.pending) == (0, 0, 0)
    assert len(receiver.requests) == 3
    assert {key_of(r) for r in receiver.requests} == {"fraud_detected:batch=3:step=7"}


def test_unknown_kind_raises_and_enqueues_nothing(tmp_path: Path, clock: FakeClock) -> None:
    with Alerter(tmp_path / "o.sqlite", all_sinks(closed_port()), None, clock) as alert:
        with pytest.raises(ValueError, match="unknown alert kind 'fraud'"):
            alert("fraud", batch=1)
        assert alert.depth() == 0


def test_duplicate_sink_names_are_refused(tmp_path: Path) -> None:
    sinks = [SlackSink("http://127.0.0.1:9/a"), SlackSink("http://127.0.0.1:9/b")]
    with pytest.raises(ValueError, match="unique"):
        Alerter(tmp_path / "o.sqlite", sinks, None)


def test_silences_by_kind_and_by_batch_with_expiry(
    tmp_path: Path, receiver: Receiver, clock: FakeClock
) -> None:
    silences = Silences()
    silences.add(kind="low_balance", reason="topping up")
    silences.add(batch=4, until=clock.now + 600)
    silences.add(kind=AlertKind.STALLED, batch=9)
    sinks = all_sinks(receiver.port)[:1]
    with Alerter(tmp_path / "o.sqlite", sinks, silences, clock) as alert:
        alert("low_balance", balance=1, needed=2)
        alert("deadline_at_risk", batch=4, seconds_left=30)
        alert("stalled", batch=9)
        alert("stalled", batch=8)  # only batch 9 is silenced for stalled
        assert alert.depth() == 1
        silenced = alert.entries(EntryState.SILENCED)
        assert {e.alert.kind for e in silenced} == {
            AlertKind.LOW_BALANCE,
            AlertKind.DEADLINE_AT_RISK,
            AlertKind.STALLED,
        }
        notes = {e.alert.kind: e.note for e in silenced}
        assert (
            notes[AlertKind.LOW_BALANCE]
            == "silenced by kind=low_balance until=forever (topping up)"
        )
        assert notes[AlertKind.DEADLINE_AT_RISK] == (
            "silenced by batch=4 until=2026-01-01T00:10:00Z"
        )
        assert alert.deliver().delivered == 1
        assert [key_of(r) for r in receiver.requests] == ["stalled:batch=8"]

        # The batch silence ends; the condition is raised again: now it is sent.
        clock.advance(601)
        alert("deadline_at_risk", batch=4, seconds_left=5)
        alert("low_balance", balance=1, needed=2)  # still silenced (no expiry)
        assert alert.deliver().delivered == 1
        assert key_of(receiver.requests[-1]) == "deadline_at_risk:batch=4"
        assert len(alert.entries(EntryState.SILENCED)) == 2
    assert len(receiver.requests) == 2


def test_raising_never_touches_the_network(tmp_path: Path, receiver: Receiver) -> None:
    receiver.hang_for = 10.0
    with Alerter(tmp_path / "o.sqlite", all_sinks(receiver.port, timeout=5)) as alert:
        for batch in range(20):
            alert("fraud_detected", batch=batch, step=1)
        assert receiver.requests == []  # recorded on arrival, before the receiver hangs
        assert alert.depth() == 60


def test_a_hanging_receiver_costs_one_timeout_per_sink_per_pass(
    tmp_path: Path, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.hang_for = 10.0
    sinks = all_sinks(receiver.port, timeout=0.3)[:1]
    with Alerter(tmp_path / "o.sqlite", sinks, None, clock) as alert:
        for batch in range(5):
            alert("fraud_detected", batch=batch, step=1)
        report = alert.deliver()
        assert len(receiver.requests) == 1  # one attempt, cut by the timeout; the rest wait
        assert (report.delivered, report.failed, report.pending) == (0, 1, 5)
        [timed_out] = [e for e in alert.entries() if e.attempts]
        assert "timed out after 0.3 s" in timed_out.last_error


def test_concurrent_passes_do_not_send_twice(
    tmp_path: Path, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.hang_for = 0.05  # slow enough for the passes to overlap
    with Alerter(tmp_path / "o.sqlite", all_sinks(receiver.port), None, clock) as alert:
        for batch in range(4):
            alert("fraud_detected", batch=batch, step=1)
        threads = [threading.Thread(target=alert.deliver) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert alert.depth() == 0
    counts = delivered_keys(receiver)
    assert all(set(c.values()) == {1} for c in counts.values())
    assert len(receiver.requests) == 12


def test_secrets_never_appear_in_logs_messages_or_reprs(
    tmp_path: Path, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.echo = True
    receiver.statuses.extend([500, 500, 500])
    with capture_logs() as logs:
        with Alerter(tmp_path / "o.sqlite", all_sinks(receiver.port), None, clock) as alert:
            alert("fraud_detected", batch=3, step=7)
            first = alert.deliver()
            clock.advance(1)
            second = alert.deliver()
            entries = alert.entries()
            text = repr(alert) + repr(entries)
        alert("fraud_detected", batch=4, step=7)  # after close: logged, not raised
    assert (first.failed, second.delivered) == (3, 3)
    events = [e["event"] for e in logs]
    assert events.count("alert_delivery_failed") == 3
    raised = [e for e in logs if e["event"] == "fraud_detected"]
    assert len(raised) == 1  # one log line per alert
    assert raised[0]["alert"] is True and raised[0]["batch"] == 3
    assert "alert_enqueue_failed" in events
    failures = [e for e in logs if e["event"] == "alert_delivery_failed"]
    assert all("HTTP 500: invalid " in e["error"] for e in failures)
    assert all("[redacted]" in e["error"] for e in failures)
    assert all("HTTP 500" in e.last_error for e in entries)
    text += repr(logs) + json.dumps(logs, default=str)
    for secret in (SECRET.decode(), ROUTING_KEY, SLACK_TOKEN):
        assert secret not in text
    # ...yet the echoing receiver really did have them to leak
    assert any(ROUTING_KEY.encode() in r.body for r in receiver.requests)


def test_alerter_is_usable_where_the_service_expects_its_alert_callable(
    tmp_path: Path, clock: FakeClock
) -> None:
    from watchtower.service import log_alert

    sinks: list[Sink] = []
    with Alerter(tmp_path / "o.sqlite", sinks, None, clock) as alert:
        for raise_ in (alert, log_alert):
            raise_("rpc_disagreement", detail="hash mismatch at block 7")
        assert alert.depth() == 0  # no sinks: nothing to deliver
        assert isinstance(Alert.create("stalled", {}, clock.now), Alert)
