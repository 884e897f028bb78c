"""PaymentChannel.sol on anvil (docs/channels.md §3), with raw eth-account signatures."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from tests.contracts.channels_kit import (
    ETH,
    addr,
    advance,
    high_s,
    new_account,
    now,
    reverts_with,
    sign,
)
from watchtower.channels.types import Payment, Reward
from watchtower.l1.channels import (
    PaymentChannelClaimed,
    PaymentChannelClient,
    PaymentChannelOpened,
    PaymentChannelReclaimed,
    PaymentStatus,
)
from watchtower.l1.rollup import reverts

DEPOSIT = 5 * ETH
DAY = 24 * 3600


@dataclass
class Env:
    w3: Web3
    pc: PaymentChannelClient
    sender: LocalAccount
    recipient: LocalAccount
    monitor: LocalAccount
    stranger: LocalAccount

    def sign(
        self,
        who: LocalAccount,
        msg: Payment | Reward,
        chain_id: int | None = None,
        address: str | None = None,
    ) -> bytes:
        return sign(
            who,
            "PaymentChannel",
            int(self.w3.eth.chain_id) if chain_id is None else chain_id,
            self.pc.address if address is None else address,
            msg,
        )

    def open(self, deposit: int = DEPOSIT, ttl: int = DAY) -> tuple[int, int]:
        expiration = now(self.w3) + ttl
        cid, _ = self.pc.open(self.sender, self.recipient.address, expiration, deposit)
        return cid, expiration

    def owed(self) -> tuple[int, int, int, int]:
        return (
            self.pc.owed(self.sender.address),
            self.pc.owed(self.recipient.address),
            self.pc.owed(self.monitor.address),
            self.pc.owed(self.stranger.address),
        )


@pytest.fixture(scope="module")
def env(w3: Web3) -> Env:
    pc = PaymentChannelClient.deploy(w3, new_account(w3))
    return Env(w3, pc, new_account(w3), new_account(w3), new_account(w3), new_account(w3))


def test_open_event_and_view(env: Env) -> None:
    expiration = now(env.w3) + DAY
    cid, receipt = env.pc.open(env.sender, env.recipient.address, expiration, DEPOSIT)
    [opened] = env.pc.receipt_events(receipt)
    assert isinstance(opened, PaymentChannelOpened)
    assert (opened.channel_id, opened.sender, opened.recipient) == (
        cid,
        addr(env.sender),
        addr(env.recipient),
    )
    assert (opened.deposit, opened.expiration) == (DEPOSIT, expiration)
    assert opened.tx_hash == bytes(receipt["transactionHash"])
    ch = env.pc.channel(cid)
    assert (ch.deposit, ch.expiration, ch.status) == (DEPOSIT, expiration, PaymentStatus.OPEN)
    assert env.pc.channel_count() == cid + 1


def test_open_rules(env: Env) -> None:
    with reverts_with("PaymentChannel: expiration not in the future"):
        env.pc.open(env.sender, env.recipient.address, now(env.w3) - 1, 1)
    with reverts_with("PaymentChannel: recipient is the sender"):
        env.pc.open(env.sender, env.sender.address, now(env.w3) + DAY, 1)
    with reverts_with("PaymentChannel: recipient is zero"):
        env.pc.open(env.sender, "0x" + "00" * 20, now(env.w3) + DAY, 1)


def test_claim_by_a_monitor_pays_the_recipient_and_the_reward(env: Env) -> None:
    cid, _ = env.open()
    p = Payment(cid, 2 * ETH)
    r = Reward(cid, 2 * ETH, ETH // 100, addr(env.monitor))
    before = env.owed()
    receipt = env.pc.claim(
        env.monitor, p, env.sign(env.sender, p), reward=r, reward_sig=env.sign(env.recipient, r)
    )
    [claimed] = env.pc.receipt_events(receipt)
    assert isinstance(claimed, PaymentChannelClaimed)
    assert (claimed.amount, claimed.monitor, claimed.reward) == (
        2 * ETH,
        addr(env.monitor),
        ETH // 100,
    )
    after = env.owed()
    assert after[0] - before[0] == DEPOSIT - 2 * ETH  # the rest back to the sender
    assert after[1] - before[1] == 2 * ETH - ETH // 100  # the recipient, not the caller
    assert after[2] - before[2] == ETH // 100
    assert env.pc.channel(cid).status is PaymentStatus.CLAIMED
    with reverts_with("PaymentChannel: not open"):
        env.pc.claim(env.monitor, p, env.sign(env.sender, p))
    with reverts_with("PaymentChannel: not open"):
        env.pc.reclaim(env.sender, cid)


def test_claim_by_a_stranger_without_reward_and_amount_above_deposit(env: Env) -> None:
    cid, _ = env.open(deposit=ETH)
    p = Payment(cid, 3 * ETH)
    before = env.owed()
    env.pc.claim(env.stranger, p, env.sign(env.sender, p))
    after = env.owed()
    assert after[1] - before[1] == ETH and after[0] == before[0] and after[3] == before[3]


def test_reward_capped_by_the_payout(env: Env) -> None:
    cid, _ = env.open(deposit=ETH)
    p = Payment(cid, 2 * ETH)  # pays the whole 1 ETH deposit
    r = Reward(cid, 2 * ETH, 5 * ETH, addr(env.monitor))
    before = env.owed()
    receipt = env.pc.claim(
        env.monitor, p, env.sign(env.sender, p), reward=r, reward_sig=env.sign(env.recipient, r)
    )
    [claimed] = env.pc.receipt_events(receipt)
    assert isinstance(claimed, PaymentChannelClaimed) and claimed.reward == ETH
    after = env.owed()
    assert (after[1] - before[1], after[2] - before[2]) == (0, ETH)


def test_claim_after_expiration_reverts_and_reclaim_rules(env: Env) -> None:
    cid, _expiration = env.open(ttl=600)
    p = Payment(cid, ETH)
    sig = env.sign(env.sender, p)
    with reverts_with("PaymentChannel: not expired"):
        env.pc.reclaim(env.sender, cid)
    advance(env.w3, 601)
    with reverts_with("PaymentChannel: expired"):
        env.pc.claim(env.stranger, p, sig)
    with reverts_with("PaymentChannel: not the sender"):
        env.pc.reclaim(env.recipient, cid)
    before = env.owed()
    receipt = env.pc.reclaim(env.sender, cid)
    [reclaimed] = env.pc.receipt_events(receipt)
    assert isinstance(reclaimed, PaymentChannelReclaimed) and reclaimed.channel_id == cid
    assert env.owed()[0] - before[0] == DEPOSIT
    assert env.pc.channel(cid).status is PaymentStatus.RECLAIMED
    with reverts_with("PaymentChannel: not open"):
        env.pc.reclaim(env.sender, cid)
    # the sender withdraws
    balance = env.w3.eth.get_balance(env.sender.address)
    owed = env.pc.owed(env.sender.address)
    wr = env.pc.withdraw(env.sender)
    fee = wr["gasUsed"] * wr["effectiveGasPrice"]
    assert env.w3.eth.get_balance(env.sender.address) == balance + owed - fee


def test_bad_signatures(env: Env) -> None:
    cid, _ = env.open()
    p = Payment(cid, ETH)
    sig = env.sign(env.sender, p)
    cid_other = cid + 1
    bads = {
        "wrong signer": env.sign(env.recipient, p),
        "wrong chain": env.sign(env.sender, p, chain_id=int(env.w3.eth.chain_id) + 1),
        "wrong contract": env.sign(env.sender, p, address="0x" + "33" * 20),
        "high s": high_s(sig),
        "bad v": sig[:64] + bytes([1]),
        "short": sig[:64],
        "long": sig + b"\x00",
        "other channel": env.sign(env.sender, Payment(cid_other, ETH)),
        "other amount": env.sign(env.sender, Payment(cid, ETH + 1)),
    }
    for what, bad in bads.items():
        with reverts_with("PaymentChannel: bad signature"):
            env.pc.claim(env.stranger, p, bad)
        assert what


def test_bad_rewards(env: Env) -> None:
    cid, _ = env.open()
    p = Payment(cid, ETH)
    psig = env.sign(env.sender, p)
    good = Reward(cid, ETH, 10, addr(env.monitor))
    cases = {
        "signed by the sender": (good, env.sign(env.sender, good)),
        "wrong monitor": (
            Reward(cid, ETH, 10, addr(env.stranger)),
            env.sign(env.recipient, Reward(cid, ETH, 10, addr(env.stranger))),
        ),
        "wrong nonce": (
            Reward(cid, ETH - 1, 10, addr(env.monitor)),
            env.sign(env.recipient, Reward(cid, ETH - 1, 10, addr(env.monitor))),
        ),
        "wrong channel": (
            Reward(cid + 1, ETH, 10, addr(env.monitor)),
            env.sign(env.recipient, Reward(cid + 1, ETH, 10, addr(env.monitor))),
        ),
        "high s": (good, high_s(env.sign(env.recipient, good))),
    }
    for what, (r, rsig) in cases.items():
        with reverts_with("PaymentChannel: bad reward"):
            env.pc.claim(env.monitor, p, psig, reward=r, reward_sig=rsig)
        assert what
    env.pc.claim(env.monitor, p, psig, reward=good, reward_sig=env.sign(env.recipient, good))


@settings(max_examples=30)
@given(
    amount=st.integers(min_value=0, max_value=2**128),
    index=st.integers(min_value=0, max_value=64),
    flip=st.integers(min_value=1, max_value=255),
    delta=st.integers(min_value=1, max_value=2**64),
)
def test_any_mutation_of_a_payment_or_its_signature_fails(
    env: Env, open_channel: int, amount: int, index: int, flip: int, delta: int
) -> None:
    p = Payment(open_channel, amount)
    sig = env.sign(env.sender, p)

    def reason(payment: Payment, signature: bytes) -> str | None:
        try:
            env.pc.claim_function(payment, signature).call({"from": env.stranger.address})
        except reverts() as exc:
            return str(getattr(exc, "message", None) or exc).removeprefix("execution reverted: ")
        return None

    assert reason(p, sig) is None
    mutated = sig[:index] + bytes([sig[index] ^ flip]) + sig[index + 1 :]
    assert reason(p, mutated) == "PaymentChannel: bad signature"
    assert reason(Payment(open_channel, amount + delta), sig) == "PaymentChannel: bad signature"


@pytest.fixture(scope="module")
def open_channel(env: Env) -> int:
    return env.open(ttl=30 * DAY)[0]
