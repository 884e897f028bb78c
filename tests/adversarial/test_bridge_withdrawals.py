"""Claims of withdrawals on L1 (docs/protocol.md §8.5), from outsiders' accounts.

Attacks: claim twice, claim before finalization or from a rejected batch, claim a step that is
not a withdrawal (a transfer elsewhere, a deposit step, an invalid no-op to the bridge, a
zero-value one), or a step with a bad inclusion proof. What stops them: the claim checks the
step against the finalized batch's commitment, that its root changed (a valid transaction) and
rules 1-9 (a transfer to BRIDGE_ADDRESS with value > 0), and marks it claimed.

What does NOT stop a forged withdrawal once its batch is final: the contract trusts finalized
roots. A withdrawal the sender could not afford, claimed as valid and left unchallenged for the
whole window, is paid. That is why watchers must challenge within the period.
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from web3 import Web3

from tests.adversarial.bridge_kit import (
    BRIDGE,
    SUPPLY,
    Users,
    bridge_world,
    challenge,
    claim,
    claim_data,
    deposit,
    deposit_step,
    l1_account_of,
    run,
)
from tests.adversarial.kit import (
    ETHER,
    PERIOD,
    Actor,
    Claimed,
    World,
    call_reason,
    events,
    failed,
    fee,
    ok,
    rpc,
)
from tests.contracts.test_rollup import USERS, witness

NEW = b"\x5e" * 20


def finalize_all(world: World, upto: int) -> None:
    rpc(world.w3, "evm_increaseTime", PERIOD + 1)
    rpc(world.w3, "evm_mine")
    anyone = Actor(world.w3, "finalizer")
    for i in range(int(world.fn.finalizedCount().call()), upto):
        ok(world.w3, anyone.send(world.address, world.data("finalize", i)))


def reason_of(world: World, who: Actor, data: bytes) -> str:
    return str(call_reason(world.w3, who.address, world.address, data))


def test_honest_claims_pay_the_sender_once_and_nothing_else_is_claimable(w3: Web3) -> None:
    world = bridge_world(w3, proposer_bond_deposit=10 * ETHER)
    users, stranger = Users(), Actor(w3, "stranger")
    depositor = Actor(w3, "depositor")
    ok(w3, deposit(world, depositor, NEW, 2 * ETHER))
    batch = run(
        world,
        [
            users.withdraw(1, 3 * ETHER + 5),  # 0: a withdrawal
            users.transfer(0, USERS[2], ETHER),  # 1: a transfer elsewhere
            deposit_step(0, NEW, 2 * ETHER),  # 2: a deposit step
            users.unsigned_nonce_tx(2, BRIDGE, ETHER, 7),  # 3: invalid (nonce): a no-op
            users.withdraw(2, 0),  # 4: valid, to the bridge, but zero value
            users.withdraw(1, 1),  # 5: a second withdrawal, of one wei
        ],
    )
    assert batch.honest[2] != batch.honest[1] and batch.honest[3] == batch.honest[2]
    ok(w3, world.submit(batch))
    assert "Rollup: batch is not finalized" in reason_of(
        world, stranger, claim_data(world, batch, 0)
    )
    failed(w3, claim(world, stranger, batch, 0), "Rollup: batch is not finalized")
    finalize_all(world, 1)

    balance = int(world.fn.bridgeBalance().call())
    assert balance == SUPPLY + 2 * ETHER
    held = int(w3.eth.get_balance(world.address))
    rcpt = ok(w3, claim(world, stranger, batch, 0))  # anyone may claim; the sender is paid
    (ev,) = events(world, "WithdrawalClaimed", rcpt)
    assert dict(ev["args"]) == {
        "index": 0,
        "step": 0,
        "account": Web3.to_checksum_address(USERS[1]),
        "amount": 3 * ETHER + 5,
    }
    assert world.fn.owed(USERS[1]).call() == 3 * ETHER + 5
    assert world.owed(stranger) == 0
    assert world.fn.bridgeBalance().call() == balance - (3 * ETHER + 5)
    assert world.fn.withdrawalClaimed(0, 0).call() and not world.fn.withdrawalClaimed(0, 5).call()
    assert w3.eth.get_balance(world.address) == held  # credited, not yet paid
    failed(w3, claim(world, stranger, batch, 0), "Rollup: withdrawal already claimed")
    for k, reason in [
        (1, "step is not a withdrawal"),
        (2, "step is not a withdrawal"),
        (3, "step is not a valid transaction"),
        (4, "step is not a withdrawal"),
    ]:
        failed(w3, claim(world, stranger, batch, k), f"Rollup: {reason}")
    # proofs: another position, a step beyond the batch, a forged previous root
    wrong_pos = world.data("claimWithdrawal", 0, 4, claim_args(batch, 5))
    assert "bad step inclusion proof" in reason_of(world, stranger, wrong_pos)
    beyond = world.data("claimWithdrawal", 0, 6, claim_args(batch, 5))
    assert "step out of range" in reason_of(world, stranger, beyond)
    forged = list(claim_args(batch, 5))
    forged[4] = batch.honest[5]  # "the root before was the root after": not the committed one
    data = world.data("claimWithdrawal", 0, 5, tuple(forged))
    assert "bad previous step inclusion proof" in reason_of(world, stranger, data)

    rcpt = ok(w3, claim(world, stranger, batch, 5))
    assert events(world, "WithdrawalClaimed", rcpt)[0]["args"]["amount"] == 1
    assert world.fn.bridgeBalance().call() == balance - (3 * ETHER + 6)
    # the L1 account of the L2 sender withdraws exactly what it is owed
    user1 = l1_account_of(1, w3)
    before = user1.balance()
    rcpt = ok(w3, user1.send(world.address, world.data("withdraw")))
    assert user1.balance() == before + 3 * ETHER + 6 - fee(rcpt)
    assert w3.eth.get_balance(world.address) == held - (3 * ETHER + 6)
    # conservation, to the wei: what the contract holds is the bridge balance plus bonds
    assert w3.eth.get_balance(world.address) == world.fn.bridgeBalance().call() + world.free_bond()


def claim_args(batch: Claimed, k: int) -> tuple[Any, ...]:
    return witness(batch.steps, k)


def test_claims_against_pending_and_rejected_batches_revert(w3: Web3) -> None:
    world = bridge_world(w3, proposer_bond_deposit=10 * ETHER)
    users, challenger, stranger = Users(), Actor(w3, "challenger"), Actor(w3, "stranger")
    b0 = run(world, [users.withdraw(1, ETHER)])
    ok(w3, world.submit(b0))
    b1 = run(world, [users.withdraw(2, ETHER)], claimed={0: bytes(keccak(b"lie"))})
    ok(w3, world.submit(b1))
    b2 = run(world, [users.withdraw(3, ETHER)])
    ok(w3, world.submit(b2))
    ok(w3, challenge(world, challenger, b1, 0))
    finalize_all(world, 1)
    assert world.fn.finalizedCount().call() == 1 and world.next_index() == 1
    for batch in (b1, b2):  # rejected (b2 lazily)
        failed(w3, claim(world, stranger, batch, 0), "Rollup: batch is not finalized")
    ok(w3, claim(world, stranger, b0, 0))
    assert world.fn.bridgeBalance().call() == SUPPLY - ETHER


def test_forged_withdrawal_in_a_finalized_batch_is_paid(w3: Web3) -> None:
    """Why watchers must challenge in time: the contract pays what a finalized root says."""
    world = bridge_world(w3, proposer_bond_deposit=10 * ETHER)
    users, thief = Users(), Actor(w3, "thief")
    # user 3 holds 100 ether on L2 and "withdraws" 300: invalid, claimed as valid
    forged = users.withdraw(3, 300 * ETHER)
    batch = run(world, [forged], claimed={0: bytes(keccak(b"user 3 had 300 ether"))})
    assert batch.honest[0] == batch.prev_root  # honestly a no-op
    ok(w3, world.submit(batch))
    too_much = users.withdraw(3, SUPPLY + 1)  # more than the bridge holds
    b1 = run(world, [too_much], claimed={0: bytes(keccak(b"and more"))})
    ok(w3, world.submit(b1))
    finalize_all(world, 2)
    rcpt = ok(w3, claim(world, thief, batch, 0))
    assert events(world, "WithdrawalClaimed", rcpt)[0]["args"]["amount"] == 300 * ETHER
    assert world.fn.owed(USERS[3]).call() == 300 * ETHER
    assert world.fn.bridgeBalance().call() == SUPPLY - 300 * ETHER
    failed(w3, claim(world, thief, b1, 0), "Rollup: bridge balance too low")
    assert not world.fn.withdrawalClaimed(1, 0).call()  # the revert undid the mark
