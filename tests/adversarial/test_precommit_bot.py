"""Residual (found while writing these tests): a bot that commits to EVERY step of a pending batch
still front-runs the reveal.

The commitment binds (challenger, index, step, salt) but not the proof. A bot that does not verify
anything can commit, from its own account and with its own salt, to every step of every pending
batch — for instance as soon as it sees any ``commitChallenge`` in the pool, outbidding it into the
same block. When the honest reveal then appears in the pool it copies it, replaces the salt word
by its own, and outbids it: its commitment is from an earlier block, so its reveal proves the fraud
and the honest one reverts ("no such pending batch"). Who: a mempool bot. Cost: one commitment per
step of the pending batches (about 46k gas each as separate transactions; less in a loop from a
contract of its own, since ``commitChallenge`` accepts contract callers), plus the gas of the
reveal; it sends the stake and gets it back. Gain: stake + proposerBond / 2, and the honest
challenger gets nothing. Not stopped today: the fraud is still proven, by the bot (safety holds,
the watcher's reward does not). A fix would bind the commitment to something only a verifier
knows (e.g. the computed post-step root or the hash of the state nodes). This test pins the
current behaviour; it should be inverted when the contract changes.
"""

from __future__ import annotations

from eth_utils import keccak
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

BOT_TIP, BOT_MAX_FEE = 50 * GWEI, 2 * MAX_FEE


def pending_to(w3: Web3, to: str, sender: str) -> list[dict[str, str]]:
    pool = rpc(w3, "txpool_content")["pending"]
    return [
        tx
        for who, by_nonce in pool.items()
        if who.lower() == sender.lower()
        for tx in by_nonce.values()
        if (tx.get("to") or "").lower() == to.lower()
    ]


def test_residual_bot_committing_to_every_step_takes_the_reward(w3: Web3) -> None:
    world = make_world(w3)
    batch = world.build(3, wrong=(1,))
    ok(w3, world.submit(batch))
    count = world.fn.getBatch(0).call()[4]
    assert count == 3
    honest, bot = Actor(w3, "honest"), Actor(w3, "bot")
    bot_start = bot.balance()
    salt, bot_salt = keccak(b"honest salt"), keccak(b"bot salt")
    bot_txs: list[HexBytes] = []
    with manual_mining(w3):
        commit_tx = honest.send(
            world.address, world.commit_data(honest, 0, 1, salt), gas=GAS_COMMIT
        )
        # the bot sees a commitment in the pool: it cannot read it, so it commits to every step
        assert pending_to(w3, world.address, honest.address)
        for step in range(count):
            bot_txs.append(
                bot.send(
                    world.address,
                    world.commit_data(bot, 0, step, bot_salt),
                    gas=GAS_COMMIT,
                    tip=BOT_TIP,
                    max_fee=BOT_MAX_FEE,
                )
            )
        commit_block = mine(w3)
        reveal_tx = honest.send(
            world.address, world.proof(batch, 1, salt), value=STAKE, gas=GAS_CHALLENGE
        )
        (seen,) = pending_to(w3, world.address, honest.address)
        data = bytearray(HexBytes(seen["input"]))
        data[4 + 128 : 4 + 160] = bot_salt  # the salt word: everything else is copied
        bot_reveal = bot.send(
            world.address,
            bytes(data),
            value=STAKE,
            gas=GAS_CHALLENGE,
            tip=BOT_TIP,
            max_fee=BOT_MAX_FEE,
        )
        bot_txs.append(bot_reveal)
        mine(w3)

    assert receipt(w3, commit_tx)["blockNumber"] == commit_block
    for tx in bot_txs[:-1]:
        assert ok(w3, tx)["blockNumber"] == commit_block
    rcpt = ok(w3, bot_reveal)
    (fraud,) = events(world, "FraudProven", rcpt)
    assert fraud["args"]["challenger"] == bot.address  # the bot proved the fraud...
    failed(w3, reveal_tx, "no such pending batch")  # ...and the watcher's reveal came too late
    assert world.next_index() == 0  # safety holds: the fraud is rejected
    assert world.owed(bot) == STAKE + BOND // 2
    assert world.owed(honest) == 0
    gas = sum(fee(receipt(w3, tx)) for tx in bot_txs)
    commit_gas = sum(receipt(w3, tx)["gasUsed"] for tx in bot_txs[:-1])
    assert commit_gas < count * GAS_COMMIT
    assert bot.balance() == bot_start - STAKE - gas  # + STAKE + BOND // 2 on withdraw
