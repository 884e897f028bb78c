"""The persistent state database: trie nodes and root pointers in LMDB.

Why LMDB: it is an embedded, memory-mapped B+tree with ACID write transactions and copy-on-write
pages. A write transaction becomes visible atomically at commit; a process killed at any moment
(SIGKILL included) reopens at the last committed transaction with no recovery step and no
compaction stalls. The python binding (`lmdb`) ships the C library in its wheel. LevelDB
(plyvel) would also do, but needs a write-ahead log replay on open and compacts in the background.

Layout (one LMDB environment, two named databases):

* ``nodes``: ``keccak(value) -> value`` for trie nodes and contract code (what py-evm stores);
* ``meta``: root pointers and bookkeeping, keys below.

Every batch commit writes its new nodes *and* its root pointer in one LMDB transaction, so the
pointer never refers to nodes that are not on disk.

Pruning (:mod:`watchtower.execute.prune`) keeps that invariant: it first moves the root records of
batches whose state it will delete to an archive (``pruned/<index>``: what was verified, not a
state that can be opened) and records the floor (``pruned_below``) in one transaction, and only
then deletes nodes. :meth:`StateDB.rollback_to` refuses to go below the floor.

Writes during replay go to a :class:`PendingWrites` overlay (py-evm writes nodes as it computes
roots); :meth:`StateDB.commit` moves the overlay to disk together with the pointer.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import lmdb
from eth.abc import AtomicWriteBatchAPI
from eth.db.backends.base import BaseAtomicDB

from watchtower.errors import MissingStateError, StateCorruptionError, StateError
from watchtower.execute.reach import new_keys
from watchtower.execute.trie import NodeCache, decode_node
from watchtower.failpoints import failpoint

_GENESIS_KEY = b"genesis"
_HEAD_KEY = b"head"
_BATCH_PREFIX = b"batch/"
_ARCHIVE_PREFIX = b"pruned/"  # root records of batches whose state was pruned
_PRUNED_BELOW_KEY = b"pruned_below"  # the pre-states of batches below this index are pruned
_PRUNED_AT_KEY = b"pruned_at"  # the head index when the floor was last raised (-1: genesis)
_SCHEMA_KEY = b"schema"
SCHEMA_VERSION = 1

_T = TypeVar("_T")

#: Initial map size. LMDB reserves address space, not disk; the map grows on demand.
_INITIAL_MAP_SIZE = 1 << 30


def _batch_key(index: int) -> bytes:
    return _BATCH_PREFIX + struct.pack(">Q", index)


def _archive_key(index: int) -> bytes:
    return _ARCHIVE_PREFIX + struct.pack(">Q", index)


class PrunedStateError(StateError):
    """The state asked for is older than the pruning floor: its nodes were deleted on purpose."""


@dataclass(frozen=True)
class BatchRecord:
    """The root pointer stored for one verified batch.

    ``pruned`` records are receipts only: the batch was verified with these roots, but the state
    at ``final_root`` is older than the pruning floor and can no longer be opened.
    """

    index: int
    prev_root: bytes
    final_root: bytes
    pruned: bool = field(default=False, compare=False)

    def encode(self) -> bytes:
        return self.prev_root + self.final_root

    @classmethod
    def decode(cls, index: int, raw: bytes) -> BatchRecord:
        if len(raw) != 64:
            raise StateCorruptionError(f"batch {index} record has {len(raw)} bytes, expected 64")
        return cls(index=index, prev_root=raw[:32], final_root=raw[32:])


class StateDB:
    """An on-disk trie-node store with one root pointer per verified batch."""

    def __init__(self, path: Path | str, *, sync: bool = True) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(
            str(self.path),
            map_size=_INITIAL_MAP_SIZE,
            max_dbs=4,
            subdir=True,
            sync=sync,
            metasync=sync,
            readahead=False,
        )
        self._nodes = self._env.open_db(b"nodes")
        #: Decoded nodes of this database, for its tries (cleared whenever nodes are deleted).
        self.node_cache = NodeCache()
        self._meta = self._env.open_db(b"meta")
        with self._env.begin(write=True) as txn:
            schema = txn.get(_SCHEMA_KEY, db=self._meta)
            if schema is None:
                txn.put(_SCHEMA_KEY, str(SCHEMA_VERSION).encode(), db=self._meta)
            elif int(schema) != SCHEMA_VERSION:
                raise StateCorruptionError(
                    f"state database {self.path} has schema {schema.decode()}, "
                    f"this watchtower reads schema {SCHEMA_VERSION}"
                )

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- nodes ----------------------------------------------------------------------------------
    def get_node(self, key: bytes) -> bytes | None:
        with self._env.begin(db=self._nodes, buffers=False) as txn:
            value = txn.get(key)
        return None if value is None else bytes(value)

    def has_node(self, key: bytes) -> bool:
        return self.get_node(key) is not None

    def node_count(self) -> int:
        with self._env.begin(db=self._nodes) as txn:
            return int(txn.stat(self._nodes)["entries"])

    def disk_bytes(self) -> int:
        """Bytes of the database files on disk (LMDB never shrinks them: freed pages are reused)."""
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    def used_bytes(self) -> int:
        """Bytes in pages that hold data (the rest of the file is free pages, reused by writes)."""
        with self._env.begin() as txn:
            total = 0
            for db in (None, self._nodes, self._meta):
                stat = txn.stat(db) if db is not None else self._env.stat()
                pages = stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
                total += pages * stat["psize"]
        return total

    @contextmanager
    def reader(self) -> Iterator[Callable[[bytes], bytes | None]]:
        """A node getter over one read snapshot (one LMDB read transaction for a whole walk)."""
        with self._env.begin(db=self._nodes, buffers=False) as txn:

            def get(key: bytes) -> bytes | None:
                value = txn.get(key)
                return None if value is None else bytes(value)

            yield get

    def sweep_nodes(
        self,
        keep: Container[bytes],
        *,
        chunk: int = 10_000,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        """Delete every node whose key is not in ``keep``; return how many were deleted.

        At most ``chunk`` keys are visited per write transaction, so the sweep never holds one
        huge transaction (nor blocks a writer for long), and a process killed in the middle has
        committed whole chunks only: what is left is unreachable garbage for the next sweep.
        ``on_chunk`` is called with the running total after each committed chunk.
        """
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        self.node_cache.clear()  # nothing deleted may still be served from memory
        deleted = 0
        start: bytes | None = b""
        while start is not None:
            count, start = self._grow_on_full(partial(self._sweep_chunk, keep, start, chunk))
            deleted += count
            if on_chunk is not None:
                on_chunk(deleted)
        return deleted

    def _sweep_chunk(
        self, keep: Container[bytes], start: bytes, chunk: int
    ) -> tuple[int, bytes | None]:
        """One sweep transaction from key ``start``: (nodes deleted, where to go on or None)."""
        deleted = 0
        with self._env.begin(write=True, db=self._nodes) as txn:
            cursor = txn.cursor()
            positioned = cursor.set_range(start)
            visited = 0
            while positioned and visited < chunk:
                visited += 1
                if cursor.key() in keep:
                    positioned = cursor.next()
                else:
                    cursor.delete()  # moves to the next key (b"" past the end)
                    deleted += 1
                    positioned = cursor.key() != b""
            return deleted, (cursor.key() if positioned else None)

    def _grow_on_full(self, write: Callable[[], _T]) -> _T:
        """Run a write transaction, doubling the map while LMDB says it is full (even a delete
        needs fresh pages: LMDB is copy-on-write)."""
        while True:
            try:
                return write()
            except lmdb.MapFullError:
                self._env.set_mapsize(self._env.info()["map_size"] * 2)

    # -- pruning floor --------------------------------------------------------------------------
    def pruned_below(self) -> int:
        """The oldest batch whose pre-state is kept (0: nothing was ever pruned)."""
        with self._env.begin(db=self._meta) as txn:
            raw = txn.get(_PRUNED_BELOW_KEY)
        return 0 if raw is None else int(struct.unpack(">Q", raw)[0])

    def pruned_at(self) -> int | None:
        """The head batch index when the floor was last raised (-1: at genesis; None: never)."""
        with self._env.begin(db=self._meta) as txn:
            raw = txn.get(_PRUNED_AT_KEY)
        return None if raw is None else int(struct.unpack(">q", raw)[0])

    def raise_floor(self, floor: int) -> int:
        """Make ``floor`` the oldest batch whose pre-state is kept; return how many root records
        were archived.

        One transaction: the records of batches ``< floor - 1`` move to the archive, and the
        floor and the current head are recorded, so after it commits no live pointer names a
        state about to be deleted. The floor never goes down and never passes the head (the
        head's state, the pre-state of the next batch, is always kept).
        """
        return self._grow_on_full(partial(self._raise_floor, floor))

    def _raise_floor(self, floor: int) -> int:
        with self._env.begin(write=True, db=self._meta) as txn:
            raw_head = txn.get(_HEAD_KEY)
            head = -1 if raw_head is None else int(struct.unpack(">Q", raw_head)[0])
            raw_floor = txn.get(_PRUNED_BELOW_KEY)
            current = 0 if raw_floor is None else int(struct.unpack(">Q", raw_floor)[0])
            floor = max(current, min(floor, head + 1))
            moving: list[tuple[int, bytes]] = []
            cursor = txn.cursor()
            if cursor.set_range(_BATCH_PREFIX):
                for key, value in cursor:
                    if not key.startswith(_BATCH_PREFIX):
                        break
                    index = int(struct.unpack(">Q", key[len(_BATCH_PREFIX) :])[0])
                    if index >= floor - 1:
                        break
                    moving.append((index, bytes(value)))
            for index, value in moving:
                txn.put(_archive_key(index), value)
                txn.delete(_batch_key(index))
            txn.put(_PRUNED_BELOW_KEY, struct.pack(">Q", floor))
            txn.put(_PRUNED_AT_KEY, struct.pack(">q", head))
        return len(moving)

    # -- pointers -------------------------------------------------------------------------------
    def genesis_root(self) -> bytes | None:
        with self._env.begin(db=self._meta) as txn:
            value = txn.get(_GENESIS_KEY)
        return None if value is None else bytes(value)

    def head(self) -> BatchRecord | None:
        """The last committed batch, or ``None`` if only genesis (or nothing) is stored."""
        with self._env.begin(db=self._meta) as txn:
            raw = txn.get(_HEAD_KEY)
            if raw is None:
                return None
            index = struct.unpack(">Q", raw)[0]
            record = txn.get(_batch_key(index))
        if record is None:
            raise StateCorruptionError(f"head points at batch {index}, which has no record")
        return BatchRecord.decode(index, bytes(record))

    def head_root(self) -> bytes | None:
        head = self.head()
        return head.final_root if head is not None else self.genesis_root()

    def batch(self, index: int) -> BatchRecord | None:
        """The record of verified batch ``index``: live, or an archived receipt (``pruned``)."""
        with self._env.begin(db=self._meta) as txn:
            raw = txn.get(_batch_key(index))
            if raw is None:
                archived = txn.get(_archive_key(index))
                if archived is None:
                    return None
                record = BatchRecord.decode(index, bytes(archived))
                return BatchRecord(index, record.prev_root, record.final_root, pruned=True)
        return BatchRecord.decode(index, bytes(raw))

    def batches(self) -> Iterator[BatchRecord]:
        """The live records (whose states are all on disk), in index order."""
        with self._env.begin(db=self._meta) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(_BATCH_PREFIX):
                return
            for key, value in cursor:
                if not key.startswith(_BATCH_PREFIX):
                    break
                index = struct.unpack(">Q", key[len(_BATCH_PREFIX) :])[0]
                yield BatchRecord.decode(index, bytes(value))

    # -- commits --------------------------------------------------------------------------------
    def commit_genesis(self, pending: PendingWrites, root: bytes) -> None:
        existing = self.genesis_root()
        if existing is not None and existing != root:
            raise StateCorruptionError(
                f"state database {self.path} holds genesis 0x{existing.hex()}, "
                f"not 0x{root.hex()}: use another data directory"
            )
        if existing is not None and self.pruned_below() > 0:
            # The genesis state was pruned on purpose; writing it again (every service start
            # re-derives it to check the root) would only add garbage for the next prune.
            pending.discard()
            return
        self._write(pending, [(_GENESIS_KEY, root)])

    def commit_nodes(self, pending: PendingWrites) -> None:
        """Write nodes with no root pointer (scratch states such as conformance pre-states)."""
        self._write(pending, [])

    def commit_batch(self, pending: PendingWrites, record: BatchRecord) -> None:
        """Write the batch's final state and its root pointer in one atomic transaction.

        Of the nodes the replay wrote, only those the final root reaches are kept
        (:meth:`PendingWrites.keep_reachable`): the intermediate step states were needed only
        until now (a prover replays a batch from its ``prev_root``)."""
        meta = self._batch_meta(record)
        pending.keep_reachable(record.final_root)
        self._write(pending, meta)

    def commit_batch_items(self, items: list[tuple[bytes, bytes]], record: BatchRecord) -> None:
        """:meth:`commit_batch` with the new nodes given (key, value), already reduced to those
        the final root reaches (a root worker found them: :mod:`~watchtower.execute.rootworker`)."""
        self._write_items(sorted(items), self._batch_meta(record))
        self._cache_top(items, record.final_root)

    def _batch_meta(self, record: BatchRecord) -> list[tuple[bytes, bytes]]:
        """The pointer rows a commit of ``record`` writes, once it is checked to continue the
        stored chain."""
        expected_prev = self._expected_prev_root(record.index)
        if expected_prev != record.prev_root:
            raise StateCorruptionError(
                f"batch {record.index} starts from 0x{record.prev_root.hex()} but the stored "
                f"chain ends at 0x{(expected_prev or b'').hex()}"
            )
        return [
            (_batch_key(record.index), record.encode()),
            (_HEAD_KEY, struct.pack(">Q", record.index)),
        ]

    def _cache_top(self, items: list[tuple[bytes, bytes]], root: bytes, levels: int = 3) -> None:
        """Put the top ``levels`` of the new state's trie in the node cache (they are on disk
        now). The nodes came from another process, so this process's cache does not hold them,
        and every first read of an account in the next batch walks through them."""
        written = dict(items)
        frontier = [root]
        for _ in range(levels):
            below: list[bytes] = []
            for key in frontier:
                raw = written.get(key)
                if raw is None:
                    continue
                node = decode_node(raw)
                if not isinstance(node, list):
                    continue
                self.node_cache.put(key, node)
                children = node[:16] if len(node) == 17 else node[1:] if len(node) == 2 else []
                below.extend(c for c in children if type(c) is bytes and len(c) == 32)
            frontier = below

    def rollback_to(self, index: int | None) -> bytes:
        """Forget every batch after ``index`` (``None``: back to genesis); return the new head root.

        Nodes are kept: they are content-addressed and harmless, and pruning is a separate policy.
        Raises :class:`PrunedStateError` if the state at ``index`` is below the pruning floor.
        """
        floor = self.pruned_below()
        if (-1 if index is None else index) < floor - 1:
            target = "genesis" if index is None else f"batch {index}"
            raise PrunedStateError(
                f"cannot roll back to {target}: its state was pruned (states from batch "
                f"{floor - 1} on are kept; a reorg this deep needs a larger state.keep_recent)"
            )
        with self._env.begin(write=True, db=self._meta) as txn:
            for record in list(self.batches()):
                if index is None or record.index > index:
                    txn.delete(_batch_key(record.index))
            if index is None:
                txn.delete(_HEAD_KEY)
            else:
                if txn.get(_batch_key(index)) is None:
                    raise MissingStateError(b"", f"no batch {index} to roll back to")
                txn.put(_HEAD_KEY, struct.pack(">Q", index))
        root = self.head_root()
        if root is None:
            raise StateCorruptionError(f"state database {self.path} has no genesis")
        return root

    def _expected_prev_root(self, index: int) -> bytes | None:
        if index == 0:
            return self.genesis_root() if self.pruned_below() == 0 else None
        previous = self.batch(index - 1)
        return None if previous is None or previous.pruned else previous.final_root

    def _write(self, pending: PendingWrites, meta: list[tuple[bytes, bytes]]) -> None:
        self._write_items(pending.drain(), meta)

    def _write_items(
        self, items: list[tuple[bytes, bytes]], meta: list[tuple[bytes, bytes]]
    ) -> None:
        def write() -> None:
            with self._env.begin(write=True) as txn:
                txn.cursor(db=self._nodes).putmulti(items, overwrite=True)
                for key, value in meta:
                    txn.put(key, value, db=self._meta)
                failpoint("statedb.write.commit")

        self._grow_on_full(write)


class ReadOnlyNodes:
    """The ``nodes`` of a state database opened read only, for another process (a root worker)
    while the owner writes: LMDB readers and one writer share the environment through its lock
    file. Each :meth:`snapshot` sees what was committed when it was taken."""

    def __init__(self, path: Path | str) -> None:
        self._env = lmdb.open(
            str(path), readonly=True, lock=True, max_dbs=4, subdir=True, readahead=False
        )
        self._nodes = self._env.open_db(b"nodes", create=False)
        self._txn: lmdb.Transaction | None = None

    def snapshot(self) -> None:
        """Start reading what is committed now (ends the previous read snapshot)."""
        self.end()
        try:
            self._txn = self._env.begin(db=self._nodes, buffers=False)
        except lmdb.MapResizedError:
            self._env.set_mapsize(0)  # the writer grew the map: adopt its size
            self._txn = self._env.begin(db=self._nodes, buffers=False)

    def get(self, key: bytes) -> bytes | None:
        if self._txn is None:
            self.snapshot()
        value = self._txn.get(key)  # type: ignore[union-attr]
        return None if value is None else bytes(value)

    def end(self) -> None:
        if self._txn is not None:
            self._txn.abort()
            self._txn = None

    def close(self) -> None:
        self.end()
        self._env.close()


class PendingWrites(BaseAtomicDB):
    """py-evm's database interface over a :class:`StateDB`, buffering writes in memory.

    Reads see the buffer first, then disk. Nothing reaches disk until
    :meth:`StateDB.commit_batch` drains the buffer, so an aborted replay leaves no trace.
    Deletes are ignored: nodes are content-addressed, and another root may still use them; old
    nodes are removed by mark-and-sweep from the retained roots (:mod:`watchtower.execute.prune`).
    """

    def __init__(self, store: StateDB) -> None:
        self._store = store
        self._pending: dict[bytes, bytes] = {}

    @property
    def node_cache(self) -> NodeCache:
        """The node cache of the state database (what :class:`FastAccountDB` uses)."""
        return self._store.node_cache

    def __getitem__(self, key: bytes) -> bytes:
        value = self._pending.get(key)
        if value is not None:
            return value
        stored = self._store.get_node(key)
        if stored is None:
            raise KeyError(key)
        return stored

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        # Content-addressed nodes may be shared by other roots: only a mark-and-sweep over every
        # retained root (watchtower.execute.prune) can tell that a node is garbage.
        return None

    def _exists(self, key: bytes) -> bool:
        return key in self._pending or self._store.has_node(key)

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        batch = _OverlayBatch(self)
        yield batch
        batch.flush()

    def drain(self) -> list[tuple[bytes, bytes]]:
        items = sorted(self._pending.items())
        self._pending = {}
        return items

    def discard(self) -> None:
        self._pending = {}

    def pending_get(self, key: bytes) -> bytes | None:
        """The value buffered under ``key`` (None if it is not buffered: maybe on disk)."""
        return self._pending.get(key)

    def keep_only(self, keys: set[bytes]) -> None:
        """Drop every buffered write whose key is not in ``keys``."""
        self._pending = {key: value for key, value in self._pending.items() if key in keys}

    def keep_reachable(self, root: bytes) -> None:
        """Keep only the buffered nodes ``root`` reaches (:func:`~watchtower.execute.reach.
        new_keys`): a batch's final state, without its intermediate ones."""
        self.keep_only(new_keys(self.pending_get, root, self.node_cache.get))

    @property
    def pending_count(self) -> int:
        return len(self._pending)


class _OverlayBatch(BaseAtomicDB, AtomicWriteBatchAPI):
    """The write batch py-evm asks for in ``persist()``: staged, then moved to the overlay."""

    def __init__(self, parent: PendingWrites) -> None:
        self._parent = parent
        self._staged: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._staged:
            return self._staged[key]
        return self._parent[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._staged[key] = value

    def __delitem__(self, key: bytes) -> None:
        self._staged.pop(key, None)

    def _exists(self, key: bytes) -> bool:
        return key in self._staged or self._parent.exists(key)

    @contextmanager
    def atomic_batch(self) -> Iterator[Any]:
        yield self

    def flush(self) -> None:
        for key, value in self._staged.items():
            self._parent[key] = value
        self._staged = {}
