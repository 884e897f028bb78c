"""Residual behaviour: a proposer challenges its own fraud from a second account.

Who: a fraudulent proposer that expects to be caught, and a second key of its own. It commits to
the challenge of its own wrong step before the batch even exists (the index and step are its to
choose) and reveals it in the very block that carries the batch, ahead of any watcher. Gain: the
challenger's half of the bond comes back to it, and no honest challenger earns anything. Cost:
the other half of the batch's bond, burned (at least half: the challenger's half is rounded
down), plus gas. What it cannot do: make the fraud stick — the batch is rejected in the block that
carries it. So the commit–reveal scheme bounds a self-challenging proposer's loss below at
``proposerBond - proposerBond / 2`` per fraudulent batch; it does not guarantee a watcher the
reward.
"""

from __future__ import annotations

from eth_utils import keccak
from web3 import Web3

from tests.adversarial.kit import (
    BOND,
    GAS_CHALLENGE,
    GWEI,
    MAX_FEE,
    STAKE,
    Actor,
    events,
    failed,
    fee,
    make_world,
    manual_mining,
    mine,
    ok,
    receipt,
)

REWARD = BOND // 2
BURN = BOND - REWARD


def test_self_challenge_in_the_block_of_the_batch_rejects_it_and_burns_half_the_bond(
    w3: Web3,
) -> None:
    world = make_world(w3, proposer_bond_deposit=BOND)
    proposer, sidekick, honest = world.proposer, Actor(w3, "sidekick"), Actor(w3, "honest")
    genesis_root = world.tip_root()
    batch = world.build(3, wrong=(1,))
    salt = keccak(b"self")
    # the commitment is made before the batch exists
    ok(w3, sidekick.send(world.address, world.commit_data(sidekick, 0, 1, salt)))
    mine(w3)
    proposer_start, sidekick_start = proposer.balance(), sidekick.balance()
    with manual_mining(w3):
        submit_tx = world.submit(batch, tip=2 * GWEI, max_fee=2 * MAX_FEE)
        reveal_tx = sidekick.send(
            world.address, world.proof(batch, 1, salt), value=STAKE, gas=GAS_CHALLENGE
        )
        block = mine(w3)
    submitted, revealed = receipt(w3, submit_tx), receipt(w3, reveal_tx)
    assert submitted["blockNumber"] == revealed["blockNumber"] == block
    assert submitted["transactionIndex"] < revealed["transactionIndex"]
    ok(w3, submit_tx)
    ok(w3, reveal_tx)
    (slash,) = events(world, "BondSlashed", revealed)
    assert slash["args"]["proposer"] == proposer.address
    assert (slash["args"]["amount"], slash["args"]["reward"]) == (BOND, REWARD)

    # the fraud failed: the batch is rejected, the tip is genesis again
    assert world.next_index() == 0 and world.batch_status(0) == 3
    assert world.tip_root() == genesis_root
    # the numbers the threat model cites
    assert world.burned() == BURN  # >= BOND / 2, gone for good
    assert world.owed(sidekick) == STAKE + REWARD
    assert world.free_bond() == 0 and world.batch_bond(0) == 0
    coalition_before = proposer_start + sidekick_start + BOND  # the bond was the proposer's
    coalition_after = proposer.balance() + sidekick.balance() + world.owed(sidekick)
    gas = fee(submitted) + fee(revealed)
    assert coalition_before - coalition_after == BURN + gas

    # a watcher that saw the batch is too late: nothing pending to prove, its stake comes back
    honest_salt = keccak(b"honest")
    ok(w3, honest.send(world.address, world.commit_data(honest, 0, 1, honest_salt)))
    mine(w3)
    start = honest.balance()
    rcpt = failed(
        w3,
        honest.send(
            world.address, world.proof(batch, 1, honest_salt), value=STAKE, gas=GAS_CHALLENGE
        ),
        "no such pending batch",
    )
    assert honest.balance() == start - fee(rcpt) and world.owed(honest) == 0
