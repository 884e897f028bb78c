"""Differential test: the withdrawals the Python core says a batch *claims*
(``watchtower.rollup.bridge.claimed_withdrawals``) are exactly the ones the rollup contract pays
through ``claimWithdrawal`` once the batch is final, with the witness the core builds
(``watchtower.proof.withdrawal.claim_witness``); and for an honest batch they are the
withdrawals the core's replay finds (``Verdict.flows``).

The batch mixes every kind of step §8.5 tells apart: withdrawals (typed and legacy), a transfer
elsewhere, a deposit step, a zero-value transfer to the bridge, an invalid transfer to the bridge
claimed as valid (a lie: claimable), a valid withdrawal claimed as a no-op (a lie: not
claimable), a withdrawal for another chain claimed as valid (not claimable: rule 2). Nobody
challenges, so the lies become final. The L2 side comes from the independent reference of
``tests/adversarial/bridge_kit``; the contract runs in anvil.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from eth_utils import keccak
from web3 import Web3

from tests.adversarial.bridge_kit import (
    BRIDGE,
    Users,
    bridge_world,
    deposit,
    deposit_step,
    run,
)
from tests.adversarial.kit import ETHER, Actor, call_reason, events, ok
from tests.adversarial.test_bridge_withdrawals import finalize_all
from tests.contracts.contract_reference import sign_transfer
from tests.contracts.test_rollup import BASE_FEE, CHAIN_ID, KEYS, USERS, genesis
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.statedb import StateDB
from watchtower.proof.withdrawal import claim_witness
from watchtower.rollup.bridge import Withdrawal, claimed_withdrawals
from watchtower.rollup.params import BRIDGE_ADDRESS, RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount, Step, VerdictKind

NEW = b"\x5e" * 20
PARAMS = RollupParams(chain_id=CHAIN_ID, base_fee=BASE_FEE)


def _core_batch(
    index: int, prev_root: bytes, steps: list[tuple[bytes, bytes]], coinbase: bytes
) -> Batch:
    ctx = BlockContext.of_batch(index, 0, coinbase, PARAMS)
    return Batch(index, prev_root, ctx, tuple(Step(tx, root) for tx, root in steps))


def test_claimable_withdrawals_are_what_the_core_says(w3: Web3, tmp_path: Path) -> None:
    assert BRIDGE == BRIDGE_ADDRESS
    world = bridge_world(w3, proposer_bond_deposit=10 * ETHER)
    users, stranger = Users(), Actor(w3, "stranger")
    ok(w3, deposit(world, Actor(w3, "depositor"), NEW, 2 * ETHER))
    legacy_nonce = 1  # user 2's transfer at step 4 uses nonce 0
    txs = [
        users.withdraw(1, 3 * ETHER + 5),  # 0: a withdrawal
        users.transfer(0, USERS[2], ETHER),  # 1: a transfer elsewhere
        deposit_step(0, NEW, 2 * ETHER),  # 2: a deposit step
        users.unsigned_nonce_tx(2, BRIDGE, ETHER, 7),  # 3: invalid (nonce), claimed as valid
        users.withdraw(2, 0),  # 4: to the bridge, zero value
        users.withdraw(1, 1),  # 5: a withdrawal of one wei
        users.withdraw(0, 5),  # 6: a withdrawal, claimed as a no-op
        sign_transfer(KEYS[1], CHAIN_ID + 1, 9, BRIDGE, 5),  # 7: another chain, claimed valid
        sign_transfer(KEYS[2], CHAIN_ID, legacy_nonce, BRIDGE, 7, typed=False),  # 8: legacy
    ]
    honest = run(world, txs)
    # the honest batch, before the proposer lies
    honest_core = _core_batch(honest.index, honest.prev_root, honest.steps, world.coinbase)
    steps = list(honest.steps)
    steps[3] = (steps[3][0], bytes(keccak(b"a lie at step 3")))
    steps[6] = (steps[6][0], steps[5][1])  # "step 6 changed nothing"
    steps[7] = (steps[7][0], bytes(keccak(b"a lie at step 7")))
    lying = replace(honest, steps=steps, wrong=[3, 6, 7])
    ok(w3, world.submit(lying))
    finalize_all(world, 1)

    core = _core_batch(lying.index, lying.prev_root, steps, world.coinbase)
    predicted = claimed_withdrawals(core, PARAMS)
    assert [w.step for w in predicted] == [0, 3, 5, 8]  # the scenario is what it says

    paid: list[Withdrawal] = []
    for k in range(len(steps)):
        data = world.data("claimWithdrawal", lying.index, k, claim_witness(core, k))
        reason = call_reason(w3, stranger.address, world.address, data)
        if reason is not None:
            assert "step is not" in reason, (k, reason)  # never a bad inclusion proof
            continue
        rcpt = ok(w3, stranger.send(world.address, data))
        (ev,) = events(world, "WithdrawalClaimed", rcpt)
        args = ev["args"]
        account = bytes.fromhex(args["account"][2:])
        paid.append(Withdrawal(args["index"], args["step"], account, args["amount"]))
    assert tuple(paid) == predicted

    # The honest batch: the core's replay finds the withdrawals the claims would be.
    alloc = {
        a: GenesisAccount(balance=acc.balance, nonce=acc.nonce) for a, acc in genesis().items()
    }
    with StateDB(tmp_path / "s", sync=False) as store:
        assert init_genesis(store, alloc) == honest.prev_root
        verdict = replay_batch(store, honest_core, commit=False)
        assert verdict.kind is VerdictKind.VALID, verdict.reason
        assert verdict.flows.withdrawals == claimed_withdrawals(honest_core, PARAMS)
        assert [w.step for w in verdict.flows.withdrawals] == [0, 5, 6, 8]
        assert verdict.flows.deposited == 2 * ETHER
