"""Issue 6, reorgs on a real anvil node (evm_snapshot / evm_revert), in-process service.

Covered here: a batch reorged out before it was replayed; the same batch transaction mined again
in another block after a reorg (what real reorgs usually do); a reorg deeper than the confirmation
depth after the fraud was already challenged, both when the fraudulent batch comes back and when
an honest one takes its index. test_service.py covers a reorg after replay with a different batch
at the same index, and a reorg while the service was stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hexbytes import HexBytes

from tests.integration.conftest import rpc
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.service import ServiceConfig, TickReport, Watchtower
from watchtower.store.db import BatchStatus, ChallengeState
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration

Alerts = list[tuple[str, dict[str, Any]]]


def _tower(net: Devnet, data: Path, alerts: Alerts, confirmations: int = 0) -> Watchtower:
    return Watchtower(
        ServiceConfig(data, confirmations=confirmations),
        [net.client],
        devnet_genesis(),
        net.challenger,
        alert=lambda kind, **fields: alerts.append((kind, fields)),
    )


def _raw(net: Devnet, receipt: Any) -> str:
    """The signed bytes of a mined transaction, to mine it again after a reorg."""
    return str(rpc(net, "eth_getRawTransactionByHash", receipt["transactionHash"].to_0x_hex()))


def _prefund_bonds(net: Devnet) -> None:
    """Enough free bond for the batches of a test, deposited before its snapshot: a batch then
    needs no bond deposit of its own (every pending batch locks a bond), so the batch
    transaction can be mined again alone after a reorg, with no gap in the proposer's nonces."""
    net.client.deposit_bond(net.proposer.account, 8 * net.config.proposer_bond)


def _remine(net: Devnet, raw: str, empty_blocks_before: int = 1) -> int:
    for _ in range(empty_blocks_before):
        rpc(net, "evm_mine")  # so it lands in another block than before
    tx_hash = net.w3.eth.send_raw_transaction(HexBytes(raw))
    return int(net.w3.eth.wait_for_transaction_receipt(tx_hash)["blockNumber"])


def _fraud_proven(net: Devnet) -> int:
    event = net.client.contract.events.FraudProven()
    return len(event.get_logs(from_block=0, to_block="latest"))


def test_a_batch_reorged_out_before_it_was_replayed(anvil_net: Devnet, tmp_path: Path) -> None:
    net, alerts = anvil_net, []
    tower = _tower(net, tmp_path, alerts)
    net.proposer.propose(3)
    tower.tick()
    snapshot = rpc(net, "evm_snapshot")
    gone, _ = net.proposer.propose(3)
    tower.follow(TickReport())  # seen and recorded, not replayed yet
    (seen,) = [r for r in tower.store.batches() if r.final_root == gone.final_root]
    assert seen.status is BatchStatus.PENDING and seen.verdict is None

    rpc(net, "evm_revert", snapshot)
    replacement, _ = net.proposer.propose(5)
    for _ in range(2):
        rpc(net, "evm_mine")
    report = tower.tick()
    assert report.reorg_from is not None
    assert report.verdicts == [(1, "valid")]
    rows = {r.final_root: r for r in tower.store.batches()}
    assert rows[gone.final_root].status is BatchStatus.REMOVED
    assert rows[gone.final_root].verdict is None  # never replayed
    assert rows[replacement.final_root].verdict == "valid"
    assert tower.state.head_root() == replacement.final_root
    assert [kind for kind, _ in alerts if kind != "deep_reorg"] == []
    tower.close()


def test_the_same_batch_mined_again_in_another_block(anvil_net: Devnet, tmp_path: Path) -> None:
    """A reorged-out transaction usually comes back: its record must come back with it (new
    block, new deadline), not be ignored as already known."""
    net, alerts = anvil_net, []
    tower = _tower(net, tmp_path, alerts, confirmations=5)
    _prefund_bonds(net)
    net.proposer.propose(3)
    snapshot = rpc(net, "evm_snapshot")
    batch, receipt = net.proposer.propose(4)
    raw = _raw(net, receipt)
    assert tower.tick().verdicts == [(0, "valid"), (1, "valid")]
    (before,) = [r for r in tower.store.batches() if r.idx == 1]

    rpc(net, "evm_revert", snapshot)
    block = _remine(net, raw, empty_blocks_before=2)
    assert block != before.l1_block
    report = tower.tick()
    assert report.reorg_from is not None
    rows = [r for r in tower.store.batches() if r.idx == 1]
    assert len(rows) == 1  # the same record, alive again
    (after,) = rows
    assert after.id == before.id and after.status is BatchStatus.PENDING
    assert after.l1_block == block and after.verdict == "valid"
    assert after.deadline == net.client.batch(1).deadline
    assert tower.state.head_root() == batch.final_root
    assert [kind for kind, _ in alerts] == []  # shallower than 5 confirmations: no alert
    tower.close()


def _challenge_and_win(net: Devnet, tower: Watchtower, fraud_index: int) -> None:
    tower.tick()  # fraud found; not yet 2 blocks deep
    assert tower.store.challenges() == []
    for _ in range(2):
        rpc(net, "evm_mine")
    tower.tick()  # commit sent (and mined: anvil automines)
    tower.tick()  # reveal sent (and mined)
    tower.tick()  # receipt seen
    (challenge,) = tower.store.challenges()
    assert challenge.state is ChallengeState.SUCCEEDED
    assert net.client.batch(fraud_index).status is OnChain.REJECTED


def test_a_reorg_deeper_than_the_confirmations_after_the_challenge(
    anvil_net: Devnet, tmp_path: Path
) -> None:
    """The fraud was challenged and proven; then a reorg deeper than the confirmation depth
    replaces every block since before the batch, and the batch transaction is mined again. The
    journal's same signed commit and reveal (same nonces) are re-broadcast: proven again, one
    stake."""
    net, alerts = anvil_net, []
    tower = _tower(net, tmp_path, alerts, confirmations=2)
    _prefund_bonds(net)
    net.proposer.propose(3)
    tower.tick()
    snapshot = rpc(net, "evm_snapshot")
    fraud, receipt = net.proposer.propose(4, Fault(FaultKind.WRONG_FEE, 1))
    raw_batch = _raw(net, receipt)
    _challenge_and_win(net, tower, fraud.index)
    first_try = tower.store.submissions()
    assert [s.action for s in first_try] == ["commit", "reveal"]

    rpc(net, "evm_revert", snapshot)  # our challenge and the batch are gone
    assert _fraud_proven(net) == 0
    _remine(net, raw_batch)
    for _ in range(2):
        rpc(net, "evm_mine")
    report = tower.tick()  # reorg: batch revived, fraud again, same transaction re-broadcast
    assert report.reorg_from is not None
    deep = [fields for kind, fields in alerts if kind == "deep_reorg"]
    assert deep and deep[0]["depth"] > 2 and deep[0]["removed_batches"] == [fraud.index]
    for _ in range(2):  # the same reveal re-broadcast once the commit is back; its receipt
        tower.tick()
    (challenge,) = tower.store.challenges()
    assert challenge.state is ChallengeState.SUCCEEDED
    subs = tower.store.submissions()  # the very same signed transactions, never new ones
    assert [s.tx_hash for s in subs] == [s.tx_hash for s in first_try]
    assert [s.state for s in subs] == ["mined", "mined"]
    assert _fraud_proven(net) == 1
    stake, reward = net.config.min_stake, net.config.proposer_bond // 2
    assert net.client.owed(net.challenger.address) == stake + reward
    assert tower.store.integrity_check() == []
    tower.close()


def test_a_deep_reorg_that_replaces_the_fraud_with_an_honest_batch(
    anvil_net: Devnet, tmp_path: Path
) -> None:
    """After the challenge, a deep reorg puts an honest batch at the fraud's index: it is
    verified valid and nothing is sent against it."""
    net, alerts = anvil_net, []
    tower = _tower(net, tmp_path, alerts, confirmations=2)
    net.proposer.propose(3)
    tower.tick()
    snapshot = rpc(net, "evm_snapshot")
    fraud, _ = net.proposer.propose(4, Fault(FaultKind.SKIP_TX, 2))
    _challenge_and_win(net, tower, fraud.index)

    rpc(net, "evm_revert", snapshot)
    honest, _ = net.proposer.propose(6)
    assert honest.index == fraud.index
    for _ in range(4):
        rpc(net, "evm_mine")
    tower.tick()
    tower.tick()
    assert "deep_reorg" in [kind for kind, _ in alerts]
    live = {r.final_root: r for r in tower.store.batches()}
    assert live[fraud.final_root].status is BatchStatus.REMOVED
    assert live[honest.final_root].verdict == "valid"
    assert all(s.state != "mined" for s in tower.store.submissions())
    assert net.client.batch(honest.index).status is OnChain.PENDING
    assert net.client.owed(net.challenger.address) == 0
    assert _fraud_proven(net) == 0
    # The orphaned challenge (its batch is gone) must not hold the pruning floor back forever:
    # once every live batch has left its window, nothing needs to stay provable.
    after_every_deadline = max(r.deadline for r in tower.store.batches()) + 1
    assert tower.store.oldest_provable(after_every_deadline) is None
    tower.close()
