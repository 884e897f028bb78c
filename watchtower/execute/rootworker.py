"""A worker process that computes a batch's per-step state roots while the batch executes.

Replay needs a state root after every step, and computing it (updating the account trie) costs
about as much as executing the step. With a :class:`RootWorker` the two run on two cores: this
process executes the steps on a flat state (:mod:`watchtower.execute.flat`: no trie) and sends
each step's account changes to the worker in chunks; the worker, which opened the state database
read only, applies them to the account trie from the batch's ``prev_root`` and sends back the
root after every step, then the new nodes the final root reaches (what a commit writes).

The worker is an optimisation, never a point of failure: if it dies, errs or hangs, the batch is
replayed by the reference path (:func:`~watchtower.execute.replay.iter_steps`) with the same
verdict, and :attr:`RootWorker.last_fallback` says why (for the caller to log); the next batch
starts a fresh worker. Messages carry a batch token; replies to an abandoned batch are dropped.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from eth.db.backends.base import BaseDB
from eth_hash.auto import keccak

from watchtower.execute.flat import AccountCache
from watchtower.execute.precheck import worker_process_setup
from watchtower.execute.reach import new_keys
from watchtower.execute.statedb import ReadOnlyNodes
from watchtower.execute.trie import CachedHexaryTrie, NeedsRestructure, NodeCache
from watchtower.execute.trie import update_existing_keys as _update_existing_keys

StepChanges = list[tuple[bytes, bytes]]  # one step's (address, encoded account) changes
NodeItems = list[tuple[bytes, bytes]]

#: Seconds without any message from a live worker before it counts as hung.
_HANG_SECONDS = 120.0


class RootWorkerFailed(Exception):  # noqa: N818  (a signal: replay by the reference path)
    """The worker died, erred or hung; the text says how."""


# -- the worker process ------------------------------------------------------------------------


class _BatchNodes(BaseDB):
    """The worker's trie database: the nodes written for the current batch, then the disk."""

    def __init__(self, disk: ReadOnlyNodes) -> None:
        self.disk = disk
        self.pending: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        value = self.pending.get(key)
        if value is None:
            value = self.disk.get(key)
            if value is None:
                raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        return None  # content-addressed nodes are never deleted here

    def _exists(self, key: bytes) -> bool:
        return key in self.pending or self.disk.get(key) is not None


def apply_changes(trie: CachedHexaryTrie, changes: StepChanges) -> bytes:
    """Apply one step's account changes to ``trie``; return the new root."""
    if changes:
        updates = {bytes(keccak(address)): value for address, value in changes}
        try:
            trie.root_hash = _update_existing_keys(trie, updates)
        except NeedsRestructure:
            with trie.squash_changes() as memory_trie:
                for key, value in updates.items():
                    memory_trie.set(key, value)  # type: ignore[no-untyped-call]
    return bytes(trie.root_hash)


class _Server:
    """The worker's state: the database it reads, its node cache, and the current batch."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.disk: ReadOnlyNodes | None = None
        self.path = ""
        self.cache = NodeCache()
        self.token = -1
        self.trie: CachedHexaryTrie | None = None
        self.nodes: _BatchNodes | None = None

    def drop(self) -> None:
        """Forget the current batch (done, failed or abandoned)."""
        self.trie = self.nodes = None
        if self.disk is not None:
            self.disk.end()

    def begin(self, token: int, prev_root: bytes, path: str) -> None:
        self.drop()
        self.token = token
        if self.disk is None or path != self.path:
            if self.disk is not None:
                self.disk.close()
            self.disk, self.path, self.cache = None, "", NodeCache()
            self.disk, self.path = ReadOnlyNodes(path), path
        self.disk.snapshot()  # sees the batch before, committed by now
        self.nodes = _BatchNodes(self.disk)
        self.trie = CachedHexaryTrie(self.nodes, prev_root, prune=True, cache=self.cache)

    def handle(self, message: tuple[Any, ...]) -> None:
        kind, token = message[0], message[1]
        if kind == "abort":
            self.drop()
            self.conn.send(("aborted", token, None))
            return
        try:
            if kind == "begin":
                self.begin(token, message[2], message[3])
                return
            trie, nodes = self.trie, self.nodes
            if token != self.token or trie is None or nodes is None:
                return  # a batch that failed or was abandoned
            if kind == "steps":
                self.conn.send(("roots", token, [apply_changes(trie, c) for c in message[2]]))
            elif kind == "end":
                keys = new_keys(nodes.pending.get, bytes(trie.root_hash), self.cache.get)
                self.conn.send(("nodes", token, [(key, nodes.pending[key]) for key in keys]))
                self.drop()
        except Exception as exc:  # reported, never fatal: the main process falls back
            self.drop()
            self.conn.send(("error", token, f"{type(exc).__name__}: {exc}"))


def _serve(conn: Connection, fast_keccak: bool) -> None:
    """The worker's loop: ``begin``, ``steps``..., ``end`` per batch (or ``abort``)."""
    worker_process_setup(fast_keccak)  # the parent's death is EOF here
    server = _Server(conn)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message[0] == "stop":
            break
        server.handle(message)
    server.drop()
    if server.disk is not None:
        server.disk.close()


# -- the main process's side -------------------------------------------------------------------


class RootWorker:
    """A root worker process; see the module docstring. It opens (read only) the state database
    of the batch it is given, and keeps it open for the next batch of the same database.

    ``chunk``: steps per message. One batch at a time: :meth:`begin` a batch, send its steps'
    changes, then take its roots and new nodes (:class:`BatchRoots`)."""

    def __init__(self, *, fast_keccak: bool = True, chunk: int = 50) -> None:
        self.fast_keccak = fast_keccak
        self.chunk = chunk
        #: Why the last batch fell back to the reference path (None: it did not).
        self.last_fallback: str | None = None
        #: How many batches fell back.
        self.fallbacks = 0
        self._token = 0
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._current: BatchRoots | None = None
        #: The accounts of the last state replayed (this process's side: see AccountCache).
        self.accounts = AccountCache()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the worker process (done by :meth:`begin` if it is not running)."""
        context = multiprocessing.get_context("spawn")  # inherits no LMDB handle, no thread
        parent, child = context.Pipe(duplex=True)
        process = context.Process(target=_serve, args=(child, self.fast_keccak), daemon=True)
        process.start()
        child.close()  # only the worker holds its end: its death is EOF here
        self._process, self._conn = process, parent

    def begin(self, path: Path | str, prev_root: bytes) -> BatchRoots:
        """Start a batch on the state database at ``path``, from ``prev_root`` (committed)."""
        if self._process is None or not self._process.is_alive():
            self._discard()
            self.start()
        if self._current is not None:
            self._current.abort()  # a batch left unfinished (an exception in the caller)
        self._token += 1
        roots = self._current = BatchRoots(self, self._token)
        roots.send(("begin", self._token, prev_root, str(path)))
        return roots

    def fell_back(self, reason: str) -> None:
        self.last_fallback = reason
        self.fallbacks += 1

    def _discard(self) -> None:
        """Forget a dead or unusable worker (a fresh one starts on the next batch)."""
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=5)
        self._process = self._conn = None
        self._current = None

    def close(self) -> None:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(("stop", 0))
            self._process.join(timeout=5)
        self._discard()

    def __enter__(self) -> RootWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BatchRoots:
    """One batch's exchange with the worker. Every failure raises :class:`RootWorkerFailed`
    (and makes the next batch start a fresh worker)."""

    def __init__(self, worker: RootWorker, token: int) -> None:
        self.worker = worker
        self.token = token
        self.roots: list[bytes] = []
        self.nodes: NodeItems | None = None
        self.done = False

    def _fail(self, reason: str) -> RootWorkerFailed:
        self.done = True
        self.worker._discard()
        return RootWorkerFailed(reason)

    def send(self, message: tuple[Any, ...]) -> None:
        conn = self.worker._conn
        if conn is None:
            raise self._fail("the root worker is not running")
        try:
            conn.send(message)
        except OSError as exc:
            raise self._fail(f"the root worker is gone ({exc})") from exc

    def send_steps(self, changes: list[StepChanges]) -> None:
        self.send(("steps", self.token, changes))

    def _receive(self, block: bool) -> bool:
        """Take one message for this batch if there is one (waiting if ``block``)."""
        conn, process = self.worker._conn, self.worker._process
        if conn is None or process is None:
            raise self._fail("the root worker is not running")
        try:
            waited = 0.0
            while not conn.poll(0.5 if block else 0):
                if not block:
                    return False
                waited += 0.5
                if not process.is_alive():
                    raise self._fail(f"the root worker died (exit code {process.exitcode})")
                if waited >= _HANG_SECONDS:
                    raise self._fail(f"the root worker sent nothing for {_HANG_SECONDS:.0f} s")
            kind, token, payload = conn.recv()
        except (EOFError, OSError) as exc:
            raise self._fail(f"the root worker is gone ({type(exc).__name__})") from exc
        if token != self.token:
            return True  # a reply to an abandoned batch
        if kind == "roots":
            self.roots.extend(payload)
        elif kind == "nodes":
            self.nodes = payload
        elif kind == "error":
            raise self._fail(f"the root worker failed: {payload}")
        elif kind == "aborted":
            self.done = True
        return True

    def poll(self) -> None:
        """Take the roots that have arrived, without waiting."""
        while self._receive(block=False):
            pass

    def wait_root(self, step: int) -> bytes:
        """The root after step ``step`` (waiting for it)."""
        while len(self.roots) <= step:
            self._receive(block=True)
        return self.roots[step]

    def finish(self) -> NodeItems:
        """Ask for the new nodes the final root reaches, and wait for them."""
        self.send(("end", self.token))
        while self.nodes is None:
            self._receive(block=True)
        self.done = True
        return self.nodes

    def abort(self) -> None:
        """Abandon the batch; wait until the worker has dropped it (replies are drained, so
        neither side blocks on a full pipe later)."""
        if self.done:
            return
        try:
            self.send(("abort", self.token))
            while not self.done:
                self._receive(block=True)
        except RootWorkerFailed:
            pass


__all__ = ["BatchRoots", "RootWorker", "RootWorkerFailed", "apply_changes"]
