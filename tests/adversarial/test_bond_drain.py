"""Attack (finding 3): the proposer drains the bond before the honest challenger can claim it.

Before the fix one bond per proposer paid for every batch: a fraudulent proposer submitted a real
fraud b and a throwaway fraud b+1, had an accomplice prove b+1 first (slashing the whole bond,
half of it back to the coalition), and the honest challenger who then proved b got nothing but
its stake. Cost to the coalition: the burned half of one bond. What stops it: every batch locks
``proposerBond`` of its own at submission and a challenge slashes only the challenged batch's
lock, so the proof of b is paid from b's bond whatever happened to other batches; the proposer's
``releaseBond`` releases only the free (unlocked) bond.
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3

from tests.adversarial.kit import (
    BOND,
    GAS_CHALLENGE,
    STAKE,
    Actor,
    Claimed,
    World,
    events,
    failed,
    fee,
    make_world,
    ok,
)

REWARD = BOND // 2
BURN = BOND - REWARD  # BOND is odd: the challenger gets the rounded-down half


def commit(world: World, who: Actor, index: int, step: int) -> bytes:
    salt = keccak(b"%s %d %d" % (who.address.encode(), index, step))
    ok(world.w3, who.send(world.address, world.commit_data(who, index, step, salt)))
    return salt


def reveal(world: World, who: Actor, batch: Claimed, step: int, salt: bytes) -> HexBytes:
    return who.send(world.address, world.proof(batch, step, salt), value=STAKE, gas=GAS_CHALLENGE)


def setup(w3: Web3, deposit: int, throwaway_fraud: bool = True) -> tuple[World, Claimed, Claimed]:
    """Batch 0 claims a wrong root at step 1 (its final root is honest); batch 1 follows it and
    claims a wrong root at step 0 (the throwaway), or is honest."""
    world = make_world(w3, proposer_bond_deposit=deposit)
    real = world.build(3, wrong=(1,))
    ok(w3, world.submit(real))
    throwaway = world.build(2, wrong=(0,) if throwaway_fraud else ())
    ok(w3, world.submit(throwaway))
    assert world.next_index() == 2
    assert [world.batch_bond(i) for i in (0, 1)] == [BOND, BOND]
    assert world.free_bond() == deposit - 2 * BOND
    return world, real, throwaway


def slashed(world: World, rcpt: Any) -> tuple[int, int, str]:
    (event,) = events(world, "BondSlashed", rcpt)
    return event["args"]["amount"], event["args"]["reward"], event["args"]["challenger"]


def test_accomplice_proving_the_throwaway_first_leaves_the_real_batch_bond(w3: Web3) -> None:
    world, real, throwaway = setup(w3, deposit=2 * BOND)
    honest, accomplice = Actor(w3, "honest"), Actor(w3, "accomplice")
    honest_salt = commit(world, honest, 0, 1)
    accomplice_salt = commit(world, accomplice, 1, 0)

    rcpt = ok(w3, reveal(world, accomplice, throwaway, 0, accomplice_salt))
    assert slashed(world, rcpt) == (BOND, REWARD, accomplice.address)
    assert world.next_index() == 1 and world.batch_bond(0) == BOND  # b's lock is untouched
    assert world.burned() == BURN

    rcpt = ok(w3, reveal(world, honest, real, 1, honest_salt))
    assert slashed(world, rcpt) == (BOND, REWARD, honest.address)
    assert world.owed(honest) == STAKE + REWARD  # the full half of b's bond
    assert world.owed(accomplice) == STAKE + REWARD
    assert world.burned() == 2 * BURN
    assert world.free_bond() == 0
    assert [world.batch_bond(i) for i in (0, 1)] == [0, 0]
    assert world.next_index() == 0
    for index in (0, 1):  # nothing left to release
        failed(
            w3,
            honest.send(world.address, world.data("releaseRejectedBond", index)),
            "no bond locked",
        )
    # the coalition (proposer + accomplice) is down 2 * BOND - REWARD = BOND + BURN


def test_honest_looking_successor_gets_its_bond_back_the_prover_is_paid_in_full(
    w3: Web3,
) -> None:
    world, real, _ = setup(w3, deposit=2 * BOND, throwaway_fraud=False)
    honest = Actor(w3, "honest")
    salt = commit(world, honest, 0, 1)
    rcpt = ok(w3, reveal(world, honest, real, 1, salt))
    assert slashed(world, rcpt) == (BOND, REWARD, honest.address)
    (rejected,) = events(world, "BatchesRejected", rcpt)
    assert (rejected["args"]["fromIndex"], rejected["args"]["toIndex"]) == (0, 1)
    assert world.owed(honest) == STAKE + REWARD and world.burned() == BURN
    # batch 1 was rejected only as a successor: its lock goes back, by anyone's call
    assert world.free_bond() == 0 and world.batch_bond(1) == BOND
    rcpt = ok(w3, honest.send(world.address, world.data("releaseRejectedBond", 1)))
    (released,) = events(world, "BatchBondReleased", rcpt)
    assert released["args"]["amount"] == BOND
    assert world.free_bond() == BOND and world.batch_bond(1) == 0


def test_reverse_order_the_accomplice_is_too_late_and_the_throwaway_bond_returns(
    w3: Web3,
) -> None:
    world, real, throwaway = setup(w3, deposit=2 * BOND)
    honest, accomplice = Actor(w3, "honest"), Actor(w3, "accomplice")
    honest_salt = commit(world, honest, 0, 1)
    accomplice_salt = commit(world, accomplice, 1, 0)
    ok(w3, reveal(world, honest, real, 1, honest_salt))
    accomplice_start = accomplice.balance()
    late = reveal(world, accomplice, throwaway, 0, accomplice_salt)
    rcpt = failed(w3, late, "no such pending batch")
    assert accomplice.balance() == accomplice_start - fee(rcpt)  # the stake came back
    assert world.owed(honest) == STAKE + REWARD
    assert world.owed(accomplice) == 0
    assert world.burned() == BURN
    assert world.free_bond() == 0 and world.batch_bond(1) == BOND
    ok(w3, accomplice.send(world.address, world.data("releaseRejectedBond", 1)))
    assert world.free_bond() == BOND and world.batch_bond(1) == 0


def test_release_bond_between_the_batches_and_the_challenges_frees_only_the_free_bond(
    w3: Web3,
) -> None:
    extra = 12_345
    world, real, throwaway = setup(w3, deposit=2 * BOND + extra)
    proposer, honest, accomplice = world.proposer, Actor(w3, "honest"), Actor(w3, "accomplice")
    honest_salt = commit(world, honest, 0, 1)
    accomplice_salt = commit(world, accomplice, 1, 0)

    rcpt = ok(w3, proposer.send(world.address, world.data("releaseBond")))
    (released,) = events(world, "BondReleased", rcpt)
    assert released["args"]["amount"] == extra
    assert world.free_bond() == 0 and world.owed(proposer) == extra
    assert [world.batch_bond(i) for i in (0, 1)] == [BOND, BOND]  # the locks stay
    failed(w3, proposer.send(world.address, world.data("releaseBond")), "no free bond")

    ok(w3, reveal(world, accomplice, throwaway, 0, accomplice_salt))
    ok(w3, reveal(world, honest, real, 1, honest_salt))
    assert world.owed(honest) == STAKE + REWARD
    assert world.owed(accomplice) == STAKE + REWARD
    assert world.burned() == 2 * BURN
    assert world.free_bond() == 0 and world.owed(proposer) == extra
    # the proposer withdraws exactly what was free, nothing of the locks
    before = proposer.balance()
    rcpt = ok(w3, proposer.send(world.address, world.data("withdraw")))
    assert proposer.balance() - before + fee(rcpt) == extra
