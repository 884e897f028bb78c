"""The watchtower guards the bridge on a real anvil node and the real contract (docs/protocol.md
§8.8): the service (in process, watch mode, reading L1 through ``Web3L1Reader``) decodes the
contract's ``DepositQueued`` and ``WithdrawalClaimed`` logs, verifies the deposit steps, records a
valid batch's withdrawals, prices a fraudulent batch's value at risk, and, when nobody
challenges it and a forged withdrawal is claimed once it is final, raises ``withdrawal_forged``
and ``conservation_violated`` while the honest claim is backed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from tests.contracts.conftest import Anvil, anvil_binary
from tests.fakes.bridge_world import (
    ALICE,
    ALLOC,
    BOB,
    ETHER,
    FEE,
    FRESH,
    GENESIS_SUPPLY,
    MINER,
    PARAMS,
    Alerts,
    Proposer,
    deposit,
    withdraw,
)
from tests.integration.conftest import require_anvil
from watchtower.l1.rollup import RollupClient, RollupConfig
from watchtower.proof.withdrawal import claim_witness
from watchtower.rollup.codec import encode_batch
from watchtower.rollup.types import Batch
from watchtower.service import ServiceConfig, ServiceMode, Watchtower
from watchtower.store import bridge as records

PERIOD = 100


@pytest.fixture(scope="module")
def w3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web3]:
    require_anvil()
    binary = anvil_binary()
    assert binary is not None
    node = Anvil(binary, tmp_path_factory.mktemp("anvil-bridge"))
    try:
        yield node.w3
    finally:
        node.stop()


def funded(w3: Web3, label: bytes) -> LocalAccount:
    acct: LocalAccount = EthAccount.from_key(keccak(b"bridge watch " + label))
    w3.provider.make_request("anvil_setBalance", [acct.address, hex(1_000 * ETHER)])  # type: ignore[arg-type]
    return acct


def advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def submit(client: RollupClient, proposer: LocalAccount, batch: Batch) -> None:
    client.submit_batch(proposer, encode_batch(batch.index, batch.prev_root, batch.steps))


def test_the_service_guards_the_bridge_on_anvil(w3: Web3, tmp_path: Path) -> None:
    builder = Proposer(ALLOC)
    deployer, proposer, user = funded(w3, b"deployer"), funded(w3, b"proposer"), funded(w3, b"u")
    config = RollupConfig(
        genesis_root=builder.genesis_root,
        chain_id=PARAMS.chain_id,
        base_fee=PARAMS.base_fee,
        challenge_period=PERIOD,
        proposer_bond=2 * ETHER,
        genesis_supply=GENESIS_SUPPLY,
    )
    client = RollupClient.deploy(w3, deployer, config)
    client.register(proposer, MINER.address, 4 * ETHER)
    alerts = Alerts()
    tower = Watchtower(
        ServiceConfig(tmp_path / "data", mode=ServiceMode.WATCH, confirmations=0),
        [client],
        ALLOC,
        alert=alerts,
    )
    try:
        client.deposit(user, FRESH, 2 * ETHER)
        honest = builder.build([deposit(0, FRESH, 2 * ETHER), withdraw(ALICE, 0, 3 * ETHER)])
        submit(client, proposer, honest)
        # Bob holds 1 ETH: his 5 ETH withdrawal is invalid, claimed as valid (a forged withdrawal).
        fraud = builder.build([withdraw(BOB, 0, 5 * ETHER)], wrong_from=0)
        submit(client, proposer, fraud)

        report = tower.tick()
        assert report.verdicts == [(0, "valid"), (1, "fraud")]
        assert alerts.kinds() == ["fraud_detected"]
        assert alerts.of("fraud_detected")[0]["value_at_risk"] == 5 * ETHER
        store = tower.store
        (queued,) = records.deposits(store)
        assert (queued.index, queued.recipient, queued.amount) == (0, FRESH, 2 * ETHER)
        assert queued.sender == bytes.fromhex(user.address[2:])
        assert records.l2_supply(store, GENESIS_SUPPLY) == (
            0,
            GENESIS_SUPPLY + 2 * ETHER - 3 * ETHER - FEE,
        )

        # Nobody challenges (watch mode): both batches finalize, and both withdrawals are paid.
        advance(w3, PERIOD + 1)
        client.finalize(user, 0)
        client.finalize(user, 1)
        client.claim_withdrawal(user, 0, 1, claim_witness(honest, 1))
        client.claim_withdrawal(user, 1, 0, claim_witness(fraud, 0))
        assert client.bridge_balance() == GENESIS_SUPPLY + 2 * ETHER - 3 * ETHER - 5 * ETHER

        tower.tick()
        (forged,) = alerts.of("withdrawal_forged")
        assert (forged["batch"], forged["step"], forged["amount"]) == (1, 0, 5 * ETHER)
        assert forged["account"] == "0x" + BOB.address.hex()
        assert forged["reason"] == "batch 1 was judged fraud"
        assert {c.verdict for c in records.claims(store)} == {"backed", "forged"}
        (violated,) = alerts.of("conservation_violated")
        assert violated["bridge_balance"] == client.bridge_balance()
        assert violated["shortfall"] == 5 * ETHER - FEE
        assert store.integrity_check() == []
    finally:
        tower.close()
        builder.close()
