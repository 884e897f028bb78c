"""Alert kinds, their severities, and the :class:`Alert` value with its deduplication key."""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSONValue = Any
"""A value that :func:`json.dumps` accepts (``None``, bool, int, float, str, list, dict)."""

IDENTIFYING_FIELDS: tuple[str, ...] = (
    "batch",
    "step",
    "batch_tx",
    "tx",
    "rejection_log",
    "episode",
    "contract",
    "channel",
    "beneficiary",
    "nonce",
    "cumulative_payout",
)
"""Fields that name *which* event happened; with the kind they form the deduplication key.

A batch index alone does not name a batch: after a rejection the next batch takes the same index
(protocol.md §7.4), so per-batch alerts also carry ``batch_tx``, the L1 transaction that submitted
the batch; ``proposer_slashed`` carries ``rejection_log``, ``<tx hash>:<log index>`` of the
``BatchesRejected`` log. Conditions that end (``stalled``, ``rpc_disagreement``,
``low_balance``) carry ``episode``, the Unix second the condition began: a new episode pages
again, and the ``*_resolved`` alert that ends it names the same episode. Each is part of the
key only when present."""

SCHEMA_VERSION = 1
"""The version of the alert body (``version`` in the webhook body; docs/schemas/alert.v1...)."""

MAX_KEY_LENGTH = 200
"""Longer readable keys are replaced by a hash (PagerDuty allows at most 255 characters)."""

_SUMMARY_VALUE_LIMIT = 80


class AlertKind(enum.StrEnum):
    FRAUD_DETECTED = "fraud_detected"
    CHALLENGE_SUBMITTED = "challenge_submitted"
    CHALLENGE_SUCCEEDED = "challenge_succeeded"
    CHALLENGE_FAILED = "challenge_failed"
    DEADLINE_AT_RISK = "deadline_at_risk"
    STALLED = "stalled"
    RPC_DISAGREEMENT = "rpc_disagreement"
    LOW_BALANCE = "low_balance"
    PROPOSER_SLASHED = "proposer_slashed"
    DEEP_REORG = "deep_reorg"
    BATCH_UNREADABLE = "batch_unreadable"
    VERIFICATION_HALTED = "verification_halted"
    STALLED_RESOLVED = "stalled_resolved"
    RPC_DISAGREEMENT_RESOLVED = "rpc_disagreement_resolved"
    LOW_BALANCE_RESOLVED = "low_balance_resolved"
    DEPOSIT_MISMATCH = "deposit_mismatch"
    DEPOSIT_OVERDUE = "deposit_overdue"
    DEPOSIT_OVERDUE_RESOLVED = "deposit_overdue_resolved"
    WITHDRAWAL_FORGED = "withdrawal_forged"
    CONSERVATION_VIOLATED = "conservation_violated"
    CONSERVATION_VIOLATED_RESOLVED = "conservation_violated_resolved"
    GENESIS_UNBACKED = "genesis_unbacked"
    # the channel guardian (docs/channels.md §6)
    STALE_CLOSE_DETECTED = "stale_close_detected"
    CHANNEL_UPDATE_MISSED = "channel_update_missed"
    CHANNEL_CLAIM_MISSED = "channel_claim_missed"
    CHANNEL_ACTION_FAILED = "channel_action_failed"
    CHANNEL_UPDATE_SENT = "channel_update_sent"
    CHANNEL_UPDATE_LANDED = "channel_update_landed"
    PAYMENT_CLAIM_SENT = "payment_claim_sent"
    CHEQUE_AT_RISK = "cheque_at_risk"
    ISSUER_WITHDREW = "issuer_withdrew"
    CHEQUE_BOUNCED = "cheque_bounced"
    CHANNEL_REWARD_PAID = "channel_reward_paid"
    CHANNEL_REWARD_UNPAID = "channel_reward_unpaid"
    TEST = "test"

    @classmethod
    def parse(cls, kind: str) -> AlertKind:
        """The kind named ``kind``; :class:`ValueError` (one line, listing the known kinds)."""
        try:
            return cls(kind)
        except ValueError:
            known = ", ".join(k.value for k in cls)
            raise ValueError(f"unknown alert kind {kind!r}; known kinds: {known}") from None

    @property
    def severity(self) -> Severity:
        return SEVERITY[self]

    @property
    def resolves(self) -> AlertKind | None:
        """For a ``*_resolved`` kind, the kind whose condition it ends; else ``None``."""
        return RESOLVES.get(self)


class Severity(enum.StrEnum):
    """Ordered like PagerDuty's Events API v2 severities (which use the same names)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe (info 0 … critical 3)."""
        return _RANK[self]

    def at_least(self, floor: Severity) -> bool:
        return self.rank >= floor.rank


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}


# The one severity table (repeated in the package docstring).
SEVERITY: Mapping[AlertKind, Severity] = {
    AlertKind.FRAUD_DETECTED: Severity.CRITICAL,
    AlertKind.CHALLENGE_FAILED: Severity.CRITICAL,
    AlertKind.DEADLINE_AT_RISK: Severity.CRITICAL,
    AlertKind.BATCH_UNREADABLE: Severity.CRITICAL,
    AlertKind.VERIFICATION_HALTED: Severity.CRITICAL,
    AlertKind.DEPOSIT_MISMATCH: Severity.CRITICAL,
    AlertKind.DEPOSIT_OVERDUE: Severity.CRITICAL,
    AlertKind.WITHDRAWAL_FORGED: Severity.CRITICAL,
    AlertKind.CONSERVATION_VIOLATED: Severity.CRITICAL,
    AlertKind.GENESIS_UNBACKED: Severity.CRITICAL,
    AlertKind.STALLED: Severity.ERROR,
    AlertKind.RPC_DISAGREEMENT: Severity.ERROR,
    AlertKind.LOW_BALANCE: Severity.ERROR,
    AlertKind.DEEP_REORG: Severity.ERROR,
    AlertKind.CHALLENGE_SUBMITTED: Severity.INFO,
    AlertKind.CHALLENGE_SUCCEEDED: Severity.INFO,
    AlertKind.PROPOSER_SLASHED: Severity.INFO,
    AlertKind.STALLED_RESOLVED: Severity.INFO,
    AlertKind.RPC_DISAGREEMENT_RESOLVED: Severity.INFO,
    AlertKind.LOW_BALANCE_RESOLVED: Severity.INFO,
    AlertKind.DEPOSIT_OVERDUE_RESOLVED: Severity.INFO,
    AlertKind.CONSERVATION_VIOLATED_RESOLVED: Severity.INFO,
    AlertKind.STALE_CLOSE_DETECTED: Severity.WARNING,
    AlertKind.CHANNEL_UPDATE_MISSED: Severity.CRITICAL,
    AlertKind.CHANNEL_CLAIM_MISSED: Severity.CRITICAL,
    AlertKind.CHANNEL_ACTION_FAILED: Severity.ERROR,
    AlertKind.CHEQUE_AT_RISK: Severity.ERROR,
    AlertKind.CHEQUE_BOUNCED: Severity.ERROR,
    AlertKind.ISSUER_WITHDREW: Severity.WARNING,
    AlertKind.CHANNEL_REWARD_UNPAID: Severity.WARNING,
    AlertKind.CHANNEL_UPDATE_SENT: Severity.INFO,
    AlertKind.CHANNEL_UPDATE_LANDED: Severity.INFO,
    AlertKind.PAYMENT_CLAIM_SENT: Severity.INFO,
    AlertKind.CHANNEL_REWARD_PAID: Severity.INFO,
    AlertKind.TEST: Severity.INFO,
}
assert set(SEVERITY) == set(AlertKind)

#: The resolve kinds and the condition each one ends (same ``episode``, same incident key).
RESOLVES: Mapping[AlertKind, AlertKind] = {
    AlertKind.STALLED_RESOLVED: AlertKind.STALLED,
    AlertKind.RPC_DISAGREEMENT_RESOLVED: AlertKind.RPC_DISAGREEMENT,
    AlertKind.LOW_BALANCE_RESOLVED: AlertKind.LOW_BALANCE,
    AlertKind.DEPOSIT_OVERDUE_RESOLVED: AlertKind.DEPOSIT_OVERDUE,
    AlertKind.CONSERVATION_VIOLATED_RESOLVED: AlertKind.CONSERVATION_VIOLATED,
}


def _clean(value: object) -> JSONValue:
    if isinstance(value, enum.Enum):
        return _clean(value.value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    return str(value)


def normalize_fields(fields: Mapping[str, object]) -> dict[str, JSONValue]:
    """``fields`` made JSON-pure: bytes become ``0x`` hex, enums their value, NaN/inf and any
    other object their ``str``. Key order is kept (it is the order the summary shows)."""
    return {str(k): _clean(v) for k, v in fields.items()}


def _key_part(value: JSONValue) -> str:
    if isinstance(value, str):
        return " ".join(value.split())
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def dedup_key(
    kind: AlertKind, fields: Mapping[str, JSONValue], created_at: float, window: float
) -> str:
    """The deduplication key: the kind plus the identifying fields present (batch, step,
    batch_tx, tx, rejection_log), e.g. ``fraud_detected:batch=3:step=7:batch_tx=0x…``. A kind
    raised without any identifying field is keyed by the ``window``-second period it was raised
    in (``low_balance:window=1767225600``), so a condition raised on every tick is sent at most
    once per window."""
    parts = [f"{name}={_key_part(fields[name])}" for name in IDENTIFYING_FIELDS if name in fields]
    if not parts:
        start = int(math.floor(created_at / window) * window) if window > 0 else 0
        parts = [f"window={start}"]
    key = ":".join([kind.value, *parts])
    if len(key) > MAX_KEY_LENGTH:
        digest = hashlib.sha256(key.encode()).hexdigest()[:40]
        key = f"{kind.value}:sha256={digest}"
    return key


def _summary_value(value: JSONValue) -> str:
    text = _key_part(value)
    if len(text) > _SUMMARY_VALUE_LIMIT:
        text = text[: _SUMMARY_VALUE_LIMIT - 1] + "…"
    return text


def iso_utc(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


@dataclass(frozen=True)
class Alert:
    """One raised event. ``fields`` is JSON-serialisable; ``dedup_key`` names the logical event
    (the same event raised again, e.g. after a restart, has the same key)."""

    kind: AlertKind
    fields: dict[str, JSONValue] = field(hash=False)
    created_at: float
    dedup_key: str

    @classmethod
    def create(
        cls,
        kind: AlertKind | str,
        fields: Mapping[str, object],
        created_at: float,
        window: float = 3600.0,
    ) -> Alert:
        """A new alert; ``kind`` is checked (:class:`ValueError`) and ``fields`` normalised."""
        parsed = kind if isinstance(kind, AlertKind) else AlertKind.parse(kind)
        clean = normalize_fields(fields)
        return cls(parsed, clean, float(created_at), dedup_key(parsed, clean, created_at, window))

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]

    @property
    def routing_severity(self) -> Severity:
        """The severity sinks route by: a ``*_resolved`` alert goes where its condition went."""
        resolved = self.kind.resolves
        return self.severity if resolved is None else resolved.severity

    @property
    def action(self) -> str:
        """``resolve`` for a ``*_resolved`` kind, else ``trigger`` (PagerDuty's event actions)."""
        return "resolve" if self.kind.resolves is not None else "trigger"

    @property
    def incident_key(self) -> str:
        """The key of the incident this alert opens or ends: the dedup key, except that a
        ``*_resolved`` alert names the key of the condition it resolves (the same episode)."""
        resolved = self.kind.resolves
        if resolved is None:
            return self.dedup_key
        return dedup_key(resolved, self.fields, self.created_at, 1.0)

    def summary(self) -> str:
        """One readable line: ``[CRITICAL] fraud_detected: batch=3 step=7 l1_block=12``."""
        names = [n for n in IDENTIFYING_FIELDS if n in self.fields]
        names += [n for n in self.fields if n not in IDENTIFYING_FIELDS]
        details = " ".join(f"{n}={_summary_value(self.fields[n])}" for n in names)
        head = f"[{self.severity.value.upper()}] {self.kind.value}"
        return f"{head}: {details}" if details else head

    def to_json(self) -> dict[str, JSONValue]:
        """The alert as a JSON object (the webhook body adds ``sent_at``)."""
        return {
            "version": SCHEMA_VERSION,
            "action": self.action,
            "incident_key": self.incident_key,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "summary": self.summary(),
            "dedup_key": self.dedup_key,
            "created_at": self.created_at,
            "created_at_iso": iso_utc(self.created_at),
            "fields": self.fields,
        }
