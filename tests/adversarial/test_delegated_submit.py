"""Attack: a proposer hides a batch inside an internal call.

Watchers read a batch from the top-level calldata of the transaction that submitted it. If a
contract can call ``submitBatch``, the batch bytes exist only in an internal call: the top-level
input is whatever the contract was sent (compressed, encrypted or computed), and a batch nobody
can read is never challenged. There are two ways to try it. A forwarding contract, where
``msg.sender`` is the contract. Or an EIP-7702 delegation: the proposer's own account runs the
forwarder's code in a transaction sent to itself, so ``msg.sender == tx.origin`` holds inside.
Cost: gas. What stops it: ``submitBatch`` also requires that ``msg.sender`` has no code, which a
delegated account has (0xef0100 || delegate). A delegated proposer is refused even when it calls
directly, until it clears the delegation.
"""

from __future__ import annotations

import json

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from tests.adversarial.kit import GAS_SUBMIT, MAX_FEE, World, failed, make_world, ok, receipt
from tests.contracts.conftest import TEST_ARTIFACTS

DIRECT = "submitBatch must be a direct call from an account without code"


def deploy_forwarder(w3: Web3) -> str:
    art = json.loads((TEST_ARTIFACTS / "BatchForwarder.json").read_text())
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    rcpt = w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": w3.eth.accounts[0]})
    )
    return str(rcpt["contractAddress"])


def forward_data(w3: Web3, forwarder: str, world: World, batch_data: bytes) -> bytes:
    art = json.loads((TEST_ARTIFACTS / "BatchForwarder.json").read_text())
    contract = w3.eth.contract(address=to_checksum_address(forwarder), abi=art["abi"])
    return HexBytes(contract.encode_abi("forward", args=[world.address, batch_data]))


def delegate(world: World, target: str, data: bytes = b"") -> HexBytes:
    """A type-4 transaction from the proposer to itself, delegating its account to `target`
    (the zero address clears the delegation) and running `data` on the delegated code."""
    w3, account = world.w3, world.proposer.account
    nonce = world.proposer.nonce()
    auth = account.sign_authorization(
        {"chainId": w3.eth.chain_id, "address": target, "nonce": nonce + 1}
    )
    tx = {
        "type": 4,
        "chainId": w3.eth.chain_id,
        "nonce": nonce,
        "to": account.address,
        "value": 0,
        "data": HexBytes(data),
        "gas": GAS_SUBMIT,
        "maxFeePerGas": MAX_FEE,
        "maxPriorityFeePerGas": 10**9,
        "authorizationList": [auth],
    }
    return HexBytes(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))


def test_batch_through_a_forwarding_contract_is_refused(w3: Web3) -> None:
    world = make_world(w3)
    forwarder = deploy_forwarder(w3)
    batch = world.build(2, wrong=(1,))
    tx_hash = world.proposer.send(
        forwarder, forward_data(w3, forwarder, world, batch.data), gas=GAS_SUBMIT
    )
    failed(w3, tx_hash, DIRECT)
    assert world.next_index() == 0 and world.batch_status(0) == 0


def test_batch_through_an_eip7702_delegated_proposer_is_refused(w3: Web3) -> None:
    world = make_world(w3)
    forwarder = deploy_forwarder(w3)
    batch = world.build(2, wrong=(1,))
    # the proposer delegates its own account to the forwarder and, in the same transaction,
    # calls itself: inside, msg.sender == tx.origin == the registered proposer
    tx_hash = delegate(world, forwarder, forward_data(w3, forwarder, world, batch.data))
    failed(w3, tx_hash, DIRECT)
    code = bytes(w3.eth.get_code(world.proposer.address))
    assert code == b"\xef\x01\x00" + bytes.fromhex(forwarder[2:])
    assert world.next_index() == 0 and world.batch_status(0) == 0
    # delegated, it cannot submit even directly
    failed(w3, world.submit(batch), DIRECT)
    # once the delegation is cleared, the same batch submitted directly is accepted
    ok(w3, delegate(world, "0x" + "00" * 20))
    assert bytes(w3.eth.get_code(world.proposer.address)) == b""
    rcpt = ok(w3, world.submit(batch))
    assert receipt(w3, rcpt["transactionHash"])["to"] == world.address
    assert world.next_index() == 1
