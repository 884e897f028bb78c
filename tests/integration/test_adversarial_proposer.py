"""Issue 10, finding 1, end to end: a proposer of its own (raw transactions from its own key)
tries both non-canonical encodings of ``submitBatch`` calldata, then posts a fraud followed by
batches built on it; a real ``watchtower run`` challenges the fraud (commit, then reveal) and keeps
verifying the rollup afterwards.

The non-canonical encodings (non-zero padding, padding left out) are what an earlier contract
accepted while the watcher could not read them, so a fraud in them finalized unchallenged. The
contract now refuses them (protocol.md §7.3, rule 0b): they revert, emit nothing, and the watcher
never sees them. The fraud sent canonically is challenged and rejected; the batches after it are
rejected with it; the honest batches posted afterwards at the same indexes are verified.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3

from tests.integration.conftest import rpc
from tests.integration.service_process import ServiceProcess
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.rollup.codec import encode_batch
from watchtower.rollup.types import Batch, VerdictKind
from watchtower.store.db import BatchStatus, Store
from watchtower_dev.chain import fund
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import DEVNET_COINBASE

pytestmark = pytest.mark.integration
ETHER = 10**18
GWEI = 10**9


class RawProposer:
    """A proposer that signs every transaction itself (nonce, gas and fees set by hand)."""

    def __init__(self, net: Devnet) -> None:
        self.net = net
        self.account: LocalAccount = Account.create()
        fund(net.w3, self.account.address, 100 * ETHER)
        self.nonce = 0

    def send(self, data: bytes, value: int = 0, gas: int = 8_000_000) -> Any:
        tx = {
            "to": self.net.client.address,
            "data": HexBytes(data),
            "value": value,
            "gas": gas,
            "nonce": self.nonce,
            "maxFeePerGas": 50 * GWEI,
            "maxPriorityFeePerGas": GWEI,
            "chainId": self.net.w3.eth.chain_id,
        }
        self.nonce += 1
        signed = self.account.sign_transaction(tx)
        tx_hash = self.net.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.net.w3.eth.wait_for_transaction_receipt(tx_hash)

    def calldata(self, batch: Batch) -> bytes:
        payload = encode_batch(batch.index, batch.prev_root, batch.steps)
        encoded = self.net.client.contract.encode_abi("submitBatch", args=[payload])
        return bytes(HexBytes(encoded))


def _mine_until(net: Devnet, done: Any, what: str, blocks: int = 120) -> None:
    for _ in range(blocks):
        if done():
            return
        rpc(net, "evm_mine")
        time.sleep(0.25)
    raise AssertionError(f"{what}: not after {blocks} blocks")


def test_a_proposer_of_its_own_cannot_hide_or_keep_a_fraud(
    anvil_net: Devnet, tmp_path: Path
) -> None:
    net, builder = anvil_net, anvil_net.proposer  # the builder only computes batch bytes
    client = net.client
    attacker = RawProposer(net)
    bond = client.proposer_bond()
    register = client.contract.encode_abi(
        "register", args=[Web3.to_checksum_address(DEVNET_COINBASE)]
    )
    assert attacker.send(bytes(HexBytes(register)), value=3 * bond)["status"] == 1

    genesis = client.tip_root()
    txs = builder.transfers(genesis, 6, 0)
    honest0 = builder._build(txs, None, 0, genesis)  # keeps the states, for what builds on it
    fraud0 = builder._build(txs, Fault(FaultKind.COPY_PREV_ROOT, 3), 0, genesis)
    assert fraud0.final_root == honest0.final_root and fraud0.steps != honest0.steps
    canonical = attacker.calldata(fraud0)
    payload_len = int.from_bytes(canonical[36:68], "big")
    assert payload_len % 32, "the test needs a payload with padding"

    # 1. both non-canonical encodings of the fraud: refused, nothing stored or emitted
    dirty_padding = canonical[:-1] + b"\x01"
    no_padding = canonical[: 68 + payload_len]
    for data in (dirty_padding, no_padding):
        receipt = attacker.send(data)
        assert receipt["status"] == 0 and receipt["logs"] == []
    assert client.next_index() == 0

    # 2. the fraud, canonically, and two batches built on it
    assert attacker.send(canonical)["status"] == 1
    txs1 = builder.transfers(fraud0.final_root, 4, 1)
    batch1 = builder._build(txs1, None, 1, fraud0.final_root)
    assert attacker.send(attacker.calldata(batch1))["status"] == 1
    batch2 = builder._build(builder.transfers(batch1.final_root, 4, 2), None, 2, batch1.final_root)
    assert attacker.send(attacker.calldata(batch2))["status"] == 1
    fraud_tx = client.batches_submitted(0, "latest")[0].tx_hash  # type: ignore[arg-type]

    data = tmp_path / "wt"
    service = ServiceProcess(net, data, "--confirmations", "1")
    try:
        service.wait_for("fraud_detected", batch=0, alert=True, timeout=60)
        _mine_until(net, lambda: client.batch(0).status is OnChain.REJECTED, "fraud rejected")
        service.wait_for("challenge_succeeded", batch=0, timeout=60)

        # 3. verification goes on: the honest proposer fills indexes 0 and 1 again
        builder.propose(5)
        builder.propose(5)
        _mine_until(
            net,
            lambda: any(
                e.get("event") == "batch_verified" and e.get("batch") == 1 for e in service.events
            ),
            "honest batches verified",
        )
    finally:
        assert service.terminate() == 0

    with Store(data / "watchtower.sqlite") as store:
        rows = list(store.batches())
    (fraud_row,) = [r for r in rows if r.tx_hash == fraud_tx]
    assert (fraud_row.idx, fraud_row.verdict, fraud_row.fraud_step) == (
        0,
        VerdictKind.FRAUD.value,
        3,
    )
    assert fraud_row.status is BatchStatus.REJECTED
    live = [
        (r.idx, r.verdict) for r in rows if r.status in (BatchStatus.PENDING, BatchStatus.FINALIZED)
    ]
    assert live == [(0, VerdictKind.VALID.value), (1, VerdictKind.VALID.value)]
    assert client.owed(net.challenger.address) == client.min_stake() + bond // 2
    assert client.owed(attacker.account.address) == 0
