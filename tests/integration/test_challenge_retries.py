"""Issue 10, point 3: only a definite answer ends a challenge.

A real `watchtower run` behind the fault-injecting proxy (watchtower_dev.rpcproxy, fault
``fail_calls``): the first 12 eth_call / eth_estimateGas requests addressed to the reveal fail,
alternately with 429 and a JSON-RPC error. Before, one 429 on the pre-flight call marked the
challenge failed for good; now each is retried with a growing wait, the reveal's gas comes from
the proof's size when its estimate fails, and the fraud is proven before the deadline, with one
stake. Every decision is unit-tested in tests/unit/test_decide.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils import function_abi_to_4byte_selector

from tests.integration.conftest import rpc
from tests.integration.test_rpc_faults import _service
from watchtower.store.db import ChallengeState, Store
from watchtower_dev.chain import free_port
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.rpcproxy import RpcProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(anvil_net: Devnet) -> Iterator[RpcProxy]:
    assert anvil_net.rpc_url is not None
    with RpcProxy(anvil_net.rpc_url, seed=10) as running:
        yield running


def test_failed_calls_to_the_challenge_are_retried_until_it_is_proven(
    anvil_net: Devnet, proxy: RpcProxy, tmp_path: Path
) -> None:
    """The first 12 eth_call / eth_estimateGas requests of the reveal fail (429s and JSON-RPC
    errors): before the fix one 429 on the pre-flight failed the challenge for good. Now they
    are retried with a growing wait, the reveal's gas comes from the proof's size when its
    estimate fails, and the fraud is proven before the deadline, with one stake."""
    net = anvil_net
    fraud, _ = net.proposer.propose(5, Fault(FaultKind.WRONG_FEE, 2))
    rpc(net, "evm_mine")
    (abi,) = [e for e in net.client.contract.abi if e.get("name") == "challenge"]
    selector = "0x" + function_abi_to_4byte_selector(abi).hex()
    target = {"to": net.client.address, "selector": selector}
    fault = proxy.inject("fail_calls", methods=("eth_call",), remaining=12, **target)
    # Every estimate of the reveal fails: its gas limit must come from the proof's size.
    estimates = proxy.inject("fail_calls", methods=("eth_estimateGas",), remaining=10**6, **target)
    data = tmp_path / "wt"
    service = _service(net, proxy, data, free_port())
    try:
        service.wait_for("challenge_succeeded", batch=fraud.index, timeout=90)
        retries = [e for e in service.events if e.get("event") == "challenge_retry"]
        assert fault.remaining == 0 and estimates.remaining < 10**6
        assert len(retries) >= 2
        waits = [float(e["retry_in"]) for e in retries]
        print(f"\nfailed challenge calls: 12 failed, {len(retries)} retries, waits {waits}")
        assert "challenge_failed" not in {e.get("event") for e in service.events}
        (reveal_sent,) = [
            e
            for e in service.events
            if e.get("event") == "challenge_tx_sent" and e.get("action") == "reveal"
        ]
    finally:
        assert service.terminate() == 0
    with Store(data / "watchtower.sqlite") as store:
        (challenge,) = store.challenges()
        assert challenge.state is ChallengeState.SUCCEEDED
        (reveal,) = [s for s in store.submissions() if s.state == "mined" and s.action == "reveal"]
        receipt = net.w3.eth.get_transaction_receipt(reveal.tx_hash)
        limit = int(net.w3.eth.get_transaction(reveal.tx_hash)["gas"])
        assert limit == reveal_sent["gas"] and int(receipt["gasUsed"]) < limit
        print(f"reveal without an estimate: {receipt['gasUsed']:,} gas used of {limit:,}")
        block = net.w3.eth.get_block(reveal.l1_block)  # type: ignore[arg-type]
        assert int(block["timestamp"]) <= net.client.batch(fraud.index).deadline
    stake, reward = net.config.min_stake, net.config.proposer_bond // 2
    assert net.client.owed(net.challenger.address) == stake + reward
