"""StateChannel.sol on anvil (docs/channels.md §2): every rule and revert, with raw eth-account
signatures, through the typed client (watchtower/l1/channels.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    reverts_with,
    sign,
)
from watchtower.channels.types import ChannelState, Reward
from watchtower.l1.channels import (
    NO_REWARD,
    ChannelClosing,
    ChannelDeposit,
    ChannelOpened,
    ChannelSettled,
    ChannelUpdated,
    StateChannelClient,
    StateStatus,
)
from watchtower.l1.rollup import reverts

WINDOW = 3600
DEP_A, DEP_B = 3 * ETH, 2 * ETH
TOTAL = DEP_A + DEP_B


@dataclass
class Env:
    w3: Web3
    sc: StateChannelClient
    a: LocalAccount
    b: LocalAccount
    monitor: LocalAccount
    stranger: LocalAccount

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def sign(self, who: LocalAccount, msg: ChannelState | Reward, **kw: object) -> bytes:
        chain_id = int(kw.get("chain_id", self.chain_id))  # type: ignore[call-overload]
        address = str(kw.get("address", self.sc.address))
        return sign(who, "StateChannel", chain_id, address, msg)

    def both(self, s: ChannelState) -> tuple[bytes, bytes]:
        return self.sign(self.a, s), self.sign(self.b, s)

    def open(self, window: int = WINDOW) -> int:
        cid, _ = self.sc.open(self.a, self.b.address, window, deposit=DEP_A)
        self.sc.deposit(self.b, cid, DEP_B)
        return cid

    def state(self, cid: int, nonce: int, bal_a: int) -> ChannelState:
        return ChannelState(channel_id=cid, nonce=nonce, balance_a=bal_a, balance_b=TOTAL - bal_a)

    def reward(self, cid: int, nonce: int, amount: int, monitor: LocalAccount) -> Reward:
        return Reward(channel_id=cid, nonce=nonce, amount=amount, monitor=addr(monitor))


@pytest.fixture(scope="module")
def env(w3: Web3) -> Env:
    deployer = new_account(w3)
    sc = StateChannelClient.deploy(w3, deployer)
    return Env(
        w3,
        sc,
        new_account(w3),
        new_account(w3),
        new_account(w3),
        new_account(w3),
    )


# -- open and deposit ---------------------------------------------------------------------------


def test_open_and_deposit_events_and_view(env: Env) -> None:
    count = env.sc.channel_count()
    cid, receipt = env.sc.open(env.a, env.b.address, WINDOW, deposit=DEP_A)
    assert cid == count and env.sc.channel_count() == count + 1
    [opened] = env.sc.receipt_events(receipt)
    assert isinstance(opened, ChannelOpened)
    assert (opened.channel_id, opened.a, opened.b) == (cid, addr(env.a), addr(env.b))
    assert (opened.deposit_a, opened.settlement_window) == (DEP_A, WINDOW)
    assert opened.block_number == receipt["blockNumber"]
    assert opened.tx_hash == bytes(receipt["transactionHash"])
    assert opened.block_hash == bytes(receipt["blockHash"])
    r1 = env.sc.deposit(env.b, cid, DEP_B)
    r2 = env.sc.deposit(env.a, cid, 1)
    [d1], [d2] = env.sc.receipt_events(r1), env.sc.receipt_events(r2)
    assert isinstance(d1, ChannelDeposit) and isinstance(d2, ChannelDeposit)
    assert (d1.party, d1.amount, d1.total) == (addr(env.b), DEP_B, DEP_B)
    assert (d2.party, d2.amount, d2.total) == (addr(env.a), 1, DEP_A + 1)
    ch = env.sc.channel(cid)
    assert (ch.a, ch.b, ch.deposit_a, ch.deposit_b) == (addr(env.a), addr(env.b), DEP_A + 1, DEP_B)
    assert ch.status is StateStatus.OPEN and ch.settlement_window == WINDOW
    events = env.sc.events(receipt["blockNumber"], r2["blockNumber"])
    assert [type(e) for e in events] == [ChannelOpened, ChannelDeposit, ChannelDeposit]


@pytest.mark.parametrize(
    ("window", "counterparty", "reason"),
    [
        (59, "b", "StateChannel: settlement window out of range"),
        (30 * 24 * 3600 + 1, "b", "StateChannel: settlement window out of range"),
        (WINDOW, "zero", "StateChannel: counterparty is zero"),
        (WINDOW, "self", "StateChannel: counterparty is the opener"),
    ],
)
def test_open_rules(env: Env, window: int, counterparty: str, reason: str) -> None:
    other = {"b": env.b.address, "zero": "0x" + "00" * 20, "self": env.a.address}[counterparty]
    with reverts_with(reason):
        env.sc.open(env.a, other, window)


def test_open_window_bounds_accepted(env: Env) -> None:
    env.sc.open(env.a, env.b.address, 60)
    env.sc.open(env.a, env.b.address, 30 * 24 * 3600)


def test_deposit_rules(env: Env) -> None:
    cid = env.open()
    with reverts_with("StateChannel: not a party"):
        env.sc.deposit(env.stranger, cid, 1)
    with reverts_with("StateChannel: deposit of zero"):
        env.sc.deposit(env.a, cid, 0)
    with reverts_with("StateChannel: not open"):
        env.sc.deposit(env.a, env.sc.channel_count() + 5, 1)
    env.sc.close(env.a, env.state(cid, 0, DEP_A))
    with reverts_with("StateChannel: not open"):
        env.sc.deposit(env.b, cid, 1)


# -- cooperative close ---------------------------------------------------------------------------


def test_cooperative_close(env: Env) -> None:
    cid = env.open()
    s = env.state(cid, 7, ETH)
    before_a, before_b = env.sc.owed(env.a.address), env.sc.owed(env.b.address)
    receipt = env.sc.cooperative_close(env.stranger, s, *env.both(s))
    [settled] = env.sc.receipt_events(receipt)
    assert isinstance(settled, ChannelSettled)
    assert (settled.balance_a, settled.balance_b, settled.reward) == (ETH, TOTAL - ETH, 0)
    assert settled.monitor == b"\x00" * 20
    assert env.sc.owed(env.a.address) == before_a + ETH
    assert env.sc.owed(env.b.address) == before_b + TOTAL - ETH
    assert env.sc.channel(cid).status is StateStatus.SETTLED
    with reverts_with("StateChannel: not open"):
        env.sc.cooperative_close(env.stranger, s, *env.both(s))


def test_cooperative_close_checks(env: Env) -> None:
    cid = env.open()
    s = env.state(cid, 1, ETH)
    sig_a, sig_b = env.both(s)
    with reverts_with("StateChannel: bad signature"):
        env.sc.cooperative_close(env.a, s, sig_a, sig_a)
    with reverts_with("StateChannel: bad signature"):
        env.sc.cooperative_close(env.a, s, sig_b, sig_b)
    bad = replace(s, balance_b=s.balance_b + 1)
    with reverts_with("StateChannel: balances do not match the deposits"):
        env.sc.cooperative_close(env.a, bad, *env.both(bad))
    other = replace(s, channel_id=cid + 1)
    with pytest.raises(reverts(), match="StateChannel: wrong channel"):
        env.sc.contract.functions.cooperativeClose(
            cid, (other.channel_id, 1, ETH, TOTAL - ETH), *env.both(other)
        ).call({"from": env.a.address})


# -- close, update, settle ----------------------------------------------------------------------


def test_stale_close_update_by_anyone_reward_paid_once_at_settle(env: Env) -> None:
    cid = env.open()
    stale = env.state(cid, 3, 4 * ETH)  # A's favourite old state
    latest = env.state(cid, 9, ETH)
    receipt = env.sc.close(env.a, stale, *env.both(stale))
    [closing] = env.sc.receipt_events(receipt)
    assert isinstance(closing, ChannelClosing)
    block_ts = int(env.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    assert (closing.closer, closing.nonce, closing.deadline) == (addr(env.a), 3, block_ts + WINDOW)
    # B, the victim, signed a reward for the monitor
    r = env.reward(cid, 9, ETH // 10, env.monitor)
    up = env.sc.update(
        env.monitor, latest, *env.both(latest), reward=r, reward_sig=env.sign(env.b, r)
    )
    [updated] = env.sc.receipt_events(up)
    assert isinstance(updated, ChannelUpdated)
    assert (updated.updater, updated.nonce, updated.balance_a, updated.reward) == (
        addr(env.monitor),
        9,
        ETH,
        ETH // 10,
    )
    ch = env.sc.channel(cid)
    assert ch.status is StateStatus.CLOSING and ch.deadline == closing.deadline
    assert (ch.nonce, ch.reward_monitor, ch.reward_payer, ch.reward_amount) == (
        9,
        addr(env.monitor),
        addr(env.b),
        ETH // 10,
    )
    with reverts_with("StateChannel: window not over"):
        env.sc.settle(env.stranger, cid)
    advance(env.w3, WINDOW + 1)
    owed = {x: env.sc.owed(x.address) for x in (env.a, env.b, env.monitor)}
    rs = env.sc.settle(env.stranger, cid)
    [settled] = env.sc.receipt_events(rs)
    assert isinstance(settled, ChannelSettled)
    assert (settled.balance_a, settled.balance_b) == (ETH, TOTAL - ETH - ETH // 10)
    assert (settled.monitor, settled.reward) == (addr(env.monitor), ETH // 10)
    assert env.sc.owed(env.a.address) - owed[env.a] == ETH  # the stale closer: exactly latest
    assert env.sc.owed(env.b.address) - owed[env.b] == TOTAL - ETH - ETH // 10
    assert env.sc.owed(env.monitor.address) - owed[env.monitor] == ETH // 10
    with reverts_with("StateChannel: not closing"):
        env.sc.settle(env.stranger, cid)  # paid once
    # the monitor withdraws its reward
    balance = env.w3.eth.get_balance(env.monitor.address)
    wr = env.sc.withdraw(env.monitor)
    fee = wr["gasUsed"] * wr["effectiveGasPrice"]
    assert (
        env.w3.eth.get_balance(env.monitor.address) == balance + owed[env.monitor] + ETH // 10 - fee
    )
    assert env.sc.owed(env.monitor.address) == 0
    with reverts_with("StateChannel: nothing owed"):
        env.sc.withdraw(env.monitor)


def test_close_with_deposits_state_and_rules(env: Env) -> None:
    cid = env.open()
    with reverts_with("StateChannel: not a party"):
        env.sc.close(env.stranger, env.state(cid, 0, DEP_A))
    with reverts_with("StateChannel: balances do not match the deposits"):
        env.sc.close(env.b, env.state(cid, 0, DEP_A - 1))
    s1 = env.state(cid, 1, ETH)
    with reverts_with("StateChannel: bad signature"):
        env.sc.close(env.b, s1)  # nonce > 0 needs both signatures
    env.sc.close(env.b, env.state(cid, 0, DEP_A))
    with reverts_with("StateChannel: not open"):
        env.sc.close(env.a, s1, *env.both(s1))
    with reverts_with("StateChannel: not open"):
        env.sc.cooperative_close(env.a, s1, *env.both(s1))


def test_update_nonce_not_higher_and_window_over(env: Env) -> None:
    cid = env.open()
    s5 = env.state(cid, 5, ETH)
    env.sc.close(env.b, s5, *env.both(s5))
    for n in (4, 5):
        s = env.state(cid, n, 2 * ETH)
        with reverts_with("StateChannel: nonce not higher"):
            env.sc.update(env.stranger, s, *env.both(s))
    s6 = env.state(cid, 6, 2 * ETH)
    env.sc.update(env.stranger, s6, *env.both(s6))
    s7 = env.state(cid, 7, 2 * ETH)
    advance(env.w3, WINDOW + 1)
    with reverts_with("StateChannel: window over"):
        env.sc.update(env.stranger, s7, *env.both(s7))
    with reverts_with("StateChannel: not closing"):
        env.sc.update(env.stranger, env.state(cid + 10_000, 1, 0), b"", b"")


def test_update_balances_must_match_deposits(env: Env) -> None:
    cid = env.open()
    env.sc.close(env.a, env.state(cid, 0, DEP_A))
    bad = ChannelState(cid, 1, TOTAL, 1)
    with reverts_with("StateChannel: balances do not match the deposits"):
        env.sc.update(env.stranger, bad, *env.both(bad))
    overflow = ChannelState(cid, 1, 2**256 - 1, TOTAL + 1)
    with reverts_with("StateChannel: balances do not match the deposits"):
        env.sc.update(env.stranger, overflow, *env.both(overflow))


def _mutations(env: Env, s: ChannelState, sig: bytes) -> dict[str, bytes]:
    return {
        "wrong signer": env.sign(env.stranger, s),
        "wrong chain id": env.sign(env.a, s, chain_id=env.chain_id + 1),
        "wrong contract": env.sign(env.a, s, address="0x" + "11" * 20),
        "high s": high_s(sig),
        "v 0": sig[:64] + bytes([sig[64] - 27]),
        "v 29": sig[:64] + bytes([29]),
        "64 bytes": sig[:64],
        "66 bytes": sig + b"\x00",
        "empty": b"",
        "zeros": b"\x00" * 65,
    }


def test_bad_signatures(env: Env) -> None:
    cid = env.open()
    env.sc.close(env.a, env.state(cid, 0, DEP_A))
    s = env.state(cid, 1, ETH)
    sig_a, sig_b = env.both(s)
    # the high-s twin is a valid ECDSA signature: only EIP-2 refuses it
    assert env.w3.eth.account._recover_hash(env.sc.hash_state(s), signature=high_s(sig_a)) == (
        env.a.address
    )
    for what, bad in _mutations(env, s, sig_a).items():
        with reverts_with("StateChannel: bad signature"):
            env.sc.update(env.stranger, s, bad, sig_b)
        assert what
    with reverts_with("StateChannel: bad signature"):
        env.sc.update(env.stranger, s, sig_b, sig_a)  # swapped
    env.sc.update(env.stranger, s, sig_a, sig_b)


def test_bad_rewards(env: Env) -> None:
    cid = env.open()
    env.sc.close(env.a, env.state(cid, 0, DEP_A))  # A closed: B pays
    s = env.state(cid, 1, ETH)
    sigs = env.both(s)
    good = env.reward(cid, 1, ETH // 100, env.monitor)
    cases = {
        "signed by the closer": (good, env.sign(env.a, good)),
        "signed by a stranger": (good, env.sign(env.stranger, good)),
        "wrong monitor": (
            env.reward(cid, 1, ETH // 100, env.stranger),
            env.sign(env.b, env.reward(cid, 1, ETH // 100, env.stranger)),
        ),
        "wrong nonce": (
            env.reward(cid, 2, ETH // 100, env.monitor),
            env.sign(env.b, env.reward(cid, 2, ETH // 100, env.monitor)),
        ),
        "wrong channel": (
            env.reward(cid + 1, 1, ETH // 100, env.monitor),
            env.sign(env.b, env.reward(cid + 1, 1, ETH // 100, env.monitor)),
        ),
        "other contract": (good, env.sign(env.b, good, address="0x" + "22" * 20)),
        "high s": (good, high_s(env.sign(env.b, good))),
        "no signature": (good, b""),
    }
    for what, (r, rsig) in cases.items():
        with reverts_with("StateChannel: bad reward"):
            env.sc.update(env.monitor, s, *sigs, reward=r, reward_sig=rsig)
        assert what
    env.sc.update(env.monitor, s, *sigs, reward=good, reward_sig=env.sign(env.b, good))


def test_reward_capped_by_payer_balance_and_replaced_by_later_update(env: Env) -> None:
    cid = env.open()
    env.sc.close(env.b, env.state(cid, 0, DEP_A))  # B closed: A pays
    s1 = env.state(cid, 1, ETH // 2)  # A has only 0.5 ETH in this state
    big = env.reward(cid, 1, 10 * ETH, env.monitor)
    env.sc.update(env.monitor, s1, *env.both(s1), reward=big, reward_sig=env.sign(env.a, big))
    assert env.sc.channel(cid).reward_payer == addr(env.a)
    advance(env.w3, WINDOW + 1)
    [settled] = env.sc.receipt_events(env.sc.settle(env.stranger, cid))
    assert isinstance(settled, ChannelSettled)
    assert (settled.balance_a, settled.balance_b, settled.reward) == (0, TOTAL - ETH // 2, ETH // 2)
    # a later update without a reward clears the stored one
    cid = env.open()
    env.sc.close(env.b, env.state(cid, 0, DEP_A))
    r = env.reward(cid, 1, ETH // 10, env.monitor)
    s1 = env.state(cid, 1, ETH)
    env.sc.update(env.monitor, s1, *env.both(s1), reward=r, reward_sig=env.sign(env.a, r))
    s2 = env.state(cid, 2, ETH)
    env.sc.update(env.a, s2, *env.both(s2), reward=NO_REWARD)
    ch = env.sc.channel(cid)
    assert (ch.reward_amount, ch.reward_monitor) == (0, b"\x00" * 20)
    advance(env.w3, WINDOW + 1)
    [settled] = env.sc.receipt_events(env.sc.settle(env.stranger, cid))
    assert isinstance(settled, ChannelSettled)
    assert (settled.balance_a, settled.reward) == (ETH, 0)


# -- properties ---------------------------------------------------------------------------------


@settings(max_examples=8)
@given(nonces=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=6))
def test_stored_nonce_is_the_max_of_the_valid_updates(env: Env, nonces: list[int]) -> None:
    cid = env.open()
    env.sc.close(env.a, env.state(cid, 0, DEP_A))
    best, best_balance = 0, DEP_A
    for n in nonces:
        s = env.state(cid, n, n * 10**15)
        sig_a, sig_b = env.both(s)
        if n > best:
            env.sc.update(env.stranger, s, sig_a, sig_b)
            best, best_balance = n, n * 10**15
        else:
            with reverts_with("StateChannel: nonce not higher"):
                env.sc.update(env.stranger, s, sig_a, sig_b)
        ch = env.sc.channel(cid)
        assert (ch.nonce, ch.balance_a) == (best, best_balance)


def _update_reason(env: Env, s: ChannelState, sig_a: bytes, sig_b: bytes) -> str | None:
    """The revert reason of ``update`` as an eth_call (None: it would succeed)."""
    try:
        env.sc.update_function(s, sig_a, sig_b).call({"from": env.stranger.address})
    except reverts() as exc:
        return str(getattr(exc, "message", None) or exc).removeprefix("execution reverted: ")
    return None


@pytest.fixture(scope="module")
def closing(env: Env) -> int:
    cid = env.open()
    env.sc.close(env.a, env.state(cid, 0, DEP_A))
    return cid


@settings(max_examples=40)
@given(
    index=st.integers(min_value=0, max_value=64),
    flip=st.integers(min_value=1, max_value=255),
    which=st.sampled_from(["a", "b"]),
    nonce=st.integers(min_value=1, max_value=2**64),
    bal_a=st.integers(min_value=0, max_value=TOTAL),
)
def test_any_mutation_of_a_signature_fails(
    env: Env, closing: int, index: int, flip: int, which: str, nonce: int, bal_a: int
) -> None:
    s = env.state(closing, nonce, bal_a)
    sig_a, sig_b = env.both(s)
    assert _update_reason(env, s, sig_a, sig_b) is None
    if which == "a":
        sig_a = sig_a[:index] + bytes([sig_a[index] ^ flip]) + sig_a[index + 1 :]
    else:
        sig_b = sig_b[:index] + bytes([sig_b[index] ^ flip]) + sig_b[index + 1 :]
    assert _update_reason(env, s, sig_a, sig_b) == "StateChannel: bad signature"


@settings(max_examples=40)
@given(
    nonce=st.integers(min_value=1, max_value=2**64),
    bal_a=st.integers(min_value=1, max_value=TOTAL - 1),
    delta=st.integers(min_value=1, max_value=2**32),
    field=st.sampled_from(["nonce", "balance"]),
)
def test_any_mutation_of_the_state_fails(
    env: Env, closing: int, nonce: int, bal_a: int, delta: int, field: str
) -> None:
    s = env.state(closing, nonce, bal_a)
    sig_a, sig_b = env.both(s)
    if field == "nonce":
        mutated = replace(s, nonce=s.nonce + delta)
    else:
        d = min(delta, s.balance_b)
        mutated = replace(s, balance_a=s.balance_a + d, balance_b=s.balance_b - d)
    assert _update_reason(env, mutated, sig_a, sig_b) == "StateChannel: bad signature"


@settings(max_examples=30)
@given(
    field=st.sampled_from(["channel", "nonce", "amount", "monitor", "signer"]),
    amount=st.integers(min_value=1, max_value=ETH),
    delta=st.integers(min_value=1, max_value=2**64),
)
def test_any_mutation_of_a_reward_fails(
    env: Env, closing: int, field: str, amount: int, delta: int
) -> None:
    s = env.state(closing, 10**9, ETH)
    sig_a, sig_b = env.both(s)
    r = env.reward(closing, s.nonce, amount, env.monitor)
    rsig = env.sign(env.b, r)  # A closed: B pays

    def reason(reward: Reward, reward_sig: bytes) -> str | None:
        fn = env.sc.update_function(s, sig_a, sig_b, reward=reward, reward_sig=reward_sig)
        try:
            fn.call({"from": env.monitor.address})
        except reverts() as exc:
            return str(getattr(exc, "message", None) or exc).removeprefix("execution reverted: ")
        return None

    assert reason(r, rsig) is None
    mutated = {
        "channel": replace(r, channel_id=r.channel_id + delta),
        "nonce": replace(r, nonce=r.nonce + delta),
        "amount": replace(r, amount=r.amount + delta),
        "monitor": replace(r, monitor=addr(env.stranger)),
        "signer": r,
    }[field]
    bad_sig = env.sign(env.a, r) if field == "signer" else rsig
    assert reason(mutated, bad_sig) == "StateChannel: bad reward"
