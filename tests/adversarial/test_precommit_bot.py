"""A bot that commits blindly to EVERY step of a pending batch, then copies the honest reveal
with its own salt, is owed nothing.

Found while writing these tests against the first commit–reveal contract, whose commitment bound
(challenger, index, step, salt) but nothing a bot could not guess: a bot that saw any
``commitChallenge`` in the pool committed, from its own account, to every step of the pending
batch in the same block, then copied the honest reveal with its salt word swapped and outbid it,
taking stake + proposerBond / 2 (about 46k gas per step of cost). The commitment now also binds
the root the step really produces (protocol.md §7.5), which only a verifier that re-executed the
batch knows before a reveal makes it public. A blind bot can only commit to the roots it sees,
the claimed ones, and the claimed root of the fraudulent step is exactly the wrong one: its copied
reveal finds no commitment and the honest challenger is paid. Who: a mempool bot. Cost: one
commitment per step plus a reverted reveal. Gain: none. (A bot that does re-execute the batch is
an honest challenger, and competes as one.)
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


def test_blind_bot_committing_to_every_step_is_owed_nothing(w3: Web3) -> None:
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
        # the bot sees a commitment in the pool: it cannot read it, so it commits to every step,
        # with the only post-step roots it knows without re-executing: the claimed ones
        assert pending_to(w3, world.address, honest.address)
        for step in range(count):
            bot_txs.append(
                bot.send(
                    world.address,
                    world.commit_data(bot, 0, step, bot_salt, post_root=batch.steps[step][1]),
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
    failed(w3, bot_reveal, "no commitment for this challenge")  # its commitment: a wrong root
    rcpt = ok(w3, reveal_tx)
    (fraud,) = events(world, "FraudProven", rcpt)
    assert fraud["args"]["challenger"] == honest.address
    assert world.next_index() == 0  # the fraud is rejected
    assert world.owed(bot) == 0
    assert world.owed(honest) == STAKE + BOND // 2
    gas = sum(fee(receipt(w3, tx)) for tx in bot_txs)
    assert bot.balance() == bot_start - gas  # the reverted reveal's stake stayed with the bot
