"""The service's store: progress, verdicts, recent L1 block hashes, the challenge journal.

SQLite (WAL, ``synchronous=FULL``) in the data directory beside the state database. Every change
of a step of the pipeline is one transaction, so a crash leaves either the old or the new record.
The schema is versioned: :data:`MIGRATIONS` are applied in order on open and recorded in
``PRAGMA user_version``; a store newer than this code is refused.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchtower.errors import StateCorruptionError
from watchtower.failpoints import failpoint
from watchtower.rollup.types import VerdictKind
from watchtower.store.migrations import MIGRATIONS, SCHEMA_VERSION
from watchtower.store.rows import (
    BatchRow,
    BatchStatus,
    ChallengeRow,
    ChallengeState,
    Halt,
    Rejection,
    SubmissionRow,
    current_batches,
    verification_halt,
)
from watchtower.store.sqlite import open_database, schema_version, transaction

if TYPE_CHECKING:
    from watchtower.l1.reader import DepositQueued, WithdrawalClaimed


class Store:
    """The service's SQLite store."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = open_database(self.path, MIGRATIONS, "store")

    @property
    def schema_version(self) -> int:
        return schema_version(self._db)

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta -----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def bind(self, key: str, value: str) -> None:
        """Record ``value`` under ``key`` once; refuse a different value later (wrong data dir)."""
        existing = self.get_meta(key)
        if existing is None:
            with self.transaction() as db:
                db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        elif existing != value:
            raise StateCorruptionError(
                f"data directory belongs to {key}={existing}, not {value}: use another --data-dir"
            )

    def set_meta(self, key: str, value: str | None) -> None:
        """Record ``value`` under ``key`` (replacing it); ``None`` removes it."""
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- scanning -------------------------------------------------------------------------------
    def next_block(self, default: int) -> int:
        row = self._db.execute("SELECT next_block FROM scan WHERE id = 1").fetchone()
        return default if row is None else int(row[0])

    def recent_blocks(self) -> list[tuple[int, bytes]]:
        rows = self._db.execute("SELECT number, hash FROM blocks ORDER BY number DESC").fetchall()
        return [(int(n), bytes(h)) for n, h in rows]

    def record_scan(
        self,
        next_block: int,
        blocks: list[tuple[int, bytes]],
        batches: list[BatchRow],
        rejections: Sequence[Rejection],
        keep_blocks: int = 256,
        *,
        deposits: Sequence[DepositQueued] = (),
        claims: Sequence[WithdrawalClaimed] = (),
    ) -> None:
        """One scanned range, atomically: new position, block hashes, batches and rejections.

        A batch is recorded with its ``verdict`` and ``reason`` when it has one already (an
        unreadable batch: ``data`` is then whatever could be read, as evidence). The bridge's
        ``deposits`` and ``claims`` of the range go to :mod:`watchtower.store.bridge`'s tables.
        """
        from watchtower.store.bridge import record_events

        with self.transaction() as db:
            db.execute(
                "INSERT INTO scan (id, next_block) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET next_block = excluded.next_block",
                (next_block,),
            )
            db.executemany("INSERT OR REPLACE INTO blocks (number, hash) VALUES (?, ?)", blocks)
            db.execute(
                "DELETE FROM blocks WHERE number < (SELECT MAX(number) FROM blocks) - ?",
                (keep_blocks,),
            )
            for b in batches:
                # A transaction seen before and reorged out is usually mined again in another
                # block: the same record comes back to life there (new block, time and
                # deadline; verdict recomputed), keeping its challenge journal and nonce.
                db.execute(
                    "INSERT INTO batches (idx, tx_hash, l1_block, l1_block_hash, "
                    "log_index, prev_root, final_root, steps_root, count, coinbase, timestamp, "
                    "deadline, data, verdict, reason) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (tx_hash) DO UPDATE SET status = 'pending', "
                    "l1_block = excluded.l1_block, l1_block_hash = excluded.l1_block_hash, "
                    "log_index = excluded.log_index, coinbase = excluded.coinbase, "
                    "timestamp = excluded.timestamp, deadline = excluded.deadline, "
                    "verdict = excluded.verdict, fraud_step = NULL, claimed_root = NULL, "
                    "computed_root = NULL, reason = excluded.reason, verified_at = NULL, "
                    "rejected_at_block = NULL, data = excluded.data "
                    "WHERE batches.status = 'removed'",
                    (
                        b.idx,
                        b.tx_hash,
                        b.l1_block,
                        b.l1_block_hash,
                        b.log_index,
                        b.prev_root,
                        b.final_root,
                        b.steps_root,
                        b.count,
                        b.coinbase,
                        b.timestamp,
                        b.deadline,
                        b.data,
                        None if b.verdict is None else b.verdict.value,
                        b.reason,
                    ),
                )
            for first, last, block, log_index, _ in rejections:
                db.execute(
                    "UPDATE batches SET status = 'rejected', rejected_at_block = ? "
                    "WHERE idx BETWEEN ? AND ? AND status = 'pending' "
                    "AND (l1_block < ? OR (l1_block = ? AND log_index < ?))",
                    (block, first, last, block, block, log_index),
                )
            record_events(db, deposits, claims)
            failpoint("store.record_scan.commit")

    def rewind(self, to_block: int) -> list[BatchRow]:
        """Forget everything seen at or after L1 block ``to_block`` (a reorg); return the batches
        that were removed.

        In one transaction: batches logged in those blocks are ``removed``; rejections logged
        there are undone (the batch is pending again); challenge transactions mined there are
        unmined (the challenge is ``sent`` again, so the journal re-broadcasts the *same* signed
        transaction, same nonce: never a second stake); a challenge recorded as
        ``already_rejected`` because of an undone rejection is forgotten (nothing was sent).
        """
        removed = [
            self._batch(r)
            for r in self._db.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE l1_block >= ? AND status != 'removed'",
                (to_block,),
            )
        ]
        with self.transaction() as db:
            db.execute("DELETE FROM blocks WHERE number >= ?", (to_block,))
            # The bridge's events logged there are gone with them (a deposit mined again comes
            # back at its new block; a claim's verdict is recomputed).
            db.execute("DELETE FROM deposits WHERE l1_block >= ?", (to_block,))
            db.execute("DELETE FROM claims WHERE l1_block >= ?", (to_block,))
            db.execute(
                "UPDATE batches SET status = 'removed' WHERE l1_block >= ? AND status != 'removed'",
                (to_block,),
            )
            # A commit of ours may have been sent before someone else won: that journal goes
            # on (the decision function looks again); one with nothing sent is forgotten.
            db.execute(
                "UPDATE challenges SET state = 'sent', detail = 'the rejection was reorged out' "
                "WHERE state = 'already_rejected' AND batch_id IN "
                "(SELECT id FROM batches WHERE status = 'rejected' AND rejected_at_block >= ?) "
                "AND batch_id IN (SELECT batch_id FROM submissions)",
                (to_block,),
            )
            db.execute(
                "DELETE FROM challenges WHERE state = 'already_rejected' AND batch_id IN "
                "(SELECT id FROM batches WHERE status = 'rejected' AND rejected_at_block >= ?)",
                (to_block,),
            )
            db.execute(
                "UPDATE batches SET status = 'pending', rejected_at_block = NULL "
                "WHERE status = 'rejected' AND rejected_at_block >= ?",
                (to_block,),
            )
            db.execute(
                "UPDATE challenges SET state = 'sent', detail = 'mined in a reorged block', "
                "updated_at = ? WHERE state IN ('succeeded', 'failed') AND batch_id IN "
                "(SELECT batch_id FROM submissions WHERE l1_block >= ?)",
                (time.time(), to_block),
            )
            db.execute(
                "UPDATE submissions SET state = 'sent', l1_block = NULL, gas_used = NULL "
                "WHERE l1_block >= ?",
                (to_block,),
            )
            db.execute("UPDATE scan SET next_block = MIN(next_block, ?) WHERE id = 1", (to_block,))
            failpoint("store.rewind.commit")
        return removed

    # -- batches --------------------------------------------------------------------------------
    def batches(self, statuses: tuple[BatchStatus, ...] | None = None) -> list[BatchRow]:
        query = f"SELECT {_BATCH_COLUMNS} FROM batches"
        args: tuple[str, ...] = ()
        if statuses:
            query += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            args = tuple(s.value for s in statuses)
        return [self._batch(r) for r in self._db.execute(query + " ORDER BY idx, id", args)]

    def unreadable_batches(self) -> list[BatchRow]:
        """The live (pending or finalized) batches whose verdict is ``unreadable``."""
        rows = self._db.execute(
            f"SELECT {_BATCH_COLUMNS} FROM batches WHERE verdict = ? "
            "AND status IN ('pending', 'finalized') ORDER BY idx, id",
            (VerdictKind.UNREADABLE.value,),
        )
        return [self._batch(r) for r in rows]

    def batch_by_id(self, batch_id: int) -> BatchRow:
        row = self._db.execute(
            f"SELECT {_BATCH_COLUMNS} FROM batches WHERE id = ?", (batch_id,)
        ).fetchone()
        if row is None:
            raise StateCorruptionError(f"no batch record {batch_id}")
        return self._batch(row)

    def set_verdict(
        self,
        batch_id: int,
        verdict: VerdictKind,
        *,
        fraud_step: int | None = None,
        claimed_root: bytes | None = None,
        computed_root: bytes | None = None,
        reason: str = "",
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE batches SET verdict = ?, fraud_step = ?, claimed_root = ?, "
                "computed_root = ?, reason = ?, verified_at = ? WHERE id = ?",
                (
                    verdict.value,
                    fraud_step,
                    claimed_root,
                    computed_root,
                    reason,
                    time.time(),
                    batch_id,
                ),
            )

    def clear_verdict(self, batch_id: int) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE batches SET verdict = NULL, fraud_step = NULL, claimed_root = NULL, "
                "computed_root = NULL, reason = '', verified_at = NULL WHERE id = ?",
                (batch_id,),
            )

    def mark_readable(self, batch_id: int, data: bytes) -> None:
        """An unreadable batch whose calldata now reads and matches its commitment: store the
        batch bytes and clear the verdict, so the next replay verifies it."""
        with self.transaction() as db:
            db.execute(
                "UPDATE batches SET data = ?, verdict = NULL, fraud_step = NULL, "
                "claimed_root = NULL, computed_root = NULL, reason = '', verified_at = NULL "
                "WHERE id = ? AND verdict = 'unreadable'",
                (data, batch_id),
            )

    def set_status(self, batch_id: int, status: BatchStatus, at_block: int | None = None) -> None:
        """Set a batch's status; a rejection records the L1 block it was seen at (``at_block``)
        so that :meth:`rewind` can undo it if that block is reorged out."""
        with self.transaction() as db:
            db.execute(
                "UPDATE batches SET status = ?, rejected_at_block = ? WHERE id = ?",
                (status.value, at_block if status is BatchStatus.REJECTED else None, batch_id),
            )

    @staticmethod
    def _batch(row: tuple[Any, ...]) -> BatchRow:
        r = dict(zip(_BATCH_FIELDS, row, strict=True))
        return BatchRow(
            id=int(r["id"]),
            idx=int(r["idx"]),
            tx_hash=bytes(r["tx_hash"]),
            l1_block=int(r["l1_block"]),
            l1_block_hash=bytes(r["l1_block_hash"]),
            log_index=int(r["log_index"]),
            prev_root=bytes(r["prev_root"]),
            final_root=bytes(r["final_root"]),
            steps_root=bytes(r["steps_root"]),
            count=int(r["count"]),
            coinbase=bytes(r["coinbase"]),
            timestamp=int(r["timestamp"]),
            deadline=int(r["deadline"]),
            status=BatchStatus(str(r["status"])),
            verdict=None if r["verdict"] is None else VerdictKind(str(r["verdict"])),
            fraud_step=None if r["fraud_step"] is None else int(r["fraud_step"]),
            claimed_root=None if r["claimed_root"] is None else bytes(r["claimed_root"]),
            computed_root=None if r["computed_root"] is None else bytes(r["computed_root"]),
            reason=str(r["reason"]),
            data=bytes(r["data"]),
        )

    # -- challenges -----------------------------------------------------------------------------
    def challenge(self, batch_id: int) -> ChallengeRow | None:
        row = self._db.execute(
            f"SELECT {_CHALLENGE_COLUMNS} FROM challenges WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return None if row is None else _challenge(row)

    def challenges(self) -> list[ChallengeRow]:
        rows = self._db.execute(f"SELECT {_CHALLENGE_COLUMNS} FROM challenges ORDER BY batch_id")
        return [_challenge(r) for r in rows]

    def open_challenge(self, batch_id: int, step: int, stake: int) -> ChallengeRow:
        """Create the challenge record for a batch, once: later calls return the existing one."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO challenges (batch_id, step, stake, state, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (batch_id, step, str(stake), ChallengeState.PREPARED.value, now, now),
            )
        found = self.challenge(batch_id)
        assert found is not None
        return found

    def update_challenge(
        self,
        batch_id: int,
        state: ChallengeState,
        detail: str = "",
        nonce: int | None = None,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE challenges SET state = ?, detail = ?, nonce = COALESCE(?, nonce), "
                "updated_at = ? WHERE batch_id = ?",
                (state.value, detail, nonce, time.time(), batch_id),
            )

    def record_submission(self, sub: SubmissionRow) -> None:
        """Write-ahead: recorded *before* the raw transaction is broadcast."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO submissions (tx_hash, batch_id, nonce, max_fee, "
                "max_priority_fee, raw, sent_at, state, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sub.tx_hash,
                    sub.batch_id,
                    sub.nonce,
                    str(sub.max_fee),
                    str(sub.max_priority_fee),
                    sub.raw,
                    sub.sent_at,
                    sub.state,
                    sub.action,
                ),
            )
            db.execute(
                "UPDATE challenges SET nonce = ?, state = ?, updated_at = ? WHERE batch_id = ?",
                (sub.nonce, ChallengeState.SENT.value, sub.sent_at, sub.batch_id),
            )

    def submissions(self, batch_id: int | None = None) -> list[SubmissionRow]:
        query = f"SELECT {_SUBMISSION_COLUMNS} FROM submissions"
        args: tuple[int, ...] = ()
        if batch_id is not None:
            query += " WHERE batch_id = ?"
            args = (batch_id,)
        rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        return [_submission(r) for r in rows]

    def mark_submission(
        self, tx_hash: bytes, state: str, l1_block: int | None, gas_used: int | None
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE submissions SET state = ?, l1_block = ?, gas_used = ? WHERE tx_hash = ?",
                (state, l1_block, gas_used, tx_hash),
            )

    def record_withdrawal(self, tx_hash: bytes, amount: int, l1_block: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO withdrawals (tx_hash, amount, l1_block, at) "
                "VALUES (?, ?, ?, ?)",
                (tx_hash, str(amount), l1_block, time.time()),
            )

    def withdrawn_total(self) -> int:
        return sum(int(r[0]) for r in self._db.execute("SELECT amount FROM withdrawals"))

    # -- pruning (watchtower.execute.prune) -----------------------------------------------------
    def oldest_provable(self, l1_time: int) -> int | None:
        """The lowest batch index that must stay provable at L1 time ``l1_time``: pending batches
        still inside their challenge window, and batches with a challenge in flight (a fee bump
        rebuilds the proof), unless a reorg removed the batch (its challenge is orphaned; if the
        batch comes back it is pending again). ``None`` when there is none."""
        row = self._db.execute(
            "SELECT MIN(idx) FROM batches WHERE (status = 'pending' AND deadline >= ?) "
            "OR (status != 'removed' AND id IN "
            "(SELECT batch_id FROM challenges WHERE state IN ('prepared', 'sent')))",
            (l1_time,),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def drop_calldata(self, below_idx: int, l1_time: int) -> int:
        """Drop the calldata of valid batches below ``below_idx`` whose window closed before
        ``l1_time``; return how many rows lost it. The rows and verdicts stay.

        Calldata is only read to replay or prove a batch; a valid batch whose window has closed
        and whose state is below the pruning floor is never replayed again (the state database
        keeps its verified roots) and can no longer be challenged. Fraudulent batches keep theirs
        as evidence.
        """
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE batches SET data = x'' WHERE idx < ? AND deadline < ? "
                "AND verdict = 'valid' AND status IN ('pending', 'finalized') AND length(data) > 0",
                (below_idx, l1_time),
            )
        return int(cursor.rowcount)

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` plus the store's own invariants; empty when all is well."""
        problems = [str(r[0]) for r in self._db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        for (batch_id,) in self._db.execute(
            "SELECT batch_id FROM submissions WHERE state = 'mined' AND action = 'reveal' "
            "GROUP BY batch_id HAVING COUNT(*) > 1"
        ):
            problems.append(f"batch record {batch_id} has more than one mined challenge")
        from watchtower.store.bridge import bridge_problems  # the bridge's tables (migration 4)

        problems.extend(bridge_problems(self))
        return problems


#: The columns of a batch record, read by name into a :class:`BatchRow`.
_BATCH_FIELDS = (
    "id",
    "idx",
    "tx_hash",
    "l1_block",
    "l1_block_hash",
    "log_index",
    "prev_root",
    "final_root",
    "steps_root",
    "count",
    "coinbase",
    "timestamp",
    "deadline",
    "status",
    "verdict",
    "fraud_step",
    "claimed_root",
    "computed_root",
    "reason",
    "data",
)
_BATCH_COLUMNS = ", ".join(_BATCH_FIELDS)
_CHALLENGE_FIELDS = (
    "batch_id",
    "step",
    "nonce",
    "stake",
    "state",
    "detail",
    "created_at",
    "updated_at",
)
_CHALLENGE_COLUMNS = ", ".join(_CHALLENGE_FIELDS)
_SUBMISSION_FIELDS = (
    "tx_hash",
    "batch_id",
    "nonce",
    "max_fee",
    "max_priority_fee",
    "raw",
    "sent_at",
    "state",
    "l1_block",
    "gas_used",
    "action",
)
_SUBMISSION_COLUMNS = ", ".join(_SUBMISSION_FIELDS)


def _challenge(row: tuple[Any, ...]) -> ChallengeRow:
    r = dict(zip(_CHALLENGE_FIELDS, row, strict=True))
    return ChallengeRow(
        batch_id=int(r["batch_id"]),
        step=int(r["step"]),
        nonce=None if r["nonce"] is None else int(r["nonce"]),
        stake=int(str(r["stake"])),
        state=ChallengeState(str(r["state"])),
        detail=str(r["detail"]),
        created_at=float(r["created_at"]),
        updated_at=float(r["updated_at"]),
    )


def _submission(row: tuple[Any, ...]) -> SubmissionRow:
    r = dict(zip(_SUBMISSION_FIELDS, row, strict=True))
    return SubmissionRow(
        tx_hash=bytes(r["tx_hash"]),
        batch_id=int(r["batch_id"]),
        nonce=int(r["nonce"]),
        max_fee=int(str(r["max_fee"])),
        max_priority_fee=int(str(r["max_priority_fee"])),
        raw=bytes(r["raw"]),
        sent_at=float(r["sent_at"]),
        state=str(r["state"]),
        l1_block=None if r["l1_block"] is None else int(r["l1_block"]),
        gas_used=None if r["gas_used"] is None else int(r["gas_used"]),
        action=str(r["action"]),
    )


__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "BatchRow",
    "BatchStatus",
    "ChallengeRow",
    "ChallengeState",
    "Halt",
    "Rejection",
    "Store",
    "SubmissionRow",
    "current_batches",
    "verification_halt",
]
