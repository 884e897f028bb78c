"""Issue 3 acceptance, on anvil and on the embedded chain: every faulty proposer mode is
challenged with a proof from the package's proof builder and the batch is rejected on chain;
for an honest batch every possible step challenge reverts."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.statedb import StateDB
from watchtower.l1.rollup import L1TransactionError, OnChainStatus
from watchtower.proof.fraud import build_fraud_proof
from watchtower.rollup.types import Batch, VerdictKind
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import STEP_FAULTS, Fault
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration
STEPS = 5
FAULT_STEP = 2


def _onchain(net: Devnet, receipt: dict) -> Batch:  # type: ignore[type-arg]
    block = receipt["blockNumber"]
    (event,) = net.client.batches_submitted(block, block)
    return net.client.fetch_batch(event, net.client.params())


def test_every_fault_is_rejected_on_chain(devnet: Devnet, tmp_path: Path) -> None:
    net = devnet
    params = net.client.params()
    stake = net.config.min_stake
    with StateDB(tmp_path / "watcher", sync=False) as store:
        assert init_genesis(store, devnet_genesis()) == net.client.genesis_root()
        _, receipt = net.proposer.propose(STEPS)
        assert replay_batch(store, _onchain(net, receipt)).kind is VerdictKind.VALID

        for kind in STEP_FAULTS:  # the bridge faults: tests/integration/test_devnet_bridge.py
            _, receipt = net.proposer.propose(STEPS, Fault(kind, FAULT_STEP))
            batch = _onchain(net, receipt)
            verdict = replay_batch(store, batch, commit=False)
            assert verdict.kind is VerdictKind.FRAUD, kind
            assert verdict.step == FAULT_STEP, kind

            proof = build_fraud_proof(store, batch, FAULT_STEP, params)
            net.client.simulate_challenge(net.challenger.address, proof, stake)
            owed = net.client.owed(net.challenger.address)
            net.client.challenge(net.challenger, proof, stake)

            assert net.client.batch(batch.index).status is OnChainStatus.REJECTED, kind
            assert net.client.next_index() == batch.index
            assert net.client.tip_root() == batch.prev_root
            reward = net.config.proposer_bond // 2
            assert net.client.owed(net.challenger.address) == owed + stake + reward
            # A second challenge of the same batch is refused: one stake per batch.
            with pytest.raises(L1TransactionError, match="pending"):
                net.client.simulate_challenge(net.challenger.address, proof, stake)
            # The slashed proposer re-bonds and continues from the last good root.
            net.client.deposit_bond(net.proposer.account, net.config.proposer_bond)

        _, receipt = net.proposer.propose(STEPS)
        assert replay_batch(store, _onchain(net, receipt)).kind is VerdictKind.VALID


def test_every_step_challenge_of_an_honest_batch_reverts(devnet: Devnet, tmp_path: Path) -> None:
    net = devnet
    params = net.client.params()
    stake = net.config.min_stake
    with StateDB(tmp_path / "watcher", sync=False) as store:
        init_genesis(store, devnet_genesis())
        _, receipt = net.proposer.propose(STEPS)
        batch = _onchain(net, receipt)
        for k in range(STEPS):
            proof = build_fraud_proof(store, batch, k, params, allow_correct=True)
            with pytest.raises(L1TransactionError, match="no fraud"):
                net.client.simulate_challenge(net.challenger.address, proof, stake)
        with pytest.raises(L1TransactionError, match="no fraud"):
            net.client.challenge(net.challenger, proof, stake)
        assert net.client.batch(batch.index).status is OnChainStatus.PENDING
        assert replay_batch(store, batch).kind is VerdictKind.VALID


def test_batches_must_be_top_level_calls(devnet: Devnet) -> None:
    """Watchers read batch bytes from the submitting transaction's calldata, so a batch sent
    through a contract (where the bytes could differ or hide) is refused (protocol.md §7)."""
    import json

    from tests.integration.conftest import TEST_ARTIFACTS
    from watchtower.l1.rollup import _sign_and_send
    from watchtower.rollup.codec import encode_batch

    net = devnet
    artifact = json.loads((TEST_ARTIFACTS / "BatchForwarder.json").read_text())
    factory = net.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    sender = net.proposer.account
    nonce = net.w3.eth.get_transaction_count(sender.address)
    tx = factory.constructor().build_transaction({"from": sender.address, "nonce": nonce})
    forwarder = net.w3.eth.contract(
        address=_sign_and_send(net.w3, sender, tx, "deploy")["contractAddress"],
        abi=artifact["abi"],
    )
    txs = net.proposer.transfers(net.client.tip_root(), 2, 0)
    batch = net.proposer.build(txs)
    data = encode_batch(batch.index, batch.prev_root, batch.steps)
    with pytest.raises(Exception, match="direct call from an account without code"):
        forwarder.functions.forward(net.client.address, data).call({"from": sender.address})
    assert net.client.next_index() == 0
