"""The bridge's records (schema migration 4 of :mod:`watchtower.store.db`; docs/protocol.md §8).

* ``deposits``: the L1 deposit queue as followed (``DepositQueued``), one row per queue index,
  with its L1 block: a reorg deletes it (:meth:`~watchtower.store.db.Store.rewind`), a deposit
  mined again is recorded again;
* ``overdue_alerts`` (migration 6): the ``deposit_overdue`` episodes per deposit and
  transaction, open or closed, kept apart from ``deposits`` so that a reorg deleting a deposit
  does not lose its open alert (it is resolved), and numbered so that a deposit overdue again
  pages again (the episode is part of the alert's deduplication key);
* ``claims``: every ``WithdrawalClaimed`` log, with its verdict once checked (``backed`` or
  ``forged``, and why), deleted by a reorg like the deposits;
* ``bridge_batches``: what a verified batch moved across the bridge (deposits credited,
  withdrawals made, fees burned) and the L2 supply after it (a running total: the supply after
  the live valid batch before it, plus this batch's deposits, minus its withdrawals and burned
  fees); for a fraudulent batch, the value it puts at risk (the withdrawals it claims);
* ``bridge_withdrawals``: the withdrawals of a verified batch, one row per step.

The records of a batch are tied to its record (``batch_id``): a batch that is reorged out,
rejected or re-verified stops counting (every query joins on the live, valid batches), so no
rewind of these two tables is needed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchtower.rollup.bridge import BridgeFlows, Deposit, Withdrawal, supply_after

if TYPE_CHECKING:
    from watchtower.l1.reader import DepositQueued, WithdrawalClaimed
    from watchtower.store.db import Store


@dataclass(frozen=True)
class ClaimRow:
    """A ``WithdrawalClaimed`` log as recorded, with its verdict (``None``: not checked yet)."""

    tx_hash: bytes
    log_index: int
    batch: int
    step: int
    account: bytes
    amount: int
    l1_block: int
    verdict: str | None
    reason: str


@dataclass(frozen=True)
class LiveWithdrawal:
    """A withdrawal of a live, verified-valid batch: its batch's status and deadline, and
    whether it was claimed on L1."""

    withdrawal: Withdrawal
    finalized: bool
    deadline: int
    claimed: bool


def record_events(
    db: sqlite3.Connection, deposits: Sequence[DepositQueued], claims: Sequence[WithdrawalClaimed]
) -> None:
    """Inside the scan's transaction: the deposits and claims of a scanned range."""
    db.executemany(
        "INSERT OR REPLACE INTO deposits (idx, sender, recipient, amount, l1_timestamp, "
        "l1_block, l1_block_hash, log_index, tx_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                d.index,
                d.sender,
                d.recipient,
                str(d.amount),
                d.timestamp,
                d.block_number,
                d.block_hash,
                d.log_index,
                d.tx_hash,
            )
            for d in deposits
        ],
    )
    db.executemany(
        "INSERT OR REPLACE INTO claims (tx_hash, log_index, batch, step, account, amount, "
        "l1_block, l1_block_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                c.tx_hash,
                c.log_index,
                c.index,
                c.step,
                c.account,
                str(c.amount),
                c.block_number,
                c.block_hash,
            )
            for c in claims
        ],
    )


# -- deposits -------------------------------------------------------------------------------------
def deposits(store: Store, first: int = 0) -> list[Deposit]:
    """The queue entries from index ``first`` on, in order."""
    rows = store._db.execute(
        "SELECT idx, sender, recipient, amount, l1_timestamp, l1_block FROM deposits "
        "WHERE idx >= ? ORDER BY idx",
        (first,),
    )
    return [
        Deposit(int(i), bytes(s), bytes(r), int(a), int(t), int(b)) for i, s, r, a, t, b in rows
    ]


def deposit_tx(store: Store, index: int) -> bytes | None:
    row = store._db.execute("SELECT tx_hash FROM deposits WHERE idx = ?", (index,)).fetchone()
    return None if row is None else bytes(row[0])


def deposit_count(store: Store) -> int:
    row = store._db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM deposits").fetchone()
    return int(row[0])


def overdue_open(store: Store) -> dict[int, tuple[bytes, int]]:
    """The open ``deposit_overdue`` episodes: queue index -> (L1 transaction, episode)."""
    rows = store._db.execute("SELECT idx, tx_hash, episode FROM overdue_alerts WHERE open = 1")
    return {int(i): (bytes(t), int(e)) for i, t, e in rows}


def next_overdue_episode(store: Store, index: int, tx: bytes) -> int:
    """The episode a new ``deposit_overdue`` of deposit ``index`` (transaction ``tx``) gets: 0
    the first time, one more than the last (closed) one after that; the open one's own number
    while it is open (raising it again is then a duplicate, dropped by the outbox)."""
    row = store._db.execute(
        "SELECT episode, open FROM overdue_alerts WHERE idx = ? AND tx_hash = ?", (index, tx)
    ).fetchone()
    if row is None:
        return 0
    return int(row[0]) if row[1] else int(row[0]) + 1


def open_overdue(store: Store, index: int, tx: bytes, episode: int) -> None:
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO overdue_alerts (idx, tx_hash, episode, open) "
            "VALUES (?, ?, ?, 1)",
            (index, tx, episode),
        )


def close_overdue(store: Store, index: int, tx: bytes) -> None:
    with store.transaction() as db:
        db.execute("UPDATE overdue_alerts SET open = 0 WHERE idx = ? AND tx_hash = ?", (index, tx))


# -- claims ---------------------------------------------------------------------------------------
def _claim(row: tuple[Any, ...]) -> ClaimRow:
    tx, log_index, batch, step, account, amount, l1_block, verdict, reason = row
    return ClaimRow(
        bytes(tx),
        int(log_index),
        int(batch),
        int(step),
        bytes(account),
        int(str(amount)),
        int(l1_block),
        None if verdict is None else str(verdict),
        str(reason),
    )


def claims(store: Store, unchecked_only: bool = False) -> list[ClaimRow]:
    rows = store._db.execute(
        "SELECT tx_hash, log_index, batch, step, account, amount, l1_block, verdict, reason "
        "FROM claims WHERE verdict IS NULL OR NOT ? ORDER BY l1_block, log_index",
        (unchecked_only,),
    )
    return [_claim(r) for r in rows]


def set_claim_verdict(store: Store, claim: ClaimRow, verdict: str, reason: str) -> None:
    with store.transaction() as db:
        db.execute(
            "UPDATE claims SET verdict = ?, reason = ? WHERE tx_hash = ? AND log_index = ?",
            (verdict, reason, claim.tx_hash, claim.log_index),
        )


def backed_claim_exists(store: Store, batch: int, step: int) -> bool:
    """Whether a claim of withdrawal ``step`` of batch ``batch`` was already judged backed."""
    row = store._db.execute(
        "SELECT 1 FROM claims WHERE batch = ? AND step = ? AND verdict = 'backed' LIMIT 1",
        (batch, step),
    ).fetchone()
    return row is not None


def claimed_total(store: Store, backed: bool | None = None) -> int:
    """The value of the claims recorded (``backed``: only those checked as backed or forged)."""
    if backed is None:
        rows = store._db.execute("SELECT amount FROM claims")
    else:
        verdict = "backed" if backed else "forged"
        rows = store._db.execute("SELECT amount FROM claims WHERE verdict = ?", (verdict,))
    return sum(int(r[0]) for r in rows)


def forged_count(store: Store) -> int:
    return int(
        store._db.execute("SELECT COUNT(*) FROM claims WHERE verdict = 'forged'").fetchone()[0]
    )


# -- verified batches -----------------------------------------------------------------------------
def record_flows(store: Store, batch_id: int, flows: BridgeFlows, genesis_supply: int) -> int:
    """What verified batch ``batch_id`` moved across the bridge, and the L2 supply after it
    (returned): the supply after the live valid batch before it (``genesis_supply`` for the
    first) plus the deposits, minus the withdrawals and the burned fees."""
    with store.transaction() as db:
        (idx,) = db.execute("SELECT idx FROM batches WHERE id = ?", (batch_id,)).fetchone()
        before = db.execute(
            "SELECT l2_supply FROM bridge_batches JOIN batches ON batches.id = batch_id "
            "WHERE batches.status IN ('pending', 'finalized') AND batches.verdict = 'valid' "
            "AND batches.idx < ? "
            "ORDER BY batches.idx DESC LIMIT 1",
            (idx,),
        ).fetchone()
        supply = supply_after(genesis_supply if before is None else int(before[0]), flows)
        db.execute(
            "INSERT OR REPLACE INTO bridge_batches (batch_id, deposited, withdrawn, burned, "
            "l2_supply) VALUES (?, ?, ?, ?, ?)",
            (batch_id, str(flows.deposited), str(flows.withdrawn), str(flows.burned), str(supply)),
        )
        db.execute("DELETE FROM bridge_withdrawals WHERE batch_id = ?", (batch_id,))
        db.executemany(
            "INSERT INTO bridge_withdrawals (batch_id, step, account, amount) VALUES (?, ?, ?, ?)",
            [(batch_id, w.step, w.account, str(w.amount)) for w in flows.withdrawals],
        )
    return supply


def has_flows(store: Store, batch_id: int) -> bool:
    row = store._db.execute(
        "SELECT 1 FROM bridge_batches WHERE batch_id = ?", (batch_id,)
    ).fetchone()
    return row is not None


def record_value_at_risk(store: Store, batch_id: int, value: int) -> None:
    """The withdrawals a fraudulent batch claims (what its finalization would let leave)."""
    with store.transaction() as db:
        db.execute(
            "INSERT INTO bridge_batches (batch_id, deposited, withdrawn, burned, l2_supply, "
            "value_at_risk) VALUES (?, '0', '0', '0', '0', ?) "
            "ON CONFLICT (batch_id) DO UPDATE SET value_at_risk = excluded.value_at_risk",
            (batch_id, str(value)),
        )


def value_at_risk(store: Store, batch_id: int) -> int:
    row = store._db.execute(
        "SELECT value_at_risk FROM bridge_batches WHERE batch_id = ?", (batch_id,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def l2_supply(store: Store, genesis_supply: int) -> tuple[int | None, int]:
    """The index of the last live valid batch (``None``: none yet) and the L2 supply after it."""
    row = store._db.execute(
        "SELECT batches.idx, l2_supply FROM bridge_batches JOIN batches ON batches.id = batch_id "
        "WHERE batches.status IN ('pending', 'finalized') AND batches.verdict = 'valid' "
        "ORDER BY batches.idx DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None, genesis_supply
    return int(row[0]), int(row[1])


def live_withdrawals(store: Store) -> list[LiveWithdrawal]:
    """The withdrawals of the live (pending or finalized) verified-valid batches, with whether
    each was claimed (a claim of the same batch, step, account and amount)."""
    rows = store._db.execute(
        "SELECT b.idx, w.step, w.account, w.amount, b.status, b.deadline, "
        "EXISTS (SELECT 1 FROM claims c WHERE c.batch = b.idx AND c.step = w.step "
        "AND c.account = w.account AND c.amount = w.amount) "
        "FROM bridge_withdrawals w JOIN batches b ON b.id = w.batch_id "
        "WHERE b.status IN ('pending', 'finalized') AND b.verdict = 'valid' "
        "ORDER BY b.idx, w.step"
    )
    return [
        LiveWithdrawal(
            Withdrawal(int(i), int(s), bytes(a), int(v)), st == "finalized", int(d), bool(c)
        )
        for i, s, a, v, st, d, c in rows
    ]


def backing(store: Store, batch: int, step: int) -> tuple[str, Withdrawal | None]:
    """What the store knows of withdrawal ``step`` of the live batch at index ``batch``: its
    verdict (``valid``, ``fraud``, another one, or ``unknown`` when no live batch is there or
    it has no verdict) and, for a valid batch, the withdrawal made at that step (if any)."""
    row = store._db.execute(
        "SELECT id, verdict FROM batches WHERE idx = ? AND status IN ('pending', 'finalized') "
        "ORDER BY id DESC LIMIT 1",
        (batch,),
    ).fetchone()
    if row is None or row[1] is None:
        return "unknown", None
    batch_id, verdict = int(row[0]), str(row[1])
    if verdict != "valid":
        return verdict, None
    found = store._db.execute(
        "SELECT account, amount FROM bridge_withdrawals WHERE batch_id = ? AND step = ?",
        (batch_id, step),
    ).fetchone()
    if found is None:
        return verdict, None
    return verdict, Withdrawal(batch, step, bytes(found[0]), int(found[1]))


def save_snapshot(store: Store, snapshot: dict[str, int]) -> None:
    """What the last bridge check read from L1 (``bridge_balance``, ``deposits_consumed``,
    ``l1_block``, ``l1_time``), for ``watchtower status`` without an L1 endpoint."""
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('bridge', ?)",
            (json.dumps(snapshot, sort_keys=True),),
        )


def load_snapshot(store: Store) -> dict[str, int] | None:
    text = store.get_meta("bridge")
    if text is None:
        return None
    return {str(k): int(v) for k, v in json.loads(text).items()}


def bridge_problems(store: Store) -> list[str]:
    """The bridge tables' invariants, for :meth:`~watchtower.store.db.Store.integrity_check`."""
    db = store._db
    problems = []
    for count, low, high in db.execute("SELECT COUNT(*), MIN(idx), MAX(idx) FROM deposits"):
        if count and int(count) != int(high) - int(low) + 1:
            problems.append(f"the deposit queue has {count} entries for indexes {low}..{high}")
    for tx, log_index in db.execute(
        "SELECT tx_hash, log_index FROM claims WHERE verdict IS NOT NULL "
        "AND verdict NOT IN ('backed', 'forged')"
    ):
        problems.append(f"claim 0x{bytes(tx).hex()}:{log_index} has an unknown verdict")
    for batch, step, n in db.execute(
        "SELECT batch, step, COUNT(*) FROM claims WHERE verdict = 'backed' "
        "GROUP BY batch, step HAVING COUNT(*) > 1"
    ):
        problems.append(f"withdrawal {step} of batch {batch} is backed for {n} claims")
    for (batch_id,) in db.execute(
        "SELECT batch_id FROM bridge_withdrawals WHERE batch_id NOT IN (SELECT id FROM batches) "
        "UNION SELECT batch_id FROM bridge_batches WHERE batch_id NOT IN (SELECT id FROM batches)"
    ):
        problems.append(f"bridge records of batch record {batch_id}, which does not exist")
    for amount, where in [
        *((a, "deposit") for (a,) in db.execute("SELECT amount FROM deposits")),
        *((a, "claim") for (a,) in db.execute("SELECT amount FROM claims")),
        *((a, "withdrawal") for (a,) in db.execute("SELECT amount FROM bridge_withdrawals")),
    ]:
        if not str(amount).isdigit():
            problems.append(f"a {where} amount is not a whole number of wei: {amount!r}")
    return problems
