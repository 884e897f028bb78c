"""State pruning: keep the states that can still be needed, delete every other trie node.

Why: the state database is content-addressed and only ever adds nodes (each batch commit writes
the new nodes of its final state: :func:`watchtower.execute.reach.new_keys`), so without pruning
it grows by every state the rollup ever had, forever: about 1.2 kB per transfer on a
10,000-account state.

What must be kept. To prove fraud in batch ``b`` (at any step) the prover replays ``b`` from its
``prev_root``, the final root of batch ``b - 1`` (genesis for batch 0), so that state must be
complete on disk for every batch that can still be challenged: every batch inside its challenge
window (L1 time not past its deadline) and every batch with a challenge still in flight. A reorg
replaces the most recent batches and rolls the state back to an older root, so the states of the
last ``keep_recent`` batches are kept as well. Replay always continues from the head, so the head's
state is always kept.

The policy, as one number: the *floor* is the oldest batch whose pre-state is kept::

    floor = min(oldest batch still provable, head + 1 - keep_recent)     (never lower than before)

Retained roots: the final roots of the batch records from ``floor - 1`` through the head, and
genesis while the floor is 0. Everything else is deleted by mark and sweep: mark every node
reachable from a retained root (account trie; for each account its storage trie and its code),
then delete every unmarked key.

Crash safety: the floor is raised first, in one LMDB transaction that also archives the root
records below it (:meth:`StateDB.raise_floor`), so no live pointer ever names a state being
deleted; then nodes are deleted in bounded chunks, each its own transaction. A process killed
mid-sweep leaves only unreachable garbage, which the next run deletes.

The sweep needs no lock against replay because the service runs its stages one at a time; do not
run it while another process writes the same database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from watchtower import defaults
from watchtower.execute.reach import NodeGetter, mark
from watchtower.execute.statedb import StateDB

DEFAULT_KEEP_RECENT = defaults.KEEP_RECENT


@dataclass(frozen=True)
class Retention:
    """Which states pruning keeps.

    ``oldest_provable``: the lowest batch index that must stay provable (its pre-state kept), or
    ``None`` when no batch is inside its window. ``keep_recent``: how many of the most recent
    batches a reorg may replace (their pre-states are kept).
    """

    oldest_provable: int | None
    keep_recent: int = DEFAULT_KEEP_RECENT

    def __post_init__(self) -> None:
        if self.keep_recent < 1:
            raise ValueError("keep_recent must be at least 1 (the head's state is always kept)")
        if self.oldest_provable is not None and self.oldest_provable < 0:
            raise ValueError("oldest_provable must not be negative")

    def floor(self, head: int) -> int:
        """The oldest batch whose pre-state is kept, for a state whose head is batch ``head``
        (-1: only genesis)."""
        recent = head + 1 - self.keep_recent
        wanted = recent if self.oldest_provable is None else min(self.oldest_provable, recent)
        return max(0, min(wanted, head + 1))


@dataclass(frozen=True)
class PruneReport:
    """What one pruning run did."""

    pruned_below: int  # the floor after the run: batches from here on are provable
    roots_kept: int
    records_archived: int
    nodes_marked: int
    nodes_deleted: int
    nodes_before: int
    nodes_after: int
    used_bytes_before: int  # bytes in LMDB pages holding data
    used_bytes_after: int
    file_bytes: int  # size of the files on disk (LMDB reuses freed pages; it never shrinks them)
    seconds: float

    def fields(self) -> dict[str, int | float]:
        return {
            "pruned_below": self.pruned_below,
            "roots_kept": self.roots_kept,
            "records_archived": self.records_archived,
            "nodes_marked": self.nodes_marked,
            "nodes_deleted": self.nodes_deleted,
            "nodes_before": self.nodes_before,
            "nodes_after": self.nodes_after,
            "used_bytes_before": self.used_bytes_before,
            "used_bytes_after": self.used_bytes_after,
            "file_bytes": self.file_bytes,
            "seconds": round(self.seconds, 3),
        }


def retained_roots(db: StateDB) -> list[bytes]:
    """The roots whose states the current floor keeps: live batch records, and genesis at 0."""
    roots = [record.final_root for record in db.batches()]
    genesis = db.genesis_root()
    if db.pruned_below() == 0 and genesis is not None:
        roots.insert(0, genesis)
    return list(dict.fromkeys(roots))


def prune_state(
    db: StateDB,
    retention: Retention,
    *,
    chunk: int = 10_000,
    on_chunk: Callable[[int], None] | None = None,
) -> PruneReport:
    """Raise the floor by ``retention`` and delete every node no retained root reaches.

    Pure over ``db`` (no clock, no L1): the caller decides which batch is the oldest provable.
    Running it again with the same retention deletes nothing new (and finishes an interrupted
    sweep).
    """
    started = time.perf_counter()
    nodes_before = db.node_count()
    used_before = db.used_bytes()
    head = db.head()
    archived = db.raise_floor(retention.floor(-1 if head is None else head.index))
    roots = retained_roots(db)
    with db.reader() as get:
        marked = mark(get, roots)
    deleted = db.sweep_nodes(marked, chunk=chunk, on_chunk=on_chunk)
    return PruneReport(
        pruned_below=db.pruned_below(),
        roots_kept=len(roots),
        records_archived=archived,
        nodes_marked=len(marked),
        nodes_deleted=deleted,
        nodes_before=nodes_before,
        nodes_after=db.node_count(),
        used_bytes_before=used_before,
        used_bytes_after=db.used_bytes(),
        file_bytes=db.disk_bytes(),
        seconds=time.perf_counter() - started,
    )


__all__ = [
    "DEFAULT_KEEP_RECENT",
    "NodeGetter",
    "PruneReport",
    "Retention",
    "mark",
    "prune_state",
    "retained_roots",
]
