"""The store's bridge tables (migration 4, watchtower/store/bridge.py): recorded with the scan,
deleted by a rewind from their block, tied to live valid batches, and checked by
``integrity_check``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from watchtower.l1.reader import DepositQueued, WithdrawalClaimed
from watchtower.rollup.bridge import BridgeFlows, DepositStep, Withdrawal
from watchtower.rollup.types import VerdictKind
from watchtower.store import bridge as records
from watchtower.store.db import MIGRATIONS, SCHEMA_VERSION, BatchRow, BatchStatus, Store

A, B = b"\xaa" * 20, b"\xbb" * 20


def _deposit(index: int, block: int) -> DepositQueued:
    return DepositQueued(
        index, A, B, 10 + index, 1000 + block, block, b"\x01" * 32, 0, bytes([index]) * 32
    )


def _claim(batch: int, step: int, amount: int, block: int, nonce: int = 0) -> WithdrawalClaimed:
    return WithdrawalClaimed(
        batch,
        step,
        A,
        amount,
        block,
        b"\x02" * 32,
        nonce,
        bytes([batch, step, nonce]) * 8 + bytes(8),
    )


def _batch(idx: int, block: int) -> BatchRow:
    return BatchRow(
        0,
        idx,
        bytes([idx + 1]) * 32,
        block,
        b"\x03" * 32,
        0,
        b"p" * 32,
        b"f" * 32,
        b"s" * 32,
        2,
        b"c" * 20,
        1000,
        2000,
        BatchStatus.PENDING,
        None,
        None,
        None,
        None,
        "",
        b"data",
    )


def test_deposits_and_claims_are_recorded_with_the_scan_and_rewound(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        assert store.schema_version == SCHEMA_VERSION == 6  # 4: bridge; 5: channels; 6: overdue
        store.record_scan(
            6,
            [(5, b"\x01" * 32)],
            [],
            [],
            deposits=[_deposit(0, 3), _deposit(1, 5)],
            claims=[_claim(0, 1, 7, 4), _claim(0, 2, 8, 5)],
        )
        assert [d.index for d in records.deposits(store)] == [0, 1]
        assert [d.index for d in records.deposits(store, 1)] == [1]
        assert records.deposit_count(store) == 2
        assert [(c.step, c.amount, c.verdict) for c in records.claims(store)] == [
            (1, 7, None), (2, 8, None)]  # fmt: skip
        assert store.integrity_check() == []

        store.rewind(5)
        assert [d.index for d in records.deposits(store)] == [0]
        assert [c.step for c in records.claims(store)] == [1]
        assert records.deposit_tx(store, 1) is None


def test_flows_count_only_for_live_valid_batches(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.record_scan(11, [(10, b"\x01" * 32)], [_batch(0, 2), _batch(1, 10)], [])
        zero, one = store.batches()
        for row in (zero, one):
            store.set_verdict(row.id, VerdictKind.VALID)
        flows0 = BridgeFlows((DepositStep(0, B, 50),), (Withdrawal(0, 1, A, 20),), burned=3)
        flows1 = BridgeFlows((), (Withdrawal(1, 0, B, 5),), burned=1)
        assert records.record_flows(store, zero.id, flows0, 1000) == 1000 + 50 - 20 - 3
        assert records.record_flows(store, one.id, flows1, 1000) == 1027 - 5 - 1
        assert records.l2_supply(store, 1000) == (1, 1021)
        assert [w.withdrawal.amount for w in records.live_withdrawals(store)] == [20, 5]
        assert records.backing(store, 0, 1) == ("valid", Withdrawal(0, 1, A, 20))
        assert records.backing(store, 0, 0) == ("valid", None)

        store.rewind(10)  # batch 1 reorged out: its withdrawal and supply no longer count
        assert records.l2_supply(store, 1000) == (0, 1027)
        assert [w.withdrawal.amount for w in records.live_withdrawals(store)] == [20]
        assert records.backing(store, 1, 0) == ("unknown", None)
        store.set_verdict(zero.id, VerdictKind.FRAUD, fraud_step=1)
        assert records.backing(store, 0, 1) == ("fraud", None)
        assert records.live_withdrawals(store) == []
        assert records.l2_supply(store, 1000) == (None, 1000)


def test_integrity_check_covers_the_bridge_tables(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.record_scan(
            9,
            [(8, b"\x01" * 32)],
            [],
            [],
            deposits=[_deposit(0, 3), _deposit(2, 4)],
            claims=[_claim(0, 1, 7, 4), _claim(0, 1, 7, 5, nonce=1)],
        )
        for claim in records.claims(store):
            records.set_claim_verdict(store, claim, "backed", "")
        store._db.execute("PRAGMA foreign_keys = OFF")  # (enforced otherwise: a damaged file)
        with store.transaction() as db:
            db.execute("UPDATE deposits SET amount = '1e18' WHERE idx = 2")
            db.execute("INSERT INTO bridge_withdrawals VALUES (99, 0, x'00', '1')")
        problems = store.integrity_check()
        assert "the deposit queue has 2 entries for indexes 0..2" in problems
        assert "withdrawal 1 of batch 0 is backed for 2 claims" in problems
        assert "a deposit amount is not a whole number of wei: '1e18'" in problems
        assert "bridge records of batch record 99, which does not exist" in problems


def test_migration_6_keeps_the_open_overdue_alerts(tmp_path: Path) -> None:
    """Before migration 6 an open deposit_overdue was a flag on the deposit's row (lost when a
    reorg deleted the row); upgrading moves the open ones to their own table as episode 0."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:5]:
        db.executescript(migration)
    db.execute("PRAGMA user_version=5")
    for idx, alerted in ((0, 1), (1, 0)):
        db.execute(
            "INSERT INTO deposits (idx, sender, recipient, amount, l1_timestamp, l1_block, "
            "l1_block_hash, log_index, tx_hash, overdue_alerted) "
            "VALUES (?, x'01', x'02', '5', 100, 3, x'03', ?, ?, ?)",
            (idx, idx, bytes([0xA0 + idx]) * 32, alerted),
        )
    db.close()
    with Store(path) as store:
        assert store.schema_version == 6
        assert records.overdue_open(store) == {0: (b"\xa0" * 32, 0)}
        assert records.next_overdue_episode(store, 0, b"\xa0" * 32) == 0  # still open
        records.close_overdue(store, 0, b"\xa0" * 32)
        assert records.next_overdue_episode(store, 0, b"\xa0" * 32) == 1
        assert records.next_overdue_episode(store, 1, b"\xa1" * 32) == 0
