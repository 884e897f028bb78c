"""Issue 4 acceptance with a real `watchtower run` subprocess against anvil.

* the canary: 20 honest batches, then a fraudulent one; the fraud is challenged and the batch
  rejected within 3 L1 blocks after the confirmation depth is reached; no honest batch is
  ever challenged;
* SIGKILL during replay and during submission, then a restart: the same verdicts and exactly
  one stake.
"""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import rpc
from tests.integration.service_process import ServiceProcess
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.store.db import ChallengeState, Store
from watchtower_dev.chain import free_port
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind

pytestmark = pytest.mark.integration
CONFIRMATIONS = 2


def _fraud_proven(net: Devnet) -> list[dict]:  # type: ignore[type-arg]
    event = net.client.contract.events.FraudProven()
    return list(event.get_logs(from_block=0, to_block="latest"))


def _mine_until_rejected(net: Devnet, index: int, blocks: int = 60) -> None:
    for _ in range(blocks):
        if net.client.batch(index).status is OnChain.REJECTED:
            return
        rpc(net, "evm_mine")
        time.sleep(0.25)
    raise AssertionError(f"batch {index} was not rejected after {blocks} blocks")


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_canary(anvil_net: Devnet, tmp_path: Path) -> None:
    net = anvil_net
    port = free_port()
    service = ServiceProcess(
        net,
        tmp_path / "wt",
        "--confirmations", str(CONFIRMATIONS),
        "--metrics-listen", f"127.0.0.1:{port}",
    )  # fmt: skip
    try:
        service.wait_for("started", timeout=30)
        assert _get(port, "/healthz") == (200, "ok\n")
        for _ in range(20):
            net.proposer.propose(5)
        fraud, receipt = net.proposer.propose(5, Fault(FaultKind.WRONG_INSERT, 2))
        fraud_block = int(receipt["blockNumber"])
        service.wait_for("fraud_detected", batch=fraud.index, alert=True)
        _mine_until_rejected(net, fraud.index)

        (proven,) = _fraud_proven(net)
        assert proven["args"]["index"] == fraud.index
        assert proven["args"]["challenger"] == net.challenger.address
        challenge_block = int(proven["blockNumber"])
        assert challenge_block <= fraud_block + CONFIRMATIONS + 3, (fraud_block, challenge_block)
        for index in range(20):
            assert net.client.batch(index).status is OnChain.PENDING
        service.wait_for("challenge_succeeded", batch=fraud.index)
        assert service.count("batch_verified") == 20
        time.sleep(0.5)  # one more tick: the metrics of the last one
        status, metrics = _get(port, "/metrics")
        assert status == 200
        assert _metric(metrics, "watchtower_batches_fraudulent_total") == 1
        assert _metric(metrics, "watchtower_batches_verified_total") == 20
        assert 'watchtower_challenges_total{state="succeeded"} 1.0' in metrics
        assert 'watchtower_challenges_total{state="sent"} 1.0' in metrics
        assert _metric(metrics, "watchtower_l1_last_scanned_block") >= challenge_block
        assert 'watchtower_rpc_latency_seconds_count{endpoint="127.0.0.1:' in metrics
        assert _get(port, "/readyz")[0] == 200
        about_batches = [e for e in service.events if "batch" in e and not e.get("alert")]
        assert about_batches
        for entry in about_batches:  # every log line about a batch names batch, step, L1 block
            assert {"batch", "step", "l1_block"} <= entry.keys(), entry
    finally:
        code = service.terminate()
    assert code == 0
    assert service.count("stopped") == 1


def _store_summary(data: Path) -> tuple[list[tuple[int, str | None]], list[ChallengeState], int]:
    with Store(data / "watchtower.sqlite") as store:
        assert store.integrity_check() == []
        verdicts = [(r.idx, r.verdict) for r in store.batches() if r.status.value != "removed"]
        states = [c.state for c in store.challenges()]
        mined = sum(1 for s in store.submissions() if s.state == "mined" and s.action == "reveal")
    return verdicts, states, mined


def test_sigkill_during_replay_and_submission(anvil_net: Devnet, tmp_path: Path) -> None:
    net = anvil_net
    data = tmp_path / "wt"
    rng = random.Random(11)
    stake, reward = net.config.min_stake, net.config.proposer_bond // 2
    extra = ("--confirmations", "1", "--bump-after", "1")
    # Large batches, so that replay takes long enough to be interrupted.
    for _ in range(3):
        net.proposer.propose(400)

    kills = 0
    verified: set[int] = set()
    for attempt in range(2):  # killed during replay, twice, at random moments
        service = ServiceProcess(net, data, *extra)
        service.wait_for("batch_seen" if attempt == 0 else "started", timeout=30)
        time.sleep(rng.uniform(0.05, 0.5))
        service.kill()
        kills += 1
        # where the kill landed: replay had begun in this run and not every batch was verified
        verified |= {e["batch"] for e in service.events if e.get("event") == "batch_verified"}
        assert verified < {0, 1, 2}, f"kill {attempt + 1} came after replay was done"
        if attempt == 0:
            assert any(e.get("event") == "batch_seen" for e in service.events)

    fraud, _ = net.proposer.propose(300, Fault(FaultKind.COPY_PREV_ROOT, 150))
    rpc(net, "evm_setAutomine", False)
    try:
        service = ServiceProcess(net, data, *extra)
        service.wait_for("fraud_detected", batch=fraud.index, alert=True, timeout=60)
        rpc(net, "evm_mine")  # one confirmation: the challenge goes out, and stays unmined
        service.wait_for("challenge_submitted", batch=fraud.index, timeout=60)
        service.kill()  # killed right after sending, before any receipt
        kills += 1
        service = ServiceProcess(net, data, *extra)
        service.wait_for("challenge_tx_sent", batch=fraud.index, replacement=1, timeout=60)
        service.kill()  # killed again after a fee bump with the same nonce
        kills += 1
    finally:
        rpc(net, "evm_setAutomine", True)
    rpc(net, "evm_mine")

    service = ServiceProcess(net, data, *extra)
    try:
        service.wait_for("challenge_succeeded", batch=fraud.index, timeout=60)
    finally:
        assert service.terminate() == 0
    assert kills == 4

    verdicts, states, mined = _store_summary(data)
    assert verdicts == [(0, "valid"), (1, "valid"), (2, "valid"), (3, "fraud")]
    assert states == [ChallengeState.SUCCEEDED]
    assert mined == 1
    assert len(_fraud_proven(net)) == 1
    assert net.client.owed(net.challenger.address) == stake + reward
