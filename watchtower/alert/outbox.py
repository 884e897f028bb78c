"""The persistent alert outbox: one SQLite row per (alert, sink) until the sink accepts it.

Its own SQLite file (WAL, ``synchronous=FULL``; schema versioned by ``PRAGMA user_version``,
:data:`MIGRATIONS` applied in order on open, a newer file refused). Raising an alert writes
its rows in one transaction with ``INSERT OR IGNORE`` on ``UNIQUE (dedup_key, sink)``, so an
event raised twice (or again after a restart) is queued once. :meth:`Outbox.deliver_pending`
sends the due rows: a success marks the row delivered; a failure records the attempt and the
error and moves the row's next attempt back exponentially (:class:`Backoff`). Rows are only
ever deleted by :meth:`Outbox.prune`, and only once delivered (or silenced).

Delivery is at-least-once on the wire (a crash between a sink's answer and the commit resends
on restart) and exactly-once per dedup key for receivers that honour the idempotency key
(PagerDuty's ``dedup_key``, the webhook's ``Idempotency-Key``). One process delivers from one
file at a time; within a process, concurrent passes are serialised.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from watchtower.alert.events import Alert, AlertKind, iso_utc
from watchtower.alert.sinks import DeliveryError, Sink
from watchtower.backoff import Backoff
from watchtower.failpoints import failpoint
from watchtower.store.sqlite import open_database, schema_version, transaction

log = structlog.get_logger("watchtower.alert")

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dedup_key TEXT NOT NULL,
        sink TEXT NOT NULL,
        kind TEXT NOT NULL,
        fields TEXT NOT NULL,
        created_at REAL NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_attempt_at REAL,
        last_error TEXT NOT NULL DEFAULT '',
        delivered_at REAL,
        note TEXT NOT NULL DEFAULT '',
        UNIQUE (dedup_key, sink)
    );
    CREATE INDEX outbox_due ON outbox (state, sink, next_attempt_at);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = (
    "id, dedup_key, sink, kind, fields, created_at, state, attempts, next_attempt_at,"
    " last_attempt_at, last_error, delivered_at, note"
)
# Queries interpolate only the column list above; every value is a bound parameter.
_SELECT = f"SELECT {_COLUMNS} FROM outbox"  # noqa: S608
_SELECT_DUE = (
    _SELECT + " WHERE state = ? AND sink = ? AND next_attempt_at <= ?"
    " ORDER BY next_attempt_at, id LIMIT ?"
)
_DAY = 86400.0


class EntryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    SILENCED = "silenced"


@dataclass(frozen=True)
class OutboxEntry:
    """One (alert, sink) row."""

    id: int
    alert: Alert
    sink: str
    state: EntryState
    attempts: int
    next_attempt_at: float
    last_attempt_at: float | None
    last_error: str
    delivered_at: float | None
    note: str


@dataclass(frozen=True)
class DeliveryReport:
    """One delivery pass: rows delivered, attempts that failed, rows still undelivered."""

    delivered: int
    failed: int
    pending: int


@dataclass(frozen=True)
class EnqueueResult:
    """What raising one alert did: rows newly queued, rows already present, rows silenced."""

    queued: int
    duplicate: int
    silenced: int


class Outbox:
    """The outbox file. Thread-safe; no method holds the database while a sink is sending."""

    def __init__(self, path: Path | str, backoff: Backoff | None = None) -> None:
        self.path = Path(path)
        self.backoff = backoff or Backoff()
        self._lock = threading.RLock()
        self._delivering = threading.Lock()
        self._db = open_database(self.path, MIGRATIONS, "alert outbox")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return schema_version(self._db)

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db, self._lock)

    # -- writing --------------------------------------------------------------------------------

    def enqueue(self, alert: Alert, sinks: Iterable[str], silenced_by: str = "") -> EnqueueResult:
        """Record ``alert`` once per sink, in one transaction. Rows already present for the same
        (dedup key, sink) are left alone, except that a row recorded as silenced is queued for
        delivery when the alert is raised again unsilenced (``silenced_by`` empty)."""
        names = list(dict.fromkeys(sinks))
        fields = json.dumps(alert.fields, separators=(",", ":"))
        state = EntryState.SILENCED if silenced_by else EntryState.PENDING
        queued = duplicate = 0
        with self._transaction() as db:
            for sink in names:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO outbox (dedup_key, sink, kind, fields, created_at,"
                    " state, next_attempt_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        alert.dedup_key,
                        sink,
                        alert.kind.value,
                        fields,
                        alert.created_at,
                        state.value,
                        alert.created_at,
                        silenced_by,
                    ),
                )
                if cursor.rowcount:
                    queued += 1
                    continue
                if not silenced_by:
                    cursor = db.execute(
                        "UPDATE outbox SET state = ?, next_attempt_at = ?, note = ?"
                        " WHERE dedup_key = ? AND sink = ? AND state = ?",
                        (
                            EntryState.PENDING.value,
                            alert.created_at,
                            "raised again after its silence ended",
                            alert.dedup_key,
                            sink,
                            EntryState.SILENCED.value,
                        ),
                    )
                    if cursor.rowcount:
                        queued += 1
                        continue
                duplicate += 1
        failpoint("outbox.enqueued")
        if silenced_by:
            return EnqueueResult(0, duplicate, queued)
        return EnqueueResult(queued, duplicate, 0)

    # -- delivering -----------------------------------------------------------------------------

    def due(self, sink: str, now: float, limit: int = 100) -> list[OutboxEntry]:
        """``sink``'s undelivered rows whose next attempt is due, earliest schedule first."""
        with self._lock:
            rows = self._db.execute(
                _SELECT_DUE, (EntryState.PENDING.value, sink, now, limit)
            ).fetchall()
        return [_entry(row) for row in rows]

    def deliver_pending(
        self, sinks: Sequence[Sink], now: float, limit: int = 100
    ) -> DeliveryReport:
        """Try up to ``limit`` due rows per sink, sink after sink. A sink's first failure ends
        its turn in this pass (so a sink that is down or hanging costs at most one timeout per
        pass and never holds up the other sinks). Rows for a sink not in ``sinks`` stay
        pending. Concurrent calls are serialised, so no row is sent twice by one process."""
        delivered = failed = 0
        with self._delivering:
            for sink in sinks:
                for entry in self.due(sink.name, now, limit):
                    try:
                        sink.send(entry.alert)
                    except DeliveryError as exc:
                        error = str(exc)
                    except Exception as exc:  # a sink bug must not stop the other sinks
                        error = f"alert sink {entry.sink!r}: unexpected {type(exc).__name__}"
                    else:
                        failpoint("outbox.sent")
                        self._delivered(entry, now)
                        delivered += 1
                        continue
                    failed += 1
                    self._failed(entry, now, error)
                    break
        return DeliveryReport(delivered, failed, self.depth())

    def _delivered(self, entry: OutboxEntry, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, last_attempt_at = ?,"
                " delivered_at = ? WHERE id = ? AND state = ?",
                (EntryState.DELIVERED.value, now, now, entry.id, EntryState.PENDING.value),
            )
        log.info(
            "alert_delivered",
            sink=entry.sink,
            kind=entry.alert.kind.value,
            dedup_key=entry.alert.dedup_key,
            attempts=entry.attempts + 1,
        )

    def _failed(self, entry: OutboxEntry, now: float, error: str) -> None:
        attempts = entry.attempts + 1
        retry_at = now + self.backoff.delay(attempts, f"{entry.alert.dedup_key}|{entry.sink}")
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = ?, last_attempt_at = ?, last_error = ?,"
                " next_attempt_at = ? WHERE id = ? AND state = ?",
                (attempts, now, error, retry_at, entry.id, EntryState.PENDING.value),
            )
        log.warning(
            "alert_delivery_failed",
            sink=entry.sink,
            kind=entry.alert.kind.value,
            dedup_key=entry.alert.dedup_key,
            attempts=attempts,
            error=error,
            retry_in=round(retry_at - now, 3),
        )

    # -- reading --------------------------------------------------------------------------------

    def depth(self) -> int:
        """Rows not yet delivered (silenced rows are not counted)."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE state = ?", (EntryState.PENDING.value,)
            ).fetchone()
        return int(row[0])

    def counts(self) -> dict[EntryState, int]:
        """Rows per state (every state present, zero when empty)."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        counts = dict.fromkeys(EntryState, 0)
        for state, count in rows:
            counts[EntryState(state)] = int(count)
        return counts

    def entries(
        self, state: EntryState | None = None, limit: int = 100, sink: str | None = None
    ) -> list[OutboxEntry]:
        """Rows for status displays, newest first."""
        query = _SELECT
        clauses: list[str] = []
        params: list[object] = []
        if state is not None:
            clauses.append("state = ?")
            params.append(EntryState(state).value)
        if sink is not None:
            clauses.append("sink = ?")
            params.append(sink)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [_entry(row) for row in rows]

    def retry_failed(self, now: float, sink: str | None = None) -> int:
        """Make every undelivered row that has failed at least once due again, as when it was
        raised (the next delivery pass tries it, whatever its backoff; rows keep their order);
        how many rows. ``now`` is recorded as the row's note."""
        query = (
            "UPDATE outbox SET next_attempt_at = created_at, note = ?"
            " WHERE state = ? AND attempts > 0"
        )
        params: list[object] = [f"re-queued by hand at {iso_utc(now)}", EntryState.PENDING.value]
        if sink is not None:
            query += " AND sink = ?"
            params.append(sink)
        with self._transaction() as db:
            cursor = db.execute(query, params)
        return int(cursor.rowcount)

    # -- housekeeping ---------------------------------------------------------------------------

    def prune(self, now: float, older_than_days: float = 30.0) -> int:
        """Delete rows delivered (or silenced) more than ``older_than_days`` ago; never a pending
        row. A pruned event raised again is a new event: keep the age above any re-raise
        horizon."""
        cutoff = now - older_than_days * _DAY
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM outbox WHERE (state = ? AND delivered_at < ?)"
                " OR (state = ? AND created_at < ?)",
                (EntryState.DELIVERED.value, cutoff, EntryState.SILENCED.value, cutoff),
            )
        return int(cursor.rowcount)

    def close(self) -> None:
        with self._delivering, self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r})"


def _entry(row: Any) -> OutboxEntry:
    alert = Alert(AlertKind(row[3]), json.loads(row[4]), float(row[5]), str(row[1]))
    return OutboxEntry(
        id=int(row[0]),
        alert=alert,
        sink=str(row[2]),
        state=EntryState(row[6]),
        attempts=int(row[7]),
        next_attempt_at=float(row[8]),
        last_attempt_at=None if row[9] is None else float(row[9]),
        last_error=str(row[10]),
        delivered_at=None if row[11] is None else float(row[11]),
        note=str(row[12]),
    )
