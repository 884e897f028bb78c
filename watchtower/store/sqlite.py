"""The SQLite conventions shared by the service's store and the alert outbox.

One connection per file, in autocommit mode with explicit ``BEGIN IMMEDIATE`` transactions; WAL
with ``synchronous=FULL`` so a committed transaction survives a crash or power loss; versioned
migrations recorded in ``PRAGMA user_version``, refusing a file written by a newer watchtower.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from watchtower.errors import StateCorruptionError


def open_database(path: Path, migrations: Sequence[str], what: str) -> sqlite3.Connection:
    """Open (creating) the database at ``path`` and bring its schema up to date.

    ``migrations[n]`` takes the schema from version ``n`` to ``n + 1``; ``what`` names the file
    in errors ("store", "alert outbox").
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA foreign_keys=ON")
        version = schema_version(db)
        if version > len(migrations):
            raise StateCorruptionError(
                f"{what} {path} has schema {version}; this watchtower knows {len(migrations)}"
            )
        for number in range(version, len(migrations)):
            with transaction(db):
                for statement in migrations[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={number + 1}")
    except BaseException:
        db.close()
        raise
    return db


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def transaction(
    db: sqlite3.Connection, lock: AbstractContextManager[object] | None = None
) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception (under ``lock`` if given)."""
    with lock if lock is not None else nullcontext():
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
