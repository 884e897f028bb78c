"""The state trie: py-trie's ``HexaryTrie`` with a decoded-node cache and a fast node encoder.

py-evm computes a state root after every step by writing the changed accounts into a
``HexaryTrie``. Profiling a 1000-transfer batch over 10,000 accounts shows that about 60 % of the
time goes to RLP-decoding the same upper trie nodes again and again and to pyrlp's generic encoder.
Trie nodes are content-addressed (the key is the hash of the value), so a decoded node can be
cached by its hash forever; and a trie node is only ever a list of byte strings and nested lists,
which a dedicated encoder handles without pyrlp's type dispatch. Nothing else changes: the
algorithm, the node layout and every hash are py-trie's own, and the differential tests compare
roots and proofs against the unmodified ``HexaryTrie``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

import rlp
from eth.abc import DatabaseAPI
from eth.constants import EMPTY_SHA3
from eth.db.accesslog import KeyAccessLoggerDB
from eth.db.account import AccountDB
from eth.db.cache import CacheDB
from eth.db.hash_trie import HashTrie
from eth.db.journal import JournalDB
from eth.rlp.accounts import Account
from eth.validation import validate_canonical_address, validate_uint64, validate_uint256
from eth_hash.auto import keccak
from eth_typing import Address, Hash32
from trie.constants import BLANK_NODE, BLANK_NODE_HASH
from trie.hexary import HexaryTrie
from trie.utils.db import ScratchDB

from watchtower.rollup import rlpcodec
from watchtower.rollup.rlpcodec import encode_bytes, encode_uint, list_header

_BLANK_ROOT = Hash32(BLANK_NODE_HASH)
Node = Any  # a decoded trie node: bytes, or a list of bytes and nested lists


#: RLP-encode a trie node (byte strings and nested lists only).
encode_node = rlpcodec.encode


def decode_node(encoded: bytes) -> Node:
    """RLP-decode a trie node; the same result as ``rlp.decode`` (which decides anything that is
    not canonical, truncated or followed by trailing bytes, and raises as it does)."""
    try:
        return rlpcodec.decode_canonical(encoded)
    except rlpcodec.NotCanonicalError:
        return rlp.decode(encoded)


def _copy_node(node: list[Any]) -> list[Any]:
    # HexaryTrie edits nodes in place, including embedded child nodes: hand out copies.
    return [child if isinstance(child, bytes) else _copy_node(child) for child in node]


class NodeCache:
    """A bounded cache of decoded trie nodes keyed by their hash, evicting the least recently
    used ones approximately: two generations, and when the young one is full the old one is
    dropped (no bookkeeping on a hit, unlike an exact LRU).

    Owned by the database whose nodes it holds (:attr:`StateDB.node_cache`, cleared when the
    database deletes nodes), so a node pruned from disk can never be served from memory; a trie
    over a database without one gets a cache of its own."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._young: dict[bytes, list[Any]] = {}
        self._old: dict[bytes, list[Any]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> list[Any] | None:
        node = self._young.get(key)
        if node is not None:
            self.hits += 1
            return node
        node = self._old.get(key)
        if node is None:
            self.misses += 1
            return None
        self.hits += 1
        self.put(key, node)  # used again: keep it in the young generation
        return node

    def put(self, key: bytes, node: list[Any]) -> None:
        self._young[key] = node
        if len(self._young) >= self.capacity // 2:
            self._old = self._young
            self._young = {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def clear(self) -> None:
        self._young.clear()
        self._old.clear()


class CachedHexaryTrie(HexaryTrie):
    """``HexaryTrie`` with decoded nodes cached by hash and a specialised node encoder."""

    def __init__(
        self,
        db: Any,
        root_hash: Any = BLANK_NODE_HASH,
        prune: bool = False,
        ref_count: dict[bytes, int] | None = None,
        *,
        cache: NodeCache | None = None,
    ) -> None:
        super().__init__(db, root_hash, prune, ref_count)
        self.node_cache = NodeCache() if cache is None else cache

    @contextmanager
    def squash_changes(self) -> Iterator[CachedHexaryTrie]:
        """py-trie's ``squash_changes`` (changes made in a scratch trie, written at the end),
        with this trie's cache, and without re-encoding and re-hashing the new root node when
        the scratch trie wrote it already (it always does: a root is stored by its hash)."""
        scratch_db = ScratchDB(self.db)
        with scratch_db.batch_commit(do_deletes=self.is_pruning):
            memory_trie = type(self)(
                scratch_db,
                self.root_hash,
                prune=True,
                ref_count=self._ref_count,
                cache=self.node_cache,
            )
            yield memory_trie
        new_root = memory_trie.root_hash
        if self.root_hash == new_root:
            return
        if new_root == BLANK_NODE_HASH or new_root in self.db:
            self.root_hash = new_root
            return
        try:
            raw_root_node = memory_trie.get_node(new_root)
        except KeyError:
            self.root_hash = new_root
        else:
            self.root_hash = self._set_raw_node(raw_root_node)  # type: ignore[no-untyped-call]

    def get_node(self, node_hash: Any) -> Any:
        if isinstance(node_hash, bytes) and len(node_hash) == 32:
            if node_hash == BLANK_NODE_HASH:
                return BLANK_NODE
            node = self.shared_node(node_hash)
            return _copy_node(node) if isinstance(node, list) else node
        return super().get_node(node_hash)  # type: ignore[no-untyped-call]

    def shared_node(self, node_hash: bytes) -> Any:
        """The decoded node stored under ``node_hash``, as cached: read it, never change it.
        Raises ``KeyError`` if the database does not hold it."""
        cached = self.node_cache.get(node_hash)
        if cached is None:
            cached = decode_node(self.db[node_hash])
            if isinstance(cached, list):
                self.node_cache.put(node_hash, cached)
        return cached

    def get(self, key: bytes) -> bytes:
        if type(key) is not bytes:
            return bytes(super().get(key))
        try:
            return self._walk(key)
        except (KeyError, NeedsRestructure):
            # A missing node (py-trie raises MissingTrieNode with the path), or a shape the
            # read-only walk does not handle: py-trie decides.
            return bytes(super().get(key))

    def _walk(self, key: bytes) -> bytes:
        """py-trie's ``get``, on the cached decoded nodes and without copying them."""
        nibbles = _key_nibbles(key)
        ref: Any = self.root_hash
        depth = 0
        while True:
            if type(ref) is list:
                node = ref
            elif not ref or ref == BLANK_NODE_HASH:
                return BLANK_NODE
            elif len(ref) == 32:
                node = self.shared_node(ref)
            else:
                raise NeedsRestructure("embedded node given as bytes")
            if len(node) == 17:
                if depth == len(nibbles):
                    return bytes(node[16])
                ref = node[nibbles[depth]]
                depth += 1
            elif len(node) == 2:
                is_leaf, path = _compact_to_nibbles(node[0])
                end = depth + len(path)
                if nibbles[depth:end] != path:
                    return BLANK_NODE
                if is_leaf:
                    return bytes(node[1]) if end == len(nibbles) else BLANK_NODE
                ref = node[1]
                depth = end
            elif not node:
                return BLANK_NODE
            else:
                raise NeedsRestructure("unexpected node")

    def _prune_node(self, node: Any) -> None:
        # py-trie's pruning re-encodes and re-hashes every replaced node to maintain reference
        # counts, so that squash_changes() can drop the nodes of intermediate roots. watchtower
        # keeps them instead: the nodes of every step's root stay readable until the batch is
        # committed (a prover needs the pre-step state), and disk growth is bounded by the
        # pruning policy of the state database, not here.
        return None

    def _node_to_db_mapping(self, node: Any) -> tuple[Any, bytes | None]:
        if node == BLANK_NODE:
            return BLANK_NODE, None
        encoded = encode_node(node)
        if len(encoded) < 32:
            return node, None
        node_hash = keccak(encoded)
        if isinstance(node, list):
            self.node_cache.put(node_hash, _copy_node(node))
        return node_hash, encoded


def _compact(nibbles: bytes, is_leaf: bool) -> bytes:
    """Hex-prefix (compact) encoding of a nibble path."""
    flag = 2 if is_leaf else 0
    if len(nibbles) % 2:
        head = bytes(((flag + 1) << 4 | nibbles[0],))
        rest = nibbles[1:]
    else:
        head = bytes((flag << 4,))
        rest = nibbles
    return head + bytes([rest[i] << 4 | rest[i + 1] for i in range(0, len(rest), 2)])


def build_trie_sorted(
    items: list[tuple[bytes, bytes]], write: Callable[[bytes, bytes], None]
) -> bytes:
    """The root of the trie holding ``items`` (key, value), built bottom-up in one pass.

    ``items`` must be sorted by key, with distinct keys of one length and non-empty values (a
    state trie: keccak-hashed keys). Every node is encoded and hashed once and handed to
    ``write(hash, encoding)``: the same nodes and root as inserting the items one by one into
    py-trie's ``HexaryTrie`` (tests/property/test_trie_differential.py), without the million
    path rewrites of a million inserts.
    """
    if not items:
        return bytes(BLANK_NODE_HASH)
    keys = [_key_nibbles(key) for key, _ in items]
    width = len(keys[0])
    for i in range(1, len(keys)):
        if len(keys[i]) != width or keys[i] <= keys[i - 1]:
            raise ValueError("build_trie_sorted needs distinct keys of one length, sorted")
    values = [value for _, value in items]
    if not all(values):
        raise ValueError("build_trie_sorted needs non-empty values")

    def reference(node: list[Any]) -> Any:
        encoded = encode_node(node)
        if len(encoded) < 32:
            return node  # embedded in its parent
        node_hash = bytes(keccak(encoded))
        write(node_hash, encoded)
        return node_hash

    def build(lo: int, hi: int, depth: int) -> list[Any]:
        if hi - lo == 1:
            return [_compact(keys[lo][depth:], True), values[lo]]
        first, last = keys[lo], keys[hi - 1]
        shared = depth
        while first[shared] == last[shared]:
            shared += 1
        if shared > depth:
            return [_compact(first[depth:shared], False), reference(branch(lo, hi, shared))]
        return branch(lo, hi, depth)

    def branch(lo: int, hi: int, depth: int) -> list[Any]:
        node: list[Any] = [b""] * 17
        start = lo
        while start < hi:
            nibble = keys[start][depth]
            end = start + 1
            while end < hi and keys[end][depth] == nibble:
                end += 1
            node[nibble] = reference(build(start, end, depth + 1))
            start = end
        return node

    root = build(0, len(items), 0)
    encoded = encode_node(root)
    root_hash = bytes(keccak(encoded))
    write(root_hash, encoded)  # the root is stored by hash whatever its size
    return root_hash


class NeedsRestructure(Exception):  # noqa: N818  (a control-flow signal, not an error)
    """The update changes the trie's shape (insert, delete, embedded node): use py-trie."""


_COMPACT_CACHE: dict[bytes, tuple[bool, bytes]] = {}
_NIBBLE_PAIRS = [bytes((byte >> 4, byte & 0x0F)) for byte in range(256)]


def _compact_to_nibbles(compact: bytes) -> tuple[bool, bytes]:
    """Decode a hex-prefix (compact) path: (is_leaf, nibbles as a bytes of values 0..15)."""
    decoded = _COMPACT_CACHE.get(compact)
    if decoded is not None:
        return decoded
    flag = compact[0] >> 4
    nibbles = b"".join([_NIBBLE_PAIRS[byte] for byte in compact[1:]])
    if flag & 1:
        nibbles = bytes((compact[0] & 0x0F,)) + nibbles
    decoded = (flag >= 2, nibbles)
    if len(_COMPACT_CACHE) >= 1 << 20:
        _COMPACT_CACHE.clear()
    _COMPACT_CACHE[compact] = decoded
    return decoded


def _key_nibbles(key: bytes) -> bytes:
    return b"".join([_NIBBLE_PAIRS[byte] for byte in key])


def _by_nibble(
    group: list[tuple[bytes, bytes]], depth: int
) -> dict[int, list[tuple[bytes, bytes]]]:
    by_nibble: dict[int, list[tuple[bytes, bytes]]] = {}
    for item in group:
        key = item[0]
        if len(key) == depth:
            raise NeedsRestructure("value stored in a branch")
        sub = by_nibble.get(key[depth])
        if sub is None:
            by_nibble[key[depth]] = [item]
        else:
            sub.append(item)
    return by_nibble


def update_existing_keys(trie: CachedHexaryTrie, updates: dict[bytes, bytes]) -> bytes:
    """Set new values for keys that already exist in ``trie``, rehashing each node once.

    ``HexaryTrie.set`` rewrites the whole path for every key, so the nodes that several
    updated keys share (the root first of all) are encoded and hashed once per key. This walks
    the union of the paths once, bottom-up. It only handles the shape-preserving case; anything
    else (a missing key, an empty value, an embedded node) raises :class:`NeedsRestructure`
    before the trie's root or its database is touched, and the caller falls back to py-trie.
    Returns the new root hash; the new nodes are written to ``trie.db``.
    """
    items = []
    for key, value in updates.items():
        if not value:
            raise NeedsRestructure("deletion")
        items.append((_key_nibbles(key), value))

    written: list[tuple[bytes, bytes]] = []  # to the database once the whole update succeeded
    cache = trie.node_cache
    hasher = keccak.hasher  # eth-hash's backend function, without its per-call type check
    shared_node = trie.shared_node

    def visit(ref: Any, depth: int, group: list[tuple[bytes, bytes]]) -> bytes:
        if not (type(ref) is bytes and len(ref) == 32) or ref == BLANK_NODE_HASH:
            raise NeedsRestructure("blank or embedded child")
        # A shallow copy: only this node's own slots change (children are replaced, never
        # edited), so the cached node and its embedded children stay as they are.
        node = list(shared_node(ref))
        if len(node) == 17:
            if len(group) == 1:
                key = group[0][0]
                if len(key) == depth:
                    raise NeedsRestructure("value stored in a branch")
                nibble = key[depth]
                node[nibble] = visit(node[nibble], depth + 1, group)
            else:
                for nibble, sub in _by_nibble(group, depth).items():
                    node[nibble] = visit(node[nibble], depth + 1, sub)
        elif len(node) == 2:
            is_leaf, path = _compact_to_nibbles(node[0])
            end = depth + len(path)
            for key, _ in group:
                if key[depth:end] != path:
                    raise NeedsRestructure("key not in the trie")
            if is_leaf:
                if len(group) != 1 or len(group[0][0]) != end:
                    raise NeedsRestructure("key not in the trie")
                node[1] = group[0][1]
            else:
                node[1] = visit(node[1], end, group)
        else:
            raise NeedsRestructure("unexpected node")
        # ``node`` is a fresh list, never changed after this: cache it as it is.
        encoded = encode_node(node)
        if len(encoded) < 32:
            raise NeedsRestructure("embedded node")
        node_hash = hasher(encoded)
        cache.put(node_hash, node)
        written.append((node_hash, encoded))
        return node_hash

    if not items:
        return bytes(trie.root_hash)
    root = visit(trie.root_hash, 0, items)
    db = trie.db
    for node_hash, encoded in written:
        db[node_hash] = encoded
    return root


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode_account(account: Any) -> bytes:
    """``rlp.encode(account, sedes=Account)``, without pyrlp's sedes dispatch."""
    payload = b"".join(
        (
            encode_uint(account.nonce),
            encode_uint(account.balance),
            encode_bytes(bytes(account.storage_root)),
            encode_bytes(bytes(account.code_hash)),
        )
    )
    length = len(payload)
    if length < 256:
        return list_header(length) + payload
    # never for a uint256 balance
    return rlp.encode(Account(*account), sedes=Account)  # type: ignore[no-any-return]


class FastAccount(NamedTuple):
    """py-evm's ``Account`` as a plain tuple, for :class:`FastAccountDB`.

    py-evm reads an account's fields about 25 times per transfer; on pyrlp's ``Serializable``
    each read is a Python-level getter, on a tuple it is a C slot. Same fields, same ``copy``.
    """

    nonce: int = 0
    balance: int = 0
    storage_root: bytes = BLANK_NODE_HASH
    code_hash: bytes = EMPTY_SHA3

    def copy(self, **changes: Any) -> FastAccount:
        return self._replace(**changes)


def decode_account(encoded: bytes) -> FastAccount:
    """The fields of ``rlp.decode(encoded, sedes=Account)``; anything unusual is left to pyrlp
    (which raises as it always did)."""
    fields = decode_node(encoded)
    if (
        type(fields) is list
        and len(fields) == 4
        and all(type(f) is bytes for f in fields)
        and len(fields[2]) == 32
        and len(fields[3]) == 32
        and fields[0][:1] != b"\x00"
        and fields[1][:1] != b"\x00"
        and len(fields[1]) <= 32
    ):
        return FastAccount(
            int.from_bytes(fields[0], "big"),
            int.from_bytes(fields[1], "big"),
            fields[2],
            fields[3],
        )
    return FastAccount(*rlp.decode(encoded, sedes=Account))


_EMPTY_ACCOUNT = FastAccount()


class FastAccountDB(AccountDB):
    """py-evm's ``AccountDB`` on a :class:`CachedHexaryTrie`, with single-pass root updates."""

    def __init__(self, db: Any, state_root: Hash32 = _BLANK_ROOT) -> None:
        super().__init__(db, state_root)
        # Rebuild the account-trie stack of AccountDB.__init__ on the cached trie, with the node
        # cache of the database the nodes come from (PendingWrites -> StateDB), if it has one.
        cache = getattr(db, "node_cache", None)
        hexary = CachedHexaryTrie(self._batchtrie, state_root, prune=True, cache=cache)
        self._trie = HashTrie(cast(DatabaseAPI, hexary))
        self._trie_logger = KeyAccessLoggerDB(self._trie, log_missing_keys=False)
        self._trie_cache = CacheDB(self._trie_logger)
        self._journaltrie = JournalDB(self._trie_cache)

    # py-evm reads and writes every account through pyrlp's generic ``Serializable`` machinery;
    # an account is four fields, so it is encoded and decoded directly (same bytes, same values)
    # and held as a :class:`FastAccount` (py-evm only reads its fields and calls ``copy``).
    def _get_account(self, address: Address, from_journal: bool = True) -> Any:
        if from_journal and address in self._account_cache:
            return self._account_cache[address]
        encoded = self._get_encoded_account(address, from_journal)
        account = decode_account(encoded) if encoded else _EMPTY_ACCOUNT
        if from_journal:
            self._account_cache[address] = account  # type: ignore[assignment]
        return account

    def _set_account(self, address: Address, account: Any) -> None:
        self._account_cache[address] = account
        self._journaltrie[address] = encode_account(account)

    def set_balance(self, address: Address, balance: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint256(balance, title="Account Balance")
        account = self._get_account(address)
        self._set_account(
            address, FastAccount(account.nonce, balance, account.storage_root, account.code_hash)
        )

    def set_nonce(self, address: Address, nonce: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")
        account = self._get_account(address)
        self._set_account(
            address, FastAccount(nonce, account.balance, account.storage_root, account.code_hash)
        )

    def storage_root_of(self, address: Address) -> bytes:
        return bytes(self._get_storage_root(address))

    def make_state_root(self) -> Hash32:
        """py-evm 0.12's ``AccountDB.make_state_root``, with the account trie updated in place
        by :func:`update_existing_keys` when the update keeps the trie's shape (no scratch trie
        and no copy of its nodes); otherwise py-evm's own update, in its scratch trie."""
        for _address, store in self._dirty_account_stores():
            store.make_storage_root()
        for address, storage_root in self._get_changed_roots():
            if self.account_exists(address) or storage_root != BLANK_NODE_HASH:
                self._set_storage_root(address, storage_root)
        self._journaldb.persist()
        diff = self._journaltrie.diff()
        if (diff.deleted_keys() or diff.pending_items()) and not self._update_in_place(diff):
            with self._trie.squash_changes() as memory_trie:
                self._apply_account_diff_without_proof(diff, memory_trie)
        self._journaltrie.reset()
        self._trie_cache.reset_cache()
        return self.state_root

    def _update_in_place(self, diff: Any) -> bool:
        if diff.deleted_keys():
            return False
        hexary = cast(CachedHexaryTrie, self._trie._db)
        updates = {bytes(keccak(key)): value for key, value in diff.pending_items()}
        try:
            new_root = update_existing_keys(hexary, updates)
        except NeedsRestructure:
            return False
        hexary.root_hash = new_root
        return True


__all__ = [
    "CachedHexaryTrie",
    "FastAccount",
    "FastAccountDB",
    "NeedsRestructure",
    "NodeCache",
    "build_trie_sorted",
    "decode_account",
    "decode_node",
    "encode_account",
    "encode_node",
    "update_existing_keys",
]
