from __future__ import annotations

import enum
import json
import re

import pytest

import watchtower.alert as alert_pkg
from watchtower.alert import SEVERITY, Alert, AlertKind, Severity, dedup_key

from .conftest import T0


def test_every_kind_has_a_severity_and_the_docstring_table_agrees() -> None:
    assert {k.value for k in AlertKind} == {
        "fraud_detected",
        "challenge_submitted",
        "challenge_succeeded",
        "challenge_failed",
        "deadline_at_risk",
        "stalled",
        "rpc_disagreement",
        "low_balance",
        "proposer_slashed",
        "deep_reorg",
        "batch_unreadable",
        "verification_halted",
        "stalled_resolved",
        "rpc_disagreement_resolved",
        "low_balance_resolved",
        "deposit_mismatch",
        "deposit_overdue",
        "deposit_overdue_resolved",
        "withdrawal_forged",
        "conservation_violated",
        "conservation_violated_resolved",
        "genesis_unbacked",
        "stale_close_detected",
        "channel_update_missed",
        "channel_claim_missed",
        "channel_action_failed",
        "channel_update_sent",
        "channel_update_landed",
        "payment_claim_sent",
        "cheque_at_risk",
        "issuer_withdrew",
        "cheque_bounced",
        "channel_reward_paid",
        "channel_reward_unpaid",
        "test",
    }
    doc = alert_pkg.__doc__ or ""
    for kind in AlertKind:
        assert isinstance(SEVERITY[kind], Severity)
        assert re.search(rf"^ *{kind.value} +{SEVERITY[kind].value}$", doc, re.MULTILINE)


def test_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown alert kind 'fraud'"):
        Alert.create("fraud", {}, T0)


def test_same_event_same_key_whatever_the_other_fields_and_time() -> None:
    a = Alert.create("fraud_detected", {"batch": 3, "step": 7, "l1_block": 12}, T0)
    b = Alert.create("fraud_detected", {"step": 7, "batch": 3, "l1_block": 99}, T0 + 86400 * 9)
    assert a.dedup_key == b.dedup_key == "fraud_detected:batch=3:step=7"
    assert Alert.create("fraud_detected", {"batch": 3, "step": 8}, T0).dedup_key != a.dedup_key
    assert Alert.create("challenge_failed", {"batch": 3, "step": 7}, T0).dedup_key != a.dedup_key
    tx = Alert.create("challenge_submitted", {"batch": 3, "step": 7, "tx": "0xab"}, T0)
    assert tx.dedup_key == "challenge_submitted:batch=3:step=7:tx=0xab"


def test_kinds_without_identifying_fields_are_keyed_by_window() -> None:
    first = Alert.create("low_balance", {"balance": 5}, T0 + 10, window=3600)
    later = Alert.create("low_balance", {"balance": 4}, T0 + 3599, window=3600)
    next_hour = Alert.create("low_balance", {"balance": 3}, T0 + 3600, window=3600)
    assert first.dedup_key == later.dedup_key == f"low_balance:window={int(T0)}"
    assert next_hour.dedup_key != first.dedup_key


def test_long_keys_are_hashed_to_fit_pagerduty() -> None:
    a = Alert.create("stalled", {"tx": "x" * 400}, T0)
    assert len(a.dedup_key) <= 255
    assert a.dedup_key.startswith("stalled:sha256=")
    assert a.dedup_key == dedup_key(AlertKind.STALLED, {"tx": "x" * 400}, T0 + 1e6, 3600)


class _Color(enum.Enum):
    RED = "red"


def test_fields_are_made_json_serialisable() -> None:
    a = Alert.create(
        "challenge_succeeded",
        {"tx": b"\x01\x02", "gas": 21000, "ratio": float("nan"), "c": _Color.RED, "o": object},
        T0,
    )
    assert a.fields["tx"] == "0x0102"
    assert a.fields["ratio"] == "nan"
    assert a.fields["c"] == "red"
    json.dumps(a.to_json(), allow_nan=False)


def test_summary_is_one_readable_line() -> None:
    a = Alert.create(
        "fraud_detected", {"l1_block": 12, "step": 7, "batch": 3, "reason": "a\nb   c"}, T0
    )
    assert a.summary() == "[CRITICAL] fraud_detected: batch=3 step=7 l1_block=12 reason=a b c"
    assert a.severity is Severity.CRITICAL
    assert Alert.create("stalled", {}, T0).summary() == "[ERROR] stalled"


def test_alert_is_a_frozen_hashable_value() -> None:
    a = Alert.create("stalled", {"batch": 1}, T0)
    with pytest.raises(AttributeError):
        a.kind = AlertKind.LOW_BALANCE  # type: ignore[misc]
    assert hash(a) == hash(Alert.create("stalled", {"batch": 1}, T0))


def test_a_batch_is_named_by_its_transaction_not_only_its_index() -> None:
    """After a rejection the next batch reuses the index (protocol.md §7.4): a second fraud at the
    same index and step is another event, and pages again (issue 10)."""
    first = {"batch": 3, "step": 7, "l1_block": 12, "batch_tx": "0x" + "aa" * 32}
    second = {**first, "l1_block": 40, "batch_tx": "0x" + "bb" * 32}
    a = Alert.create("fraud_detected", first, T0)
    b = Alert.create("fraud_detected", second, T0)
    assert a.dedup_key == f"fraud_detected:batch=3:step=7:batch_tx=0x{'aa' * 32}"
    assert a.dedup_key != b.dedup_key
    assert len(a.dedup_key) <= 200  # not hashed: still readable
    again = Alert.create("fraud_detected", {**first, "deadline": 5}, T0 + 86400)
    assert again.dedup_key == a.dedup_key  # the same batch raised again (a restart): one page
    for kind in ("batch_unreadable", "verification_halted", "deadline_at_risk"):
        keys = {Alert.create(kind, f, T0).dedup_key for f in (first, second)}
        assert len(keys) == 2, kind
    sub = Alert.create("challenge_submitted", {**first, "tx": "0xcd"}, T0)
    assert sub.dedup_key == f"challenge_submitted:batch=3:step=7:batch_tx=0x{'aa' * 32}:tx=0xcd"
    # proposer_slashed: one per BatchesRejected log, though both rejections start at batch 3
    log_a = {"batch": 3, "last_batch": 5, "rejection_log": "0x" + "cc" * 32 + ":2"}
    log_b = {"batch": 3, "last_batch": 3, "rejection_log": "0x" + "dd" * 32 + ":0"}
    slashed = [Alert.create("proposer_slashed", f, T0).dedup_key for f in (log_a, log_b)]
    assert slashed[0] == f"proposer_slashed:batch=3:rejection_log=0x{'cc' * 32}:2"
    assert slashed[0] != slashed[1]
    assert "batch_tx=" in Alert.create("fraud_detected", first, T0).summary()
