"""Alerting: durable, deduplicated, retried notifications of what the watchtower sees.

Design::

    service ── alert("fraud_detected", batch=3, step=7) ──► Alerter.__call__
                 (no network: checks the kind, applies silences, writes the outbox, logs)
                                                                │  one transaction
                                                                ▼
                     outbox.sqlite  (WAL, synchronous=FULL, PRAGMA user_version migrations)
                     one row per (alert, sink), UNIQUE (dedup_key, sink)
                                                                │
    scheduler job ── Alerter.deliver() ── due rows ──► Sink.send ──► webhook / Slack / PagerDuty
                                           2xx: delivered · else: attempts+1, last_error, backoff

* Outbox: an alert is first committed to its own SQLite file, then delivered by the caller's
  schedule, so a sink that is down, slow or unreachable never blocks detection or challenges,
  and a restart loses nothing (pending rows are still in the file). Rows are deleted only by
  ``prune`` and only after delivery.
* Dedup: the key is the kind plus the identifying fields present (batch, step, batch_tx, tx,
  rejection_log, episode), e.g. ``fraud_detected:batch=3:step=7:batch_tx=0x…``: per-batch
  alerts name the batch by its L1 transaction too, since a new batch reuses the index of a
  rejected one, and
  ``proposer_slashed`` is named by its ``BatchesRejected`` log; a kind raised with none of
  them is keyed by the hour (``window``) it was raised in. ``INSERT OR IGNORE`` on
  (dedup_key, sink) means the same logical event raised twice, or again after a restart, is
  queued and delivered once. The key
  travels as the webhook's ``Idempotency-Key`` and PagerDuty's ``dedup_key``, so a resend after
  a crash between send and commit is also dropped by the receiver.
* Backoff: a failed row is retried after ``min(300 s, 1 s * 2**(attempts-1))`` (optional
  deterministic jitter); after one failure a sink gets no more rows in that pass, so a down or
  hanging sink costs at most one timeout per pass.
* Silences (by kind and/or batch, optionally until a time): the alert is recorded as
  ``silenced`` (visible in status), not sent; raised again after the silence ends, it is sent.
* Secrets (webhook secret, PagerDuty routing key, webhook URLs, which may embed tokens) never
  appear in error messages, reprs or log lines.

Severity (PagerDuty Events v2 names; the table is :data:`SEVERITY`):

    ==============================  ========
    kind                            severity
    ==============================  ========
    fraud_detected                  critical
    challenge_failed                critical
    deadline_at_risk                critical
    batch_unreadable                critical
    verification_halted             critical
    deposit_mismatch                critical
    deposit_overdue                 critical
    withdrawal_forged               critical
    conservation_violated           critical
    genesis_unbacked                critical
    channel_update_missed           critical
    channel_claim_missed            critical
    stalled                         error
    rpc_disagreement                error
    low_balance                     error
    deep_reorg                      error
    cheque_at_risk                  error
    cheque_bounced                  error
    channel_action_failed           error
    stale_close_detected            warning
    issuer_withdrew                 warning
    channel_reward_unpaid           warning
    channel_update_sent             info
    channel_update_landed           info
    payment_claim_sent              info
    channel_reward_paid             info
    challenge_submitted             info
    challenge_succeeded             info
    proposer_slashed                info
    stalled_resolved                info
    rpc_disagreement_resolved       info
    low_balance_resolved            info
    deposit_overdue_resolved        info
    conservation_violated_resolved  info
    test                            info
    ==============================  ========

A ``*_resolved`` alert ends the condition of the same ``episode`` (``deposit_overdue_resolved``:
of the same deposit, its ``tx``): it is routed like the
condition (a sink's ``min_severity``), PagerDuty gets ``event_action: resolve`` with the
condition's dedup key, webhooks the resolved event (``action: resolve``, ``incident_key``),
Slack a one-line message. The body is versioned: docs/schemas/alert.v1.schema.json.
"""

from __future__ import annotations

from watchtower.alert.alerter import Alerter
from watchtower.alert.events import (
    IDENTIFYING_FIELDS,
    RESOLVES,
    SCHEMA_VERSION,
    SEVERITY,
    Alert,
    AlertKind,
    Severity,
    dedup_key,
)
from watchtower.alert.outbox import (
    DeliveryReport,
    EnqueueResult,
    EntryState,
    Outbox,
    OutboxEntry,
)
from watchtower.alert.silences import Silence, Silences
from watchtower.alert.sinks import (
    EVENT_HEADER,
    IDEMPOTENCY_HEADER,
    PAGERDUTY_EVENTS_URL,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryError,
    PagerDutySink,
    Sink,
    SlackSink,
    WebhookSink,
    sign,
    verify_signature,
)
from watchtower.backoff import Backoff

__all__ = [
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "IDENTIFYING_FIELDS",
    "PAGERDUTY_EVENTS_URL",
    "RESOLVES",
    "SCHEMA_VERSION",
    "SEVERITY",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Alert",
    "AlertKind",
    "Alerter",
    "Backoff",
    "DeliveryError",
    "DeliveryReport",
    "EnqueueResult",
    "EntryState",
    "Outbox",
    "OutboxEntry",
    "PagerDutySink",
    "Severity",
    "Silence",
    "Silences",
    "Sink",
    "SlackSink",
    "WebhookSink",
    "dedup_key",
    "sign",
    "verify_signature",
]
