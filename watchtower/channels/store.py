"""The channel guardian's records, in the service's store (schema migration 5 of
:mod:`watchtower.store.db`; docs/channels.md §5, §6).

Why the service's store and not a database of its own: the guardian's transactions are signed by
the same key as the challenges, and a nonce must never be handed out twice. Both journals
allocate from one per-signer space (:func:`watchtower.store.journal.recorded_nonce`) inside one
SQLite write transaction, so ``watchtower run`` (challenges and channel actions) and
``watchtower challenge --send`` never pick the same nonce. A channels-only process opens the same
file (``<data_dir>/watchtower.sqlite``) without a rollup.

* ``channel_requests``: the **latest** accepted monitoring request per (contract, channel key):
  an upsert that replaces the previous one, so storage is O(1) per channel, not per update;
* ``channel_actions``: one row per action the guardian takes (update, settle, claim, cash) for
  one request sequence (nonce / cumulative amount), unique on (contract, key, action, sequence):
  an action is opened once, ever, whatever restarts happen; its nonce is allocated and recorded
  before the transaction is signed;
* ``channel_txs``: every signed transaction (write-ahead, before broadcast);
* ``channel_scan`` / ``channel_blocks``: how far the channel contracts' logs were followed and
  the recent block hashes (a stored hash that is no longer canonical is a reorg);
* ``channel_alerts``: alerts raised from followed events, with their block (deleted on a reorg,
  so a re-mined event alerts again; the outbox deduplicates deliveries).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from watchtower.channels import codec
from watchtower.channels.types import Kind, MonitoringRequest
from watchtower.store.db import Store
from watchtower.store.journal import recorded_nonce

#: Action states: OPEN (nothing signed yet or in flight), MINED (our transaction succeeded),
#: SUPERSEDED (someone else did it: nothing more to do), FAILED (a definite answer: too late).
OPEN = "open"
MINED = "mined"
SUPERSEDED = "superseded"
FAILED = "failed"


@dataclass(frozen=True)
class StoredRequest:
    contract: str  # 0x-address, lower case
    channel_key: int
    kind: Kind
    sequence: int
    request: MonitoringRequest
    digest: bytes
    accepted_at: int
    receipt: bytes


@dataclass(frozen=True)
class ActionRow:
    id: int
    contract: str
    channel_key: int
    action: str
    sequence: int
    state: str
    sender: str
    nonce: int | None
    deadline: int
    attempts: int
    retry_at: float
    detail: str


@dataclass(frozen=True)
class TxRow:
    tx_hash: bytes
    action_id: int
    nonce: int
    max_fee: int
    tip: int
    raw: bytes
    sent_at: float
    state: str
    l1_block: int | None
    gas_used: int | None


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


class ChannelStore:
    """The guardian's tables in a :class:`~watchtower.store.db.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _db(self) -> Any:
        return self.store._db

    # -- requests -------------------------------------------------------------------------------
    def held(self, contract: bytes, channel_key: int) -> StoredRequest | None:
        row = self._db.execute(
            "SELECT contract, channel_key, kind, sequence, request, digest, accepted_at, receipt "
            "FROM channel_requests WHERE contract = ? AND channel_key = ?",
            (_hex(contract).lower(), str(channel_key)),
        ).fetchone()
        return None if row is None else _stored(row)

    def requests(self) -> list[StoredRequest]:
        rows = self._db.execute(
            "SELECT contract, channel_key, kind, sequence, request, digest, accepted_at, receipt "
            "FROM channel_requests ORDER BY contract, CAST(channel_key AS INTEGER)"
        ).fetchall()
        return [_stored(r) for r in rows]

    def accept(
        self, request: MonitoringRequest, digest: bytes, accepted_at: int, receipt: bytes
    ) -> bool:
        """Keep ``request`` as the latest for its channel, replacing the one held, only if its
        sequence is strictly higher (checked again under the write lock: two concurrent
        submissions cannot both win). False: a request at least as new is already held."""
        contract = _hex(request.contract).lower()
        key = str(request.channel_key)
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT sequence FROM channel_requests WHERE contract = ? AND channel_key = ?",
                (contract, key),
            ).fetchone()
            if row is not None and int(row[0]) >= request.sequence:
                return False
            db.execute(
                "INSERT OR REPLACE INTO channel_requests (contract, channel_key, kind, sequence, "
                "request, digest, accepted_at, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    contract,
                    key,
                    request.kind.value,
                    str(request.sequence),
                    codec.dumps(request),
                    digest,
                    accepted_at,
                    receipt,
                ),
            )
        return True

    # -- actions --------------------------------------------------------------------------------
    def open_action(
        self,
        *,
        contract: str,
        channel_key: int,
        action: str,
        sequence: int,
        sender: str,
        deadline: int,
    ) -> ActionRow:
        """The action's record, created once (later calls return the same row)."""
        now = time.time()
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO channel_actions (contract, channel_key, action, sequence, "
                "state, sender, deadline, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    contract,
                    str(channel_key),
                    action,
                    str(sequence),
                    OPEN,
                    sender,
                    deadline,
                    now,
                    now,
                ),
            )
        found = self.action(contract, channel_key, action, sequence)
        assert found is not None
        return found

    def action(
        self, contract: str, channel_key: int, action: str, sequence: int
    ) -> ActionRow | None:
        row = self._db.execute(
            f"SELECT {_ACTION_COLUMNS} FROM channel_actions "  # noqa: S608 (constant columns)
            "WHERE contract = ? AND channel_key = ? AND action = ? AND sequence = ?",
            (contract, str(channel_key), action, str(sequence)),
        ).fetchone()
        return None if row is None else _action(row)

    def actions(
        self, contract: str | None = None, channel_key: int | None = None
    ) -> list[ActionRow]:
        query = f"SELECT {_ACTION_COLUMNS} FROM channel_actions"  # noqa: S608
        args: tuple[str, ...] = ()
        if contract is not None and channel_key is not None:
            query += " WHERE contract = ? AND channel_key = ?"
            args = (contract, str(channel_key))
        return [_action(r) for r in self._db.execute(query + " ORDER BY id", args).fetchall()]

    def allocate_nonce(self, action_id: int, sender: str, chain_nonce: int) -> int:
        """A fresh nonce for the action, recorded in the same transaction: ``max(every nonce
        recorded for this signer, challenges included, + 1, the chain's confirmed nonce)``."""
        with self.store.transaction() as db:
            nonce = max(recorded_nonce(db, sender) + 1, chain_nonce)
            db.execute(
                "UPDATE channel_actions SET nonce = ?, updated_at = ? WHERE id = ?",
                (nonce, time.time(), action_id),
            )
        return nonce

    def set_state(self, action_id: int, state: str, detail: str) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE channel_actions SET state = ?, detail = ?, updated_at = ? WHERE id = ?",
                (state, detail, time.time(), action_id),
            )

    def set_retry(self, action_id: int, attempts: int, retry_at: float, detail: str) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE channel_actions SET attempts = ?, retry_at = ?, detail = ?, "
                "updated_at = ? WHERE id = ?",
                (attempts, retry_at, detail, time.time(), action_id),
            )

    # -- transactions ---------------------------------------------------------------------------
    def record_tx(self, tx: TxRow, sender: str) -> None:
        """Write-ahead: recorded *before* the raw transaction is broadcast."""
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO channel_txs (tx_hash, action_id, sender, nonce, max_fee, "
                "max_priority_fee, raw, sent_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tx.tx_hash,
                    tx.action_id,
                    sender,
                    tx.nonce,
                    str(tx.max_fee),
                    str(tx.tip),
                    tx.raw,
                    tx.sent_at,
                    tx.state,
                ),
            )

    def txs(self, action_id: int | None = None) -> list[TxRow]:
        query = (
            "SELECT tx_hash, action_id, nonce, max_fee, max_priority_fee, raw, sent_at, state, "
            "l1_block, gas_used FROM channel_txs"
        )
        args: tuple[int, ...] = ()
        if action_id is not None:
            query += " WHERE action_id = ?"
            args = (action_id,)
        return [
            TxRow(
                bytes(h),
                int(a),
                int(n),
                int(mf),
                int(tp),
                bytes(raw),
                float(at),
                str(st),
                None if b is None else int(b),
                None if g is None else int(g),
            )
            for h, a, n, mf, tp, raw, at, st, b, g in self._db.execute(
                query + " ORDER BY rowid", args
            ).fetchall()
        ]

    def mark_tx(self, tx_hash: bytes, state: str, l1_block: int | None, gas: int | None) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE channel_txs SET state = ?, l1_block = ?, gas_used = ? WHERE tx_hash = ?",
                (state, l1_block, gas, tx_hash),
            )

    # -- following ------------------------------------------------------------------------------
    def next_block(self, default: int) -> int:
        row = self._db.execute("SELECT next_block FROM channel_scan WHERE id = 1").fetchone()
        return default if row is None else int(row[0])

    def recent_blocks(self) -> list[tuple[int, bytes]]:
        rows = self._db.execute(
            "SELECT number, hash FROM channel_blocks ORDER BY number DESC"
        ).fetchall()
        return [(int(n), bytes(h)) for n, h in rows]

    def record_scan(self, next_block: int, blocks: list[tuple[int, bytes]], keep: int) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO channel_scan (id, next_block) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET next_block = excluded.next_block",
                (next_block,),
            )
            db.executemany(
                "INSERT OR REPLACE INTO channel_blocks (number, hash) VALUES (?, ?)", blocks
            )
            db.execute("DELETE FROM channel_blocks WHERE number < ?", (next_block - keep,))

    def rewind(self, to_block: int) -> None:
        """A reorg replaced ``to_block`` and later: forget their hashes and the alerts raised
        from their events, and scan again from there. (Actions need no rewind: their
        transactions' receipts are read again every tick, and a vanished receipt reopens them.)"""
        with self.store.transaction() as db:
            db.execute("DELETE FROM channel_blocks WHERE number >= ?", (to_block,))
            db.execute("DELETE FROM channel_alerts WHERE l1_block >= ?", (to_block,))
            db.execute("UPDATE channel_scan SET next_block = MIN(next_block, ?)", (to_block,))

    def alert_once(self, key: str, l1_block: int) -> bool:
        """Record that the alert ``key`` was raised; False if it already was."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO channel_alerts (key, l1_block) VALUES (?, ?)",
                (key, l1_block),
            )
            return bool(cursor.rowcount)


_ACTION_COLUMNS = (
    "id, contract, channel_key, action, sequence, state, sender, nonce, deadline, attempts, "
    "retry_at, detail"
)


def _action(row: tuple[Any, ...]) -> ActionRow:
    i, contract, key, action, seq, state, sender, nonce, deadline, attempts, retry_at, detail = row
    return ActionRow(
        id=int(i),
        contract=str(contract),
        channel_key=int(key),
        action=str(action),
        sequence=int(seq),
        state=str(state),
        sender=str(sender),
        nonce=None if nonce is None else int(nonce),
        deadline=int(deadline),
        attempts=int(attempts),
        retry_at=float(retry_at),
        detail=str(detail),
    )


def _stored(row: tuple[Any, ...]) -> StoredRequest:
    contract, key, kind, seq, text, digest, accepted_at, receipt = row
    return StoredRequest(
        contract=str(contract),
        channel_key=int(key),
        kind=Kind(str(kind)),
        sequence=int(seq),
        request=codec.loads(str(text)),
        digest=bytes(digest),
        accepted_at=int(accepted_at),
        receipt=bytes(receipt),
    )
