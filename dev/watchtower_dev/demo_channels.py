"""The channel demo: a stale close answered by the guardian while the victim is offline.

In one process, on the embedded L1 (eth-tester): the StateChannel contract, Alice and Bob, and
the guardian service's own code (the intake that validates and stores a monitoring request and
signs a receipt, served over its HTTP API; the guardian that follows the contract and acts
through its journal). Alice and Bob open a channel and pay each other off-chain; Bob hands the
latest state to the guardian with a reward offer and goes offline; Alice closes with an old
state in her favour; the guardian sends the newer state inside the settlement window; L1 time
moves on and the guardian settles (which is what pays its reward); everyone withdraws. The
figures in the summary are read back from the chain and checked to the wei.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchtower.channels.types import Kind
from watchtower_dev.chain import embedded_web3, mine
from watchtower_dev.channel_ops import (
    close_state_channel,
    open_state_channel,
    pay_state_channel,
    pick_state,
)
from watchtower_dev.channels import (
    ETHER,
    ChannelDevnet,
    SignedState,
    Wallet,
    contract_at,
    deploy_channel_devnet,
    make_request,
    owed,
    request_to_json,
    states_of,
    withdraw_owed,
)
from watchtower_dev.users import eth

DEPOSIT = 5 * ETHER
#: What Bob offers the guardian, out of his own balance, paid only if it acts.
REWARD = ETHER // 100
#: Ticks of the guardian (each after a mined block) before the demo gives up on an action.
MAX_TICKS = 30


@dataclass
class ChannelDemoResult:
    """What happened, as read back from the chain."""

    channel_id: int = 0
    window: int = 0
    payments: int = 0
    latest: SignedState | None = None
    stale: SignedState | None = None
    receipt: dict[str, Any] = field(default_factory=dict)
    close_block: int = 0
    deadline: int = 0
    update_block: int = 0
    update_time: int = 0
    update_nonce: int = 0
    updater: str = ""
    settle_block: int = 0
    settled_by: str = ""
    settled_a: int = 0
    settled_b: int = 0
    reward_paid: int = 0
    reward_events: int = 0
    paid_alice: int = 0
    paid_bob: int = 0
    paid_guardian: int = 0
    second_settle: str = ""
    replay: str = ""  # the intake's answer to an older state submitted after the latest
    alerts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: The chain and its contracts, left for a look after the demo (tests read it back).
    net: ChannelDevnet | None = None

    @property
    def expected_bob(self) -> int:
        assert self.latest is not None
        return self.latest.state.balance_b - REWARD

    @property
    def ok(self) -> bool:
        if self.latest is None or self.stale is None:
            return False
        s = self.latest.state
        return (
            self.update_nonce == s.nonce
            and self.update_block > 0
            and self.update_time <= self.deadline
            and self.settled_a == s.balance_a
            and self.settled_b == s.balance_b - self.reward_paid
            and self.paid_bob == s.balance_b - REWARD
            and self.paid_alice == s.balance_a
            and self.paid_guardian == REWARD == self.reward_paid
            and self.reward_events == 1
            and self.replay.startswith("refused")
        )

    def summary_rows(self) -> list[tuple[str, str]]:
        latest, stale = self.latest, self.stale
        if latest is None or stale is None:
            return [("result", "the demo stopped early")]
        s, o = latest.state, stale.state
        gain = o.balance_a - s.balance_a
        return [
            (
                "channel",
                f"{self.channel_id}: Alice and Bob deposit {eth(DEPOSIT)} each; settlement "
                f"window {self.window} s",
            ),
            (
                "off-chain payments",
                f"{self.payments}, each state signed by both: latest nonce {s.nonce} gives "
                f"Alice {eth(s.balance_a)}, Bob {eth(s.balance_b)}",
            ),
            (
                "monitoring request",
                f"Bob's nonce {s.nonce}, reward offer {eth(REWARD)}: accepted over the intake "
                f"API, receipt {str(self.receipt.get('receipt', ''))[:18]}…; Bob goes offline",
            ),
            ("an older state submitted", self.replay),
            (
                "stale close",
                f"Alice closes with nonce {o.nonce} (Alice {eth(o.balance_a)}, Bob "
                f"{eth(o.balance_b)}) in L1 block {self.close_block}: {eth(gain)} more for her",
            ),
            (
                "guardian's update",
                f"nonce {self.update_nonce} by {self.updater} in L1 block {self.update_block}, "
                f"{self.update_block - self.close_block} block(s) after the close, "
                f"{self.deadline - self.update_time} s before the deadline",
            ),
            (
                "settled",
                f"L1 block {self.settle_block} by {self.settled_by}: Alice {eth(self.settled_a)}, "
                f"Bob {eth(self.settled_b)}, reward {eth(self.reward_paid)}",
            ),
            (
                "Bob paid",
                f"{eth(self.paid_bob)} = latest balance {eth(s.balance_b)} - reward "
                f"{eth(REWARD)}" + (" (to the wei)" if self.paid_bob == self.expected_bob else ""),
            ),
            ("Alice paid", f"{eth(self.paid_alice)} (her latest balance, not the stale one)"),
            (
                "guardian's reward",
                f"{eth(self.paid_guardian)}, paid {self.reward_events} time(s); a second settle: "
                f"{self.second_settle or 'not refused?'}",
            ),
            ("alerts raised", ", ".join(sorted(set(self.alerts))) or "none"),
            ("result", "OK" if self.ok else "NOT OK: the figures do not add up"),
            ("time", f"{self.seconds:.1f}s"),
        ]


def _amounts(payments: int) -> list[tuple[str, int]]:
    """Who pays whom in the demo: Bob pays Alice first (the state Alice will close with), then
    Alice pays Bob odd amounts (to the wei), Bob paying a little back every third time."""
    out: list[tuple[str, int]] = [("bob", ETHER)]
    balance_a = DEPOSIT + ETHER
    for i in range(1, payments):
        if i % 3 == 0:
            out.append(("bob", ETHER // 20 + i))
            balance_a += ETHER // 20 + i
        else:
            amount = balance_a // 5 + 123_456_789 * i
            out.append(("alice", amount))
            balance_a -= amount
    return out


def run_channel_demo(
    payments: int = 4, window: int = 3600, on_progress: Callable[[], None] | None = None
) -> ChannelDemoResult:
    from watchtower.channels.api import ApiServer, Intake, IntakePolicy, local_hash_signer
    from watchtower.channels.chain import Web3ChannelChain
    from watchtower.channels.guardian import Guardian, GuardianPolicy
    from watchtower.channels.store import ChannelStore
    from watchtower.store.db import Store

    started = time.perf_counter()
    result = ChannelDemoResult(window=window)

    def progress() -> None:
        if on_progress is not None:
            on_progress()

    def alert(kind: str, **_fields: Any) -> None:
        result.alerts.append(kind)

    w3 = embedded_web3()
    net = result.net = deploy_channel_devnet(w3)
    contract = bytes.fromhex(net.state_channel[2:])
    with tempfile.TemporaryDirectory(prefix="wt-channel-demo-") as tmp:
        wallets = Path(tmp) / "wallets"
        chain = Web3ChannelChain(w3, {contract: Kind.STATE})
        store = Store(Path(tmp) / "watchtower.sqlite")
        intake_store = Store(Path(tmp) / "watchtower.sqlite")
        guardian = Guardian(
            chain=chain,
            store=ChannelStore(store),
            signer=net.guardian,
            contracts={contract: Kind.STATE},
            alert=alert,
            policy=GuardianPolicy(confirmations=1),
        )
        token = secrets.token_hex(16)
        api = ApiServer(
            "127.0.0.1:0",
            Intake(
                store=ChannelStore(intake_store),
                chain=chain,
                policy=IntakePolicy(
                    chain_id=net.chain_id, guardian=guardian.me, contracts={contract: Kind.STATE}
                ),
                sign_hash=local_hash_signer(net.guardian),
            ),
            token,
        ).start()
        try:
            _story(net, wallets, payments, window, result, guardian, api.port, token, progress)
        finally:
            api.stop()
            intake_store.close()
            store.close()
    result.seconds = time.perf_counter() - started
    return result


def _story(  # noqa: PLR0917
    net: ChannelDevnet,
    wallets: Path,
    payments: int,
    window: int,
    result: ChannelDemoResult,
    guardian: Any,
    port: int,
    token: str,
    progress: Callable[[], None],
) -> None:
    w3, address = net.w3, net.state_channel
    alice, bob = net.alice, net.bob
    entry = open_state_channel(w3, address, alice, bob, DEPOSIT, DEPOSIT, window, wallets)
    channel_id = result.channel_id = int(entry["channel_id"])
    for who, amount in _amounts(payments):
        payer, payee = (alice, bob) if who == "alice" else (bob, alice)
        pay_state_channel(w3, address, channel_id, payer, payee, amount, wallets)
    result.payments = payments
    progress()

    # Bob hands his latest state to the guardian, with a reward offer, and goes offline.
    bob_wallet = Wallet(wallets, bob.address).state_channel(net.chain_id, address, channel_id)
    latest = result.latest = states_of(bob_wallet)[-1]
    request = make_request(
        Kind.STATE,
        net.chain_id,
        address,
        latest.state,
        (latest.sig_a, latest.sig_b),
        bob,
        REWARD,
        net.guardian.address,
    )
    result.receipt = _submit(port, token, request_to_json(request))
    older = states_of(bob_wallet)[-2]
    replay = make_request(
        Kind.STATE, net.chain_id, address, older.state, (older.sig_a, older.sig_b)
    )
    result.replay = _refused(port, token, request_to_json(replay))
    guardian.tick()
    progress()

    _attack(net, wallets, result, guardian)
    progress()
    _settle(net, result, guardian)
    progress()


def _attack(net: ChannelDevnet, wallets: Path, result: ChannelDemoResult, guardian: Any) -> None:
    """Alice closes with the old state that gives her the most; the guardian answers."""
    w3, address, alice, channel_id = net.w3, net.state_channel, net.alice, result.channel_id
    alice_wallet = Wallet(wallets, alice.address).state_channel(net.chain_id, address, channel_id)
    stale = result.stale = pick_state(alice_wallet, alice.address, stale=True, nonce=None)
    closing = close_state_channel(w3, address, alice, stale)
    result.close_block, result.deadline = closing.block_number, closing.deadline
    c = contract_at(w3, Kind.STATE, address)
    for _ in range(MAX_TICKS):
        guardian.tick()
        updates = c.events.ChannelUpdated().get_logs(from_block=result.close_block)
        if updates:
            update = updates[-1]
            result.update_block = int(update["blockNumber"])
            result.update_time = int(w3.eth.get_block(result.update_block)["timestamp"])
            result.update_nonce = int(update["args"]["nonce"])
            result.updater = str(update["args"]["updater"])
            break
        mine(w3, 1)


def _settle(net: ChannelDevnet, result: ChannelDemoResult, guardian: Any) -> None:
    """L1 time moves past the deadline: the guardian settles (that pays its reward); everyone
    takes what the contract owes."""
    w3, address, channel_id = net.w3, net.state_channel, result.channel_id
    c = contract_at(w3, Kind.STATE, address)
    mine(w3, 1, result.window + 1)
    for _ in range(MAX_TICKS):
        guardian.tick()
        if c.events.ChannelSettled().get_logs(from_block=result.close_block):
            break
        mine(w3, 1)
    settled = c.events.ChannelSettled().get_logs(from_block=result.close_block)
    if settled:
        event = settled[-1]
        result.settle_block = int(event["blockNumber"])
        result.settled_by = str(w3.eth.get_transaction(event["transactionHash"])["from"])
        result.settled_a = int(event["args"]["balanceA"])
        result.settled_b = int(event["args"]["balanceB"])
        result.reward_paid = int(event["args"]["reward"])
        result.reward_events = sum(1 for e in settled if int(e["args"]["reward"]) > 0)
    result.second_settle = _second_settle(net, channel_id)
    guardian_owed = owed(w3, Kind.STATE, address, net.guardian.address)
    result.paid_bob = withdraw_owed(w3, Kind.STATE, address, net.bob)
    result.paid_alice = withdraw_owed(w3, Kind.STATE, address, net.alice)
    result.paid_guardian = withdraw_owed(w3, Kind.STATE, address, net.guardian)
    assert result.paid_guardian == guardian_owed
    for _ in range(2):  # the guardian's later ticks change nothing
        guardian.tick()
        mine(w3, 1)
    result.reward_events = sum(
        1
        for e in c.events.ChannelSettled().get_logs(from_block=result.close_block)
        if int(e["args"]["reward"]) > 0
    )


def _submit(port: int, token: str, document: dict[str, Any]) -> dict[str, Any]:
    """POST the request to the guardian's intake API, as a user's wallet would."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/requests",
        data=json.dumps(document).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as answer:  # noqa: S310
        receipt: dict[str, Any] = json.loads(answer.read())
    return receipt


def _refused(port: int, token: str, document: dict[str, Any]) -> str:
    """The intake's answer to a request it must refuse: ``refused (STATUS): reason``."""
    try:
        receipt = _submit(port, token, document)
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        return f"refused ({exc.code}): {reason}"
    return f"accepted?! {receipt}"


def _second_settle(net: ChannelDevnet, channel_id: int) -> str:
    """Settling again is refused: the reward cannot be paid twice."""
    from watchtower.l1.rollup import L1TransactionError
    from watchtower_dev.channel_ops import settle_state_channel

    try:
        settle_state_channel(net.w3, net.state_channel, net.bob, channel_id)
    except L1TransactionError as exc:
        return f"refused ({exc.reason})"
    return ""
