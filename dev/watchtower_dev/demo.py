"""The end-to-end demo: in-process L1, contract, honest then faulty proposer, the service."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchtower.errors import WatchtowerError
from watchtower.service import ServiceConfig, Watchtower
from watchtower.store.db import ChallengeState, SubmissionRow
from watchtower_dev.devnet import start_devnet
from watchtower_dev.faults import Fault
from watchtower_dev.proposer import devnet_genesis

ETHER = 10**18


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

    def summary_rows(self) -> list[tuple[str, str]]:
        return [
            ("batches verified", str(self.batches_verified)),
            ("fraud", f"batch {self.fraud_batch}, step {self.fraud_step} ({self.fault})"),
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
            ("alerts raised", ", ".join(sorted(set(self.alerts)))),
            ("time", f"{self.seconds:.1f}s"),
        ]


def run_demo(
    honest: int, txs: int, fault: Fault, on_progress: Callable[[], None] | None = None
) -> DemoResult:
    started = time.perf_counter()
    alerts: list[str] = []

    def alert(kind: str, **_fields: Any) -> None:
        alerts.append(kind)

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
            for _ in range(honest):
                net.proposer.propose(txs)
                tower.tick()
                progress()
            fraud_batch, receipt = net.proposer.propose(txs, fault)
            fraud_tx = bytes(receipt["transactionHash"])
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
        )
