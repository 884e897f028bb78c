"""The deposit step of protocol.md §8.2 in ``Step.execute`` (through ``StepHarness`` and the
Rollup's ``executeStep``) against the reference of ``tests/adversarial/bridge_kit``, and
``StepVerifier.checkTransfer`` against the reference's rules 1-9."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract

from tests.adversarial.bridge_kit import BRIDGE, apply_step, deposit_step, step_touched
from tests.contracts.conftest import deploy
from tests.contracts.contract_reference import (
    Account,
    Reason,
    State,
    check_stateless,
    sign_transfer,
    state_proof,
    state_trie,
)
from tests.contracts.test_rollup import BASE_FEE, CHAIN_ID, KEYS, USERS, genesis
from watchtower.rollup.artifacts import load_artifact

COINBASE = b"\xcb" * 20
NEW = b"\x5e" * 20


def run_step(harness: Contract, state: State, tx: bytes) -> tuple[int, str, bytes]:
    root = state_trie(state).root_hash
    nodes = state_proof(state, step_touched(tx, COINBASE))
    ctx = (CHAIN_ID, BASE_FEE, to_checksum_address(COINBASE))
    (reason, sender, post), _gas = harness.functions.execute(root, tx, ctx, nodes).call()
    return int(reason), str(sender), bytes(post)


@pytest.mark.parametrize(
    ("recipient", "amount"),
    [
        (NEW, 1),  # creates the account
        (USERS[1], 10**18),  # an existing one
        (USERS[1], 0),  # zero: nothing changes, not even a new account
        (NEW, 0),
        (BRIDGE, 5),  # the contract never queues it, but the step is defined
        (COINBASE, 2**200),
    ],
)
def test_deposit_step_matches_reference(
    step_harness: Contract, recipient: bytes, amount: int
) -> None:
    state = genesis(20)
    for index in (0, 2**64 - 1):  # the index does not affect the state
        tx = deposit_step(index, recipient, amount)
        reason, sender, post = run_step(step_harness, state, tx)
        expected = apply_step(state, tx, COINBASE)
        assert (reason, sender) == (0, "0x" + "00" * 20)
        assert post == state_trie(expected).root_hash
        if amount:
            assert expected[recipient].balance == state.get(recipient, Account()).balance + amount
        else:
            assert post == state_trie(state).root_hash


@pytest.mark.parametrize("length", [1, 2, 60, 62, 100])
def test_other_0x7e_steps_are_undecodable_noops(step_harness: Contract, length: int) -> None:
    state = genesis()
    tx = (deposit_step(0, NEW, 10**18) + b"\x01" * 64)[:length]
    reason, _, post = run_step(step_harness, state, tx)
    assert reason == Reason.UNDECODABLE and post == state_trie(state).root_hash


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    recipient=st.binary(min_size=20, max_size=20),
    amount=st.integers(0, 2**255),
    n=st.integers(0, 30),
)
def test_deposit_step_property(
    step_harness: Contract, recipient: bytes, amount: int, n: int
) -> None:
    state = genesis(n)
    tx = deposit_step(n, recipient, amount)
    _, _, post = run_step(step_harness, state, tx)
    assert post == state_trie(apply_step(state, tx, COINBASE)).root_hash


def test_rollup_execute_step_and_check_transfer(w3: Web3) -> None:
    state = genesis()
    rollup = deploy(w3, load_artifact("Rollup"), 0, 0, 2, CHAIN_ID, BASE_FEE, b"\0" * 32)
    tx = deposit_step(3, NEW, 77)
    root = state_trie(state).root_hash
    nodes = state_proof(state, [NEW])
    reason, sender, post = rollup.functions.executeStep(root, tx, COINBASE, nodes).call()
    assert (reason, int(sender, 16)) == (0, 0)
    assert bytes(post) == state_trie(apply_step(state, tx, COINBASE)).root_hash

    verifier = w3.eth.contract(
        address=rollup.functions.verifier().call(), abi=load_artifact("StepVerifier")["abi"]
    )
    cases = [
        sign_transfer(KEYS[1], CHAIN_ID, 0, BRIDGE, 10**18),
        sign_transfer(KEYS[2], CHAIN_ID, 9, BRIDGE, 1, typed=False),
        sign_transfer(KEYS[1], CHAIN_ID, 0, USERS[0], 5),
        sign_transfer(KEYS[1], CHAIN_ID + 1, 0, BRIDGE, 5),  # wrong chain
        sign_transfer(KEYS[1], CHAIN_ID, 0, BRIDGE, 5, max_fee=1),  # fee cap below base fee
        sign_transfer(KEYS[1], CHAIN_ID, 0, BRIDGE, 5, gas=20_999),
        tx,  # a deposit step is not a transaction
        b"",
        keccak(b"junk"),
    ]
    for raw in cases:
        got = verifier.functions.checkTransfer(raw, CHAIN_ID, BASE_FEE).call()
        reason_ref, ref_tx, sender_ref = check_stateless(raw, CHAIN_ID, BASE_FEE)
        assert got[0] == reason_ref, raw.hex()
        if sender_ref is not None:
            assert bytes.fromhex(got[1][2:]) == sender_ref
        if ref_tx is not None:
            assert (bytes.fromhex(got[2][2:]), got[3]) == (ref_tx.to or b"\0" * 20, ref_tx.value)
        else:
            assert (int(got[2], 16), got[3]) == (0, 0)
