"""Issue 12, acceptance: every bridge attack against a real `watchtower run` on anvil.

For each attack the faulty proposer gets past the contract with (a forged withdrawal of most of
the bridge, a deposit credited with the wrong amount, a deposit invented on a no-op step) the
service finds the fraud, raises the alert with the value at risk, commits and reveals its
challenge, and the batch is rejected before its window closes; the forged withdrawal can never be
claimed and a wrongly credited deposit goes back to the queue. A proposer that censors a deposit
cannot get a batch accepted once the deposit is overdue, and the service pages about it until an
honest batch includes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import require_anvil, rpc
from tests.integration.service_process import ServiceProcess
from watchtower.l1.rollup import L1TransactionError, OnChainStatus
from watchtower.proof.withdrawal import claim_witness
from watchtower.rollup.bridge import claimed_withdrawals
from watchtower.rollup.params import DEPOSIT_INCLUSION_DELAY
from watchtower.rollup.types import Batch
from watchtower_dev.chain import fund
from watchtower_dev.devnet import Devnet, start_devnet
from watchtower_dev.faults import ATTACKER, Fault, FaultKind
from watchtower_dev.users import advance_time, deposit, l1_account

pytestmark = pytest.mark.integration
ETHER = 10**18
PERIOD = 900  # seconds: room for the service to act; time is moved on by hand afterwards


@pytest.fixture
def net() -> Iterator[Devnet]:
    require_anvil()
    with start_devnet("anvil", challenge_period=PERIOD) as devnet:
        yield devnet


def _mine_until(net: Devnet, done: Callable[[], bool], what: str, blocks: int = 240) -> None:
    for _ in range(blocks):
        if done():
            return
        rpc(net, "evm_mine")
        time.sleep(0.25)
    raise AssertionError(f"{what}: not after {blocks} blocks")


def _service(net: Devnet, data: Path) -> ServiceProcess:
    return ServiceProcess(net, data, "--confirmations", "1")


def _user(net: Devnet) -> bytes:
    return bytes.fromhex(net.user.address[2:])


def _onchain_batch(net: Devnet, index: int) -> Batch:
    events = [
        e for e in net.client.batches_submitted(0, net.w3.eth.block_number) if e.index == index
    ]
    return net.client.fetch_batch(events[-1], net.client.params())


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("fault", "step"),
    [
        (FaultKind.FORGE_WITHDRAWAL, 2),
        (FaultKind.WRONG_DEPOSIT_AMOUNT, 0),
        (FaultKind.INVENT_DEPOSIT, 1),
    ],
)
def test_a_bridge_fraud_is_challenged_and_rejected_in_time(
    net: Devnet, tmp_path: Path, fault: FaultKind, step: int
) -> None:
    client = net.client
    deposit(client, net.user, _user(net), 5 * ETHER)
    bridge_before = client.bridge_balance()
    batch, _ = net.proposer.propose(4, Fault(fault, step))
    onchain = _onchain_batch(net, 0)
    at_risk = sum(w.amount for w in claimed_withdrawals(onchain, client.params()))
    if fault is FaultKind.FORGE_WITHDRAWAL:
        assert at_risk == bridge_before * 9 // 10  # most of the bridge's funds
    assert client.deposits_consumed() == 1
    deadline = client.batch(0).deadline

    service = _service(net, tmp_path / "wt")
    try:
        alert = service.wait_for("fraud_detected", batch=0, alert=True, timeout=90)
        assert alert["step"] == step
        assert int(alert["value_at_risk"]) == at_risk
        _mine_until(net, lambda: client.batch(0).status is OnChainStatus.REJECTED, "rejected")
        service.wait_for("challenge_succeeded", batch=0, timeout=60)
        rejected_at = net.w3.eth.get_block("latest")["timestamp"]
        assert rejected_at <= deadline  # inside the window
        # the rejected batch's deposit goes back to the queue, to be included again
        assert client.deposits_consumed() == 0
        net.proposer.propose(2)
        _mine_until(
            net,
            lambda: any(
                e.get("event") == "batch_verified" and e.get("batch") == 0 for e in service.events
            ),
            "the replacement batch verified",
        )
        assert client.deposits_consumed() == 1
    finally:
        assert service.terminate() == 0
    assert not any(e.get("event") == "withdrawal_forged" for e in service.events)

    # the forged withdrawal can never be claimed: not before the window, not after it
    attacker = l1_account(ATTACKER)
    fund(net.w3, attacker.address, ETHER)
    for w in claimed_withdrawals(onchain, client.params()):
        with pytest.raises(L1TransactionError, match="batch is not finalized"):
            client.claim_withdrawal(attacker, 0, w.step, claim_witness(onchain, w.step))
    advance_time(net.w3, PERIOD + 1)
    for w in claimed_withdrawals(onchain, client.params()):
        with pytest.raises(L1TransactionError, match=r"batch is not finalized|bad step"):
            client.claim_withdrawal(attacker, 0, w.step, claim_witness(onchain, w.step))
    assert client.owed(attacker.address) == 0
    assert client.bridge_balance() == bridge_before
    assert batch.index == 0


@pytest.mark.timeout(300)
def test_a_censoring_proposer_cannot_get_a_batch_in_and_the_service_pages(
    net: Devnet, tmp_path: Path
) -> None:
    client = net.client
    deposit(client, net.user, _user(net), 3 * ETHER)
    net.proposer.propose(2, Fault(FaultKind.SKIP_DEPOSIT, 0))  # accepted: the deposit is young
    assert client.deposits_consumed() == 0
    service = _service(net, tmp_path / "wt")
    try:
        service.wait_for("batch_verified", batch=0, timeout=90)
        advance_time(net.w3, DEPOSIT_INCLUSION_DELAY + 1)
        alert = service.wait_for("deposit_overdue", alert=True, timeout=90)
        assert int(alert["deposit"]) == 0 and int(alert["amount"]) == 3 * ETHER
        for _ in range(2):  # whatever it tries, the censoring proposer is refused
            with pytest.raises(L1TransactionError, match="oldest pending deposit is overdue"):
                net.proposer.propose(2, Fault(FaultKind.SKIP_DEPOSIT, 0))
        assert client.next_index() == 1
        net.proposer.propose(2)  # an honest batch includes it
        assert client.deposits_consumed() == 1
        _mine_until(
            net,
            lambda: any(e.get("event") == "deposit_overdue_resolved" for e in service.events),
            "deposit_overdue resolved",
        )
        service.wait_for("batch_verified", batch=1, timeout=60)
    finally:
        assert service.terminate() == 0
    assert not any(e.get("event") == "fraud_detected" for e in service.events)
