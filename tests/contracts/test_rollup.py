"""End-to-end tests of Rollup.sol in anvil: bonds, batch submission (encoding v1 and the step
commitment), finalization, fraud proofs, rollback, slashing and withdrawals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import coincurve
import pytest
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import EventLogErrorFlags

from tests.contracts.contract_reference import (
    Account,
    Reason,
    State,
    address_of,
    encode_batch,
    execute,
    sign_transfer,
    state_proof,
    state_trie,
    step_leaf,
    step_proof,
    steps_root,
    touched,
)
from watchtower.rollup.artifacts import load_artifact

CHAIN_ID = 42069
BASE_FEE = 10**9
PERIOD = 1000
BOND = 2 * 10**18
MIN_STAKE = 10**18
KEYS = [coincurve.PrivateKey(keccak(b"rollup-test" + bytes([i]))) for i in range(4)]
USERS = [address_of(k) for k in KEYS]

Steps = list[tuple[bytes, bytes]]


@dataclass
class L2:
    """Off-chain model of the rollup: the state after each accepted step."""

    state: State
    coinbase: bytes
    history: list[State] = field(default_factory=list)

    def run(self, txs: list[bytes]) -> tuple[Steps, list[State]]:
        """Honest steps for `txs` and the state before each of them."""
        steps: Steps = []
        pre_states: list[State] = []
        for tx in txs:
            pre_states.append(self.state)
            _, _, self.state = execute(self.state, tx, CHAIN_ID, BASE_FEE, self.coinbase)
            steps.append((tx, state_trie(self.state).root_hash))
        return steps, pre_states


def genesis(n_filler: int = 0) -> State:
    state: State = {u: Account(0, 100 * 10**18) for u in USERS}
    for i in range(n_filler):
        state[keccak(b"filler" + i.to_bytes(4, "big"))[:20]] = Account(i % 7, 10**15 + i)
    return state


def events(env: Env, name: str, receipt: Any) -> list[Any]:
    event = getattr(env.rollup.events, name)()
    return list(event.process_receipt(receipt, errors=EventLogErrorFlags.Discard))


def send(w3: Web3, fn: Any, sender: str, value: int = 0) -> Any:
    tx_hash = fn.transact({"from": sender, "value": value})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


def reverts(fn: Any, sender: str, message: str, value: int = 0) -> None:
    with pytest.raises(ContractLogicError, match=message):
        fn.transact({"from": sender, "value": value})


def advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@dataclass
class Env:
    w3: Web3
    rollup: Contract
    proposer: str
    challenger: str
    coinbase: bytes
    l2: L2


def make_env(w3: Web3, n_filler: int = 0) -> Env:
    art = load_artifact("Rollup")
    state = genesis(n_filler)
    root = state_trie(state).root_hash
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(PERIOD, 0, BOND, CHAIN_ID, BASE_FEE, root).transact(
            {"from": w3.eth.accounts[0]}
        )
    )
    rollup = w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])
    proposer, challenger = w3.eth.accounts[1], w3.eth.accounts[2]
    coinbase = b"\xcb" * 20
    send(w3, rollup.functions.register(to_checksum_address(coinbase)), proposer, BOND)
    return Env(w3, rollup, proposer, challenger, coinbase, L2(state, coinbase))


def submit(env: Env, index: int, prev_root: bytes, steps: Steps) -> Any:
    data = encode_batch(index, prev_root, steps)
    return send(env.w3, env.rollup.functions.submitBatch(data), env.proposer)


def witness(steps: Steps, k: int) -> tuple[Any, ...]:
    tx, root = steps[k]
    if k == 0:
        return (tx, root, step_proof(steps, 0), b"\x00" * 32, b"\x00" * 32, [])
    ptx, proot = steps[k - 1]
    return (tx, root, step_proof(steps, k), keccak(ptx), proot, step_proof(steps, k - 1))


SALT = keccak(b"salt")


def commit(env: Env, index: int, k: int, post_root: bytes, sender: str | None = None) -> None:
    """The commitment half of a challenge (mined in its own block, before the reveal), to the
    root step ``k`` really produces."""
    sender = sender or env.challenger
    c = env.rollup.functions.challengeCommitment(sender, index, k, post_root, SALT).call()
    send(env.w3, env.rollup.functions.commitChallenge(c), sender)
    env.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]  # reveal estimates at latest


def challenge_args(env: Env, index: int, steps: Steps, k: int, pre: State) -> tuple[Any, ...]:
    """The reveal's arguments, after committing to them from the challenger's account."""
    _, _, post = execute(pre, steps[k][0], CHAIN_ID, BASE_FEE, env.coinbase)
    commit(env, index, k, state_trie(post).root_hash)
    nodes = state_proof(pre, touched(steps[k][0], CHAIN_ID, BASE_FEE, env.coinbase))
    return (index, k, witness(steps, k), nodes, SALT)


def transfers(start_nonce: int, n: int, typed: bool = True) -> list[bytes]:
    return [
        sign_transfer(KEYS[0], CHAIN_ID, start_nonce + i, USERS[1 + i % 3], 10**15 + i, typed=typed)
        for i in range(n)
    ]


def test_constructor_defaults(w3: Web3) -> None:
    env = make_env(w3)
    r = env.rollup.functions
    assert r.challengePeriod().call() == PERIOD
    assert r.minStake().call() == MIN_STAKE  # 0 selects the 1 ether default
    assert r.proposerBond().call() == BOND
    assert (r.l2ChainId().call(), r.l2BaseFee().call()) == (CHAIN_ID, BASE_FEE)
    assert bytes(r.tipRoot().call()) == state_trie(env.l2.state).root_hash
    art = load_artifact("Rollup")
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor(0, 0, 2, CHAIN_ID, BASE_FEE, b"\x00" * 32).transact(
        {"from": w3.eth.accounts[0]}
    )
    addr = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    assert (
        w3.eth.contract(address=addr, abi=art["abi"]).functions.challengePeriod().call()
        == 7 * 86400
    )
    for args, message in [
        ((0, 0, 0, CHAIN_ID, BASE_FEE, b"\x00" * 32), "proposerBond out of range"),
        ((0, 0, 1, CHAIN_ID, BASE_FEE, b"\x00" * 32), "proposerBond out of range"),
        ((0, 0, 10**24 + 1, CHAIN_ID, BASE_FEE, b"\x00" * 32), "proposerBond out of range"),
        ((0, 10**24 + 1, 2, CHAIN_ID, BASE_FEE, b"\x00" * 32), "minStake above MAX_AMOUNT"),
        ((9, 0, 2, CHAIN_ID, BASE_FEE, b"\x00" * 32), "challengePeriod out of range"),
        ((365 * 86400 + 1, 0, 2, CHAIN_ID, BASE_FEE, b"\x00" * 32), "challengePeriod out of"),
        ((2**64, 0, 2, CHAIN_ID, BASE_FEE, b"\x00" * 32), "challengePeriod out of range"),
        ((2**256 - 1, 0, 2, CHAIN_ID, BASE_FEE, b"\x00" * 32), "challengePeriod out of range"),
        ((0, 0, 2, CHAIN_ID, 0, b"\x00" * 32), "l2BaseFee out of range"),
        ((0, 0, 2, CHAIN_ID, 2**64, b"\x00" * 32), "l2BaseFee out of range"),
        ((0, 0, 2, 0, BASE_FEE, b"\x00" * 32), "l2ChainId out of range"),
        ((0, 0, 2, 2**64, BASE_FEE, b"\x00" * 32), "l2ChainId out of range"),
    ]:
        with pytest.raises(ContractLogicError, match=message):
            factory.constructor(*args).transact({"from": w3.eth.accounts[0]})


def test_submit_emits_commitment_and_finalizes(w3: Web3) -> None:
    env = make_env(w3)
    pre_root = state_trie(env.l2.state).root_hash
    steps, _ = env.l2.run([*transfers(0, 5), b"\x01junk"])
    receipt = submit(env, 0, pre_root, steps)
    (event,) = events(env, "BatchSubmitted", receipt)
    a = event["args"]
    block = w3.eth.get_block(receipt["blockNumber"])
    assert a["index"] == 0 and a["proposer"] == env.proposer
    assert bytes(a["prevRoot"]) == pre_root
    assert bytes(a["finalRoot"]) == steps[-1][1]
    assert bytes(a["stepsRoot"]) == steps_root(steps)
    assert a["count"] == len(steps)
    assert a["coinbase"] == to_checksum_address(env.coinbase)
    assert a["timestamp"] == block["timestamp"] and a["deadline"] == block["timestamp"] + PERIOD
    assert bytes(env.rollup.functions.tipRoot().call()) == steps[-1][1]
    assert env.rollup.functions.nextIndex().call() == 1

    reverts(env.rollup.functions.finalize(0), env.challenger, "challenge period not over")
    advance(w3, PERIOD + 1)
    receipt = send(w3, env.rollup.functions.finalize(0), env.challenger)
    assert events(env, "BatchFinalized", receipt)[0]["args"]["index"] == 0
    assert env.rollup.functions.getBatch(0).call()[8] == 2  # Finalized
    assert env.rollup.functions.finalizedCount().call() == 1
    # the proposer can now take its bond back
    send(w3, env.rollup.functions.releaseBond(), env.proposer)
    before = w3.eth.get_balance(env.proposer)
    receipt = send(w3, env.rollup.functions.withdraw(), env.proposer)
    paid = (
        w3.eth.get_balance(env.proposer)
        - before
        + receipt["gasUsed"] * receipt["effectiveGasPrice"]
    )
    assert paid == BOND


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 9])
def test_steps_root_matches_python(w3: Web3, count: int) -> None:
    env = make_env(w3)
    pre_root = state_trie(env.l2.state).root_hash
    steps, pre_states = env.l2.run(transfers(0, count, typed=count % 2 == 0))
    receipt = submit(env, 0, pre_root, steps)
    assert bytes(events(env, "BatchSubmitted", receipt)[0]["args"]["stepsRoot"]) == (
        steps_root(steps)
    )
    # every honest step survives a challenge attempt
    for k in range(count):
        reverts(
            env.rollup.functions.challenge(*challenge_args(env, 0, steps, k, pre_states[k])),
            env.challenger,
            "no fraud: the claimed root is correct",
            MIN_STAKE,
        )


def test_malformed_and_out_of_order_batches_are_refused(w3: Web3) -> None:
    env = make_env(w3)
    root = state_trie(env.l2.state).root_hash
    good = [(b"\x02", root)]
    submit_fn = env.rollup.functions.submitBatch
    cases = [
        (encode_batch(0, root, good, version=2), "unknown version"),
        (encode_batch(0, root, []), "count out of range"),
        (encode_batch(0, root, good) + b"\x00", "trailing bytes"),
        (encode_batch(0, root, good)[:-1], "truncated step"),
        (encode_batch(0, root, good)[:40], "shorter than the header"),
        (encode_batch(0, root, [(b"\x00" * 4097, root)]), "longer than MAX_TX_BYTES"),
        (encode_batch(1, root, good), "wrong batch index"),
        (encode_batch(0, b"\x11" * 32, good), "prev_root is not the tip"),
    ]
    too_many = encode_batch(0, root, good)
    too_many = too_many[:41] + (4097).to_bytes(4, "big") + too_many[45:]
    cases.append((too_many, "count out of range"))
    for data, message in cases:
        reverts(submit_fn(data), env.proposer, message)
    reverts(submit_fn(encode_batch(0, root, good)), env.challenger, "not a registered proposer")
    # a 4096-byte transaction and an empty one are fine (undecodable steps are still steps)
    submit(env, 0, root, [(b"\x00" * 4096, root), (b"", root)])


def test_fraud_rejects_batch_and_successors_and_slashes(w3: Web3) -> None:
    env = make_env(w3)
    root0 = state_trie(env.l2.state).root_hash
    steps0, pre0 = env.l2.run(transfers(0, 4))
    bad = list(steps0)
    wrong = keccak(b"wrong")
    bad[2] = (bad[2][0], wrong)  # step 2 claims a wrong root; later claims follow honestly
    submit(env, 0, root0, bad)
    send(w3, env.rollup.functions.depositBond(), env.proposer, 2 * BOND)  # a bond per batch
    steps1, _ = env.l2.run(transfers(4, 2))  # built on the honest state, chained on the bad root
    submit(env, 1, bad[-1][1], steps1)
    submit(env, 2, steps1[-1][1], env.l2.run(transfers(6, 1))[0])
    assert env.rollup.functions.nextIndex().call() == 3

    r = env.rollup.functions
    reverts(
        r.challenge(*challenge_args(env, 0, bad, 2, pre0[2])),
        env.challenger,
        "stake below minStake",
        1,
    )
    # a step before the fraud is correct
    reverts(
        r.challenge(*challenge_args(env, 0, bad, 1, pre0[1])), env.challenger, "no fraud", MIN_STAKE
    )
    # a proof for a different position fails
    args = list(challenge_args(env, 0, bad, 2, pre0[2]))
    args[1] = 3
    reverts(r.challenge(*args), env.challenger, "bad step inclusion proof", MIN_STAKE)
    # missing state nodes
    args = list(challenge_args(env, 0, bad, 2, pre0[2]))
    args[3] = args[3][:1]
    reverts(r.challenge(*args), env.challenger, "MPT: missing proof node", MIN_STAKE)

    receipt = send(
        w3, r.challenge(*challenge_args(env, 0, bad, 2, pre0[2])), env.challenger, MIN_STAKE
    )
    (fraud,) = events(env, "FraudProven", receipt)
    assert fraud["args"]["index"] == 0 and fraud["args"]["step"] == 2
    assert bytes(fraud["args"]["claimedRoot"]) == wrong
    assert bytes(fraud["args"]["computedRoot"]) == steps0[2][1]
    assert fraud["args"]["reason"] == Reason.VALID
    (rej,) = events(env, "BatchesRejected", receipt)
    assert (rej["args"]["fromIndex"], rej["args"]["toIndex"]) == (0, 2)
    assert bytes(rej["args"]["tipRoot"]) == root0
    (slash,) = events(env, "BondSlashed", receipt)
    assert slash["args"]["amount"] == BOND and slash["args"]["reward"] == BOND // 2

    assert r.nextIndex().call() == 0
    assert bytes(r.tipRoot().call()) == root0
    assert [r.getBatch(i).call()[8] for i in range(3)] == [3, 3, 3]  # Rejected
    assert r.owed(env.challenger).call() == MIN_STAKE + BOND // 2
    assert r.burned().call() == BOND - BOND // 2
    assert r.proposers(env.proposer).call()[0] == 0
    # nothing more to challenge or finalize
    reverts(
        r.challenge(*challenge_args(env, 1, steps1, 0, pre0[0])),
        env.challenger,
        "no such pending",
        MIN_STAKE,
    )
    reverts(r.finalize(0), env.challenger, "no such batch")
    # the slashed proposer cannot submit until it deposits a new bond
    reverts(r.submitBatch(encode_batch(0, root0, steps0)), env.proposer, "free bond below")
    send(w3, r.depositBond(), env.proposer, BOND)
    submit(env, 0, root0, steps0)
    assert r.getBatch(0).call()[8] == 1 and r.getBatch(1).call()[8] == 3
    # the bonds of batches 1 and 2 (rejected as successors of the fraud) go back to the proposer
    assert [r.getBatch(i).call()[9] for i in range(3)] == [BOND, BOND, BOND]
    reverts(r.releaseRejectedBond(0), env.challenger, "batch is not rejected")
    send(w3, r.releaseRejectedBond(2), env.challenger)
    reverts(r.releaseRejectedBond(2), env.challenger, "no bond locked")
    assert r.proposers(env.proposer).call()[0] == BOND
    submit(env, 1, steps0[-1][1], steps1)  # replacing batch 1 releases its old bond first
    assert r.proposers(env.proposer).call()[0] == BOND
    assert [r.getBatch(i).call()[9] for i in range(3)] == [BOND, BOND, 0]

    before = w3.eth.get_balance(env.challenger)
    receipt = send(w3, r.withdraw(), env.challenger)
    paid = (
        w3.eth.get_balance(env.challenger)
        - before
        + receipt["gasUsed"] * receipt["effectiveGasPrice"]
    )
    assert paid == MIN_STAKE + BOND // 2
    reverts(r.withdraw(), env.challenger, "nothing owed")


def test_challenge_after_deadline_is_refused(w3: Web3) -> None:
    env = make_env(w3)
    root0 = state_trie(env.l2.state).root_hash
    steps, pre = env.l2.run(transfers(0, 1))
    bad = [(steps[0][0], keccak(b"x"))]
    submit(env, 0, root0, bad)
    reverts(env.rollup.functions.releaseBond(), env.proposer, "no free bond")
    advance(w3, PERIOD + 1)
    reverts(
        env.rollup.functions.challenge(*challenge_args(env, 0, bad, 0, pre[0])),
        env.challenger,
        "challenge period over",
        MIN_STAKE,
    )


# invalid: an invalid tx claimed to apply; noop: a valid tx claimed to be a no-op; reward: a wrong
# coinbase reward; new_to: a transfer to a new account; alias: sender is the coinbase (legacy tx).
FRAUD_VARIANTS = ["invalid", "noop", "reward", "new_to", "alias"]


def prove_variant(env: Env, variant: str) -> tuple[Any, bytes]:
    """Submits a batch whose last step is fraud of kind ``variant`` and proves it; returns the
    reveal's receipt and the honest post-step root (shared with bench/bench_gas.py)."""
    w3 = env.w3
    root0 = state_trie(env.l2.state).root_hash
    honest_txs = transfers(0, 3)
    if variant == "invalid":
        txs = [*honest_txs, sign_transfer(KEYS[1], CHAIN_ID, 5, USERS[2], 1)]  # bad nonce
    elif variant == "new_to":
        txs = [*honest_txs, sign_transfer(KEYS[1], CHAIN_ID, 0, b"\x77" * 20, 12345, typed=False)]
    elif variant == "alias":
        env.coinbase = env.l2.coinbase = USERS[2]
        send(w3, env.rollup.functions.register(to_checksum_address(USERS[2])), env.proposer)
        txs = [*honest_txs, sign_transfer(KEYS[2], CHAIN_ID, 0, USERS[2], 10**18, typed=False)]
    else:
        txs = [*honest_txs, sign_transfer(KEYS[1], CHAIN_ID, 0, USERS[3], 10**18)]
    steps, pre = env.l2.run(txs)
    k = len(txs) - 1
    pre_root = steps[k - 1][1]
    if variant == "invalid":
        wrong_state = dict(pre[k])
        wrong_state[USERS[1]] = Account(6, 0)
        wrong = state_trie(wrong_state).root_hash
    elif variant == "noop":
        wrong = pre_root
    elif variant == "reward":
        post = dict(env.l2.state)
        post[env.coinbase] = Account(0, post[env.coinbase].balance + 1)
        wrong = state_trie(post).root_hash
    else:
        wrong = keccak(b"garbage")
    bad = [*steps[:k], (steps[k][0], wrong)]
    submit(env, 0, root0, bad)
    receipt = send(
        w3,
        env.rollup.functions.challenge(*challenge_args(env, 0, bad, k, pre[k])),
        env.challenger,
        MIN_STAKE,
    )
    return receipt, steps[k][1]


@pytest.mark.parametrize("n_filler", [0, 50, 1000])
@pytest.mark.parametrize("variant", FRAUD_VARIANTS)
def test_fraud_variants(w3: Web3, variant: str, n_filler: int) -> None:
    env = make_env(w3, n_filler)
    receipt, honest_root = prove_variant(env, variant)
    (fraud,) = events(env, "FraudProven", receipt)
    assert bytes(fraud["args"]["computedRoot"]) == honest_root
    expected_reason = Reason.BAD_NONCE if variant == "invalid" else Reason.VALID
    assert fraud["args"]["reason"] == expected_reason


def test_large_batch_challenge_of_last_step(w3: Web3) -> None:
    """A MAX_STEPS-sized commitment: proofs of depth 12, fraud in the last step."""
    env = make_env(w3, 200)
    root0 = state_trie(env.l2.state).root_hash
    steps, _ = env.l2.run(transfers(0, 40))
    filler = [(b"", steps[-1][1])] * (4096 - 41)  # empty (undecodable) txs: no-ops
    last_tx = sign_transfer(KEYS[1], CHAIN_ID, 0, USERS[0], 1)
    all_steps = steps + filler + [(last_tx, keccak(b"bad"))]
    receipt = submit(env, 0, root0, all_steps)
    k = len(all_steps) - 1
    receipt = send(
        w3,
        env.rollup.functions.challenge(*challenge_args(env, 0, all_steps, k, env.l2.state)),
        env.challenger,
        MIN_STAKE,
    )
    assert len(step_proof(all_steps, k)) == 12
    (fraud,) = events(env, "FraudProven", receipt)
    assert (fraud["args"]["step"], bytes(fraud["args"]["claimedRoot"])) == (k, keccak(b"bad"))
    leaf = env.rollup.functions.stepLeaf(k, keccak(last_tx), keccak(b"bad")).call()
    assert bytes(leaf) == step_leaf(k, keccak(last_tx), keccak(b"bad"))
