"""A py-evm state whose accounts live in a flat overlay: execution without the account trie.

Replaying a batch with a root worker (:mod:`watchtower.execute.rootworker`) splits the work of a
step in two: this process executes the step (py-evm's Cancun executor, exactly as the reference
replay does) on a state that never updates a trie, and a worker process applies each step's
account changes to the trie and returns the root. :class:`FlatAccountDB` is that state's account
database:

* reads go to an in-memory overlay (the accounts changed earlier in the batch), then to the
  account trie at the batch's ``prev_root`` (read only, through the database's node cache);
* ``make_state_root`` moves the journal into the overlay and records the step's changes, a list
  of ``(address, encoded account)``; it returns no real root (the worker computes it).

Anything the flat path does not handle raises :class:`FlatUnsupported` (contract storage, code,
deleting an account that exists): the caller replays the whole batch by the reference path.
A "deletion" of an account that did not exist before the step (py-evm touching an empty
recipient or coinbase, EIP-161) changes no trie and is handled.
"""

from __future__ import annotations

from typing import Any

from eth.db.backends.base import BaseDB
from eth.db.cache import CacheDB
from eth.db.journal import JournalDB
from eth_typing import Hash32

from watchtower.execute.state import WatchtowerState, execution_context
from watchtower.execute.trie import FastAccountDB
from watchtower.rollup.params import BLANK_ROOT
from watchtower.rollup.types import BlockContext

#: What ``make_state_root`` returns on a flat state: not a root (the worker computes roots).
NO_ROOT = Hash32(b"\x00" * 32)

AccountChange = tuple[bytes, bytes]  # (address, encoded account)


class FlatUnsupported(Exception):  # noqa: N818  (a control-flow signal: use the reference path)
    """The step does something the flat overlay does not handle; the text says what."""


class AccountCache:
    """Encoded accounts by address, as they are in the state ``root`` (b"": no account).

    Kept from batch to batch by the caller: a batch that starts from ``root`` reads accounts here
    before the trie (the upper trie nodes are new after every batch, so a trie read decodes them
    again), and a valid batch leaves the accounts of its final state. A root names one state, so
    the cache is right whatever was committed; a batch from another root starts it afresh."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self.root = b""
        self.accounts: dict[bytes, bytes] = {}

    def at(self, root: bytes) -> dict[bytes, bytes]:
        """The accounts of state ``root`` (emptied first if they were another state's)."""
        if root != self.root or len(self.accounts) > self.capacity:
            self.accounts = {}
            self.root = root
        return self.accounts

    def advance(self, root: bytes, changes: dict[bytes, bytes]) -> None:
        """The state moved from :attr:`root` to ``root`` by ``changes``."""
        self.accounts.update(changes)
        self.root = root


class _FlatView(BaseDB):
    """Accounts by address: the overlay first, then the accounts known at the batch's
    ``prev_root``, then the account trie at ``prev_root`` (remembered in ``known``)."""

    def __init__(self, overlay: dict[bytes, bytes], known: dict[bytes, bytes], base: Any) -> None:
        self.overlay = overlay
        self.known = known
        self.base = base

    def __getitem__(self, key: bytes) -> bytes:
        value = self.overlay.get(key)
        if value is None:
            value = self.known.get(key)
            if value is None:
                value = self.known[key] = bytes(self.base[key])
        return value

    def _exists(self, key: bytes) -> bool:
        return bool(self[key])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise FlatUnsupported("write below the journal")

    def __delitem__(self, key: bytes) -> None:
        raise FlatUnsupported("delete below the journal")


class FlatAccountDB(FastAccountDB):
    """:class:`FastAccountDB` over a flat overlay (see the module docstring)."""

    def __init__(self, db: Any, state_root: Hash32) -> None:
        super().__init__(db, state_root)
        self.overlay: dict[bytes, bytes] = {}
        self._view = _FlatView(self.overlay, {}, self._trie_logger)
        self._trie_cache = CacheDB(self._view)
        self._journaltrie = JournalDB(self._trie_cache)
        #: Changes recorded since the last :meth:`take_changes`, by address.
        self._changes: dict[bytes, bytes] = {}

    def make_state_root(self) -> Hash32:
        for address in list(self._dirty_accounts):
            # Storage was written or wiped. Only a wipe of an account that did not exist
            # (py-evm deletes a touched empty account) changes nothing the trie holds.
            store = self._account_stores[address]
            store.make_storage_root()
            if (
                self._view[address]
                or address in self._journaltrie
                or (store.has_changed_root and store.get_changed_root() != BLANK_ROOT)
            ):
                raise FlatUnsupported(f"storage of account 0x{bytes(address).hex()} changed")
            self._dirty_accounts.discard(address)
            del self._account_stores[address]
        code = self._journaldb.diff()
        if code.pending_items() or code.deleted_keys():
            raise FlatUnsupported("code written")
        diff = self._journaltrie.diff()
        for key in diff.deleted_keys():
            if self._view[key]:
                raise FlatUnsupported(f"account 0x{bytes(key).hex()} deleted")
        for key, value in diff.pending_items():
            if not value:
                raise FlatUnsupported("empty account value")
            self.overlay[bytes(key)] = bytes(value)
            self._changes[bytes(key)] = bytes(value)
        self._journaltrie.reset()
        self._trie_cache.reset_cache()
        return NO_ROOT

    def use_known(self, known: dict[bytes, bytes]) -> None:
        """Read accounts from ``known`` (the accounts of the state at ``prev_root`` an
        :class:`AccountCache` holds) before the trie; trie reads are added to it."""
        self._view.known = known

    def take_changes(self) -> list[AccountChange]:
        """The account changes made since the last call (one step's, if called per step)."""
        changes = list(self._changes.items())
        self._changes = {}
        return changes

    def persist(self) -> Any:
        raise FlatUnsupported("a flat state is never persisted: the root worker writes the nodes")


class FlatState(WatchtowerState):
    """:class:`WatchtowerState` on :class:`FlatAccountDB`."""

    account_db_class = FlatAccountDB

    @property
    def flat_accounts(self) -> FlatAccountDB:
        return self._account_db  # type: ignore[return-value]


def open_flat_state(db: Any, root: bytes, ctx: BlockContext) -> FlatState:
    """A flat state at ``root`` over ``db`` (a ``PendingWrites``: reads only)."""
    return FlatState(db, execution_context(ctx), Hash32(root))


__all__ = [
    "NO_ROOT",
    "AccountCache",
    "AccountChange",
    "FlatAccountDB",
    "FlatState",
    "FlatUnsupported",
    "open_flat_state",
]
