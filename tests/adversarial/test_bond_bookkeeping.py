"""Attack: a proposer submits more batches than its bond covers.

If the bond were checked but not locked per batch, one bond could back any number of pending
batches (each worth a fraud), and a challenger could be paid from a bond already spent. Cost:
nothing beyond gas. What stops it: ``submitBatch`` requires ``proposerBond`` of free bond and
locks it in the batch; ``finalize`` (callable by anyone, in order) returns exactly that lock to the
proposer's free bond, never to the caller.
"""

from __future__ import annotations

from web3 import Web3

from tests.adversarial.kit import (
    BOND,
    PERIOD,
    Actor,
    events,
    failed,
    fee,
    make_world,
    ok,
    rpc,
)

K = 3


def test_free_bond_for_k_batches_submits_k_and_finalize_returns_them_in_order(w3: Web3) -> None:
    world = make_world(w3, proposer_bond_deposit=K * BOND)
    proposer, stranger = world.proposer, Actor(w3, "stranger")
    for i in range(K):
        ok(w3, world.submit(world.build(2)))
        assert world.free_bond() == (K - 1 - i) * BOND
        assert world.batch_bond(i) == BOND
    extra = world.build(1)
    failed(w3, world.submit(extra), "free bond below proposerBond")
    ok(w3, proposer.send(world.address, world.data("depositBond"), value=BOND - 1))
    failed(w3, world.submit(extra), "free bond below proposerBond")  # one wei short
    assert world.next_index() == K and world.batch_status(K) == 0
    assert world.free_bond() == BOND - 1

    rpc(w3, "evm_increaseTime", PERIOD + 1)
    rpc(w3, "evm_mine")
    failed(w3, stranger.send(world.address, world.data("finalize", 1)), "finalize batches in order")
    # anyone finalizes; the lock goes to the proposer's free bond, not to the caller
    rcpt = ok(w3, stranger.send(world.address, world.data("finalize", 0)))
    assert events(world, "BatchFinalized", rcpt)[0]["args"]["index"] == 0
    assert world.free_bond() == 2 * BOND - 1 and world.batch_bond(0) == 0
    assert world.owed(stranger) == 0
    # the freed bond backs the next batch at once
    ok(w3, world.submit(extra))
    assert world.free_bond() == BOND - 1 and world.batch_bond(K) == BOND
    for i in range(1, K):
        ok(w3, stranger.send(world.address, world.data("finalize", i)))
        assert world.free_bond() == i * BOND + BOND - 1
        assert world.batch_status(i) == 2 and world.batch_bond(i) == 0
    failed(
        w3,
        stranger.send(world.address, world.data("finalize", K)),
        "challenge period not over",
    )
    failed(w3, stranger.send(world.address, world.data("finalize", 0)), "finalize batches in order")
    assert world.free_bond() == K * BOND - 1
    # everything free comes back to the wei; batch K's lock stays until it is final
    ok(w3, proposer.send(world.address, world.data("releaseBond")))
    before = proposer.balance()
    rcpt = ok(w3, proposer.send(world.address, world.data("withdraw")))
    assert proposer.balance() - before + fee(rcpt) == K * BOND - 1
    assert world.batch_bond(K) == BOND and world.free_bond() == 0
