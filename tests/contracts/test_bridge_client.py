"""``watchtower.l1.rollup.RollupClient``'s bridge methods (protocol.md §8) on anvil: deploy with
the genesis supply, deposit, read the queue (storage and events), a batch's deposit range,
claim a withdrawal, and the reverts surfacing as ``L1TransactionError`` with their reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from tests.adversarial.bridge_kit import BRIDGE, SUPPLY, apply_step, deposit_step
from tests.contracts.contract_reference import encode_batch, sign_transfer, state_trie
from tests.contracts.test_rollup import CHAIN_ID, KEYS, USERS, advance, genesis, witness
from watchtower.l1.rollup import (
    CLAIM_REVERTS,
    DEPOSIT_REVERTS,
    DEPOSIT_STEP_REVERTS,
    L1TransactionError,
    OnChainStatus,
    RollupClient,
    RollupConfig,
)
from watchtower.rollup.bridge import Deposit

ETHER = 10**18
PERIOD = 100
NEW = b"\x5e" * 20
COINBASE = b"\xcb" * 20


def funded(w3: Web3, label: bytes, balance: int = 1_000 * ETHER) -> LocalAccount:
    acct: LocalAccount = EthAccount.from_key(keccak(b"bridge client " + label))
    w3.provider.make_request("anvil_setBalance", [acct.address, hex(balance)])  # type: ignore[arg-type]
    return acct


def test_client_deposit_claim_round_trip(w3: Web3) -> None:
    state = genesis()
    deployer, proposer = funded(w3, b"deployer"), funded(w3, b"proposer")
    depositor, stranger = funded(w3, b"depositor"), funded(w3, b"stranger")
    config = RollupConfig(
        genesis_root=state_trie(state).root_hash,
        chain_id=CHAIN_ID,
        challenge_period=PERIOD,
        proposer_bond=2 * ETHER,
        genesis_supply=SUPPLY,
    )
    client = RollupClient.deploy(w3, deployer, config)
    assert client.genesis_supply() == SUPPLY == client.bridge_balance()
    client.register(proposer, COINBASE, 2 * ETHER)

    with pytest.raises(L1TransactionError, match="deposit of zero"):
        client.deposit(depositor, NEW, 0)
    first = client.deposit(depositor, NEW, 3 * ETHER)
    second = client.deposit(depositor, USERS[2], 5)
    assert (client.deposit_count(), client.deposits_consumed()) == (2, 0)
    assert client.bridge_balance() == SUPPLY + 3 * ETHER + 5
    logged = client.deposits_queued(int(first["blockNumber"]), int(second["blockNumber"]))
    ts = [int(w3.eth.get_block(r["blockNumber"])["timestamp"]) for r in (first, second)]
    sender = bytes.fromhex(depositor.address[2:])
    assert logged == [
        Deposit(0, sender, NEW, 3 * ETHER, ts[0], int(first["blockNumber"])),
        Deposit(1, sender, USERS[2], 5, ts[1], int(second["blockNumber"])),
    ]
    assert client.queued_deposit(1) == Deposit(1, b"", USERS[2], 5, ts[1])

    txs = [
        deposit_step(0, NEW, 3 * ETHER),
        sign_transfer(KEYS[1], CHAIN_ID, 0, BRIDGE, 7 * ETHER),
        deposit_step(1, USERS[2], 5),
    ]
    steps = []
    for tx in txs:
        state = apply_step(state, tx, COINBASE)
        steps.append((tx, state_trie(state).root_hash))
    client.submit_batch(proposer, encode_batch(0, client.tip_root(), steps))
    batch = client.batch(0)
    assert (batch.deposit_start, batch.deposit_end, batch.status) == (0, 2, OnChainStatus.PENDING)
    assert client.deposits_consumed() == 2

    with pytest.raises(L1TransactionError, match="batch is not finalized"):
        client.claim_withdrawal(stranger, 0, 1, witness(steps, 1))
    advance(w3, PERIOD + 1)
    client.finalize(stranger, 0)
    assert not client.withdrawal_claimed(0, 1)
    receipt = client.claim_withdrawal(stranger, 0, 1, witness(steps, 1))
    assert receipt["status"] == 1
    assert client.withdrawal_claimed(0, 1)
    assert client.owed(Web3.to_checksum_address(USERS[1])) == 7 * ETHER
    assert client.bridge_balance() == SUPPLY + 3 * ETHER + 5 - 7 * ETHER
    with pytest.raises(L1TransactionError, match="withdrawal already claimed"):
        client.claim_withdrawal(stranger, 0, 1, witness(steps, 1))
    with pytest.raises(L1TransactionError, match="step is not a withdrawal"):
        client.claim_withdrawal(stranger, 0, 2, witness(steps, 2))


def test_registered_revert_reasons_are_the_contracts() -> None:
    """Every reason the module names is a revert string of the contract's source (a typo would
    make a caller's match silently never fire; the artifacts are checked against the source)."""
    source = (Path(__file__).resolve().parents[2] / "contracts" / "Rollup.sol").read_text()
    for reason in (*DEPOSIT_REVERTS, *DEPOSIT_STEP_REVERTS, *CLAIM_REVERTS):
        assert f'"Rollup: {reason}"' in source, reason
