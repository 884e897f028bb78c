"""Ethereum mode against a transcription of the execution specs' Cancun validity checks.

Transactions of every type with fields drawn around each rule's boundary (gas around the intrinsic
cost, fees around the base fee, nonces around the account's and 2^64-1, balances around the
maximum cost, blob counts 0-7 with good and bad versions, signatures high-s / out of range /
of another chain, senders with code, creations with initcode around 49152 bytes) go through
``apply_step(..., RuleSet.ETHEREUM)``. The verdict must be the one of ``spec_valid`` below, written
from ethereum/execution-specs ``src/ethereum/cancun`` (``validate_transaction``,
``recover_sender``, ``check_transaction``) independently of the rule table; an invalid step
leaves the root unchanged and names a rule; py-evm never refuses a transaction the rules accept
(no ``engine_rejected``); a valid step increments the sender's nonce.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.unit.ethtx import (
    BASE_FEE,
    BLOB_HASH,
    CHAIN_ID,
    GAS_LIMIT,
    RECIPIENT,
    SECP256K1_N,
    SENDER,
    Tx,
    block,
    fresh_state,
    sender_account,
)
from watchtower.execute.ethereum_rules import EthRule
from watchtower.execute.statedb import StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.types import BlockContext, GenesisAccount

CONTRACT = bytes.fromhex("00000000000000000000000000000000000000c0")
# PUSH1 1 PUSH1 0 SSTORE: a call that writes storage
CONTRACT_CODE = bytes.fromhex("6001600055")
PRECOMPILE = bytes.fromhex("0000000000000000000000000000000000000002")


def _spec_intrinsic(tx: Tx) -> int:
    data_cost = sum(4 if byte == 0 else 16 for byte in tx.data)
    create_cost = 32000 + 2 * ((len(tx.data) + 31) // 32) if tx.to is None else 0
    access_cost = sum(2400 + 1900 * len(keys) for _, keys in tx.access_list)
    return 21000 + data_cost + create_cost + access_cost


def _spec_blob_price(excess: int) -> int:
    i, output, accum = 1, 0, 1 * 3338477
    while accum > 0:
        output += accum
        accum = accum * excess // (3338477 * i)
        i += 1
    return output // 3338477


def _signature_ok(tx: Tx, raw_v: int, raw_r: int, raw_s: int) -> bool:
    if not (0 < raw_r < SECP256K1_N and 0 < raw_s <= SECP256K1_N // 2):
        return False
    if tx.type == 0:
        return raw_v in (27, 28, 35 + 2 * CHAIN_ID, 36 + 2 * CHAIN_ID)
    return raw_v in (0, 1) and tx.chain_id == CHAIN_ID


def spec_valid(
    tx: Tx, sig: tuple[int, int, int], account: GenesisAccount, ctx: BlockContext
) -> bool:
    """validate_transaction, then check_transaction (with recover_sender), for one transaction
    alone in its block. ``sig`` is the (v, r, s) the bytes carry; the cases that recover no key
    are not drawn, and a wrong (v, chain id) for a legal signature recovers *some* key, which is
    not the sender's: the rules reject it before that matters."""
    if tx.gas < _spec_intrinsic(tx) or tx.nonce >= 2**64 - 1:
        return False
    if tx.to is None and len(tx.data) > 49152:
        return False
    if tx.gas > ctx.gas_limit:
        return False
    blob_gas = 2**17 * len(tx.blob_hashes) if tx.type == 3 else 0
    if blob_gas > 786432:
        return False
    if not _signature_ok(tx, *sig):
        return False
    if tx.type >= 2:
        if tx.max_fee < tx.max_priority_fee or tx.max_fee < ctx.base_fee:
            return False
        max_gas_fee = tx.gas * tx.max_fee
    else:
        if tx.gas_price < ctx.base_fee:
            return False
        max_gas_fee = tx.gas * tx.gas_price
    if tx.type == 3:
        if tx.to is None or not tx.blob_hashes:
            return False
        if any(h[:1] != b"\x01" for h in tx.blob_hashes):
            return False
        if tx.max_fee_per_blob_gas < _spec_blob_price(ctx.excess_blob_gas):
            return False
        max_gas_fee += blob_gas * tx.max_fee_per_blob_gas
    if account.nonce != tx.nonce:
        return False
    if account.balance < max_gas_fee + tx.value:
        return False
    return not account.code


@dataclass(frozen=True)
class Case:
    tx: Tx
    raw: bytes
    sig: tuple[int, int, int]
    account: GenesisAccount
    ctx: BlockContext


def _true_signature(tx: Tx) -> tuple[int, int, int]:
    signature = tx.key.sign_recoverable(tx.signing_hash(), hasher=None)
    parity = signature[64]
    if tx.type == 0:
        v = 27 + parity if tx.chain_id is None else 35 + 2 * tx.chain_id + parity
    else:
        v = parity
    return v, int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")


#: Ways to break (or to reach exactly the edge of) one rule; a case applies 0-2 of them to a valid
#: transaction, so every rule is reached often and combinations are tried too.
PERTURBATIONS = (
    "gas_below_intrinsic",
    "gas_above_block",
    "gas_at_block_limit",
    "nonce_overflow",
    "nonce_at_limit_minus_one",
    "nonce_mismatch",
    "initcode_too_large",
    "initcode_at_limit",
    "seven_blobs",
    "six_blobs",
    "no_blobs",
    "bad_blob_version",
    "blob_fee_low",
    "blob_fee_exact",
    "blob_create",
    "priority_above_max",
    "priority_equal_max",
    "fee_below_base",
    "fee_at_base",
    "other_chain",
    "chain_zero",
    "pre_eip155",
    "high_s",
    "r_zero",
    "r_n",
    "s_zero",
    "bad_v",
    "sender_code",
    "balance_short",
    "balance_exact",
)

BLOB_ONLY = {
    "seven_blobs",
    "six_blobs",
    "no_blobs",
    "bad_blob_version",
    "blob_fee_low",
    "blob_fee_exact",
    "blob_create",
}
FEE_MARKET_ONLY = {"priority_above_max", "priority_equal_max"}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    # Mostly one perturbation, sometimes none or two (st.lists would favour the empty list).
    perturb = {
        draw(st.sampled_from(("none",) * 3 + PERTURBATIONS)),
        draw(st.sampled_from(("none",) * 60 + PERTURBATIONS)),
    }
    tx_type = draw(st.sampled_from([2, 0, 1, 3]))
    if perturb & BLOB_ONLY:
        tx_type = 3
    elif perturb & FEE_MARKET_ONLY and tx_type < 2:
        tx_type = 2
    to = draw(st.sampled_from([RECIPIENT, None, CONTRACT, PRECOMPILE, SENDER]))
    if tx_type == 3 and to is None and "blob_create" not in perturb:
        to = RECIPIENT
    if to is None:
        size = draw(st.sampled_from([2, 0, 1, 31, 32, 33]))
        if "initcode_too_large" in perturb:
            size = 49_153
        elif "initcode_at_limit" in perturb:
            size = 49_152
        data = draw(st.sampled_from([b"\x00", b"\x60"])) * size
    else:
        data = draw(st.binary(max_size=40))
    access_list = draw(
        st.lists(
            st.tuples(
                st.sampled_from([RECIPIENT, CONTRACT]),
                st.lists(st.sampled_from([b"\x00" * 32, b"\x01" * 32]), max_size=2),
            ),
            max_size=2,
        )
        if tx_type
        else st.just([])
    )
    blobs = draw(st.sampled_from([1, 2, 3]))
    blobs = 7 if "seven_blobs" in perturb else 6 if "six_blobs" in perturb else blobs
    blobs = 0 if "no_blobs" in perturb else blobs
    blob_hashes = [BLOB_HASH] * blobs
    if blobs and "bad_blob_version" in perturb:
        blob_hashes[-1] = draw(st.sampled_from([b"\x00", b"\x02"])) + b"\x33" * 31
    chain_id: int | None = CHAIN_ID
    if "other_chain" in perturb:
        chain_id = 5
    elif "chain_zero" in perturb and tx_type:
        chain_id = 0
    elif "pre_eip155" in perturb and not tx_type:
        chain_id = None
    fee = BASE_FEE if "fee_at_base" in perturb else BASE_FEE * 3
    fee = BASE_FEE - 1 if "fee_below_base" in perturb else fee
    tip = draw(st.sampled_from([1, 0]))
    tip = (
        fee
        if "priority_equal_max" in perturb
        else fee + 1
        if "priority_above_max" in perturb
        else tip
    )
    nonce = draw(st.sampled_from([0, 1]))
    if "nonce_overflow" in perturb:
        nonce = 2**64 - 1
    elif "nonce_at_limit_minus_one" in perturb:
        nonce = 2**64 - 2
    excess = 10_000_000 if {"blob_fee_low", "blob_fee_exact"} & perturb else 0
    blob_fee = 18 if "blob_fee_low" in perturb else 19 if "blob_fee_exact" in perturb else 40
    tx = Tx(
        type=tx_type,
        chain_id=chain_id,
        to=to,
        data=data,
        access_list=[(a, tuple(k)) for a, k in access_list],
        blob_hashes=blob_hashes,
        value=draw(st.sampled_from([0, 1, 10**9])),
        nonce=nonce,
        gas_price=fee,
        max_fee=fee,
        max_priority_fee=tip,
        max_fee_per_blob_gas=blob_fee,
    )
    gas = _spec_intrinsic(tx) + draw(st.sampled_from([0, 1, 60_000]))
    if "gas_below_intrinsic" in perturb:
        gas = _spec_intrinsic(tx) - 1
    if "gas_above_block" in perturb:
        gas = GAS_LIMIT + 1
    elif "gas_at_block_limit" in perturb:
        gas = GAS_LIMIT
    tx = replace(tx, gas=gas)
    v, r, s = _true_signature(tx)
    if "high_s" in perturb:
        tx = tx.high_s()
        v, s = tx.v or 0, tx.s or 0
    if "r_zero" in perturb or "r_n" in perturb:
        r = 0 if "r_zero" in perturb else SECP256K1_N
        tx = replace(tx, r=r)
    if "s_zero" in perturb:
        s = 0
        tx = replace(tx, s=0)
    if "bad_v" in perturb:
        v = draw(st.sampled_from([2, 26, 29, 39, 45]))
        tx = replace(tx, v=v)
    cost = tx.gas * (tx.gas_price if tx_type < 2 else tx.max_fee) + tx.value
    if tx_type == 3:
        cost += 2**17 * blobs * tx.max_fee_per_blob_gas
    slack = -1 if "balance_short" in perturb else 0 if "balance_exact" in perturb else 10**18
    account_nonce = nonce
    if "nonce_mismatch" in perturb:  # an account nonce is at most 2^64-1
        account_nonce = nonce + 1 if nonce < 2**64 - 1 else nonce - 1
    account = sender_account(
        balance=max(0, cost + slack),
        nonce=account_nonce,
        code=b"\x00" if "sender_code" in perturb else b"",
    )
    return Case(tx, tx.sign(), (v, r, s), account, block(excess_blob_gas=excess))


@pytest.fixture(scope="module")
def shared_store() -> Iterator[StateDB]:
    with tempfile.TemporaryDirectory(prefix="wt-eth-mode-") as tmp:
        db = StateDB(Path(tmp) / "state", sync=False)
        yield db
        db.close()


# 1-3 ms each; fewer than 400 rarely reach every rule's edge (the `long` profile runs more).
@settings(max_examples=max(400, settings().max_examples))
@given(cases())
def test_ethereum_mode_gives_the_spec_verdict(shared_store: StateDB, case: Case) -> None:
    alloc = {
        SENDER: case.account,
        CONTRACT: GenesisAccount(balance=0, nonce=1, code=CONTRACT_CODE, storage={}),
    }
    state = fresh_state(shared_store, case.ctx, alloc)
    before = bytes(state.state_root)
    outcome = apply_step(state, case.raw, RuleSet.ETHEREUM)
    expected = spec_valid(case.tx, case.sig, case.account, case.ctx)
    event("valid" if outcome.valid else outcome.detail.split(":")[0])
    assert outcome.valid is expected, outcome.detail
    if outcome.valid:
        assert state.get_nonce(SENDER) == case.account.nonce + 1
        return
    assert outcome.root == before, "an invalid transaction changed the state"
    code = outcome.detail.split(":")[0]
    assert code in {rule.value for rule in EthRule} - {EthRule.ENGINE_REJECTED.value}
