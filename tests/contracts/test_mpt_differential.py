"""Differential tests: Solidity MPT reads/updates (in anvil) vs python ``trie.HexaryTrie``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import rlp
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie import HexaryTrie
from web3.contract import Contract

EMPTY_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
EMPTY_CODE_HASH = keccak(b"")

Account = tuple[int, int, bytes, bytes]

addresses = st.binary(min_size=20, max_size=20)
accounts: st.SearchStrategy[Account] = st.tuples(
    st.one_of(st.integers(0, 5), st.integers(0, 2**64 - 1)),
    st.one_of(st.integers(1, 10**20), st.integers(0, 2**256 - 1)),
    st.one_of(st.just(EMPTY_ROOT), st.binary(min_size=32, max_size=32)),
    st.one_of(st.just(EMPTY_CODE_HASH), st.binary(min_size=32, max_size=32)),
)


def encode_account(a: Account) -> bytes:
    return rlp.encode([a[0], a[1], a[2], a[3]])


@dataclass
class World:
    trie: HexaryTrie
    accounts: dict[bytes, Account]


def build(alloc: dict[bytes, Account]) -> World:
    t = HexaryTrie({})
    for addr, acct in alloc.items():
        t[keccak(addr)] = encode_account(acct)
    return World(t, dict(alloc))


def proof_nodes(t: HexaryTrie, addrs: list[bytes]) -> list[bytes]:
    """The union of the proofs of `addrs`, RLP-encoded, deduplicated, in first-seen order."""
    seen: dict[bytes, None] = {}
    for addr in addrs:
        if t.root_hash == EMPTY_ROOT:
            continue
        for node in t.get_proof(keccak(addr)):
            seen.setdefault(rlp.encode(node), None)
    return list(seen)


def as_tuple(a: Any) -> Account:
    return (int(a[0]), int(a[1]), bytes(a[2]), bytes(a[3]))


@st.composite
def worlds_and_updates(
    draw: st.DrawFn, max_accounts: int
) -> tuple[dict[bytes, Account], list[tuple[bytes, Account]]]:
    n = draw(st.integers(0, max_accounts))
    alloc = draw(st.dictionaries(addresses, accounts, min_size=n, max_size=n))
    existing = list(alloc)
    k = draw(st.integers(1, 3))
    updates: list[tuple[bytes, Account]] = []
    for _ in range(k):
        choices = [addresses]
        if existing:
            choices.append(st.sampled_from(existing))
        if updates:
            choices.append(st.sampled_from([u[0] for u in updates]))  # aliasing
        addr = draw(st.one_of(*choices))
        updates.append((addr, draw(accounts)))
    return alloc, updates


def check_updates(
    harness: Contract, alloc: dict[bytes, Account], updates: list[tuple[bytes, Account]]
) -> None:
    world = build(alloc)
    pre_root = world.trie.root_hash
    nodes = proof_nodes(world.trie, [u[0] for u in updates])
    expected_roots = []
    final: dict[bytes, Account] = {}
    for addr, acct in updates:
        world.trie[keccak(addr)] = encode_account(acct)
        expected_roots.append(world.trie.root_hash)
        final[addr] = acct
    roots, read_back = harness.functions.putAccounts(
        pre_root, nodes, [to_checksum_address(u[0]) for u in updates], [list(u[1]) for u in updates]
    ).call()
    assert [bytes(r) for r in roots] == expected_roots
    assert [as_tuple(a) for a in read_back] == [final[u[0]] for u in updates]


def check_reads(harness: Contract, alloc: dict[bytes, Account], probes: list[bytes]) -> None:
    world = build(alloc)
    for addr in probes:
        nodes = proof_nodes(world.trie, [addr])
        exists, acct = harness.functions.getAccount(
            world.trie.root_hash, nodes, to_checksum_address(addr)
        ).call()
        assert exists == (addr in alloc)
        if exists:
            assert as_tuple(acct) == alloc[addr]


_BASE = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@settings(_BASE, max_examples=100)
@given(data=worlds_and_updates(max_accounts=300))
def test_updates_match_hexary_trie(mpt_harness: Contract, data: Any) -> None:
    check_updates(mpt_harness, *data)


@settings(_BASE, max_examples=50)
@given(alloc=st.dictionaries(addresses, accounts, max_size=200), data=st.data())
def test_reads_match_hexary_trie(
    mpt_harness: Contract, alloc: dict[bytes, Account], data: st.DataObject
) -> None:
    probes = [data.draw(addresses)]
    if alloc:
        probes.append(data.draw(st.sampled_from(list(alloc))))
    check_reads(mpt_harness, alloc, probes)


@pytest.mark.slow
@settings(_BASE, max_examples=2000)
@given(data=worlds_and_updates(max_accounts=600))
def test_updates_match_hexary_trie_slow(mpt_harness: Contract, data: Any) -> None:
    check_updates(mpt_harness, *data)


# ---- raw keys with long shared prefixes (extensions, deep splits) ------------------------------


@st.composite
def clustered_keys(draw: st.DrawFn) -> bytes:
    """32-byte keys drawn from a few prefixes, so that keys share long runs of nibbles."""
    prefix_len = draw(st.sampled_from([0, 1, 5, 16, 31]))
    prefix = draw(st.sampled_from([b"\x00" * 32, b"\xab" * 32, bytes(range(32))]))[:prefix_len]
    tail = draw(st.binary(min_size=32 - prefix_len, max_size=32 - prefix_len))
    key = prefix + tail
    if draw(st.booleans()):  # flip the last nibble only: siblings at depth 63
        key = key[:31] + bytes([key[31] ^ draw(st.integers(1, 15))])
    return key


raw_values = st.builds(encode_account, accounts)


@settings(_BASE, max_examples=100)
@given(
    pre=st.dictionaries(clustered_keys(), raw_values, max_size=40),
    data=st.data(),
)
def test_raw_updates_with_shared_prefixes(
    mpt_harness: Contract, pre: dict[bytes, bytes], data: st.DataObject
) -> None:
    t = HexaryTrie({})
    for k, v in pre.items():
        t[k] = v
    keys = data.draw(
        st.lists(
            st.one_of(clustered_keys(), *([st.sampled_from(list(pre))] if pre else [])),
            min_size=1,
            max_size=4,
        )
    )
    values = [data.draw(raw_values) for _ in keys]
    seen: dict[bytes, None] = {}
    if t.root_hash != EMPTY_ROOT:
        for k in keys:
            for node in t.get_proof(k):
                seen.setdefault(rlp.encode(node), None)
    pre_root = t.root_hash
    expected = []
    final: dict[bytes, bytes] = {}
    for k, v in zip(keys, values, strict=True):
        t[k] = v
        expected.append(t.root_hash)
        final[k] = v
    roots, found, read_back = mpt_harness.functions.putRaw(
        pre_root, list(seen), keys, values
    ).call()
    assert [bytes(r) for r in roots] == expected
    assert all(found)
    assert [bytes(v) for v in read_back] == [final[k] for k in keys]
    # exclusion / inclusion reads against the pre-state
    probe = data.draw(clustered_keys())
    t_pre = HexaryTrie({})
    for k, v in pre.items():
        t_pre[k] = v
    nodes = [rlp.encode(n) for n in t_pre.get_proof(probe)] if pre else []
    ok, value = mpt_harness.functions.getRaw(t_pre.root_hash, nodes, probe).call()
    assert ok == (probe in pre)
    assert bytes(value) == pre.get(probe, b"")


# ---- deterministic edge cases -------------------------------------------------------------------


def acct(i: int) -> Account:
    return (i, 10**18 + i, EMPTY_ROOT, EMPTY_CODE_HASH)


def test_insert_into_empty_trie(mpt_harness: Contract) -> None:
    check_updates(mpt_harness, {}, [(b"\x01" * 20, acct(1))])


def test_insert_three_into_empty_trie_with_aliasing(mpt_harness: Contract) -> None:
    a, b = b"\x01" * 20, b"\x02" * 20
    check_updates(mpt_harness, {}, [(a, acct(1)), (b, acct(2)), (a, acct(3))])


def test_single_account_trie_split_leaf(mpt_harness: Contract) -> None:
    check_updates(mpt_harness, {b"\x05" * 20: acct(5)}, [(b"\x06" * 20, acct(6))])


def test_missing_node_reverts(mpt_harness: Contract) -> None:
    world = build({bytes([i]) * 20: acct(i) for i in range(1, 40)})
    with pytest.raises(Exception, match="MPT: missing proof node"):
        mpt_harness.functions.getAccount(
            world.trie.root_hash, [], to_checksum_address(b"\x01" * 20)
        ).call()


def test_forged_node_is_not_used(mpt_harness: Contract) -> None:
    """A node whose hash is not named by its parent is never reached."""
    alloc = {bytes([i]) * 20: acct(i) for i in range(1, 40)}
    world = build(alloc)
    nodes = proof_nodes(world.trie, [b"\x01" * 20])
    forged = build({**alloc, b"\x01" * 20: acct(999)})
    nodes_forged = proof_nodes(forged.trie, [b"\x01" * 20])[-1:]  # the forged leaf only
    exists, account = mpt_harness.functions.getAccount(
        world.trie.root_hash, nodes_forged + nodes, to_checksum_address(b"\x01" * 20)
    ).call()
    assert exists and as_tuple(account) == acct(1)
