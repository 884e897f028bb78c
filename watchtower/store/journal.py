"""The challenge journal's records (schema migration 3 of :mod:`watchtower.store.db`).

Everything :mod:`watchtower.submit.challenger` writes before it acts:

* the **salt** of a challenge, random, recorded when the challenge is opened, before any commit
  is signed (the commitment is a function of it: a lost salt is a commitment nobody can reveal);
* one **nonce per action** (commit, reveal), allocated in the same SQLite transaction that
  records it, *before* signing: ``max(every nonce recorded for this signer + 1, the chain's
  confirmed nonce)``. Two processes on one data directory (the service and ``watchtower challenge
  --send``) allocate under SQLite's write lock, so they never pick the same nonce;
* every signed transaction (write-ahead, before broadcast) with its action;
* the backoff of transient failures (``attempts``, ``retry_at``).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchtower.errors import InputError
from watchtower.store.db import ChallengeState, Store, SubmissionRow
from watchtower.submit.decide import COMMIT, REVEAL, Record, Sent


@dataclass(frozen=True)
class JournalRow:
    batch_id: int
    step: int
    stake: int
    state: ChallengeState
    detail: str
    salt: bytes | None
    sender: str | None
    commit_nonce: int | None
    reveal_nonce: int | None
    attempts: int
    retry_at: float

    def record(self, batch: int, deadline: int) -> Record:
        assert self.salt is not None
        return Record(
            batch_id=self.batch_id,
            batch=batch,
            step=self.step,
            stake=self.stake,
            deadline=deadline,
            salt=self.salt,
            commit_nonce=self.commit_nonce,
            reveal_nonce=self.reveal_nonce,
            attempts=self.attempts,
        )


_COLUMNS = (
    "batch_id, step, stake, state, detail, salt, sender, commit_nonce, reveal_nonce, attempts, "
    "retry_at"
)


def load(store: Store, batch_id: int) -> JournalRow | None:
    row = store._db.execute(
        f"SELECT {_COLUMNS} FROM challenges WHERE batch_id = ?",  # noqa: S608 (constant columns)
        (batch_id,),
    ).fetchone()
    if row is None:
        return None
    bid, step, stake, state, detail, salt, sender, cn, rn, attempts, retry_at = row
    return JournalRow(
        batch_id=int(bid),
        step=int(step),
        stake=int(str(stake)),
        state=ChallengeState(str(state)),
        detail=str(detail),
        salt=None if salt is None else bytes(salt),
        sender=None if sender is None else str(sender),
        commit_nonce=None if cn is None else int(cn),
        reveal_nonce=None if rn is None else int(rn),
        attempts=int(attempts),
        retry_at=float(retry_at),
    )


def open_challenge(store: Store, batch_id: int, step: int, stake: int, sender: str) -> JournalRow:
    """Create the record with a fresh random salt (once); a record opened without one (by the
    'already rejected' path) gets one. Returns the record as stored."""
    now = time.time()
    with store.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO challenges (batch_id, step, stake, state, created_at, "
            "updated_at, salt, sender) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (batch_id, step, str(stake), ChallengeState.PREPARED.value, now, now, os.urandom(32),
             sender),
        )  # fmt: skip
        db.execute(
            "UPDATE challenges SET salt = ?, sender = COALESCE(sender, ?) "
            "WHERE batch_id = ? AND salt IS NULL",
            (os.urandom(32), sender, batch_id),
        )
    found = load(store, batch_id)
    assert found is not None
    return found


def recorded_nonce(db: sqlite3.Connection, sender: str) -> int:
    """The highest nonce recorded for ``sender`` anywhere in the store (challenges and channel
    actions: one nonce space per signer), -1 if none. Call inside a write transaction."""
    row = db.execute(
        "SELECT MAX(n) FROM ("
        "SELECT MAX(s.nonce) AS n FROM submissions s JOIN challenges c "
        "ON s.batch_id = c.batch_id WHERE c.sender = ? "
        "UNION ALL SELECT MAX(commit_nonce) FROM challenges WHERE sender = ? "
        "UNION ALL SELECT MAX(reveal_nonce) FROM challenges WHERE sender = ? "
        # the channel guardian's transactions share the signer's nonce space
        "UNION ALL SELECT MAX(nonce) FROM channel_actions WHERE sender = ? "
        "UNION ALL SELECT MAX(nonce) FROM channel_txs WHERE sender = ?)",
        (sender, sender, sender, sender, sender),
    ).fetchone()
    return -1 if row is None or row[0] is None else int(row[0])


def allocate_nonce(store: Store, batch_id: int, action: str, sender: str, chain_nonce: int) -> int:
    """Give ``action`` of this challenge a fresh nonce and record it, in one transaction. The
    space is the signer's, shared with the channel guardian (:func:`recorded_nonce`)."""
    column = {COMMIT: "commit_nonce", REVEAL: "reveal_nonce"}[action]
    with store.transaction() as db:
        nonce = max(recorded_nonce(db, sender) + 1, chain_nonce)
        db.execute(
            f"UPDATE challenges SET {column} = ?, updated_at = ? WHERE batch_id = ?",  # noqa: S608
            (nonce, time.time(), batch_id),
        )
    return nonce


def sent(store: Store, batch_id: int) -> list[Sent]:
    return [
        Sent(s.tx_hash, s.action, s.nonce, s.max_fee, s.max_priority_fee, s.sent_at)
        for s in store.submissions(batch_id)
    ]


def record_sent(store: Store, sub: SubmissionRow) -> None:
    """Write-ahead: the signed transaction, before it is broadcast (the challenge is SENT)."""
    store.record_submission(sub)


def set_retry(store: Store, batch_id: int, attempts: int, retry_at: float, detail: str) -> None:
    with store.transaction() as db:
        db.execute(
            "UPDATE challenges SET attempts = ?, retry_at = ?, detail = ?, updated_at = ? "
            "WHERE batch_id = ?",
            (attempts, retry_at, detail, time.time(), batch_id),
        )


def clear_retry(store: Store, batch_id: int) -> None:
    with store.transaction() as db:
        db.execute(
            "UPDATE challenges SET attempts = 0, retry_at = 0 WHERE batch_id = ? AND attempts > 0",
            (batch_id,),
        )


def reopen(store: Store, batch_id: int, detail: str) -> ChallengeState:
    """An operator's retry: a FAILED challenge goes back to SENT (it has transactions) or
    PREPARED (it has none), and any backoff is cleared so the next tick acts on it at once. The
    salt and the recorded transactions are kept, so a reopened challenge can never stake twice.
    Returns the new state."""
    with store.transaction() as db:
        sent = db.execute(
            "SELECT COUNT(*) FROM submissions WHERE batch_id = ?", (batch_id,)
        ).fetchone()[0]
        state = ChallengeState.SENT if sent else ChallengeState.PREPARED
        db.execute(
            "UPDATE challenges SET state = ?, detail = ?, attempts = 0, retry_at = 0, "
            "updated_at = ? WHERE batch_id = ?",
            (state.value, detail, time.time(), batch_id),
        )
    return state


class _PidLock:
    """An exclusive, non-blocking ``flock`` on ``path`` holding this process's PID, released by
    the kernel when the process ends (SIGKILL included); a second taker is refused with
    :class:`InputError` (``refusal`` of the holder's PID: one line)."""

    def __init__(self, path: Path, refusal: Callable[[str], str]) -> None:
        self.path = path
        self._file = path.open("a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "?"
            self._file.close()
            raise InputError(refusal(holder)) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def release(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()


class ServiceLock(_PidLock):
    """One ``watchtower run`` per data directory, in either mode: ``<data_dir>/watchtower.lock``.
    Two services on one directory would scan, replay and prune the same databases; the second
    is refused, in one line naming the holder. Read-only commands (``watchtower status``) do
    not take it."""

    def __init__(self, data_dir: Path) -> None:
        path = data_dir / "watchtower.lock"
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError as exc:
            raise InputError(f"--data-dir {data_dir}: {exc.strerror or exc}") from None
        super().__init__(
            path,
            lambda holder: (
                f"another watchtower service (pid {holder}) is running on {data_dir} "
                f"(it holds {path}); stop it first"
            ),
        )


class SenderLock(_PidLock):
    """One process at a time sends challenges from a data directory: ``watchtower run`` in
    challenge mode and ``watchtower challenge --send`` lock ``<data_dir>/challenger.lock``. The
    journal is safe with two senders (nonces are allocated under SQLite's write lock), but two
    executors would bump each other's transactions: the second is refused."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            data_dir / "challenger.lock",
            lambda holder: (
                f"another watchtower process (pid {holder}) is sending challenges "
                f"from {data_dir}: it will challenge this batch itself; "
                "stop it first to send by hand"
            ),
        )
