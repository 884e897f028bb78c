"""Attacks on the deposit queue (docs/protocol.md §8.4): a proposer that invents a deposit,
reorders, alters or malforms one, or censors one; and a challenge that sends the deposits of a
rejected batch back to the queue.

What stops them: ``submitBatch`` checks every 0x7e step against the queue in order, and refuses
any batch while the oldest pending deposit is older than DEPOSIT_INCLUSION_DELAY; a successful
challenge resets ``depositsConsumed`` to the rejected batch's ``depositStart``.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from tests.adversarial.bridge_kit import (
    BRIDGE,
    DELAY,
    MAX_DEPOSIT,
    SUPPLY,
    Users,
    bridge_world,
    challenge,
    deposit,
    deposit_step,
    queued,
    root_with,
    run,
)
from tests.adversarial.kit import (
    ETHER,
    Actor,
    call_reason,
    events,
    failed,
    ok,
    rpc,
)
from tests.contracts.contract_reference import Account, encode_batch, state_trie
from tests.contracts.test_rollup import USERS

NEW = b"\x5e" * 20  # an L2 account the genesis does not have


def advance(w3: Web3, seconds: int) -> None:
    rpc(w3, "evm_increaseTime", seconds)
    rpc(w3, "evm_mine")


def test_deposit_rules_queue_event_and_bridge_balance(w3: Web3) -> None:
    world = bridge_world(w3)
    fn = world.fn
    assert fn.genesisSupply().call() == SUPPLY and fn.bridgeBalance().call() == SUPPLY
    assert w3.eth.get_balance(world.address) == SUPPLY + world.free_bond()
    assert (fn.PROTOCOL_VERSION().call(), fn.DEPOSIT_INCLUSION_DELAY().call()) == (2, DELAY)
    assert fn.BRIDGE_ADDRESS().call() == to_checksum_address(BRIDGE)
    assert fn.MAX_DEPOSIT().call() == MAX_DEPOSIT
    whale = Actor(w3, "whale", balance=2 * MAX_DEPOSIT)
    for value, recipient, reason in [
        (0, NEW, "Rollup: deposit of zero"),
        (MAX_DEPOSIT + 1, NEW, "Rollup: deposit above MAX_DEPOSIT"),
        (1, BRIDGE, "Rollup: deposit to the bridge address"),
    ]:
        data = world.data("deposit", to_checksum_address(recipient))
        assert reason in str(call_reason(w3, whale.address, world.address, data, value))
        failed(w3, deposit(world, whale, recipient, value), reason)
    assert fn.depositCount().call() == 0 and fn.bridgeBalance().call() == SUPPLY

    amounts = [1, MAX_DEPOSIT, 3 * ETHER + 7]
    recipients = [NEW, USERS[1], NEW]
    for i, (amount, recipient) in enumerate(zip(amounts, recipients, strict=True)):
        before = w3.eth.get_balance(world.address)
        rcpt = ok(w3, deposit(world, whale, recipient, amount))
        ts = w3.eth.get_block(rcpt["blockNumber"])["timestamp"]
        (ev,) = events(world, "DepositQueued", rcpt)
        assert dict(ev["args"]) == {
            "index": i,
            "sender": whale.address,
            "recipient": to_checksum_address(recipient),
            "amount": amount,
            "timestamp": ts,
        }
        assert queued(world, i) == (recipient, amount, ts)
        assert w3.eth.get_balance(world.address) == before + amount
    assert fn.depositCount().call() == 3 and fn.depositsConsumed().call() == 0
    assert fn.bridgeBalance().call() == SUPPLY + sum(amounts)
    assert queued(world, 3) == (b"\x00" * 20, 0, 0)  # no such entry


def test_deposit_steps_must_match_the_queue(w3: Web3) -> None:
    world = bridge_world(w3, proposer_bond_deposit=10 * ETHER)
    depositor = Actor(w3, "depositor")
    ok(w3, deposit(world, depositor, NEW, 5 * ETHER))
    ok(w3, deposit(world, depositor, USERS[2], 7))
    root = world.tip_root()
    good = [deposit_step(0, NEW, 5 * ETHER), deposit_step(1, USERS[2], 7)]

    def refused(txs: list[bytes], reason: str) -> None:
        data = world.data("submitBatch", encode_batch(0, root, [(tx, root) for tx in txs]))
        got = call_reason(w3, world.proposer.address, world.address, data)
        assert got is not None and f"Rollup: {reason}" in got, got

    refused([deposit_step(2, NEW, 1)], "deposit step out of order")  # invented, out of order
    refused([*good, deposit_step(2, NEW, 1)], "deposit step not in the queue")  # invented
    refused([good[1], good[0]], "deposit step out of order")
    refused([good[0], good[0]], "deposit step out of order")  # a deposit credited twice
    refused([deposit_step(0, NEW, 5 * ETHER + 1)], "deposit step does not match the queue")
    refused([deposit_step(0, USERS[0], 5 * ETHER)], "deposit step does not match the queue")
    refused([good[0], deposit_step(1, USERS[2], 0)], "deposit step does not match the queue")
    refused([good[0] + b"\x00"], "malformed deposit step")
    refused([good[0][:-1]], "malformed deposit step")
    refused([b"\x7e"], "malformed deposit step")
    # the checks run step by step while parsing (§8.4): a deposit step is checked right after
    # its own length fields, so a malformation after it is reported only if it matches
    for first, reason in [(good[0], "trailing bytes"), (deposit_step(9, NEW, 1), "out of order")]:
        data = world.data("submitBatch", encode_batch(0, root, [(first, root)]) + b"\x00")
        assert reason in str(call_reason(w3, world.proposer.address, world.address, data))
    # the honest batch, deposits between transfers, is accepted: getBatch records the range
    users = Users()
    batch = run(
        world, [users.transfer(0, USERS[1], 1), good[0], users.transfer(0, NEW, 2), good[1]]
    )
    rcpt = ok(w3, world.submit(batch))
    assert rcpt["status"] == 1
    got = world.fn.getBatch(0).call()
    assert (got[10], got[11]) == (0, 2)
    assert world.fn.depositsConsumed().call() == 2
    assert world.l2.state[NEW].balance == 5 * ETHER + 2  # the reference credited them
    # consumed deposits cannot be credited again
    refused_next = world.data(
        "submitBatch", encode_batch(1, batch.final_root, [(good[0], batch.final_root)])
    )
    got_reason = call_reason(w3, world.proposer.address, world.address, refused_next)
    assert "deposit step out of order" in str(got_reason)


def test_censoring_proposer_is_stuck_until_it_includes_the_deposit(w3: Web3) -> None:
    world = bridge_world(w3, proposer_bond_deposit=10 * ETHER)
    users = Users()
    depositor = Actor(w3, "depositor")
    rcpt = ok(w3, deposit(world, depositor, NEW, ETHER))
    queued_at = w3.eth.get_block(rcpt["blockNumber"])["timestamp"]
    # before the delay a batch may leave it pending
    b0 = run(world, [users.transfer(0, USERS[1], 1)])
    ok(w3, world.submit(b0))
    assert world.fn.getBatch(0).call()[10:12] == (0, 0)
    assert world.fn.depositsConsumed().call() == 0
    # at exactly queued_at + DELAY it still may
    rpc(w3, "evm_setNextBlockTimestamp", queued_at + DELAY)
    ok(w3, world.submit(run(world, [users.transfer(0, USERS[1], 1)])))
    # one second later, no batch without it is accepted, however the proposer tries
    rpc(w3, "evm_setNextBlockTimestamp", queued_at + DELAY + 1)
    skip = run(world, [users.transfer(0, USERS[1], 1)])
    failed(w3, world.submit(skip), "Rollup: oldest pending deposit is overdue")
    advance(w3, 3 * DELAY)
    for txs in ([users.unsigned_nonce_tx(0, USERS[1], 1, 99)], [b"\x02junk"]):
        data = world.data(
            "submitBatch", encode_batch(2, world.tip_root(), [(txs[0], world.tip_root())])
        )
        reason = call_reason(w3, world.proposer.address, world.address, data)
        assert "oldest pending deposit is overdue" in str(reason)
    # a later deposit does not help: the oldest one is the one that must go in
    ok(w3, deposit(world, depositor, USERS[3], 2))
    data = world.data(
        "submitBatch",
        encode_batch(2, world.tip_root(), [(deposit_step(1, USERS[3], 2), world.tip_root())]),
    )
    assert "deposit step out of order" in str(
        call_reason(w3, world.proposer.address, world.address, data)
    )
    # including the oldest one is enough (the second is not overdue yet)
    world.l2.state = skip.pre[0]  # `skip` advanced the model: back to the tip
    b2 = run(world, [deposit_step(0, NEW, ETHER)])
    rcpt = ok(w3, world.submit(b2))
    assert world.fn.depositsConsumed().call() == 1
    assert world.fn.getBatch(2).call()[10:12] == (0, 1)


def test_rejection_requeues_the_deposits_of_the_rejected_batches(w3: Web3) -> None:
    world = bridge_world(w3, proposer_bond_deposit=10 * ETHER)
    users = Users()
    depositor = Actor(w3, "depositor")
    challenger = Actor(w3, "challenger")
    for amount in (ETHER, 2 * ETHER, 3 * ETHER):
        ok(w3, deposit(world, depositor, NEW, amount))
    b0 = run(world, [deposit_step(0, NEW, ETHER)])
    ok(w3, world.submit(b0))
    start = world.l2.state
    # batch 1 consumes deposit 1 and lies about the transfer after it; batch 2 builds on it
    b1 = run(
        world,
        [deposit_step(1, NEW, 2 * ETHER), users.transfer(0, USERS[1], 5)],
        claimed={1: bytes(keccak(b"a lie"))},
    )
    ok(w3, world.submit(b1))
    b2 = run(world, [deposit_step(2, NEW, 3 * ETHER)])
    b2.prev_root = b1.final_root
    ok(w3, world.submit(b2))
    assert world.fn.depositsConsumed().call() == 3
    rcpt = ok(w3, challenge(world, challenger, b1, 1))
    (ev,) = events(world, "BatchesRejected", rcpt)
    assert (ev["args"]["fromIndex"], ev["args"]["toIndex"]) == (1, 2)
    assert world.fn.depositsConsumed().call() == 1  # deposits 1 and 2 are pending again
    assert world.fn.bridgeBalance().call() == SUPPLY + 6 * ETHER  # nothing paid out
    # the replacement must consume them again, in order, from deposit 1
    world.l2.state = start
    skip_one = run(world, [deposit_step(2, NEW, 3 * ETHER)])
    failed(w3, world.submit(skip_one), "Rollup: deposit step out of order")
    world.l2.state = start
    redo = run(world, [deposit_step(1, NEW, 2 * ETHER), deposit_step(2, NEW, 3 * ETHER)])
    assert redo.index == 1
    ok(w3, world.submit(redo))
    assert world.fn.getBatch(1).call()[10:12] == (1, 3)
    assert world.fn.depositsConsumed().call() == 3
    assert world.l2.state[NEW] == Account(0, 6 * ETHER)
    assert world.tip_root() == state_trie(world.l2.state).root_hash


@pytest.mark.parametrize("credited", ["more", "other", "none"])
def test_wrongly_credited_deposit_is_proven_fraud(w3: Web3, credited: str) -> None:
    world = bridge_world(w3)
    depositor, challenger = Actor(w3, "depositor"), Actor(w3, "challenger")
    ok(w3, deposit(world, depositor, USERS[1], ETHER))
    pre = world.l2.state
    if credited == "more":  # the step credits 100 ether instead of 1
        lie = {USERS[1]: Account(0, pre[USERS[1]].balance + 100 * ETHER)}
    elif credited == "other":  # the step credits the proposer's friend instead
        lie = {NEW: Account(0, ETHER)}
    else:  # the deposit is "consumed" but credits nobody: the claimed root is the pre-root
        lie = {}
    batch = run(world, [deposit_step(0, USERS[1], ETHER)], claimed={0: root_with(pre, lie)})
    ok(w3, world.submit(batch))
    rcpt = ok(w3, challenge(world, challenger, batch, 0))
    (fraud,) = events(world, "FraudProven", rcpt)
    assert fraud["args"]["reason"] == 0  # a deposit step is always valid
    assert bytes(fraud["args"]["computedRoot"]) == batch.honest[0]
    assert world.fn.depositsConsumed().call() == 0


def test_overdue_backlog_is_cleared_by_batches_of_deposit_steps_alone(w3: Web3) -> None:
    """A backlog too large for one batch cannot stop the rollup: while a deposit is overdue,
    batches of deposit steps alone are accepted, whatever they leave pending; nothing else is."""
    world = bridge_world(w3, proposer_bond_deposit=10 * ETHER)
    users, depositor = Users(), Actor(w3, "depositor")
    for i in range(4):
        ok(w3, deposit(world, depositor, NEW, i + 1))
    advance(w3, DELAY + 1)
    steps = [deposit_step(i, NEW, i + 1) for i in range(4)]
    tip = world.l2.state
    # one deposit and a transfer: deposit 1 is still overdue after it, so refused
    mixed = run(world, [steps[0], users.transfer(0, USERS[1], 1)])
    failed(w3, world.submit(mixed), "Rollup: oldest pending deposit is overdue")
    world.l2.state, users.nonces[0] = tip, 0
    ok(w3, world.submit(run(world, steps[:1])))  # deposits alone: accepted
    ok(w3, world.submit(run(world, steps[1:3])))
    assert world.fn.depositsConsumed().call() == 3
    # the last overdue deposit and a transfer after it: nothing overdue is left, accepted
    last = run(world, [steps[3], users.transfer(0, USERS[1], 1)])
    ok(w3, world.submit(last))
    assert world.fn.getBatch(2).call()[10:12] == (3, 4)
    assert world.l2.state[NEW].balance == 1 + 2 + 3 + 4
