"""The SQLite store: migrations, binding to one rollup, the journal's invariants."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from watchtower.errors import StateCorruptionError
from watchtower.store.db import SCHEMA_VERSION, ChallengeState, Store, SubmissionRow


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


def test_journal_is_write_ahead_and_keeps_one_nonce(tmp_path: Path) -> None:
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
        challenge = store.challenge(1)
        assert challenge is not None
        assert challenge.state is ChallengeState.SENT and challenge.nonce == 7
        assert {s.nonce for s in store.submissions(1)} == {7}
        store.mark_submission(bytes([10]) * 32, "mined", 5, 21000)
        assert store.integrity_check() == []
        store.mark_submission(bytes([12]) * 32, "mined", 5, 21000)
        assert store.integrity_check() == ["batch record 1 has more than one mined challenge"]
