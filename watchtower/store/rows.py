"""The store's records as typed values: batches, challenges, submissions, and what the rows say
about where verification stands (:func:`current_batches`, :func:`verification_halt`)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from watchtower.rollup.types import HALTING_VERDICTS, VerdictKind


class BatchStatus(enum.StrEnum):
    PENDING = "pending"  # on chain, inside its window
    FINALIZED = "finalized"
    REJECTED = "rejected"  # rejected on chain by a fraud proof (ours or someone else's)
    REMOVED = "removed"  # its L1 block was reorged out


class ChallengeState(enum.StrEnum):
    PREPARED = "prepared"  # proof built and checked; no transaction signed yet
    SENT = "sent"  # at least one transaction (commit or reveal) signed and recorded
    SUCCEEDED = "succeeded"  # our challenge was mined and rejected the batch
    ALREADY_REJECTED = "already_rejected"  # someone else rejected it first: nothing staked
    FAILED = "failed"  # a definite answer: deadline passed, or "no fraud" (a bug); see detail


class Rejection(NamedTuple):
    """A ``BatchesRejected`` log: batches ``first`` … ``last`` rejected, logged at
    (``l1_block``, ``log_index``) by transaction ``tx_hash``."""

    first: int
    last: int
    l1_block: int
    log_index: int
    tx_hash: bytes = b""


@dataclass(frozen=True)
class BatchRow:
    id: int
    idx: int
    tx_hash: bytes
    l1_block: int
    l1_block_hash: bytes
    log_index: int
    prev_root: bytes
    final_root: bytes
    steps_root: bytes
    count: int
    coinbase: bytes
    timestamp: int
    deadline: int
    status: BatchStatus
    verdict: VerdictKind | None
    fraud_step: int | None
    claimed_root: bytes | None
    computed_root: bytes | None
    reason: str
    data: bytes = b""


@dataclass(frozen=True)
class Halt:
    """Verification stopped at ``batch`` (unreadable or undecidable); ``waiting`` are the live
    batches after it, which cannot be replayed until it is readable, rejected or reorged out."""

    batch: BatchRow
    waiting: tuple[BatchRow, ...]

    @property
    def reason(self) -> str:
        return (
            f"{self.batch.verdict}: {self.batch.reason}"
            if self.batch.reason
            else str(self.batch.verdict)
        )


def current_batches(rows: Sequence[BatchRow]) -> list[BatchRow]:
    """The live batch at each index (pending or finalized), in index order; of several at one
    index, the latest recorded (a later submission at an index supersedes)."""
    live: dict[int, BatchRow] = {}
    for row in sorted(rows, key=lambda r: (r.idx, r.id)):
        if row.status in (BatchStatus.PENDING, BatchStatus.FINALIZED):
            live[row.idx] = row
    return [live[i] for i in sorted(live)]


def verification_halt(rows: Sequence[BatchRow]) -> Halt | None:
    """Where verification stands still, if it does: the first live batch that is not valid, if
    its verdict halts verification, and the live batches after it. (After a fraudulent batch
    nothing is halted: it is challenged, and its successors are rejected with it.)"""
    live = current_batches(rows)
    for position, row in enumerate(live):
        if row.verdict is None or row.verdict is VerdictKind.VALID:
            continue
        if row.verdict in HALTING_VERDICTS:
            return Halt(row, tuple(live[position + 1 :]))
        return None
    return None


@dataclass(frozen=True)
class ChallengeRow:
    batch_id: int
    step: int
    nonce: int | None
    stake: int
    state: ChallengeState
    detail: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class SubmissionRow:
    tx_hash: bytes
    batch_id: int
    nonce: int
    max_fee: int
    max_priority_fee: int
    raw: bytes
    sent_at: float
    state: str
    l1_block: int | None
    gas_used: int | None
    action: str = "reveal"  # "commit" or "reveal" (watchtower.submit.decide)


__all__ = [
    "BatchRow",
    "BatchStatus",
    "ChallengeRow",
    "ChallengeState",
    "Halt",
    "Rejection",
    "SubmissionRow",
    "current_batches",
    "verification_halt",
]
