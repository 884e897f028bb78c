"""The cached, single-pass trie code against the unmodified py-trie ``HexaryTrie``."""

from __future__ import annotations

import pytest
import rlp
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.rlp.accounts import Account
from hypothesis import given
from hypothesis import strategies as st
from trie import HexaryTrie
from trie.exceptions import MissingTrieNode

from watchtower.execute.state import build_genesis
from watchtower.execute.trie import (
    CachedHexaryTrie,
    NeedsRestructure,
    build_trie_sorted,
    decode_account,
    decode_node,
    encode_account,
    encode_node,
    update_existing_keys,
)
from watchtower.rollup.types import GenesisAccount

keys = st.binary(min_size=32, max_size=32)
values = st.binary(min_size=1, max_size=80)


@given(st.dictionaries(keys, values, min_size=1, max_size=120), st.data())
def test_single_pass_update_matches_py_trie(
    initial: dict[bytes, bytes], data: st.DataObject
) -> None:
    reference = HexaryTrie({})
    for k, v in initial.items():
        reference[k] = v
    ours_db = dict(reference.db)
    ours = CachedHexaryTrie(ours_db, reference.root_hash)
    existing = sorted(initial)
    chosen = data.draw(st.lists(st.sampled_from(existing), min_size=1, max_size=4, unique=True))
    fresh = data.draw(st.lists(keys, max_size=1))
    updates = {k: data.draw(values) for k in chosen + fresh}
    for k, v in updates.items():
        reference[k] = v
    try:
        root = update_existing_keys(ours, updates)
    except NeedsRestructure:
        # Allowed only when the update really changes the shape: a key that was not there, or
        # a node small enough to be embedded in its parent.
        small = any(len(v) < 30 for v in [*updates.values(), *initial.values()])
        assert small or any(k not in initial for k in updates)
        for k, v in updates.items():
            ours[k] = v
        root = ours.root_hash
    assert root == reference.root_hash
    ours.root_hash = root
    # read back through a stock trie over the same database (no node cache): every node the
    # single pass produced must have been written, not only cached
    stock = HexaryTrie(ours_db, root)
    for k, v in updates.items():
        assert ours[k] == v == stock[k]
    for k in initial:
        assert ours[k] == reference[k] == stock[k]


@given(st.recursive(st.binary(max_size=70), lambda children: st.lists(children, max_size=17)))
def test_node_encoder_matches_pyrlp(node: object) -> None:
    assert encode_node(node) == rlp.encode(node)


@given(st.dictionaries(keys, values, min_size=1, max_size=60), st.lists(keys, max_size=5))
def test_cached_trie_reads_and_writes_like_py_trie(
    initial: dict[bytes, bytes], deletes: list[bytes]
) -> None:
    reference = HexaryTrie({})
    ours_db: dict[bytes, bytes] = {}
    ours = CachedHexaryTrie(ours_db)
    for k, v in initial.items():
        reference[k] = v
        ours[k] = v
    for k in deletes + list(initial)[:2]:
        if k in reference:
            del reference[k]
            del ours[k]
    assert ours.root_hash == reference.root_hash
    stock = HexaryTrie(ours_db, ours.root_hash)  # the database alone, without the node cache
    for k in initial:
        assert ours.get(k) == reference.get(k) == stock.get(k)


def test_account_sized_updates_take_the_single_pass() -> None:
    reference = HexaryTrie({})
    entries = {bytes([i]) * 32: bytes([i]) * 70 for i in range(200)}
    for k, v in entries.items():
        reference[k] = v
    ours = CachedHexaryTrie(dict(reference.db), reference.root_hash)
    updates = {bytes([3]) * 32: b"\x01" * 70, bytes([150]) * 32: b"\x02" * 71}
    for k, v in updates.items():
        reference[k] = v
    assert update_existing_keys(ours, updates) == reference.root_hash


any_keys = st.binary(min_size=0, max_size=6)


@given(
    st.dictionaries(any_keys, st.binary(min_size=1, max_size=40), max_size=40),
    st.lists(any_keys, max_size=8),
)
def test_fast_read_walk_matches_py_trie(initial: dict[bytes, bytes], probes: list[bytes]) -> None:
    # short keys and short values: embedded nodes, values in branches, extensions
    reference = HexaryTrie({})
    for k, v in initial.items():
        reference[k] = v
    ours = CachedHexaryTrie(dict(reference.db), reference.root_hash)
    for k in [*initial, *probes]:
        assert ours.get(k) == reference.get(k)


def test_fast_read_walk_reports_a_missing_node_as_py_trie_does() -> None:
    reference = HexaryTrie({})
    for i in range(50):
        reference[bytes([i]) * 32] = bytes([i]) * 40
    db = dict(reference.db)
    del db[reference.root_hash]
    with pytest.raises(MissingTrieNode) as ours_error:
        CachedHexaryTrie(db, reference.root_hash).get(b"\x07" * 32)
    with pytest.raises(MissingTrieNode) as stock_error:
        HexaryTrie(db, reference.root_hash).get(b"\x07" * 32)
    assert ours_error.value.args == stock_error.value.args


rlp_items = st.recursive(st.binary(max_size=70), lambda children: st.lists(children, max_size=17))


@given(rlp_items)
def test_node_decoder_matches_pyrlp(node: object) -> None:
    assert decode_node(rlp.encode(node)) == rlp.decode(rlp.encode(node))


@given(st.binary(max_size=80))
def test_node_decoder_refuses_what_pyrlp_refuses(data: bytes) -> None:
    try:
        expected = rlp.decode(data)
    except rlp.exceptions.DecodingError:
        with pytest.raises(rlp.exceptions.DecodingError):
            decode_node(data)
    else:
        assert decode_node(data) == expected


@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**256 - 1),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
)
def test_account_coding_matches_pyrlp(
    nonce: int, balance: int, storage_root: bytes, code_hash: bytes
) -> None:
    account = Account(nonce, balance, storage_root, code_hash)
    encoded = rlp.encode(account, sedes=Account)
    assert encode_account(account) == encoded
    assert tuple(decode_account(encoded)) == tuple(rlp.decode(encoded, sedes=Account))


@given(st.dictionaries(keys, st.binary(min_size=1, max_size=40), max_size=80))
def test_sorted_build_matches_py_trie(entries: dict[bytes, bytes]) -> None:
    # short values: embedded leaves and branches
    reference = HexaryTrie({})
    for k, v in entries.items():
        reference[k] = v
    written: dict[bytes, bytes] = {}
    root = build_trie_sorted(sorted(entries.items()), written.__setitem__)
    assert root == reference.root_hash
    stock = HexaryTrie(written, root)  # every node was written
    for k, v in entries.items():
        assert stock[k] == v


genesis_accounts = st.builds(
    GenesisAccount,
    balance=st.integers(0, 2**100),
    nonce=st.integers(0, 3),
    code=st.sampled_from([b"", b"\x60\x00", b"\x5b" * 40]),
    storage=st.dictionaries(st.integers(0, 2**256 - 1), st.integers(0, 2**70), max_size=4),
)


@given(st.dictionaries(st.binary(min_size=20, max_size=20), genesis_accounts, max_size=30))
def test_bulk_genesis_matches_py_evm_account_db(alloc: dict[bytes, GenesisAccount]) -> None:
    ours: dict[bytes, bytes] = {}
    reference_db = AtomicDB()
    ours_root = build_genesis(ours, alloc, rollup_rules=False)
    reference_root = build_genesis(reference_db, alloc, rollup_rules=False, reference=True)
    assert ours_root == reference_root
    for key, value in ours.items():
        assert reference_db[key] == value
    state = AccountDB(AtomicDB(MemoryDB(dict(ours))), ours_root)
    for address, account in alloc.items():
        assert state.get_balance(address) == account.balance
        assert state.get_code(address) == account.code
        for slot, value in account.storage.items():
            assert state.get_storage(address, slot) == value
