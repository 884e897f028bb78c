"""Issue 12, acceptance: every honest withdrawal of a long run is claimed exactly once, and the L1
balances add up to the wei (the bridge, what each user is owed, and what each user receives)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from watchtower.l1.rollup import L1TransactionError
from watchtower.proof.withdrawal import claim_witness
from watchtower_dev.chain import fund
from watchtower_dev.devnet import Devnet, start_devnet
from watchtower_dev.txgen import KeyAccount
from watchtower_dev.users import advance_time, claim, deposit, finalize_due

pytestmark = pytest.mark.integration
ETHER = 10**18
PERIOD = 600
BATCHES = 12


@pytest.fixture
def net() -> Iterator[Devnet]:
    with start_devnet("embedded", challenge_period=PERIOD) as devnet:
        yield devnet


def _address(account: LocalAccount) -> bytes:
    return bytes.fromhex(account.address[2:])


def test_every_honest_withdrawal_is_claimed_once_and_balances_add_up_to_the_wei(
    net: Devnet,
) -> None:
    rng = random.Random(12)
    client = net.client
    users = [Account.from_key(bytes([n + 1]) * 32) for n in range(3)]
    for user in users:
        fund(net.w3, user.address, 100 * ETHER)
    genesis_supply = client.genesis_supply()
    deposited = 0
    expected: Counter[tuple[bytes, int]] = Counter()  # (account, amount) of each withdrawal
    for index in range(BATCHES):
        for user in users:
            if rng.random() < 0.5 or index == 0:
                amount = rng.randrange(1, 5 * ETHER)
                deposit(client, user, _address(user), amount)
                deposited += amount
        if index > 0:  # the deposits of batch 0 fund the withdrawals that follow
            for user in rng.sample(users, rng.randrange(0, len(users) + 1)):
                amount = rng.randrange(1, ETHER // 10)
                net.proposer.withdraw(KeyAccount.from_hex(user.key.hex()), amount)
                expected[(_address(user), amount)] += 1
        net.proposer.propose(rng.randrange(1, 4))
    assert client.deposits_consumed() == client.deposit_count()
    assert sum(expected.values()) >= 8, "the run should make a fair number of withdrawals"

    advance_time(net.w3, PERIOD + 30)
    assert finalize_due(client, net.challenger) == list(range(BATCHES))
    claims, waiting = claim(client, net.challenger)  # anyone may claim; the users are paid
    assert waiting == []
    assert Counter((c.withdrawal.account, c.withdrawal.amount) for c in claims) == expected
    assert claim(client, net.challenger) == ([], [])  # each one exactly once

    claimed = sum(expected[k] * k[1] for k in expected)
    assert client.bridge_balance() == genesis_supply + deposited - claimed
    for c in claims[:3]:  # claiming again by hand reverts too
        events = [
            e
            for e in client.batches_submitted(0, net.w3.eth.block_number)
            if e.index == c.withdrawal.batch
        ]
        batch = client.fetch_batch(events[-1], client.params())
        with pytest.raises(L1TransactionError, match="withdrawal already claimed"):
            client.claim_withdrawal(
                net.challenger,
                batch.index,
                c.withdrawal.step,
                claim_witness(batch, c.withdrawal.step),
            )
    for user in users:
        owed = sum(
            n * amount for (account, amount), n in expected.items() if account == _address(user)
        )
        assert client.owed(user.address) == owed
        if owed == 0:
            continue
        before = net.w3.eth.get_balance(user.address)
        receipt = client.withdraw(user)
        fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
        assert net.w3.eth.get_balance(user.address) == before + owed - fee
        assert client.owed(user.address) == 0
