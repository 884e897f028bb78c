"""The SQLite store: migrations, binding to one rollup, the journal's invariants."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from watchtower.errors import StateCorruptionError
from watchtower.store.db import SCHEMA_VERSION, BatchStatus, ChallengeState, Store, SubmissionRow


def test_migrations_run_once_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    with Store(path) as store:  # reopening applies nothing twice
        assert store.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateCorruptionError, match="this watchtower knows"):
        Store(path)


def test_a_data_dir_belongs_to_one_rollup(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.bind("rollup", "0xaaaa")
        store.bind("rollup", "0xaaaa")
        with pytest.raises(StateCorruptionError, match="use another --data-dir"):
            store.bind("rollup", "0xbbbb")


def test_journal_is_durable_before_broadcast_and_one_mined_per_batch(tmp_path: Path) -> None:
    """What the challenger's write-ahead order relies on: a recorded submission (nonce, fees,
    raw signed bytes) is on disk when ``record_submission`` returns, so a process killed right
    after it (before or after the broadcast) finds every transaction it may have to look for."""
    with Store(tmp_path / "s.sqlite") as store:
        store._db.execute(  # a minimal batch row to hang the challenge on
            "INSERT INTO batches (idx, tx_hash, l1_block, l1_block_hash, log_index, prev_root, "
            "final_root, steps_root, count, coinbase, timestamp, deadline, data) "
            "VALUES (0, x'01', 1, x'02', 0, x'03', x'04', x'05', 1, x'06', 1, 2, x'07')"
        )
        first = store.open_challenge(1, 3, 10**18)
        again = store.open_challenge(1, 9, 5)
        assert first == again and first.state is ChallengeState.PREPARED and first.step == 3
        for fee in (10, 12):
            store.record_submission(
                SubmissionRow(
                    bytes([fee]) * 32, 1, 7, fee, 1, b"raw", float(fee), "sent", None, None
                )
            )
    # a fresh connection (as after a SIGKILL and a restart) sees both, raw bytes included
    with Store(tmp_path / "s.sqlite") as store:
        challenge = store.challenge(1)
        assert challenge is not None
        assert challenge.state is ChallengeState.SENT and challenge.nonce == 7
        subs = store.submissions(1)
        assert [(x.tx_hash, x.nonce, x.max_fee, x.raw) for x in subs] == [
            (bytes([10]) * 32, 7, 10, b"raw"),
            (bytes([12]) * 32, 7, 12, b"raw"),
        ]
        store.mark_submission(bytes([10]) * 32, "mined", 5, 21000)
        assert store.integrity_check() == []
        store.mark_submission(bytes([12]) * 32, "mined", 5, 21000)
        assert store.integrity_check() == ["batch record 1 has more than one mined challenge"]


def _batch_row(db: sqlite3.Connection, idx: int, deadline: int) -> None:
    db.execute(
        "INSERT INTO batches (idx, tx_hash, l1_block, l1_block_hash, log_index, prev_root, "
        "final_root, steps_root, count, coinbase, timestamp, deadline, data) "
        "VALUES (?, ?, 1, x'02', 0, x'03', x'04', x'05', 1, x'06', 1, ?, x'07')",
        (idx, bytes([idx + 1]), deadline),
    )


def test_migration_3_makes_failures_that_were_no_answer_retryable(tmp_path: Path) -> None:
    """Before migration 3 a single 429 on the pre-flight eth_call failed a challenge for good.
    Upgrading turns such rows whose window is open back into retryable ones; definite failures
    ("no fraud", the deadline) and closed windows stay failed."""
    from watchtower.store.db import MIGRATIONS

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:2]:
        db.executescript(migration)
    db.execute("PRAGMA user_version=2")
    future, past = int(time.time()) + 3600, int(time.time()) - 3600
    details = [
        ("eth_call: 429 Client Error: Too Many Requests", future),  # -> prepared
        ("challenge reverted", future),  # with a submission -> sent
        ("eth_call: Rollup: no fraud: the claimed root is correct", future),  # stays
        ("deadline passed unmined", future),  # stays
        ("eth_call: 429 Client Error: Too Many Requests", past),  # window closed: stays
    ]
    for n, (detail, deadline) in enumerate(details):
        _batch_row(db, n, deadline)
        db.execute(
            "INSERT INTO challenges (batch_id, step, stake, state, detail, created_at, "
            "updated_at) VALUES (?, 0, '1', 'failed', ?, 0, 0)",
            (n + 1, detail),
        )
    db.execute(
        "INSERT INTO submissions (tx_hash, batch_id, nonce, max_fee, max_priority_fee, raw, "
        "sent_at) VALUES (x'aa', 2, 0, '1', '1', x'00', 0)"
    )
    db.close()
    with Store(path) as store:
        states = [c.state for c in store.challenges()]
        assert states == [
            ChallengeState.PREPARED,
            ChallengeState.SENT,
            ChallengeState.FAILED,
            ChallengeState.FAILED,
            ChallengeState.FAILED,
        ]
        assert store.submissions(2)[0].action == "reveal"


def test_nonces_are_allocated_above_everything_recorded_and_the_chain(tmp_path: Path) -> None:
    from watchtower.store import journal

    with Store(tmp_path / "s.sqlite") as store:
        for n in range(2):
            _batch_row(store._db, n, 10**10)
        a = journal.open_challenge(store, 1, 0, 1, "0xme")
        b = journal.open_challenge(store, 2, 0, 1, "0xme")
        assert a.salt is not None and b.salt is not None and a.salt != b.salt
        assert journal.open_challenge(store, 1, 5, 9, "0xme") == a  # once
        assert journal.allocate_nonce(store, 1, "commit", "0xme", chain_nonce=7) == 7
        assert journal.allocate_nonce(store, 2, "commit", "0xme", chain_nonce=7) == 8
        assert journal.allocate_nonce(store, 1, "reveal", "0xme", chain_nonce=3) == 9
        assert journal.allocate_nonce(store, 2, "reveal", "0xme", chain_nonce=20) == 20
        # another signer's records do not push ours (a key change must not leave a gap)
        assert journal.allocate_nonce(store, 1, "commit", "0xother", chain_nonce=0) == 0
        row = journal.load(store, 2)
        assert row is not None and (row.commit_nonce, row.reveal_nonce) == (8, 20)


def test_a_reorged_rejection_keeps_a_journal_that_sent_a_commit(tmp_path: Path) -> None:
    """Someone else won after our commit was sent; their rejection is then reorged out: the
    challenge goes back to 'sent' (the journal looks again), it is not deleted from under its
    submissions; one with nothing sent is forgotten as before."""
    with Store(tmp_path / "s.sqlite") as store:
        for n in range(2):
            _batch_row(store._db, n, 10**10)
        for batch_id in (1, 2):
            store.open_challenge(batch_id, 0, 1)
            store.set_status(batch_id, BatchStatus.REJECTED, 7)
        store.record_submission(
            SubmissionRow(b"\x0c" * 32, 1, 3, 10, 1, b"raw", 1.0, "sent", None, None, "commit")
        )
        for batch_id in (1, 2):
            store.update_challenge(batch_id, ChallengeState.ALREADY_REJECTED, "someone else")
        store.rewind(5)
        assert [(c.batch_id, c.state) for c in store.challenges()] == [(1, ChallengeState.SENT)]
        assert store.integrity_check() == []
