"""Ethereum mode enforces every Cancun transaction validity rule (docs/protocol.md "Ethereum mode").

One test per rule of :data:`watchtower.execute.ethereum_rules.RULES`, each with a transaction that
breaks only that rule (and, where the boundary matters, its neighbour that is just valid). A
rejected transaction leaves the state root unchanged and names its rule in the outcome.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import coincurve
import pytest

from tests.unit.ethtx import (
    BASE_FEE,
    BLOB_HASH,
    GAS_LIMIT,
    RECIPIENT,
    SECP256K1_N,
    SENDER,
    Tx,
    block,
    fresh_state,
    run,
    sender_account,
)
from watchtower.execute.ethereum_rules import RULES, EthRule, intrinsic_gas
from watchtower.execute.statedb import StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.types import InvalidReason

GAS_PER_BLOB = 2**17


def _rejected(store: StateDB, rule: EthRule, raw: bytes, **kwargs: object) -> None:
    before, outcome = run(store, raw, **kwargs)  # type: ignore[arg-type]
    assert not outcome.valid, f"accepted a transaction that breaks {rule}"
    assert outcome.root == before, "an invalid transaction changed the state"
    assert outcome.detail.split(":")[0] == rule.value, outcome.detail


def _accepted(store: StateDB, raw: bytes, **kwargs: object) -> None:
    before, outcome = run(store, raw, **kwargs)  # type: ignore[arg-type]
    assert outcome.valid, outcome.detail
    assert outcome.root != before


# ---------------------------------------------------------------------------------------------
# The table itself


def test_every_rule_has_a_spec_source_and_one_code() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes)), "one reason code per rule"
    assert set(codes) == set(EthRule) - {EthRule.UNDECODABLE, EthRule.ENGINE_REJECTED}
    for rule in RULES:
        assert rule.source.startswith(("cancun/", "EIP-")), rule
        assert rule.summary


def test_protocol_md_lists_the_rules_in_the_table_order() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    section = text.split("### 3.3 Ethereum mode")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    codes = [re.findall(r"\| `([a-z0-9_]+)` \|", row)[0] for row in rows]
    assert codes == [EthRule.UNDECODABLE.value] + [rule.code.value for rule in RULES]


@pytest.mark.parametrize(
    "tx",
    [
        Tx(type=0, chain_id=None),
        Tx(type=0),
        Tx(type=1),
        Tx(type=2),
        Tx(type=3),
        Tx(type=2, access_list=[(RECIPIENT, [b"\x00" * 32])], gas=21_000 + 2_400 + 1_900),
    ],
    ids=["legacy", "legacy-eip155", "access-list", "dynamic-fee", "blob", "with-access-list"],
)
def test_valid_transaction_of_every_type_is_accepted(store: StateDB, tx: Tx) -> None:
    _accepted(store, tx.sign())


# ---------------------------------------------------------------------------------------------
# Decoding


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x05" + Tx().sign()[1:], Tx().sign()[:-1], b"\x02\xc0", b"\xc0"],
    ids=["empty", "unknown-type", "truncated", "typed-empty-list", "legacy-empty-list"],
)
def test_undecodable(store: StateDB, raw: bytes) -> None:
    before, outcome = run(store, raw)
    assert not outcome.valid and outcome.root == before
    assert outcome.reason is InvalidReason.UNDECODABLE
    assert outcome.detail.startswith(EthRule.UNDECODABLE.value)


def test_integer_field_above_256_bits_is_undecodable(store: StateDB) -> None:
    before, outcome = run(store, Tx(value=2**256).sign())
    assert not outcome.valid and outcome.root == before
    assert outcome.reason is InvalidReason.UNDECODABLE


# ---------------------------------------------------------------------------------------------
# validate_transaction (cancun/transactions.py): intrinsic gas, nonce overflow, initcode size


INTRINSIC_CASES = [
    Tx(gas=21_000),
    Tx(data=b"\x01" * 10 + b"\x00" * 10, gas=21_000 + 10 * 16 + 10 * 4),
    Tx(type=1, access_list=[(RECIPIENT, [b"\x00" * 32, b"\x01" * 32])], gas=21_000 + 2_400 + 3_800),
    Tx(access_list=[(RECIPIENT, []), (SENDER, [b"\x02" * 32])], gas=21_000 + 2 * 2_400 + 1_900),
    # A creation: 32,000 more, and EIP-3860's 2 gas per 32-byte word of initcode (1 word here).
    Tx(to=None, data=b"\x60\x00", gas=21_000 + 32_000 + 16 + 4 + 2),
    Tx(type=0, to=None, data=b"\x00" * 33, gas=21_000 + 32_000 + 33 * 4 + 2 * 2),
    Tx(type=3, access_list=[(RECIPIENT, [b"\x00" * 32])], gas=21_000 + 2_400 + 1_900),
]


@pytest.mark.parametrize("tx", INTRINSIC_CASES, ids=lambda tx: f"type{tx.type}-gas{tx.gas}")
def test_intrinsic_gas_is_the_exact_minimum(store: StateDB, tx: Tx) -> None:
    assert intrinsic_gas(tx.to is None, tx.data, tx.access_list) == tx.gas
    _accepted(store, tx.sign())
    _rejected(store, EthRule.INTRINSIC_GAS, replace(tx, gas=tx.gas - 1).sign())


def test_creation_below_the_eip3860_word_cost_is_invalid_not_out_of_gas(store: StateDB) -> None:
    """py-evm 0.12 leaves the initcode word cost out of the intrinsic gas and charges it in the
    EVM, so this transaction was *valid* there (all its gas burnt); Cancun rejects it."""
    tx = Tx(to=None, data=b"\x60\x00", gas=21_000 + 32_000 + 16 + 4 + 2 - 1)
    _rejected(store, EthRule.INTRINSIC_GAS, tx.sign())


def test_nonce_overflow(store: StateDB) -> None:
    last = 2**64 - 1
    alloc = {SENDER: sender_account(nonce=last)}
    _rejected(store, EthRule.NONCE_OVERFLOW, Tx(nonce=last).sign(), alloc=alloc)
    alloc = {SENDER: sender_account(nonce=last - 1)}
    _accepted(store, Tx(nonce=last - 1).sign(), alloc=alloc)


def test_initcode_too_large(store: StateDB) -> None:
    def create(size: int) -> Tx:
        return Tx(to=None, data=b"\x00" * size, gas=intrinsic_gas(True, b"\x00" * size, ()))

    _rejected(store, EthRule.INITCODE_TOO_LARGE, create(49_153).sign())
    _accepted(store, create(49_152).sign())
    # A call may carry more data than that: the limit is on initcode only.
    data = b"\x00" * 49_153
    _accepted(store, Tx(data=data, gas=intrinsic_gas(False, data, ())).sign())


# ---------------------------------------------------------------------------------------------
# Signatures (cancun/transactions.py recover_sender) and the chain id


@pytest.mark.parametrize("tx_type", [0, 1, 2, 3])
def test_signature_r_out_of_range(store: StateDB, tx_type: int) -> None:
    _rejected(store, EthRule.SIGNATURE_R, Tx(type=tx_type, r=0).sign())
    _rejected(store, EthRule.SIGNATURE_R, Tx(type=tx_type, r=SECP256K1_N).sign())


@pytest.mark.parametrize("tx_type", [0, 1, 2, 3])
def test_signature_s_out_of_range(store: StateDB, tx_type: int) -> None:
    _rejected(store, EthRule.SIGNATURE_S, Tx(type=tx_type, s=0).sign())
    # EIP-2: the other valid signature of the same message (s' = n - s) is not allowed.
    _rejected(store, EthRule.SIGNATURE_S, Tx(type=tx_type).high_s().sign())


@pytest.mark.parametrize("v", [0, 1, 26, 29, 34, 35 + 2 * 5, 36 + 2 * 5, 39])
def test_legacy_v(store: StateDB, v: int) -> None:
    _rejected(store, EthRule.LEGACY_V, Tx(type=0, v=v).sign())


def test_legacy_signed_for_another_chain(store: StateDB) -> None:
    _rejected(store, EthRule.LEGACY_V, Tx(type=0, chain_id=5).sign())


@pytest.mark.parametrize("tx_type", [1, 2, 3])
def test_y_parity(store: StateDB, tx_type: int) -> None:
    _rejected(store, EthRule.Y_PARITY, Tx(type=tx_type, v=2).sign())
    _rejected(store, EthRule.Y_PARITY, Tx(type=tx_type, v=27).sign())


@pytest.mark.parametrize("tx_type", [1, 2, 3])
def test_typed_transaction_of_another_chain(store: StateDB, tx_type: int) -> None:
    _rejected(store, EthRule.WRONG_CHAIN_ID, Tx(type=tx_type, chain_id=5).sign())
    _rejected(store, EthRule.WRONG_CHAIN_ID, Tx(type=tx_type, chain_id=0).sign())


def _r_off_the_curve() -> int:
    """The smallest r in range that is the x of no curve point: no public key recovers."""
    message = b"\x07" * 32
    for r in range(1, 100):
        try:
            coincurve.PublicKey.from_signature_and_message(
                r.to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x00", message, hasher=None
            )
        except Exception:
            return r
    raise AssertionError("no r off the curve below 100")


@pytest.mark.parametrize("tx_type", [0, 2])
def test_signature_that_recovers_no_key(store: StateDB, tx_type: int) -> None:
    _rejected(store, EthRule.UNRECOVERABLE, Tx(type=tx_type, r=_r_off_the_curve()).sign())


# ---------------------------------------------------------------------------------------------
# check_transaction (cancun/fork.py)


def test_gas_above_block_gas_limit(store: StateDB) -> None:
    _rejected(store, EthRule.GAS_ABOVE_BLOCK_LIMIT, Tx(gas=GAS_LIMIT + 1).sign())
    _accepted(store, Tx(gas=GAS_LIMIT).sign())


def test_gas_above_what_the_block_has_left(store: StateDB) -> None:
    raw = Tx(gas=21_000).sign()
    for used, valid in [(GAS_LIMIT - 21_000, True), (GAS_LIMIT - 20_999, False)]:
        state = fresh_state(store)
        before = bytes(state.state_root)
        outcome = apply_step(state, raw, RuleSet.ETHEREUM, block_gas_used=used)
        assert outcome.valid is valid, outcome.detail
        if not valid:
            assert outcome.root == before
            assert outcome.detail.startswith(EthRule.GAS_ABOVE_BLOCK_LIMIT.value)


def test_blob_gas_above_block_limit(store: StateDB) -> None:
    seven = Tx(type=3, blob_hashes=[BLOB_HASH] * 7)
    _rejected(store, EthRule.BLOB_GAS_ABOVE_BLOCK_LIMIT, seven.sign())
    _accepted(store, Tx(type=3, blob_hashes=[BLOB_HASH] * 6).sign())
    state = fresh_state(store)
    outcome = apply_step(state, Tx(type=3).sign(), RuleSet.ETHEREUM, blob_gas_used=6 * GAS_PER_BLOB)
    assert not outcome.valid
    assert outcome.detail.startswith(EthRule.BLOB_GAS_ABOVE_BLOCK_LIMIT.value)


@pytest.mark.parametrize("tx_type", [2, 3])
def test_priority_fee_above_max_fee(store: StateDB, tx_type: int) -> None:
    tx = Tx(type=tx_type, max_fee=BASE_FEE + 5, max_priority_fee=BASE_FEE + 6)
    _rejected(store, EthRule.PRIORITY_FEE_ABOVE_MAX_FEE, tx.sign())
    _accepted(store, replace(tx, max_priority_fee=BASE_FEE + 5).sign())


@pytest.mark.parametrize("tx_type", [2, 3])
def test_max_fee_below_base_fee(store: StateDB, tx_type: int) -> None:
    tx = Tx(type=tx_type, max_fee=BASE_FEE - 1, max_priority_fee=0)
    _rejected(store, EthRule.MAX_FEE_BELOW_BASE_FEE, tx.sign())


@pytest.mark.parametrize("tx_type", [0, 1])
def test_gas_price_below_base_fee(store: StateDB, tx_type: int) -> None:
    low = Tx(type=tx_type, gas_price=BASE_FEE - 1)
    _rejected(store, EthRule.GAS_PRICE_BELOW_BASE_FEE, low.sign())
    _accepted(store, Tx(type=tx_type, gas_price=BASE_FEE).sign())


def test_blob_transaction_cannot_create(store: StateDB) -> None:
    _rejected(store, EthRule.BLOB_TX_CREATE, Tx(type=3, to=None, gas=100_000).sign())


def test_blob_transaction_without_blobs(store: StateDB) -> None:
    _rejected(store, EthRule.BLOB_TX_NO_BLOBS, Tx(type=3, blob_hashes=[]).sign())


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_blob_hash_version(store: StateDB, version: int) -> None:
    hashes = [BLOB_HASH, bytes([version]) + b"\x22" * 31]
    _rejected(store, EthRule.BLOB_HASH_VERSION, Tx(type=3, blob_hashes=hashes).sign())


def test_max_fee_per_blob_gas_below_blob_base_fee(store: StateDB) -> None:
    # excess 10,000,000 blob gas: blob base fee = fake_exponential(1, 10^7, 3338477) = 19
    ctx = block(excess_blob_gas=10_000_000)
    _rejected(store, EthRule.BLOB_FEE_TOO_LOW, Tx(type=3, max_fee_per_blob_gas=18).sign(), ctx=ctx)
    _accepted(store, Tx(type=3, max_fee_per_blob_gas=19).sign(), ctx=ctx)


@pytest.mark.parametrize(("tx_nonce", "account_nonce"), [(1, 0), (0, 1), (5, 7)])
def test_nonce_mismatch(store: StateDB, tx_nonce: int, account_nonce: int) -> None:
    alloc = {SENDER: sender_account(nonce=account_nonce)}
    _rejected(store, EthRule.NONCE_MISMATCH, Tx(nonce=tx_nonce).sign(), alloc=alloc)


BALANCE_CASES = [
    # gas·gas_price + value
    Tx(type=0, gas_price=BASE_FEE + 3, value=7),
    Tx(type=1, gas_price=BASE_FEE + 3, value=7),
    # gas·max_fee + value, not gas·(effective price): max_fee well above base fee + tip
    Tx(type=2, max_fee=BASE_FEE * 100, max_priority_fee=1, value=7),
    # + blob gas·max_fee_per_blob_gas (not the blob base fee)
    Tx(type=3, max_fee=BASE_FEE * 100, max_fee_per_blob_gas=50, blob_hashes=[BLOB_HASH] * 2),
]


def _max_cost(tx: Tx) -> int:
    if tx.type < 2:
        return tx.gas * tx.gas_price + tx.value
    blobs = len(tx.blob_hashes) * GAS_PER_BLOB * tx.max_fee_per_blob_gas if tx.type == 3 else 0
    return tx.gas * tx.max_fee + tx.value + blobs


@pytest.mark.parametrize("tx", BALANCE_CASES, ids=lambda tx: f"type{tx.type}")
def test_insufficient_balance(store: StateDB, tx: Tx) -> None:
    cost = _max_cost(tx)
    alloc = {SENDER: sender_account(balance=cost - 1)}
    _rejected(store, EthRule.INSUFFICIENT_BALANCE, tx.sign(), alloc=alloc)
    _accepted(store, tx.sign(), alloc={SENDER: sender_account(balance=cost)})


def test_sender_has_code(store: StateDB) -> None:
    alloc = {SENDER: sender_account(code=b"\x00")}
    _rejected(store, EthRule.SENDER_HAS_CODE, Tx().sign(), alloc=alloc)
