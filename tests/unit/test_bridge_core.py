"""Protocol v2 in the core (docs/protocol.md §8.2, §8.3, §8.5): deposit steps, the bridge flows of
a replay, the withdrawals a batch claims, fraud proofs of deposit steps, the claim witness."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from eth_hash.auto import keccak

from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.state import build_genesis, open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.proof.fraud import (
    FraudProof,
    NoFraudError,
    ProofError,
    build_fraud_proof,
    check_fraud_proof,
    touched_accounts,
)
from watchtower.proof.withdrawal import claim_witness
from watchtower.rollup.bridge import (
    BridgeFlows,
    DepositStep,
    Withdrawal,
    claimed_flows,
    claimed_withdrawals,
    encode_deposit,
    genesis_balance,
    genesis_supply,
    supply_after,
)
from watchtower.rollup.codec import leaf_from_hash, steps_root, verify_leaf_proof, verify_step_proof
from watchtower.rollup.params import BRIDGE_ADDRESS, TRANSFER_GAS, RollupParams
from watchtower.rollup.types import (
    Batch,
    BlockContext,
    GenesisAccount,
    InvalidReason,
    Step,
    VerdictKind,
)
from watchtower_dev.builder import build_batch, with_wrong_root
from watchtower_dev.txgen import accounts, transfer

PARAMS = RollupParams()
ALICE, BOB, CAROL, MINER = accounts(4, b"bridge-core")
FRESH = b"\x42" * 20
ETHER = 10**18
ALLOC = {
    ALICE.address: GenesisAccount(balance=10 * ETHER),
    BOB.address: GenesisAccount(balance=1 * ETHER, nonce=3),
}


def _ctx(index: int = 0) -> BlockContext:
    return BlockContext.of_batch(index, 1_700_000_000, MINER.address, PARAMS)


def _memdb() -> object:
    from eth.db.atomic import AtomicDB

    return AtomicDB()


def _genesis_root(alloc: Mapping[bytes, GenesisAccount]) -> bytes:
    return build_genesis(_memdb(), alloc)


def _state(store: StateDB, alloc: Mapping[bytes, GenesisAccount] = ALLOC) -> tuple[object, bytes]:
    root = init_genesis(store, alloc)
    pending = PendingWrites(store)
    state = open_state(pending, root, _ctx())
    return state, root


def _send(sender: object, to: bytes, nonce: int, value: int) -> bytes:
    return transfer(sender, to, nonce=nonce, value=value, chain_id=PARAMS.chain_id)


# -- the transition -------------------------------------------------------------------------------


def test_deposit_credits_an_existing_account(store: StateDB) -> None:
    state, root = _state(store)
    out = apply_step(state, encode_deposit(0, BOB.address, 5 * ETHER), RuleSet.ROLLUP)
    assert out.valid and out.reason is None
    assert out.deposit == DepositStep(0, BOB.address, 5 * ETHER)
    assert out.sender is None and out.to is None and out.gas_used == 0
    # nonce unchanged, nothing to the coinbase: exactly the genesis with Bob's balance raised
    expected = {**ALLOC, BOB.address: GenesisAccount(balance=6 * ETHER, nonce=3)}
    assert out.root == _genesis_root(expected) != root


def test_deposit_creates_its_recipient(store: StateDB) -> None:
    state, _ = _state(store)
    out = apply_step(state, encode_deposit(7, FRESH, 1), RuleSet.ROLLUP)
    assert out.valid
    assert out.root == _genesis_root({**ALLOC, FRESH: GenesisAccount(balance=1)})


def test_zero_deposit_leaves_the_root_unchanged(store: StateDB) -> None:
    state, root = _state(store)
    out = apply_step(state, encode_deposit(0, FRESH, 0), RuleSet.ROLLUP)
    assert out.valid and out.reason is None and out.root == root
    assert out.deposit == DepositStep(0, FRESH, 0)


def test_deposit_to_a_precompile_or_the_bridge_is_still_a_credit(store: StateDB) -> None:
    state, _ = _state(store)
    one = b"\x00" * 19 + b"\x01"
    out = apply_step(state, encode_deposit(0, one, 3), RuleSet.ROLLUP)
    out = apply_step(state, encode_deposit(1, BRIDGE_ADDRESS, 4), RuleSet.ROLLUP)
    expected = {
        **ALLOC,
        one: GenesisAccount(balance=3),
        BRIDGE_ADDRESS: GenesisAccount(balance=4),
    }
    assert out.valid and out.root == _genesis_root(expected)


@pytest.mark.parametrize("length", [1, 2, 60, 62, 100])
def test_a_0x7e_step_of_another_length_is_undecodable(store: StateDB, length: int) -> None:
    state, root = _state(store)
    tx = (encode_deposit(0, FRESH, 5) + b"\x00" * 64)[:length]
    out = apply_step(state, tx, RuleSet.ROLLUP)
    assert not out.valid and out.reason is InvalidReason.UNDECODABLE and out.root == root
    assert out.deposit is None


def test_v1_rules_do_not_know_deposit_steps(store: StateDB) -> None:
    state, root = _state(store)
    out = apply_step(state, encode_deposit(0, FRESH, 5), RuleSet.ROLLUP_V1)
    assert not out.valid and out.reason is InvalidReason.UNDECODABLE and out.root == root
    # and a transfer is the same under both
    tx = _send(ALICE, BOB.address, 0, 1)
    v1 = apply_step(state, tx, RuleSet.ROLLUP_V1)
    state2, _ = _state(store)
    v2 = apply_step(state2, tx, RuleSet.ROLLUP)
    assert v1.valid and v2.valid and v1.root == v2.root != root


def test_a_valid_transfer_reports_to_and_value(store: StateDB) -> None:
    state, _ = _state(store)
    out = apply_step(state, _send(ALICE, BRIDGE_ADDRESS, 0, 12345), RuleSet.ROLLUP)
    assert out.valid and out.to == BRIDGE_ADDRESS and out.value == 12345
    assert out.sender == ALICE.address and out.deposit is None
    bad = apply_step(state, _send(ALICE, BRIDGE_ADDRESS, 0, 1), RuleSet.ROLLUP)
    assert not bad.valid and bad.to is None and bad.value == 0  # nonce reused: a no-op


# -- replay: the flows ----------------------------------------------------------------------------


def _batch(store: StateDB, txs: list[bytes], index: int = 0, prev: bytes | None = None) -> Batch:
    head = store.head_root()
    assert head is not None
    pending = PendingWrites(store)
    batch = build_batch(pending, index, prev or head, _ctx(index), txs)
    pending.discard()
    return batch


def test_replay_reports_the_flows_of_a_valid_batch(store: StateDB) -> None:
    init_genesis(store, ALLOC)
    txs = [
        encode_deposit(0, FRESH, 2 * ETHER),
        _send(ALICE, BRIDGE_ADDRESS, 0, 3 * ETHER),  # withdrawal
        _send(ALICE, BOB.address, 1, 1),  # plain transfer: burns, no withdrawal
        _send(ALICE, BRIDGE_ADDRESS, 2, 0),  # zero value: not a withdrawal
        _send(BOB, BRIDGE_ADDRESS, 0, 1),  # bad nonce: no-op
        encode_deposit(1, BOB.address, 0),
        b"\x7e\x00",  # malformed deposit: no-op
    ]
    batch = _batch(store, txs)
    verdict = replay_batch(store, batch)
    assert verdict.kind is VerdictKind.VALID
    fee = TRANSFER_GAS * PARAMS.base_fee
    assert verdict.flows == BridgeFlows(
        deposits=(DepositStep(0, FRESH, 2 * ETHER), DepositStep(1, BOB.address, 0)),
        withdrawals=(Withdrawal(0, 1, ALICE.address, 3 * ETHER),),
        burned=3 * fee,
    )
    assert verdict.flows.deposited == 2 * ETHER and verdict.flows.withdrawn == 3 * ETHER
    # the same, from the claims alone (no state): what a verified batch's flows are
    assert claimed_flows(batch, PARAMS) == verdict.flows
    assert [s for s, _ in verdict.invalid_steps] == [4, 6]


def test_a_fraud_verdict_has_no_flows(store: StateDB) -> None:
    init_genesis(store, ALLOC)
    batch = _batch(store, [encode_deposit(0, FRESH, 5), _send(ALICE, BRIDGE_ADDRESS, 0, 9)])
    verdict = replay_batch(store, with_wrong_root(batch, 1, b"\xab" * 32), commit=False)
    assert verdict.kind is VerdictKind.FRAUD and verdict.flows == BridgeFlows()


def test_v1_replay_of_a_v2_batch_is_fraud_at_the_deposit(store: StateDB) -> None:
    init_genesis(store, ALLOC)
    batch = _batch(store, [_send(ALICE, BOB.address, 0, 1), encode_deposit(0, FRESH, 5)])
    assert replay_batch(store, batch, commit=False).kind is VerdictKind.VALID
    v1 = replay_batch(store, batch, commit=False, rules=RuleSet.ROLLUP_V1)
    assert v1.kind is VerdictKind.FRAUD and v1.step == 1
    assert v1.computed_root == batch.steps[0].root


# -- claimed withdrawals, supply ------------------------------------------------------------------


def test_claimed_withdrawals_are_read_from_the_claims_alone(store: StateDB) -> None:
    init_genesis(store, ALLOC)
    w1 = _send(ALICE, BRIDGE_ADDRESS, 0, 7)
    honest = _batch(
        store,
        [
            w1,
            _send(ALICE, BRIDGE_ADDRESS, 1, 0),  # zero value
            _send(ALICE, BOB.address, 2, 5),  # not to the bridge
            encode_deposit(0, BRIDGE_ADDRESS, 5),  # a deposit never withdraws
            _send(BOB, BRIDGE_ADDRESS, 0, 1),  # bad nonce: claimed as a no-op
            _send(BOB, BRIDGE_ADDRESS, 3, 11),
        ],
    )
    assert claimed_withdrawals(honest, PARAMS) == (
        Withdrawal(0, 0, ALICE.address, 7),
        Withdrawal(0, 5, BOB.address, 11),
    )
    # A fraudulent proposer claims the no-op step 4 changed the state: it becomes claimable.
    steps = list(honest.steps)
    steps[4] = Step(steps[4].tx, b"\xcd" * 32)
    lying = Batch(0, honest.prev_root, honest.context, tuple(steps))
    assert [w.step for w in claimed_withdrawals(lying, PARAMS)] == [0, 4, 5]
    # ... and one that claims step 0 changed nothing makes it unclaimable.
    steps = [Step(w1, honest.prev_root), *honest.steps[1:]]
    quiet = Batch(0, honest.prev_root, honest.context, tuple(steps))
    assert [w.step for w in claimed_withdrawals(quiet, PARAMS)] == [5]
    # Another chain id: nothing passes the stateless rules.
    assert claimed_withdrawals(honest, RollupParams(chain_id=1)) == ()


def test_genesis_supply_leaves_out_the_bridge_address() -> None:
    alloc = {**ALLOC, BRIDGE_ADDRESS: GenesisAccount(balance=99)}
    assert genesis_supply(alloc) == 11 * ETHER
    assert genesis_balance(alloc) == 11 * ETHER + 99
    flows = BridgeFlows((DepositStep(0, FRESH, 10),), (Withdrawal(0, 1, FRESH, 4),), 3)
    assert supply_after(100, flows) == 103


# -- proofs ---------------------------------------------------------------------------------------


def test_a_wrongly_credited_deposit_is_proven(store: StateDB) -> None:
    init_genesis(store, ALLOC)
    honest = _batch(store, [_send(ALICE, BOB.address, 0, 1), encode_deposit(0, FRESH, 5)])
    wrong_credit = _batch(store, [_send(ALICE, BOB.address, 0, 1), encode_deposit(0, FRESH, 6)])
    faulty = Batch(
        0,
        honest.prev_root,
        honest.context,
        (honest.steps[0], Step(honest.steps[1].tx, wrong_credit.steps[1].root)),
    )
    assert touched_accounts(faulty.steps[1].tx, MINER.address, PARAMS) == [FRESH]
    proof = build_fraud_proof(store, faulty, 1, PARAMS)
    check = check_fraud_proof(FraudProof.from_json(proof.to_json()))
    assert check.fraud and check.valid_tx and "deposit 0 of 5 wei" in check.reason
    assert check.computed_root == honest.steps[1].root
    with pytest.raises(NoFraudError):
        build_fraud_proof(store, honest, 1, PARAMS)


def test_a_deposit_claimed_on_a_no_op_step_is_proven(store: StateDB) -> None:
    init_genesis(store, ALLOC)
    credited = _batch(store, [encode_deposit(0, FRESH, 5)])
    malformed = encode_deposit(0, FRESH, 5) + b"\x00"  # 62 bytes: undecodable
    faulty = Batch(0, credited.prev_root, credited.context, (Step(malformed, credited.final_root),))
    assert touched_accounts(malformed, MINER.address, PARAMS) == []
    proof = build_fraud_proof(store, faulty, 0, PARAMS)
    check = check_fraud_proof(proof)
    assert check.fraud and not check.valid_tx and check.computed_root == credited.prev_root
    # Under v1 a real deposit step is itself a no-op: its credit is fraud there.
    v1 = build_fraud_proof(store, credited, 0, PARAMS, rules=RuleSet.ROLLUP_V1)
    assert check_fraud_proof(v1, RuleSet.ROLLUP_V1).fraud
    with pytest.raises(ProofError, match="lacks a trie node"):  # v2 needs the recipient
        check_fraud_proof(v1)


def test_claim_witness_proves_the_step_and_the_one_before(store: StateDB) -> None:
    init_genesis(store, ALLOC)
    txs = [encode_deposit(0, FRESH, 5)] + [_send(ALICE, BRIDGE_ADDRESS, n, 1 + n) for n in range(4)]
    batch = _batch(store, txs)
    root = steps_root(batch.steps)
    for k in range(len(batch.steps)):
        tx, post, post_proof, prev_hash, prev_root, prev_proof = claim_witness(batch, k)
        assert (tx, post) == (batch.steps[k].tx, batch.steps[k].root)
        assert verify_step_proof(root, k, Step(tx, post), list(post_proof))
        if k == 0:
            assert prev_hash == prev_root == b"\x00" * 32 and list(prev_proof) == []
        else:
            assert prev_hash == bytes(keccak(batch.steps[k - 1].tx))
            assert prev_root == batch.steps[k - 1].root
            assert verify_leaf_proof(
                root, k - 1, leaf_from_hash(k - 1, prev_hash, prev_root), list(prev_proof)
            )
        # the witness of another step does not prove this one
        other = (k + 1) % len(batch.steps)
        assert not verify_step_proof(root, other, Step(tx, post), list(post_proof))
    with pytest.raises(ValueError, match="no step 5"):
        claim_witness(batch, 5)
