"""Attack: a mempool bot steals the challenger's reward by front-running its fraud proof.

A fraud proof is public the moment it is broadcast: before the fix, a bot copying the pending
``challenge`` transaction with a higher tip got the stake back plus half the proposer's bond, and
the honest challenger's transaction reverted. Cost to the bot: gas, plus the stake it sends (which
it gets back when its copy reverts). What stops it: commit–reveal bound to the sender. The
commitment is ``keccak256(abi.encode(challenger, index, step, salt))``, recorded per sender and
usable only from a later block; a copied commit is recorded under the bot's own address for a hash
naming the honest challenger, which the bot can never reveal; a copied reveal finds no commitment;
and a bot that commits only once it sees the reveal in the pool is one block too late.
These tests switch automine off and mine by hand; the bot outbids the honest transactions on
both the tip and the fee cap (anvil orders its pool by the fee cap).
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from tests.adversarial.kit import (
    BOND,
    GAS_CHALLENGE,
    GAS_COMMIT,
    GWEI,
    MAX_FEE,
    STAKE,
    Actor,
    World,
    call_reason,
    commitment,
    events,
    failed,
    fee,
    make_world,
    manual_mining,
    mine,
    ok,
    receipt,
    rpc,
)

REWARD = BOND // 2
BOT_TIP = 50 * GWEI
BOT_MAX_FEE = 2 * MAX_FEE


class CopyBot:
    """Watches the pending pool and resends every transaction other accounts send to the rollup:
    same calldata, value and gas, from its own account with its own nonce and a higher tip."""

    def __init__(self, world: World, actor: Actor) -> None:
        self.world = world
        self.actor = actor
        self.seen: set[str] = set()
        self.copies: list[HexBytes] = []

    def pending(self) -> list[dict[str, Any]]:
        """Pending transactions to the rollup from anyone else (anvil's ``txpool_content``)."""
        pool = rpc(self.world.w3, "txpool_content")["pending"]
        out = []
        for sender, by_nonce in pool.items():
            if sender.lower() == self.actor.address.lower():
                continue
            for tx in by_nonce.values():
                if (tx.get("to") or "").lower() == self.world.address.lower():
                    out.append(tx)
        return out

    def copy_all(self) -> list[HexBytes]:
        new = []
        for tx in self.pending():
            if tx["hash"] in self.seen:
                continue
            self.seen.add(tx["hash"])
            new.append(
                self.actor.send(
                    tx["to"],
                    HexBytes(tx["input"]),
                    value=int(tx["value"], 16),
                    gas=int(tx["gas"], 16),
                    tip=int(tx["maxPriorityFeePerGas"], 16) * 10 + GWEI,
                    max_fee=int(tx["maxFeePerGas"], 16) * 2,
                )
            )
        self.copies += new
        return new


def fraud_on_chain(w3: Web3, wrong: tuple[int, ...] = (1,), n: int = 3) -> tuple[World, Any]:
    world = make_world(w3)
    batch = world.build(n, wrong=wrong)
    ok(w3, world.submit(batch))
    return world, batch


def position(w3: Web3, tx_hash: HexBytes) -> tuple[int, int]:
    rcpt = receipt(w3, tx_hash)
    return int(rcpt["blockNumber"]), int(rcpt["transactionIndex"])


def test_bot_copying_every_challenge_transaction_is_owed_nothing(w3: Web3) -> None:
    world, batch = fraud_on_chain(w3)
    honest, bot_actor = Actor(w3, "honest"), Actor(w3, "bot")
    bot = CopyBot(world, bot_actor)
    honest_start, bot_start = honest.balance(), bot_actor.balance()
    salt = keccak(b"honest salt")
    with manual_mining(w3):
        commit_tx = honest.send(
            world.address, world.commit_data(honest, 0, 1, salt), gas=GAS_COMMIT, tip=GWEI
        )
        (bot_commit,) = bot.copy_all()
        commit_block = mine(w3)
        reveal_tx = honest.send(
            world.address, world.proof(batch, 1, salt), value=STAKE, gas=GAS_CHALLENGE, tip=GWEI
        )
        (bot_reveal,) = bot.copy_all()
        mine(w3)

    # the copies were mined first, in the same blocks as the originals
    for copy, original in [(bot_commit, commit_tx), (bot_reveal, reveal_tx)]:
        (copy_block, copy_pos), (block, pos) = position(w3, copy), position(w3, original)
        assert copy_block == block and copy_pos < pos
    # the copied commit "succeeds" but records the honest challenger's hash under the bot
    ok(w3, bot_commit)
    honest_c = commitment(honest.address, 0, 1, batch.honest[1], salt)
    assert world.fn.commitments(bot_actor.address, honest_c).call() == commit_block
    # the copied reveal finds no commitment of the bot's
    failed(w3, bot_reveal, "no commitment for this challenge")
    rcpt = ok(w3, reveal_tx)
    (fraud,) = events(world, "FraudProven", rcpt)
    assert fraud["args"]["challenger"] == honest.address
    assert (fraud["args"]["index"], fraud["args"]["step"]) == (0, 1)
    (slash,) = events(world, "BondSlashed", rcpt)
    assert (slash["args"]["amount"], slash["args"]["reward"]) == (BOND, REWARD)

    assert world.owed(bot_actor) == 0
    assert world.owed(honest) == STAKE + REWARD
    assert world.burned() == BOND - REWARD
    # the bot's stake came back with its revert: it lost exactly the gas of its two copies
    assert bot_actor.balance() == bot_start - sum(fee(receipt(w3, h)) for h in bot.copies)
    own_fees = fee(receipt(w3, commit_tx)) + fee(receipt(w3, reveal_tx))
    assert honest.balance() == honest_start - STAKE - own_fees
    # the honest challenger withdraws exactly stake + half the batch's bond
    before = honest.balance()
    rcpt = ok(w3, honest.send(world.address, world.data("withdraw")))
    assert honest.balance() - before + fee(rcpt) == STAKE + REWARD


def test_bot_committing_after_seeing_the_reveal_is_one_block_late(w3: Web3) -> None:
    world, batch = fraud_on_chain(w3)
    honest, bot = Actor(w3, "honest"), Actor(w3, "bot")
    bot_start = bot.balance()
    salt, bot_salt = keccak(b"honest salt"), keccak(b"bot salt")
    ok(w3, honest.send(world.address, world.commit_data(honest, 0, 1, salt), gas=GAS_COMMIT))
    mine(w3)
    with manual_mining(w3):
        reveal_tx = honest.send(
            world.address, world.proof(batch, 1, salt), value=STAKE, gas=GAS_CHALLENGE, tip=GWEI
        )
        # the bot reads the reveal from the pool and makes it its own: index and step are head
        # words 0 and 1 of the arguments, the salt is word 4
        (seen,) = CopyBot(world, bot).pending()
        data = bytearray(HexBytes(seen["input"]))
        index, step = (int.from_bytes(data[4 + 32 * i : 36 + 32 * i], "big") for i in (0, 1))
        data[4 + 128 : 4 + 160] = bot_salt
        bot_commit = bot.send(
            world.address,
            world.commit_data(bot, index, step, bot_salt),
            tip=BOT_TIP,
            max_fee=BOT_MAX_FEE,
        )
        bot_reveal = bot.send(
            world.address,
            bytes(data),
            value=STAKE,
            gas=GAS_CHALLENGE,
            tip=BOT_TIP,
            max_fee=BOT_MAX_FEE,
        )
        block = mine(w3)
        # one block later its commitment is usable, but the batch is already rejected
        bot_retry = bot.send(
            world.address,
            bytes(data),
            value=STAKE,
            gas=GAS_CHALLENGE,
            tip=BOT_TIP,
            max_fee=BOT_MAX_FEE,
        )
        mine(w3)

    ok(w3, bot_commit)
    assert position(w3, bot_commit)[0] == block == position(w3, reveal_tx)[0]
    assert position(w3, bot_reveal) < position(w3, reveal_tx)  # ahead of the honest reveal...
    failed(w3, bot_reveal, "commitment must be in an earlier block")  # ...and useless
    ok(w3, reveal_tx)
    failed(w3, bot_retry, "no such pending batch")
    assert world.owed(bot) == 0
    assert world.owed(honest) == STAKE + REWARD
    fees = sum(fee(receipt(w3, h)) for h in (bot_commit, bot_reveal, bot_retry))
    assert bot.balance() == bot_start - fees


def test_reveal_in_the_block_of_its_own_commit_reverts(w3: Web3) -> None:
    world, batch = fraud_on_chain(w3)
    honest = Actor(w3, "honest")
    salt = keccak(b"salt")
    with manual_mining(w3):
        commit_tx = honest.send(world.address, world.commit_data(honest, 0, 1, salt))
        reveal_tx = honest.send(
            world.address, world.proof(batch, 1, salt), value=STAKE, gas=GAS_CHALLENGE
        )
        block = mine(w3)
    assert position(w3, commit_tx)[0] == position(w3, reveal_tx)[0] == block
    ok(w3, commit_tx)
    failed(w3, reveal_tx, "commitment must be in an earlier block")
    assert world.owed(honest) == 0 and world.next_index() == 1
    # the commitment stays: the same reveal in a later block proves the fraud
    ok(w3, honest.send(world.address, world.proof(batch, 1, salt), value=STAKE, gas=GAS_CHALLENGE))
    assert world.owed(honest) == STAKE + REWARD and world.next_index() == 0


def test_commitment_serves_only_its_own_step_salt_and_address(w3: Web3) -> None:
    world, batch = fraud_on_chain(w3, wrong=(1, 3), n=4)  # steps 1 and 3: both provably wrong
    honest, other = Actor(w3, "honest"), Actor(w3, "other")
    salt = keccak(b"salt")
    c = commitment(honest.address, 0, 1, batch.honest[1], salt)
    fn = world.fn.challengeCommitment(honest.address, 0, 1, batch.honest[1], salt)
    assert bytes(fn.call()) == c
    # before any commitment, a simulated reveal of a genuine proof fails only on the commitment
    reveal = world.proof(batch, 1, salt)
    assert "no commitment" in str(call(world, honest, reveal))
    ok(w3, honest.send(world.address, world.data("commitChallenge", c)))
    mine(w3)
    attempts = [
        (honest, world.proof(batch, 3, salt)),  # another (provably wrong) step
        (honest, world.proof(batch, 1, keccak(b"other salt"))),  # another salt
        (other, reveal),  # another address, the committed step and salt
    ]
    # the other account commits the very same hash: it names the honest challenger, not it
    ok(w3, other.send(world.address, world.data("commitChallenge", c)))
    mine(w3)
    for who, data in attempts:
        failed(
            w3,
            who.send(world.address, data, value=STAKE, gas=GAS_CHALLENGE),
            "no commitment for this challenge",
        )
    assert world.next_index() == 1 and world.owed(honest) == world.owed(other) == 0
    ok(w3, honest.send(world.address, reveal, value=STAKE, gas=GAS_CHALLENGE))
    assert world.owed(honest) == STAKE + REWARD and world.owed(other) == 0
    # a commitment is spent by its reveal
    assert world.fn.commitments(honest.address, c).call() == 0


def call(world: World, who: Actor, data: bytes) -> str | None:
    return call_reason(world.w3, who.address, to_checksum_address(world.address), data, STAKE)
