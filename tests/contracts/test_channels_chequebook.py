"""Chequebook.sol on anvil (docs/channels.md §4), with raw eth-account signatures."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from tests.contracts.channels_kit import ETH, addr, high_s, new_account, reverts_with, sign
from watchtower.channels.types import Cheque, Reward
from watchtower.l1.channels import (
    ChequebookClient,
    ChequeBounced,
    ChequeCashed,
    IssuerWithdrew,
)
from watchtower.l1.rollup import reverts


@dataclass
class Env:
    w3: Web3
    issuer: LocalAccount
    monitor: LocalAccount
    stranger: LocalAccount

    def book(self, balance: int) -> ChequebookClient:
        return ChequebookClient.deploy(self.w3, self.stranger, self.issuer.address, balance)

    def sign(
        self,
        book: ChequebookClient,
        who: LocalAccount,
        msg: Cheque | Reward,
        chain_id: int | None = None,
        address: str | None = None,
    ) -> bytes:
        return sign(
            who,
            "Chequebook",
            int(self.w3.eth.chain_id) if chain_id is None else chain_id,
            book.address if address is None else address,
            msg,
        )


@pytest.fixture(scope="module")
def env(w3: Web3) -> Env:
    return Env(w3, new_account(w3), new_account(w3), new_account(w3))


def test_cash_full_then_cumulative_rule(env: Env) -> None:
    book = env.book(10 * ETH)
    assert book.issuer() == addr(env.issuer) and book.liquid_balance() == 10 * ETH
    ben = new_account(env.w3)
    c1 = Cheque(addr(ben), 2 * ETH)
    receipt = book.cash_cheque(env.stranger, c1, env.sign(book, env.issuer, c1))
    [cashed] = book.receipt_events(receipt)
    assert isinstance(cashed, ChequeCashed)
    assert (cashed.beneficiary, cashed.cumulative_payout, cashed.paid, cashed.reward) == (
        addr(ben),
        2 * ETH,
        2 * ETH,
        0,
    )
    assert cashed.log_index == receipt["logs"][0]["logIndex"]
    assert book.paid_out(ben.address) == 2 * ETH and book.owed(ben.address) == 2 * ETH
    assert book.owed(env.stranger.address) == 0  # the caller gets nothing
    assert book.liquid_balance() == 8 * ETH
    with reverts_with("Chequebook: nothing to cash"):
        book.cash_cheque(env.stranger, c1, env.sign(book, env.issuer, c1))
    c0 = Cheque(addr(ben), ETH)
    with reverts_with("Chequebook: nothing to cash"):
        book.cash_cheque(env.stranger, c0, env.sign(book, env.issuer, c0))
    c2 = Cheque(addr(ben), 5 * ETH)
    book.cash_cheque(ben, c2, env.sign(book, env.issuer, c2))
    assert book.paid_out(ben.address) == 5 * ETH and book.owed(ben.address) == 5 * ETH
    balance = env.w3.eth.get_balance(ben.address)
    wr = book.withdraw(ben)
    fee = wr["gasUsed"] * wr["effectiveGasPrice"]
    assert env.w3.eth.get_balance(ben.address) == balance + 5 * ETH - fee
    assert book.liquid_balance() == 5 * ETH and book.total_owed() == 0
    with reverts_with("Chequebook: nothing owed"):
        book.withdraw(ben)


def test_bounce_partial_pay_then_rest_after_deposit(env: Env) -> None:
    book = env.book(ETH)
    ben = new_account(env.w3)
    c = Cheque(addr(ben), 3 * ETH)
    sig = env.sign(book, env.issuer, c)
    receipt = book.cash_cheque(env.stranger, c, sig)
    cashed, bounced = book.receipt_events(receipt)
    assert isinstance(cashed, ChequeCashed) and isinstance(bounced, ChequeBounced)
    assert (cashed.paid, bounced.paid, bounced.cumulative_payout) == (ETH, ETH, 3 * ETH)
    assert bounced.beneficiary == addr(ben)
    assert book.paid_out(ben.address) == ETH and book.liquid_balance() == 0
    # nothing left: cashing again pays 0 and bounces again
    cashed, bounced = book.receipt_events(book.cash_cheque(env.stranger, c, sig))
    assert isinstance(bounced, ChequeBounced) and bounced.paid == 0
    book.deposit(env.stranger, 5 * ETH)
    [cashed] = book.receipt_events(book.cash_cheque(env.stranger, c, sig))
    assert isinstance(cashed, ChequeCashed) and cashed.paid == 2 * ETH
    assert book.paid_out(ben.address) == 3 * ETH and book.liquid_balance() == 3 * ETH


def test_issuer_withdraw(env: Env) -> None:
    book = env.book(4 * ETH)
    with reverts_with("Chequebook: not the issuer"):
        book.issuer_withdraw(env.stranger, ETH)
    with reverts_with("Chequebook: amount above the liquid balance"):
        book.issuer_withdraw(env.issuer, 4 * ETH + 1)
    receipt = book.issuer_withdraw(env.issuer, 3 * ETH)
    [withdrew] = book.receipt_events(receipt)
    assert isinstance(withdrew, IssuerWithdrew)
    assert (withdrew.amount, withdrew.balance) == (3 * ETH, ETH)
    assert book.liquid_balance() == ETH and book.owed(env.issuer.address) == 3 * ETH
    # a cheque now bounces
    ben = new_account(env.w3)
    c = Cheque(addr(ben), 2 * ETH)
    events = book.receipt_events(book.cash_cheque(env.stranger, c, env.sign(book, env.issuer, c)))
    assert [type(e) for e in events] == [ChequeCashed, ChequeBounced]
    balance = env.w3.eth.get_balance(env.issuer.address)
    wr = book.withdraw(env.issuer)
    fee = wr["gasUsed"] * wr["effectiveGasPrice"]
    assert env.w3.eth.get_balance(env.issuer.address) == balance + 3 * ETH - fee
    found = book.events(receipt["blockNumber"], wr["blockNumber"])
    assert [type(e) for e in found] == [IssuerWithdrew, ChequeCashed, ChequeBounced]


def test_reward_to_the_monitor_capped_by_the_payout(env: Env) -> None:
    book = env.book(ETH)
    ben = new_account(env.w3)
    c = Cheque(addr(ben), 2 * ETH)
    r = Reward(int.from_bytes(addr(ben), "big"), 2 * ETH, ETH // 10, addr(env.monitor))
    receipt = book.cash_cheque(
        env.monitor,
        c,
        env.sign(book, env.issuer, c),
        reward=r,
        reward_sig=env.sign(book, ben, r),
    )
    cashed = book.receipt_events(receipt)[0]
    assert isinstance(cashed, ChequeCashed)
    assert (cashed.paid, cashed.monitor, cashed.reward) == (ETH, addr(env.monitor), ETH // 10)
    assert book.owed(ben.address) == ETH - ETH // 10
    assert book.owed(env.monitor.address) == ETH // 10
    book2 = env.book(ETH // 100)
    c2 = Cheque(addr(ben), ETH)
    r2 = Reward(int.from_bytes(addr(ben), "big"), ETH, ETH, addr(env.monitor))
    receipt = book2.cash_cheque(
        env.monitor,
        c2,
        env.sign(book2, env.issuer, c2),
        reward=r2,
        reward_sig=env.sign(book2, ben, r2),
    )
    cashed = book2.receipt_events(receipt)[0]
    assert isinstance(cashed, ChequeCashed) and cashed.reward == ETH // 100
    assert book2.owed(ben.address) == 0


def test_bad_signatures_and_rewards(env: Env) -> None:
    book = env.book(ETH)
    ben = new_account(env.w3)
    c = Cheque(addr(ben), ETH // 2)
    sig = env.sign(book, env.issuer, c)
    bads = {
        "signed by the beneficiary": env.sign(book, ben, c),
        "wrong chain": env.sign(book, env.issuer, c, chain_id=int(env.w3.eth.chain_id) + 1),
        "wrong contract": env.sign(book, env.issuer, c, address="0x" + "44" * 20),
        "high s": high_s(sig),
        "bad v": sig[:64] + bytes([0]),
        "short": sig[:-1],
        "other beneficiary": env.sign(book, env.issuer, Cheque(addr(env.stranger), ETH // 2)),
    }
    for what, bad in bads.items():
        with reverts_with("Chequebook: bad signature"):
            book.cash_cheque(env.stranger, c, bad)
        assert what
    key = int.from_bytes(addr(ben), "big")
    good = Reward(key, ETH // 2, 1, addr(env.monitor))
    rewards = {
        "signed by the issuer": (good, env.sign(book, env.issuer, good)),
        "wrong monitor": (
            Reward(key, ETH // 2, 1, addr(env.stranger)),
            env.sign(book, ben, Reward(key, ETH // 2, 1, addr(env.stranger))),
        ),
        "wrong nonce": (
            Reward(key, ETH // 4, 1, addr(env.monitor)),
            env.sign(book, ben, Reward(key, ETH // 4, 1, addr(env.monitor))),
        ),
        "wrong channel": (
            Reward(key + 1, ETH // 2, 1, addr(env.monitor)),
            env.sign(book, ben, Reward(key + 1, ETH // 2, 1, addr(env.monitor))),
        ),
    }
    for what, (r, rsig) in rewards.items():
        with reverts_with("Chequebook: bad reward"):
            book.cash_cheque(env.monitor, c, sig, reward=r, reward_sig=rsig)
        assert what
    book.cash_cheque(env.monitor, c, sig, reward=good, reward_sig=env.sign(book, ben, good))
    assert book.owed(env.monitor.address) == 1


@settings(max_examples=10)
@given(
    payouts=st.lists(st.integers(min_value=0, max_value=4 * ETH), min_size=1, max_size=5),
    balance=st.integers(min_value=0, max_value=3 * ETH),
)
def test_paid_out_is_min_of_best_cheque_and_funds(
    env: Env, payouts: list[int], balance: int
) -> None:
    book = env.book(balance)
    ben = new_account(env.w3, amount=ETH)
    paid = 0
    for p in payouts:
        c = Cheque(addr(ben), p)
        sig = env.sign(book, env.issuer, c)
        if p <= paid:
            with reverts_with("Chequebook: nothing to cash"):
                book.cash_cheque(env.stranger, c, sig)
            continue
        book.cash_cheque(env.stranger, c, sig)
        paid = min(p, balance)
        assert book.paid_out(ben.address) == paid
        assert book.liquid_balance() == balance - paid


@settings(max_examples=30)
@given(
    payout=st.integers(min_value=1, max_value=2**128),
    index=st.integers(min_value=0, max_value=64),
    flip=st.integers(min_value=1, max_value=255),
    delta=st.integers(min_value=1, max_value=2**64),
)
def test_any_mutation_of_a_cheque_or_its_signature_fails(
    env: Env, payout: int, index: int, flip: int, delta: int
) -> None:
    book = _shared_book(env)
    c = Cheque(addr(env.monitor), payout)
    sig = env.sign(book, env.issuer, c)

    def reason(cheque: Cheque, signature: bytes) -> str | None:
        try:
            book.cash_cheque_function(cheque, signature).call({"from": env.stranger.address})
        except reverts() as exc:
            return str(getattr(exc, "message", None) or exc).removeprefix("execution reverted: ")
        return None

    assert reason(c, sig) is None
    mutated = sig[:index] + bytes([sig[index] ^ flip]) + sig[index + 1 :]
    assert reason(c, mutated) == "Chequebook: bad signature"
    assert reason(Cheque(c.beneficiary, payout + delta), sig) == "Chequebook: bad signature"
    assert reason(Cheque(addr(env.stranger), payout), sig) == "Chequebook: bad signature"


_BOOKS: dict[int, ChequebookClient] = {}


def _shared_book(env: Env) -> ChequebookClient:
    if id(env) not in _BOOKS:
        _BOOKS[id(env)] = env.book(ETH)
    return _BOOKS[id(env)]
