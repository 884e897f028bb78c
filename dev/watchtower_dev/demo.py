"""The end-to-end demo: in-process L1, contract, honest then faulty proposer, the service.

The bridge story (protocol.md §8): users deposit on L1 and the first batch credits them on L2;
one of them withdraws on L2 and, once L1 time has moved past the challenge period, claims it on
L1; then a proposer posts a batch that forges a withdrawal of most of the bridge's funds, the
watchtower challenges it, the batch is rejected and the forged claim reverts.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import Address

from watchtower.errors import WatchtowerError
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites
from watchtower.l1.rollup import L1TransactionError
from watchtower.proof.withdrawal import claim_witness
from watchtower.rollup.bridge import claimed_withdrawals
from watchtower.rollup.types import Batch, BlockContext
from watchtower.service import ServiceConfig, Watchtower
from watchtower.store.db import ChallengeState, SubmissionRow
from watchtower_dev.chain import fund
from watchtower_dev.devnet import Devnet, dev_key, start_devnet
from watchtower_dev.faults import ATTACKER, Fault
from watchtower_dev.proposer import devnet_genesis
from watchtower_dev.txgen import KeyAccount
from watchtower_dev.users import advance_time, claim, eth, finalize_due, l1_account

ETHER = 10**18
#: The demo's users: each deposits this much on L1 for itself on L2; the first withdraws some.
DEPOSITORS = (("alice", 30 * ETHER), ("bob", 20 * ETHER), ("carol", 10 * ETHER))
HONEST_WITHDRAWAL = 12 * ETHER


@dataclass
class BridgeStory:
    """What the users and the attacker did across the bridge."""

    deposits: int = 0
    deposited: int = 0
    credited: int = 0  # on L2 after the first batch, per the proposer's (verified) state
    deposit_batch: int = 0
    withdrawal: int = 0
    withdrawal_batch: int = 0
    claim_block: int = 0
    paid_block: int = 0
    forged: int = 0  # the withdrawals the fraudulent batch claims: the value at risk
    #: the value at risk in the watchtower's fraud_detected alert (a service that reports it)
    reported_at_risk: int | None = None
    forged_step: int | None = None
    forged_claim: str = ""  # the revert of the attacker's claim
    bridge_before: int = 0  # before the fraudulent batch
    bridge_after: int = 0  # at the end


@dataclass
class DemoResult:
    batches_verified: int
    fraud_batch: int
    fraud_step: int | None
    fault: str
    claimed_root: bytes
    computed_root: bytes
    fraud_block: int
    challenge: SubmissionRow
    stake: int
    reward: int
    withdrawn: int
    withdraw_block: int
    seconds: float
    alerts: list[str] = field(default_factory=list)
    bridge: BridgeStory = field(default_factory=BridgeStory)

    def summary_rows(self) -> list[tuple[str, str]]:
        b = self.bridge
        rows = [
            (
                "deposits on L1",
                f"{b.deposits}, {eth(b.deposited)}: credited on L2 in batch {b.deposit_batch} "
                f"({eth(b.credited)})",
            ),
            (
                "honest withdrawal",
                f"{eth(b.withdrawal)} in batch {b.withdrawal_batch}, claimed on L1 after the "
                f"window in block {b.claim_block}, paid in block {b.paid_block}",
            ),
            ("batches verified", str(self.batches_verified)),
            ("fraud", f"batch {self.fraud_batch}, step {self.fraud_step} ({self.fault})"),
        ]
        if b.forged:
            rows.append(
                (
                    "forged withdrawal",
                    f"{eth(b.forged)} to 0x{ATTACKER.address.hex()}, who cannot afford it "
                    f"(step {b.forged_step})",
                )
            )
        rows += [
            ("claimed root", "0x" + self.claimed_root.hex()),
            ("computed root", "0x" + self.computed_root.hex()),
            ("challenge tx", f"0x{self.challenge.tx_hash.hex()}"),
            ("challenge L1 block", str(self.challenge.l1_block)),
            ("challenge gas", f"{self.challenge.gas_used:,}"),
            ("stake returned", f"{self.stake / ETHER:g} ETH"),
            ("reward", f"{self.reward / ETHER:g} ETH"),
            ("withdrawn", f"{self.withdrawn / ETHER:g} ETH in L1 block {self.withdraw_block}"),
            (
                "L1 blocks fraud -> challenge",
                str((self.challenge.l1_block or 0) - self.fraud_block),
            ),
        ]
        if b.forged:
            rows.append(("forged claim", f"reverted after the window: {b.forged_claim}"))
        saved = b.forged if b.bridge_after >= b.bridge_before else 0
        rows += [
            (
                "value at risk",
                eth(b.forged)
                + (" (the watchtower's alert)" if b.reported_at_risk == b.forged else ""),
            ),
            ("value saved", eth(saved)),
            (
                "bridge balance",
                f"{eth(b.bridge_before)} before the fraud, {eth(b.bridge_after)} after",
            ),
            ("alerts raised", ", ".join(sorted(set(self.alerts)))),
            ("time", f"{self.seconds:.1f}s"),
        ]
        return rows


def run_demo(
    honest: int, txs: int, fault: Fault, on_progress: Callable[[], None] | None = None
) -> DemoResult:
    started = time.perf_counter()
    alerts: list[str] = []

    story = BridgeStory()

    def alert(kind: str, **fields: Any) -> None:
        alerts.append(kind)
        if kind == "fraud_detected" and isinstance(fields.get("value_at_risk"), int):
            story.reported_at_risk = fields["value_at_risk"]

    def progress() -> None:
        if on_progress is not None:
            on_progress()

    with tempfile.TemporaryDirectory(prefix="wt-demo-") as tmp, start_devnet("embedded") as net:
        tower = Watchtower(
            ServiceConfig(Path(tmp) / "watchtower", confirmations=1),
            [net.client],
            devnet_genesis(),
            net.challenger,
            alert=alert,
        )
        try:
            users = _deposit(net, story)
            for n in range(honest):
                if n == 1:  # alice withdraws part of her deposit
                    net.proposer.withdraw(KeyAccount.from_hex(users[0].key), HONEST_WITHDRAWAL)
                    story.withdrawal, story.withdrawal_batch = HONEST_WITHDRAWAL, n
                batch, _ = net.proposer.propose(txs)
                if n == 0:
                    story.credited = _credited(net, batch, users)
                tower.tick()
                progress()
            _claim_honest(net, tower, users[0], story)
            story.bridge_before = net.client.bridge_balance()
            fraud_batch, receipt = net.proposer.propose(txs, fault)
            fraud_tx = bytes(receipt["transactionHash"])
            story.forged = sum(
                w.amount for w in claimed_withdrawals(fraud_batch, net.proposer.params)
            )
            owed_before = net.client.owed(net.challenger.address)
            tower.tick()
            progress()
            row = next(r for r in tower.store.batches() if r.tx_hash == fraud_tx)
            for _ in range(20):
                challenge = tower.store.challenge(row.id)
                if challenge is not None and challenge.state is ChallengeState.SUCCEEDED:
                    break
                net.w3.provider.ethereum_tester.mine_blocks(1)  # type: ignore[attr-defined]
                tower.tick()
            progress()
            mined = [
                s
                for s in tower.store.submissions(row.id)
                if s.state == "mined" and s.action == "reveal"  # the commit came first
            ]
            if not mined:
                raise WatchtowerError("the demo's challenge did not land: see the log above")
            owed = net.client.owed(net.challenger.address)
            receipt_w = net.client.withdraw(net.challenger)
            verified = sum(1 for b in tower.store.batches() if b.verdict == "valid")
            row = tower.store.batch_by_id(row.id)
            _forged_claim(net, fraud_batch, story)
            story.bridge_after = net.client.bridge_balance()
        finally:
            tower.close()
        stake = net.config.min_stake
        return DemoResult(
            batches_verified=verified,
            fraud_batch=fraud_batch.index,
            fraud_step=row.fraud_step,
            fault=fault.kind.value,
            claimed_root=row.claimed_root or b"",
            computed_root=row.computed_root or b"",
            fraud_block=int(receipt["blockNumber"]),
            challenge=mined[0],
            stake=stake,
            reward=owed - owed_before - stake,
            withdrawn=owed,
            withdraw_block=int(receipt_w["blockNumber"]),
            seconds=time.perf_counter() - started,
            alerts=alerts,
            bridge=story,
        )


def _deposit(net: Devnet, story: BridgeStory) -> list[LocalAccount]:
    """The demo's users deposit on L1, each for its own address on L2."""
    users = []
    for name, amount in DEPOSITORS:
        user = dev_key(name)
        fund(net.w3, user.address, amount + ETHER)  # and gas for the claim and withdraw
        net.client.deposit(user, bytes.fromhex(user.address[2:]), amount)
        users.append(user)
        story.deposits += 1
        story.deposited += amount
    return users


def _credited(net: Devnet, batch: Batch, users: list[LocalAccount]) -> int:
    """What the depositors hold on L2 after ``batch`` (the proposer's state, which the
    watchtower verifies)."""
    context = BlockContext.of_batch(batch.index, 0, batch.context.coinbase, net.proposer.params)
    state = open_state(PendingWrites(net.proposer.store), batch.final_root, context)
    return sum(state.get_balance(Address(bytes.fromhex(u.address[2:]))) for u in users)


def _claim_honest(net: Devnet, tower: Watchtower, user: LocalAccount, story: BridgeStory) -> None:
    """Move L1 time past the challenge period, finalize, claim the withdrawal, pay it."""
    advance_time(net.w3, net.config.challenge_period + 60)
    tower.tick()
    finalize_due(net.client, user)
    claims, _ = claim(net.client, user, bytes.fromhex(user.address[2:]))
    if not claims:
        raise WatchtowerError("the demo's honest withdrawal could not be claimed")
    story.claim_block = claims[0].l1_block
    story.paid_block = int(net.client.withdraw(user)["blockNumber"])


def _forged_claim(net: Devnet, fraud_batch: Batch, story: BridgeStory) -> None:
    """The attacker tries to claim its forged withdrawal after the window: it reverts."""
    forged = claimed_withdrawals(fraud_batch, net.proposer.params)
    if not forged:
        return
    attacker = l1_account(ATTACKER)
    fund(net.w3, attacker.address, ETHER)
    advance_time(net.w3, net.config.challenge_period + 60)
    w = forged[0]
    story.forged_step = w.step
    try:
        net.client.claim_withdrawal(attacker, w.batch, w.step, claim_witness(fraud_batch, w.step))
    except L1TransactionError as exc:
        story.forged_claim = exc.reason
    else:
        raise WatchtowerError("the forged withdrawal was claimed: the bridge lost its funds")
