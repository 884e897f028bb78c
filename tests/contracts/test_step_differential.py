"""Differential tests: Solidity transaction validity and step execution (in anvil) vs the
pure-Python reference in ``contract_reference``."""

from __future__ import annotations

from typing import Any

import coincurve
import pytest
import rlp
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from tests.contracts.contract_reference import (
    EMPTY_CODE_HASH,
    SECP256K1_N,
    Account,
    Reason,
    State,
    check_stateless,
    execute,
    state_trie,
)

CHAIN_ID = 42069
BASE_FEE = 10**9
KEYS = [coincurve.PrivateKey(keccak(bytes([i]))) for i in range(1, 4)]
ADDRS = [keccak(k.public_key.format(compressed=False)[1:])[12:] for k in KEYS]
OTHER = [bytes([0xA0 + i]) * 20 for i in range(3)]
#: Cancun precompile addresses (rule 13 refuses them) and the addresses just outside the range.
PRECOMPILES = [n.to_bytes(20, "big") for n in (1, 2, 5, 10)]
NEAR_PRECOMPILES = [n.to_bytes(20, "big") for n in (0, 11)]

_BASE = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)

u256 = st.integers(0, 2**256 - 1)


def enc_len(n: int, base: int) -> bytes:
    if n <= 55:
        return bytes([base + n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([base + 55 + len(b)]) + b


def enc_list(parts: list[bytes]) -> bytes:
    body = b"".join(parts)
    return enc_len(len(body), 0xC0) + body


def non_canonical(item: bytes, how: int) -> bytes:
    """A non-strict encoding of the same canonical RLP string item."""
    value = rlp.decode(item)
    assert isinstance(value, bytes)
    if how == 0:  # leading zero byte
        value = b"\x00" + value
        return enc_len(len(value), 0x80) + value
    if how == 1:  # long form for a short string
        return bytes([0xB8, len(value)]) + value
    # prefixed single byte (or explicit 0x81 00 for zero)
    if len(value) <= 1:
        v = value or b"\x00"
        return b"\x81" + v
    return bytes([0xB8, len(value)]) + value


@st.composite
def transactions(draw: st.DrawFn, well_formed: bool = False) -> tuple[bytes, int]:
    """(raw tx bytes, index of the signing key); `well_formed` keeps rules 1-9 satisfied."""
    valid_mode = well_formed or draw(st.integers(0, 3)) > 0
    typed = draw(st.booleans())
    key_index = draw(st.integers(0, len(KEYS) - 1))

    def pick(valid: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> Any:
        return draw(valid if valid_mode else st.one_of(valid, anything))

    chain_id = pick(st.just(CHAIN_ID), st.sampled_from([1, 0, CHAIN_ID + 1, 2**256 - 1]))
    nonce = pick(st.integers(0, 3), st.one_of(st.sampled_from([2**64 - 2, 2**64 - 1, 2**64]), u256))
    gas = pick(
        st.one_of(st.just(21000), st.integers(21000, 100000)),
        st.one_of(st.sampled_from([0, 20999, 30_000_000, 30_000_001]), u256),
    )
    max_fee = pick(
        st.integers(BASE_FEE, 3 * BASE_FEE),
        st.one_of(st.sampled_from([0, BASE_FEE - 1]), u256, st.integers(0, 2**200)),
    )
    prio = pick(st.integers(0, max_fee), st.one_of(st.integers(0, max_fee + 2), u256))
    to = pick(
        st.one_of(
            st.sampled_from(ADDRS + OTHER),
            st.sampled_from(PRECOMPILES + NEAR_PRECOMPILES),
        ),
        st.one_of(st.just(b""), st.binary(min_size=20, max_size=20)),
    )
    value = pick(st.one_of(st.just(0), st.integers(0, 10**18)), u256)
    data = pick(st.just(b""), st.binary(min_size=1, max_size=70))
    access_list = pick(
        st.just([]),
        st.lists(
            st.tuples(
                st.binary(min_size=20, max_size=20),
                st.lists(st.binary(min_size=32, max_size=32), max_size=2),
            ),
            min_size=1,
            max_size=2,
        ),
    )

    if typed:
        unsigned = [
            chain_id,
            nonce,
            prio,
            max_fee,
            gas,
            to,
            value,
            data,
            [list(e) for e in access_list],
        ]
        msg = keccak(b"\x02" + rlp.encode(unsigned))
    else:
        unsigned = [nonce, max_fee, gas, to, value, data, chain_id, 0, 0]
        msg = keccak(rlp.encode(unsigned))
    sig = KEYS[key_index].sign_recoverable(msg, hasher=None)
    r, s, y = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]

    sig_mode = (
        "ok"
        if well_formed
        else draw(
            st.sampled_from(["ok"] * 14 + ["high_s", "r0", "s0", "r_n", "flip", "random", "bad_v"])
        )
    )
    if sig_mode == "high_s":
        s, y = SECP256K1_N - s, y ^ 1
    elif sig_mode == "r0":
        r = 0
    elif sig_mode == "s0":
        s = 0
    elif sig_mode == "r_n":
        r = SECP256K1_N + draw(st.integers(0, 2**100))
    elif sig_mode == "flip":
        y ^= 1
    elif sig_mode == "random":
        r, s = draw(st.integers(1, 2**256 - 1)), draw(st.integers(1, SECP256K1_N // 2))

    if typed:
        y_field = draw(st.sampled_from([y, 2, 27])) if sig_mode == "bad_v" else y
        fields = [*unsigned, y_field, r, s]
    else:
        v = 2 * chain_id + 35 + y
        if sig_mode == "bad_v":
            v = draw(st.sampled_from([27 + y, 0, 2**256 + 5, v + 2]))
        fields = [*unsigned[:6], v, r, s]
    parts = [rlp.encode(f) for f in fields]

    enc_mode = (
        "ok"
        if well_formed
        else draw(
            st.sampled_from(
                ["ok"] * 18
                + [
                    "noncanon",
                    "trailing",
                    "truncate",
                    "flip",
                    "extra",
                    "type",
                    "wide_int",
                    "list_field",
                ]
            )
        )
    )
    if enc_mode == "noncanon":
        i = draw(st.sampled_from([i for i, f in enumerate(fields) if not isinstance(f, list)]))
        parts[i] = non_canonical(parts[i], draw(st.integers(0, 2)))
    elif enc_mode == "extra":
        parts.append(b"\x80")
    elif enc_mode == "wide_int":
        i = draw(st.sampled_from([0, 1, 2, 4] if not typed else [0, 1, 2, 3, 4, 6]))
        parts[i] = rlp.encode(draw(st.integers(2**256, 2**300)))
    elif enc_mode == "list_field":
        i = draw(st.integers(0, len(parts) - 1))
        parts[i] = b"\xc0"
    body = enc_list(parts)
    raw = (b"\x02" + body) if typed else body
    if enc_mode == "trailing":
        raw += draw(st.binary(min_size=1, max_size=3))
    elif enc_mode == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif enc_mode == "flip":
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    elif enc_mode == "type":
        raw = bytes([draw(st.sampled_from([0x01, 0x03, 0x7F, 0x00]))]) + body
    return raw, key_index


def call_check(
    harness: Contract, raw: bytes, chain_id: int, base_fee: int
) -> tuple[int, bytes | None]:
    reason, t = harness.functions.check(raw, chain_id, base_fee).call()
    sender = bytes.fromhex(t[-1][2:]) if int(t[-1], 16) else None
    return reason, sender


def check_stateless_against_reference(harness: Contract, raw: bytes, base_fee: int) -> Reason:
    expected, _, sender = check_stateless(raw, CHAIN_ID, base_fee)
    reason, got_sender = call_check(harness, raw, CHAIN_ID, base_fee)
    assert Reason(reason) == expected, (raw.hex(), expected)
    if expected.value >= Reason.CONTRACT_CREATION:
        assert got_sender == sender
    return expected


@settings(_BASE, max_examples=150)
@given(tx=transactions(), base_fee=st.sampled_from([BASE_FEE, BASE_FEE, 0, 7]))
def test_validity_matches_reference(
    step_harness: Contract, tx: tuple[bytes, int], base_fee: int
) -> None:
    check_stateless_against_reference(step_harness, tx[0], base_fee)


@settings(_BASE, max_examples=50)
@given(raw=st.binary(max_size=200))
def test_random_bytes_match_reference(step_harness: Contract, raw: bytes) -> None:
    check_stateless_against_reference(step_harness, raw, BASE_FEE)


@st.composite
def worlds(draw: st.DrawFn, tx: tuple[bytes, int]) -> tuple[State, bytes]:
    """A state around the transaction's accounts, and a coinbase."""
    raw, key_index = tx
    sender = ADDRS[key_index]
    state: State = {}
    for _ in range(draw(st.integers(0, 40))):
        state[draw(st.binary(min_size=20, max_size=20))] = Account(
            draw(st.integers(0, 9)), draw(st.integers(1, 10**20))
        )
    nonce_guess = 0
    try:
        decoded = rlp.decode(raw[1:] if raw[:1] == b"\x02" else raw)
        nonce_guess = int.from_bytes(decoded[1 if raw[:1] == b"\x02" else 0], "big")
    except Exception:
        pass
    code = st.sampled_from([EMPTY_CODE_HASH] * 5 + [keccak(b"\x60\x00")])
    if draw(st.integers(0, 9)) > 0:
        state[sender] = Account(
            nonce=draw(st.sampled_from([nonce_guess] * 3 + [0, 1])) if nonce_guess < 2**64 else 0,
            balance=draw(st.sampled_from([2**200, 2**200, 10**16, 2**256 - 1 - 10**30])),
            code_hash=draw(code),
        )
    for addr in ADDRS + OTHER:
        if addr != sender and draw(st.booleans()):
            state[addr] = Account(
                draw(st.integers(0, 3)), draw(st.integers(1, 10**20)), code_hash=draw(code)
            )
    coinbase = draw(st.one_of(st.sampled_from(ADDRS + OTHER), st.binary(min_size=20, max_size=20)))
    return state, coinbase


def run_step(harness: Contract, state: State, raw: bytes, base_fee: int, coinbase: bytes) -> None:
    reason, sender, post = execute(state, raw, CHAIN_ID, base_fee, coinbase)
    pre_trie = state_trie(state)
    nodes: dict[bytes, None] = {}
    touched = [coinbase]
    if sender is not None:
        touched.append(sender)
        _, tx, _ = check_stateless(raw, CHAIN_ID, base_fee)
        if tx is not None and tx.to:
            touched.append(tx.to)
    if state:
        for addr in touched:
            for node in pre_trie.get_proof(keccak(addr)):
                nodes.setdefault(rlp.encode(node), None)
    result, gas = harness.functions.execute(
        pre_trie.root_hash, raw, (CHAIN_ID, base_fee, to_checksum_address(coinbase)), list(nodes)
    ).call()
    got_reason, got_sender, got_root = result
    assert Reason(got_reason) == reason, (raw.hex(), reason)
    assert bytes(got_root) == state_trie(post).root_hash
    if reason.value >= Reason.CONTRACT_CREATION:
        assert bytes.fromhex(got_sender[2:]) == sender
    if reason == Reason.VALID:
        assert 0 < int(gas) < 3_000_000, gas  # a step fits well inside the reveal's gas budget


@settings(_BASE, max_examples=120)
@given(data=st.data(), base_fee=st.sampled_from([BASE_FEE, BASE_FEE, 0]))
def test_execution_matches_reference(
    step_harness: Contract, data: st.DataObject, base_fee: int
) -> None:
    tx = data.draw(transactions())
    state, coinbase = data.draw(worlds(tx))
    run_step(step_harness, state, tx[0], base_fee, coinbase)


@settings(_BASE, max_examples=60)
@given(data=st.data(), base_fee=st.sampled_from([BASE_FEE, 0]))
def test_well_formed_execution_matches_reference(
    step_harness: Contract, data: st.DataObject, base_fee: int
) -> None:
    """Mostly valid transactions: exercises the effect (§3.2) rather than the rules."""
    tx = data.draw(transactions(well_formed=True))
    state, coinbase = data.draw(worlds(tx))
    run_step(step_harness, state, tx[0], base_fee, coinbase)


@pytest.mark.slow
@settings(_BASE, max_examples=3000)
@given(data=st.data(), base_fee=st.sampled_from([BASE_FEE, BASE_FEE, 0, 1]))
def test_execution_matches_reference_slow(
    step_harness: Contract, data: st.DataObject, base_fee: int
) -> None:
    tx = data.draw(transactions())
    state, coinbase = data.draw(worlds(tx))
    run_step(step_harness, state, tx[0], base_fee, coinbase)


@pytest.mark.slow
@settings(_BASE, max_examples=3000)
@given(tx=transactions(), base_fee=st.sampled_from([BASE_FEE, 0, 7]))
def test_validity_matches_reference_slow(
    step_harness: Contract, tx: tuple[bytes, int], base_fee: int
) -> None:
    check_stateless_against_reference(step_harness, tx[0], base_fee)
