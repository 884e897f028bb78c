"""The channel guardian over the real contracts on the embedded chain (eth-tester): intake,
stale close → update → settle with the reward once, payment claim before expiration, chequebook
at risk, two guardians, restarts, a reorg of the update, one nonce space with the challenges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from watchtower.alert.events import Alert
from watchtower.channels import codec, eip712
from watchtower.channels.api import Intake, RefusedError, local_hash_signer
from watchtower.channels.chain import Web3ChannelChain
from watchtower.channels.guardian import Guardian, GuardianPolicy
from watchtower.channels.intake import IntakePolicy
from watchtower.channels.store import ChannelStore
from watchtower.channels.types import (
    ChannelState,
    Cheque,
    Domain,
    Kind,
    MonitoringRequest,
    Payment,
    Reward,
)
from watchtower.cli import main
from watchtower.l1.channels import ChequebookClient, PaymentChannelClient, StateChannelClient
from watchtower.metrics import Metrics
from watchtower.store import journal
from watchtower.store.db import Store
from watchtower.submit.decide import FeePolicy
from watchtower_dev.chain import embedded_web3, fund, mine

ETH = 10**18


@dataclass
class Alerts:
    raised: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, kind: str, **fields: Any) -> None:
        self.raised.append((kind, fields))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for k, f in self.raised if k == kind]


def _account(w3: Web3, amount: int = 100 * ETH) -> LocalAccount:
    account: LocalAccount = Account.create()
    fund(w3, account.address, amount)
    return account


def _key(account: LocalAccount) -> bytes:
    return bytes(account.key)


def _raw(account: LocalAccount) -> bytes:
    return bytes.fromhex(account.address[2:])


@dataclass
class World:
    w3: Web3
    tmp: Path
    deployer: LocalAccount
    guard: LocalAccount
    a: LocalAccount
    b: LocalAccount
    state: StateChannelClient
    payment: PaymentChannelClient
    alerts: Alerts = field(default_factory=Alerts)
    stores: list[Store] = field(default_factory=list)

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def contracts(self, *extra: tuple[bytes, Kind]) -> dict[bytes, Kind]:
        found = {
            bytes.fromhex(self.state.address[2:]): Kind.STATE,
            bytes.fromhex(self.payment.address[2:]): Kind.PAYMENT,
        }
        found.update(extra)
        return found

    def guardian(
        self, name: str = "g", signer: LocalAccount | None = None, **extra: Any
    ) -> Guardian:
        store = Store(self.tmp / name / "watchtower.sqlite")
        self.stores.append(store)
        contracts = self.contracts(*extra.pop("contracts", ()))
        return Guardian(
            chain=Web3ChannelChain(self.w3, contracts),
            store=ChannelStore(store),
            signer=signer or self.guard,
            contracts=contracts,
            alert=self.alerts,
            fees=FeePolicy(bump_after=3600),
            policy=GuardianPolicy(confirmations=0, **extra),
        )

    def intake(self, guardian: Guardian, min_reward: int = 0) -> Intake:
        signer = guardian.signer
        assert signer is not None
        return Intake(
            store=guardian.store,
            chain=guardian.chain,
            policy=IntakePolicy(
                chain_id=self.chain_id,
                contracts=guardian.contracts,
                guardian=guardian.me,
                min_reward_wei=min_reward,
            ),
            sign_hash=local_hash_signer(signer),
        )

    def state_request(
        self, channel: int, nonce: int, bal_a: int, bal_b: int, *, reward: int = 0,
        monitor: LocalAccount | None = None, rewarder: LocalAccount | None = None,
        chain_id: int | None = None, signers: tuple[LocalAccount, LocalAccount] | None = None,
    ) -> MonitoringRequest:  # fmt: skip
        contract = bytes.fromhex(self.state.address[2:])
        dom = Domain(Kind.STATE, chain_id or self.chain_id, contract)
        s = ChannelState(channel, nonce, bal_a, bal_b)
        one, two = signers or (self.a, self.b)
        sigs = (eip712.sign(_key(one), dom, s), eip712.sign(_key(two), dom, s))
        r = None
        rsig = b""
        if reward:
            r = Reward(channel, nonce, reward, _raw(monitor or self.guard))
            rsig = eip712.sign(_key(rewarder or self.b), dom, r)
        return MonitoringRequest(Kind.STATE, dom.chain_id, contract, s, sigs, r, rsig)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w3 = embedded_web3()
    deployer = _account(w3)
    built = World(
        w3=w3, tmp=tmp_path, deployer=deployer, guard=_account(w3), a=_account(w3),
        b=_account(w3), state=StateChannelClient.deploy(w3, deployer),
        payment=PaymentChannelClient.deploy(w3, deployer),
    )  # fmt: skip
    yield built
    for store in built.stores:
        store.close()


def _submit(intake: Intake, request: MonitoringRequest) -> dict[str, Any]:
    return intake.submit(codec.dumps(request).encode())


def _txs(guardian: Guardian, action: str) -> list[Any]:
    ids = {a.id for a in guardian.store.actions() if a.action == action}
    return [t for t in guardian.store.txs() if t.action_id in ids]


# -- stale close ------------------------------------------------------------------------------
def test_a_stale_close_is_updated_and_settles_paying_the_victim_and_the_reward_once(
    world: World,
) -> None:
    w = world
    channel, _ = w.state.open(w.a, w.b.address, 600, deposit=10 * ETH)
    w.state.deposit(w.b, channel, 2 * ETH)
    g = w.guardian()
    receipt = _submit(w.intake(g), w.state_request(channel, 5, 3 * ETH, 9 * ETH, reward=ETH // 10))
    assert receipt["accepted"] and receipt["sequence"] == "5"
    request = g.store.requests()[0].request
    signer = eip712.recover(
        eip712.receipt_digest(request, receipt["accepted_at"]),
        bytes.fromhex(receipt["receipt"][2:]),
    )
    assert signer == g.me
    g.tick()
    assert not _txs(g, "update")  # nothing to do while the channel is open

    # A closes with the deposits (nonce 0): 10 ETH for A instead of 3 while B is offline.
    w.state.close(w.a, ChannelState(channel, 0, 10 * ETH, 2 * ETH))
    g.tick()
    (stale,) = w.alerts.of("stale_close_detected")
    assert (stale["closing_nonce"], stale["held_nonce"]) == (0, 5)
    assert len(_txs(g, "update")) == 1
    assert w.alerts.of("channel_update_sent")
    g.tick()
    assert len(w.alerts.of("channel_update_landed")) == 1
    on_chain = w.state.channel(channel)
    assert on_chain.nonce == 5 and on_chain.reward_monitor == g.me

    # After the window: settle, which pays the reward to the guardian, exactly once.
    mine(w.w3, 1, seconds=601)
    g.tick()
    g.tick()
    g.tick()
    assert len(_txs(g, "update")) == 1 and len(_txs(g, "settle")) == 1
    assert len(w.alerts.of("channel_reward_paid")) == 1
    assert w.state.owed(w.a.address) == 3 * ETH
    assert w.state.owed(w.b.address) == 9 * ETH - ETH // 10
    assert w.state.owed(g.address) == ETH // 10

    # What the operator sees (no signatures).
    shown = CliRunner().invoke(main, ["channels", "status", "--data-dir", str(w.tmp / "g")])
    assert shown.exit_code == 0, shown.output
    assert f"state 0x{w.state.address[2:].lower()} channel {channel} sequence 5" in shown.output
    assert "update: mined" in shown.output and "settle: mined" in shown.output
    listed = CliRunner().invoke(main, ["channels", "list", "--data-dir", str(w.tmp / "g")])
    assert "reward 100000000000000000 wei" in listed.output
    # ... and `watchtower status`, the same surface as the rollup side's
    status = CliRunner().invoke(main, ["status", "--data-dir", str(w.tmp / "g"), "--json"])
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.stdout)["channels"]
    assert (row["kind"], row["channel"], row["sequence"]) == ("state", str(channel), "5")
    assert [(a["action"], a["state"]) for a in row["actions"]] == [
        ("update", "mined"),
        ("settle", "mined"),
    ]
    text = CliRunner().invoke(main, ["status", "--data-dir", str(w.tmp / "g")])
    assert "guarded channels and cheques: 1" in text.stdout and "update mined" in text.stdout

    # A restart (a new guardian on the same data directory) does nothing more.
    again = w.guardian()
    again.tick()
    assert len(_txs(again, "update")) == 1 and len(_txs(again, "settle")) == 1


def test_a_restart_after_the_update_was_recorded_but_not_broadcast_sends_it_once(
    world: World,
) -> None:
    w = world
    channel, _ = w.state.open(w.a, w.b.address, 600, deposit=10 * ETH)
    g = w.guardian()
    _submit(w.intake(g), w.state_request(channel, 3, 4 * ETH, 6 * ETH, reward=1000))
    w.state.close(w.a, ChannelState(channel, 0, 10 * ETH, 0))

    class LostError(Exception):
        pass

    def crash(_raw: bytes) -> None:  # the process dies between the journal and the broadcast
        raise LostError

    real = g.chain.send_raw
    g.chain.send_raw = crash  # type: ignore[method-assign]
    with pytest.raises(LostError):
        g.tick()
    assert len(g.store.txs()) == 1  # recorded before broadcast
    g.chain.send_raw = real  # type: ignore[method-assign]
    restarted = w.guardian()
    restarted.tick()  # the same transaction is broadcast again, not a second one
    restarted.tick()
    assert len(_txs(restarted, "update")) == 1
    assert w.state.channel(channel).nonce == 3


def test_a_reorg_that_removes_the_update_sends_it_again(world: World) -> None:
    w = world
    channel, _ = w.state.open(w.a, w.b.address, 600, deposit=10 * ETH)
    g = w.guardian()
    _submit(w.intake(g), w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=1000))
    w.state.close(w.a, ChannelState(channel, 0, 10 * ETH, 0))
    snapshot = w.w3.testing.snapshot()
    g.tick()
    g.tick()
    assert w.alerts.of("channel_update_landed")
    w.w3.testing.revert(snapshot)  # the update's block is gone
    mine(w.w3, 2)
    assert w.state.channel(channel).nonce == 0
    g.tick()
    g.tick()
    assert w.state.channel(channel).nonce == 2
    assert {t.nonce for t in _txs(g, "update")} == {_txs(g, "update")[0].nonce}


def test_a_reorg_that_removes_the_close_sends_nothing_new_and_a_new_close_is_answered(
    world: World,
) -> None:
    w = world
    channel, _ = w.state.open(w.a, w.b.address, 600, deposit=10 * ETH)
    g = w.guardian()
    _submit(w.intake(g), w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=1000))
    snapshot = w.w3.testing.snapshot()
    w.state.close(w.a, ChannelState(channel, 0, 10 * ETH, 0))
    g.tick()
    g.tick()
    assert w.alerts.of("channel_update_landed")
    w.w3.testing.revert(snapshot)  # the close and the update are gone: the channel is open
    mine(w.w3, 2)
    for _ in range(3):
        g.tick()
    assert len(_txs(g, "update")) == 1  # nothing new signed (the old one re-broadcast: its nonce)
    # The close comes back (a stale close again): the same action sends it again.
    w.state.close(w.a, ChannelState(channel, 0, 10 * ETH, 0))
    for _ in range(3):
        g.tick()
    assert w.state.channel(channel).nonce == 2
    mine(w.w3, 1, seconds=601)
    for _ in range(3):
        g.tick()
    assert w.state.owed(w.b.address) == 6 * ETH - 1000 and w.state.owed(g.address) == 1000


def test_a_reward_signed_by_the_closer_is_not_sent_and_the_update_still_lands(
    world: World,
) -> None:
    w = world
    channel, _ = w.state.open(w.a, w.b.address, 600, deposit=10 * ETH)
    g = w.guardian()
    # B hands in a request whose reward it signed; then B itself closes with an old state.
    _submit(w.intake(g), w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=1000))
    w.state.close(w.b, ChannelState(channel, 0, 10 * ETH, 0))
    for _ in range(3):
        g.tick()
    assert w.state.channel(channel).nonce == 2
    (unpaid,) = w.alerts.of("channel_reward_unpaid")
    assert unpaid["paid"] == 0 and "closed" in unpaid["reason"]
    mine(w.w3, 1, seconds=601)
    for _ in range(3):
        g.tick()
    assert not _txs(g, "settle")  # no reward of ours: the guardian does not pay to settle


def test_an_update_left_unmined_is_replaced_with_the_same_nonce_and_lands_once(
    world: World,
) -> None:
    w = world
    channel, _ = w.state.open(w.a, w.b.address, 600, deposit=10 * ETH)
    g = w.guardian()
    g.fees = FeePolicy(bump_after=0)
    g.metrics = Metrics()
    _submit(w.intake(g), w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=1000))
    w.state.close(w.a, ChannelState(channel, 0, 10 * ETH, 0))
    tester = w.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    tester.disable_auto_mine_transactions()
    g.tick()
    g.tick()
    g.tick()
    sent = _txs(g, "update")
    assert len(sent) == 3 and len({t.nonce for t in sent}) == 1
    assert sent[1].max_fee > sent[0].max_fee and sent[2].max_fee > sent[1].max_fee
    tester.enable_auto_mine_transactions()
    mine(w.w3, 1)
    g.tick()
    g.tick()
    assert w.state.channel(channel).nonce == 2
    assert len(w.alerts.of("channel_update_landed")) == 1
    assert len(w.alerts.of("channel_update_sent")) == 1
    assert sum(1 for t in g.store.txs() if t.state == "mined") == 1
    text = g.metrics.render().decode()
    assert 'watchtower_channel_actions_sent_total{action="update"} 3.0' in text
    assert 'watchtower_channels_guarded{kind="state"} 1.0' in text


def test_two_guardians_on_one_channel_one_acts_the_other_neither_duplicates_nor_pays(
    world: World,
) -> None:
    w = world
    channel, _ = w.state.open(w.a, w.b.address, 600, deposit=10 * ETH)
    first = w.guardian("one")
    other = _account(w.w3)
    second = w.guardian("two", signer=other)
    _submit(w.intake(first), w.state_request(channel, 4, 4 * ETH, 6 * ETH, reward=1000))
    _submit(
        w.intake(second),
        w.state_request(channel, 4, 4 * ETH, 6 * ETH, reward=1000, monitor=other),
    )
    w.state.close(w.a, ChannelState(channel, 0, 10 * ETH, 0))
    balance = w.w3.eth.get_balance(other.address)
    first.tick()
    second.tick()
    first.tick()
    second.tick()
    assert len(_txs(first, "update")) == 1
    assert not _txs(second, "update")  # the chain already holds nonce 4: superseded
    assert w.w3.eth.get_balance(other.address) == balance
    mine(w.w3, 1, seconds=601)
    for _ in range(3):
        first.tick()
        second.tick()
    assert w.state.owed(first.address) == 1000 and w.state.owed(other.address) == 0
    assert not _txs(second, "settle")


# -- intake ------------------------------------------------------------------------------------
def test_intake_refuses_what_it_must_in_one_line(world: World) -> None:
    w = world
    channel, _ = w.state.open(w.a, w.b.address, 600, deposit=10 * ETH)
    g = w.guardian()
    intake = w.intake(g, min_reward=10)

    def refused(request: MonitoringRequest) -> tuple[int, str]:
        with pytest.raises(RefusedError) as caught:
            _submit(intake, request)
        assert "\n" not in str(caught.value)
        return caught.value.status, str(caught.value)

    status, why = refused(w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=100,
                                          chain_id=w.chain_id + 1))  # fmt: skip
    assert status == 422 and "chain id" in why
    status, why = refused(
        w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=100, signers=(w.a, w.guard))
    )
    assert "signed by" in why
    bad = w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=100)
    broken = MonitoringRequest(
        bad.kind, bad.chain_id, bad.contract, bad.message,
        (bad.signatures[0][:64] + b"\x05", bad.signatures[1]), bad.reward, bad.reward_signature,
    )  # fmt: skip
    assert "bad signature" in refused(broken)[1]
    assert "does not exist" in refused(w.state_request(99, 2, 4 * ETH, 6 * ETH, reward=100))[1]
    assert (
        "is above the" in refused(w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=7 * ETH))[1]
    )
    assert (
        "monitor"
        in refused(w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=100, monitor=w.a))[1]
    )
    assert "minimum" in refused(w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=5))[1]
    other_contract = StateChannelClient.deploy(w.w3, w.deployer)
    wrong = w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=100)
    wrong = MonitoringRequest(
        wrong.kind, wrong.chain_id, bytes.fromhex(other_contract.address[2:]), wrong.message,
        wrong.signatures, wrong.reward, wrong.reward_signature,
    )  # fmt: skip
    assert "this guardian guards" in refused(wrong)[1]

    assert _submit(intake, w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=100))["accepted"]
    status, why = refused(w.state_request(channel, 2, 4 * ETH, 6 * ETH, reward=100))
    assert status == 409  # a replay
    status, why = refused(w.state_request(channel, 1, 5 * ETH, 5 * ETH, reward=100))
    assert status == 409  # a stale nonce
    assert _submit(intake, w.state_request(channel, 3, 3 * ETH, 7 * ETH, reward=100))["accepted"]
    assert len(g.store.requests()) == 1  # O(1) per channel: the latest only
    with pytest.raises(RefusedError) as caught:
        intake.submit(b'{"kind": "state"')
    assert caught.value.status == 400

    w.state.close(w.a, ChannelState(channel, 0, 10 * ETH, 0))
    mine(w.w3, 1, seconds=601)
    w.state.settle(w.a, channel)
    assert "settled" in refused(w.state_request(channel, 4, 3 * ETH, 7 * ETH, reward=100))[1]


# -- payment channel ---------------------------------------------------------------------------
def test_a_payment_channel_is_claimed_for_the_recipient_before_expiration(world: World) -> None:
    w = world
    now = int(w.w3.eth.get_block("latest")["timestamp"])
    channel, _ = w.payment.open(w.a, w.b.address, now + 3 * 3600, 5 * ETH)
    g = w.guardian(claim_margin=3600)
    contract = bytes.fromhex(w.payment.address[2:])
    dom = Domain(Kind.PAYMENT, w.chain_id, contract)
    pay = Payment(channel, 2 * ETH)
    reward = Reward(channel, 2 * ETH, 10**15, g.me)
    request = MonitoringRequest(
        Kind.PAYMENT, w.chain_id, contract, pay, (eip712.sign(_key(w.a), dom, pay),),
        reward, eip712.sign(_key(w.b), dom, reward),
    )  # fmt: skip
    assert _submit(w.intake(g), request)["accepted"]
    g.tick()
    assert not _txs(g, "claim")  # as late as is safe: not yet
    mine(w.w3, 1, seconds=2 * 3600 + 60)
    g.tick()
    g.tick()
    assert len(_txs(g, "claim")) == 1
    assert len(w.alerts.of("payment_claim_sent")) == 1
    assert len(w.alerts.of("channel_reward_paid")) == 1
    assert w.payment.owed(w.b.address) == 2 * ETH - 10**15
    assert w.payment.owed(w.a.address) == 3 * ETH
    assert w.payment.owed(g.address) == 10**15


# -- chequebook --------------------------------------------------------------------------------
def test_a_drained_chequebook_alerts_and_the_at_risk_cheque_is_cashed(world: World) -> None:
    w = world
    book = ChequebookClient.deploy(w.w3, w.deployer, w.a.address, balance=5 * ETH)
    contract = bytes.fromhex(book.address[2:])
    g = w.guardian(contracts=[(contract, Kind.CHEQUE)])
    dom = Domain(Kind.CHEQUE, w.chain_id, contract)
    cheque = Cheque(_raw(w.b), 4 * ETH)
    key = int.from_bytes(_raw(w.b), "big")
    reward = Reward(key, 4 * ETH, 10**15, g.me)
    request = MonitoringRequest(
        Kind.CHEQUE, w.chain_id, contract, cheque, (eip712.sign(_key(w.a), dom, cheque),),
        reward, eip712.sign(_key(w.b), dom, reward),
    )  # fmt: skip
    assert _submit(w.intake(g), request)["accepted"]
    g.tick()
    assert not w.alerts.of("cheque_at_risk") and not _txs(g, "cash")
    book.issuer_withdraw(w.a, 2 * ETH)  # 3 ETH left for a 4 ETH cheque
    g.tick()
    g.tick()
    assert len(w.alerts.of("issuer_withdrew")) == 1
    assert w.alerts.of("cheque_at_risk")[0]["shortfall"] == ETH
    assert len(_txs(g, "cash")) == 1
    g.tick()
    assert len(w.alerts.of("cheque_bounced")) == 1  # it paid what it could
    g.tick()
    assert len(_txs(g, "cash")) == 1  # nothing left to cash: never sent again
    assert book.paid_out(w.b.address) == 3 * ETH
    assert w.w3.eth.get_balance(g.address) > 0


def test_a_second_shortfall_of_one_chequebook_is_an_alert_of_its_own(world: World) -> None:
    """cheque_at_risk is a condition: each new shortfall is an episode with its own dedup key,
    so the outbox (keyed by kind + contract) does not swallow the second one."""
    w = world
    book = ChequebookClient.deploy(w.w3, w.deployer, w.a.address, balance=5 * ETH)
    contract = bytes.fromhex(book.address[2:])
    g = w.guardian(contracts=[(contract, Kind.CHEQUE)])
    dom = Domain(Kind.CHEQUE, w.chain_id, contract)
    cheque = Cheque(_raw(w.b), 4 * ETH)
    request = MonitoringRequest(
        Kind.CHEQUE, w.chain_id, contract, cheque, (eip712.sign(_key(w.a), dom, cheque),)
    )  # no reward: alerted, never cashed
    assert _submit(w.intake(g), request)["accepted"]
    book.issuer_withdraw(w.a, 2 * ETH)
    g.tick()
    book.issuer_withdraw(w.a, 2 * ETH)  # deeper: a second episode
    g.tick()
    g.tick()  # the same shortfall again: nothing new
    first, second = w.alerts.of("cheque_at_risk")
    assert (first["shortfall"], second["shortfall"]) == (ETH, 3 * ETH)
    keys = {Alert.create("cheque_at_risk", a, 0.0).dedup_key for a in (first, second)}
    assert len(keys) == 2
    assert not _txs(g, "cash")


def test_a_reorged_withdrawal_is_forgotten_and_the_one_mined_instead_alerts(world: World) -> None:
    w = world
    book = ChequebookClient.deploy(w.w3, w.deployer, w.a.address, balance=5 * ETH)
    contract = bytes.fromhex(book.address[2:])
    g = w.guardian(contracts=[(contract, Kind.CHEQUE)])
    g.tick()
    snapshot = w.w3.testing.snapshot()
    book.issuer_withdraw(w.a, 1 * ETH)
    mine(w.w3, 1)
    g.tick()
    assert [a["amount"] for a in w.alerts.of("issuer_withdrew")] == [ETH]
    scanned = g.store.next_block(0)
    w.w3.testing.revert(snapshot)
    book.issuer_withdraw(w.a, 2 * ETH)  # a different withdrawal, at the same height
    mine(w.w3, 3)
    assert book.events(0, scanned - 1)[-1].block_number < scanned  # below where the scan was
    g.tick()
    g.tick()
    assert [a["amount"] for a in w.alerts.of("issuer_withdrew")] == [ETH, 2 * ETH]


# -- one nonce space ---------------------------------------------------------------------------
def test_channel_actions_and_challenges_share_the_signers_nonce_space(tmp_path: Path) -> None:
    with Store(tmp_path / "watchtower.sqlite") as store:
        channels = ChannelStore(store)
        action = channels.open_action(
            contract="0x" + "11" * 20, channel_key=1, action="update", sequence=3,
            sender="0xS", deadline=100,
        )  # fmt: skip
        assert channels.allocate_nonce(action.id, "0xS", 7) == 7
        with store.transaction() as db:
            assert journal.recorded_nonce(db, "0xS") == 7
        second = channels.open_action(
            contract="0x" + "11" * 20, channel_key=2, action="update", sequence=1,
            sender="0xS", deadline=100,
        )  # fmt: skip
        assert channels.allocate_nonce(second.id, "0xS", 0) == 8
        assert channels.allocate_nonce(second.id, "0xOther", 0) == 0
