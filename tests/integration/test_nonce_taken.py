"""Issue 10, point 7: nonces are the service's own, and "nonce too low" is never success.

Another transaction from the same key (another process, a human) takes the nonce of the commit,
then the nonce of the reveal, on anvil: each action gets a fresh nonce and the challenge still
lands, with exactly one stake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from tests.integration.conftest import rpc
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.service import ServiceConfig, Watchtower
from watchtower.store.db import ChallengeState, SubmissionRow
from watchtower.submit.challenger import FeePolicy
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration


def _steal_nonce(w3: Web3, key: LocalAccount, ours: SubmissionRow) -> bytes:
    """Sign and send, from the same key, a transfer with ``ours``'s nonce and higher fees: the
    node replaces our pending transaction with it."""
    tx: dict[str, Any] = {
        "to": key.address,
        "value": 0,
        "gas": 21_000,
        "nonce": ours.nonce,
        "maxFeePerGas": 2 * ours.max_fee,
        "maxPriorityFeePerGas": 2 * ours.max_priority_fee,
        "chainId": int(w3.eth.chain_id),
    }
    signed = key.sign_transaction(tx)
    return bytes(w3.eth.send_raw_transaction(signed.raw_transaction))


def test_nonces_taken_by_another_transaction_are_replaced_and_one_stake_lands(
    anvil_net: Devnet, tmp_path: Path
) -> None:
    net = anvil_net
    alerts: list[tuple[str, dict[str, Any]]] = []
    config = ServiceConfig(tmp_path, confirmations=0, fee_policy=FeePolicy(bump_after=3600))
    tower = Watchtower(
        config, [net.client], devnet_genesis(), net.challenger,
        alert=lambda kind, **fields: alerts.append((kind, fields)),
    )  # fmt: skip
    fraud, _ = net.proposer.propose(4, Fault(FaultKind.WRONG_FEE, 1))
    start_nonce = int(net.w3.eth.get_transaction_count(net.challenger.address))
    rpc(net, "evm_setAutomine", False)
    try:
        tower.tick()  # the commit, pending
        (commit,) = tower.store.submissions()
        assert (commit.action, commit.nonce) == ("commit", start_nonce)
        stolen = [_steal_nonce(net.w3, net.challenger, commit)]
        rpc(net, "evm_mine")  # the other transaction is mined with our commit's nonce
        assert net.w3.eth.get_transaction_receipt(stolen[0])["status"] == 1

        tower.tick()  # nonce passed, no receipt of ours: a fresh nonce for the commit
        commits = [s for s in tower.store.submissions() if s.action == "commit"]
        assert [s.nonce for s in commits] == [start_nonce, start_nonce + 1]
        rpc(net, "evm_mine")
        tower.tick()  # the commit is mined: the reveal goes out, pending
        (reveal,) = [s for s in tower.store.submissions() if s.action == "reveal"]
        stolen.append(_steal_nonce(net.w3, net.challenger, reveal))
        rpc(net, "evm_mine")

        tower.tick()  # the reveal's nonce was taken: a fresh one
        reveals = [s for s in tower.store.submissions() if s.action == "reveal"]
        assert [s.nonce for s in reveals] == [reveal.nonce, reveal.nonce + 1]
        rpc(net, "evm_mine")
    finally:
        rpc(net, "evm_setAutomine", True)
    tower.tick()
    (challenge,) = tower.store.challenges()
    assert challenge.state is ChallengeState.SUCCEEDED, challenge.detail
    assert net.client.batch(fraud.index).status is OnChain.REJECTED
    proven = net.client.contract.events.FraudProven().get_logs(from_block=0, to_block="latest")
    assert len(proven) == 1
    stake, reward = net.config.min_stake, net.config.proposer_bond // 2
    assert net.client.owed(net.challenger.address) == stake + reward  # one stake, ever
    mined = [s for s in tower.store.submissions() if s.state == "mined"]
    assert sorted(s.action for s in mined) == ["commit", "reveal"]
    # Our 4 signed transactions: 2 never mined (their nonces went to the stolen ones).
    assert [s.state for s in tower.store.submissions()] == ["sent", "mined", "sent", "mined"]
    assert tower.store.integrity_check() == []
    kinds = [kind for kind, _ in alerts]
    assert "challenge_failed" not in kinds
    assert kinds.count("challenge_submitted") == 1 and kinds.count("challenge_succeeded") == 1
    batch_tx = "0x" + tower.store.batch_by_id(challenge.batch_id).tx_hash.hex()
    for kind, fields in alerts:  # alerts about the batch name it by its L1 transaction
        if kind.startswith(("challenge_", "fraud_detected")):
            assert fields["batch_tx"] == batch_tx, (kind, fields)
    tower.close()


def test_a_journal_started_by_another_key_is_left_to_that_key(tmp_path: Path) -> None:
    """The commitment and the nonces of a challenge belong to the key that committed: a restart
    with another key does not send anything for it (it could not reveal, and would mix two
    accounts' nonces); it says so (deadline_at_risk) so a human restarts with the right key."""
    from watchtower_dev.chain import fund
    from watchtower_dev.devnet import dev_key, start_devnet

    with start_devnet("embedded") as net:
        first = Watchtower(
            ServiceConfig(tmp_path, confirmations=0), [net.client], devnet_genesis(), net.challenger
        )
        net.proposer.propose(3, Fault(FaultKind.WRONG_ROOT, 1))
        first.tick()  # fraud found, commit sent
        assert [s.action for s in first.store.submissions()] == ["commit"]
        first.close()
        other = dev_key("other-challenger")
        fund(net.w3, other.address, 10 * 10**18)
        alerts: list[tuple[str, dict[str, Any]]] = []
        second = Watchtower(
            ServiceConfig(tmp_path, confirmations=0), [net.client], devnet_genesis(), other,
            alert=lambda kind, **fields: alerts.append((kind, fields)),
        )  # fmt: skip
        second.tick()
        (challenge,) = second.store.challenges()
        assert challenge.state is ChallengeState.SENT
        assert [s.action for s in second.store.submissions()] == ["commit"]
        assert net.w3.eth.get_transaction_count(other.address) == 0
        (risk,) = [f for kind, f in alerts if kind == "deadline_at_risk"]
        assert net.challenger.address in risk["reason"] and other.address in risk["reason"]
        second.close()
