"""The service in-process: reorgs (live and while stopped), restarts, watch mode, two watchtowers
racing on the same fraud. The subprocess canary and SIGKILL tests are in test_canary.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import require_anvil, rpc
from watchtower.clock import ManualClock
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.service import ServiceConfig, ServiceMode, Watchtower
from watchtower.store.db import BatchStatus, ChallengeState
from watchtower_dev.chain import fund
from watchtower_dev.devnet import Devnet, dev_key, start_devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration


def _tower(net: Devnet, data: Path, confirmations: int = 0) -> Watchtower:
    config = ServiceConfig(data, confirmations=confirmations)
    return Watchtower(config, [net.client], devnet_genesis(), net.challenger)


def test_reorg_forgets_the_batch_and_verifies_its_replacement(
    anvil_net: Devnet, tmp_path: Path
) -> None:
    net = anvil_net
    tower = _tower(net, tmp_path)
    net.proposer.propose(4)
    tower.tick()
    snapshot = rpc(net, "evm_snapshot")
    first, _ = net.proposer.propose(4)
    report = tower.tick()
    assert report.verdicts == [(1, "valid")]
    assert tower.state.head_root() == first.final_root

    rpc(net, "evm_revert", snapshot)
    replacement, _ = net.proposer.propose(6)  # another batch at the same index
    for _ in range(3):
        rpc(net, "evm_mine")
    report = tower.tick()
    assert report.reorg_from is not None
    assert report.verdicts == [(1, "valid")]
    rows = {(r.idx, r.final_root): r for r in tower.store.batches()}
    assert rows[(1, first.final_root)].status is BatchStatus.REMOVED
    assert rows[(1, replacement.final_root)].verdict == "valid"
    assert tower.state.head_root() == replacement.final_root
    tower.close()


def test_reorg_while_the_service_was_stopped(anvil_net: Devnet, tmp_path: Path) -> None:
    net = anvil_net
    tower = _tower(net, tmp_path)
    snapshot = rpc(net, "evm_snapshot")
    gone, _ = net.proposer.propose(3)
    tower.tick()
    tower.close()

    rpc(net, "evm_revert", snapshot)
    kept, _ = net.proposer.propose(5)
    for _ in range(2):
        rpc(net, "evm_mine")

    tower = _tower(net, tmp_path)
    report = tower.tick()
    assert report.reorg_from is not None
    statuses = {r.final_root: (r.status, r.verdict) for r in tower.store.batches()}
    assert statuses[gone.final_root][0] is BatchStatus.REMOVED
    assert statuses[kept.final_root] == (BatchStatus.PENDING, "valid")
    tower.close()


def test_restart_resumes_without_redoing_work(tmp_path: Path) -> None:
    with start_devnet("embedded") as net:
        tower = _tower(net, tmp_path)
        for _ in range(3):
            net.proposer.propose(3)
        tower.tick()
        before = [(r.idx, r.verdict) for r in tower.store.batches()]
        tower.close()
        tower = _tower(net, tmp_path)
        net.proposer.propose(3)
        report = tower.tick()
        assert report.verdicts == [(3, "valid")]  # only the new batch was replayed
        assert [(r.idx, r.verdict) for r in tower.store.batches()][:3] == before
        assert tower.store.integrity_check() == []
        tower.close()


def test_watch_mode_alerts_but_never_sends(tmp_path: Path) -> None:
    alerts: list[str] = []
    with start_devnet("embedded") as net:
        config = ServiceConfig(tmp_path, mode=ServiceMode.WATCH, confirmations=0)
        tower = Watchtower(
            config, [net.client], devnet_genesis(), None, alert=lambda k, **_: alerts.append(k)
        )
        net.proposer.propose(3)
        net.proposer.propose(4, Fault(FaultKind.SKIP_TX, 1))
        tower.tick()
        tower.tick()
        assert "fraud_detected" in alerts
        assert tower.store.challenges() == []
        assert net.client.batch(1).status is OnChain.PENDING
        tower.close()


def _other_tower(net: Devnet, data: Path, confirmations: int) -> Watchtower:
    other_key = dev_key("other-challenger")
    fund(net.w3, other_key.address, 10 * 10**18)
    config = ServiceConfig(data, confirmations=confirmations)
    return Watchtower(config, [net.client], devnet_genesis(), other_key)


def test_a_batch_proven_by_someone_else_first_costs_nothing(tmp_path: Path) -> None:
    with start_devnet("embedded") as net:
        ours = _tower(net, tmp_path / "a", confirmations=1)
        theirs = _other_tower(net, tmp_path / "b", confirmations=1)
        net.proposer.propose(3)
        net.proposer.propose(4, Fault(FaultKind.WRONG_ROOT, 2))
        ours.tick()
        theirs.tick()  # both detect the fraud; neither acts before one confirmation
        net.w3.provider.ethereum_tester.mine_blocks(1)  # type: ignore[attr-defined]
        for _ in range(3):  # the other one is first: commit, reveal, receipt
            theirs.tick()
        ours.tick()
        (mine,) = ours.store.challenges()
        assert mine.state is ChallengeState.ALREADY_REJECTED
        assert ours.store.submissions() == []  # nothing sent, nothing staked
        (winner,) = theirs.store.challenges()
        assert winner.state is ChallengeState.SUCCEEDED
        assert net.client.owed(net.challenger.address) == 0
        ours.close()
        theirs.close()


def test_two_challenges_in_the_same_block_one_stake(anvil_net: Devnet, tmp_path: Path) -> None:
    """Both watchtowers commit in the same block, then both reveal before either reveal is
    mined: one wins, the other's reveal reverts (its stake comes back with the revert; only gas
    is lost) and it records the batch as already proven."""
    net = anvil_net
    ours = _tower(net, tmp_path / "a")
    theirs = _other_tower(net, tmp_path / "b", confirmations=0)
    net.proposer.propose(3)
    net.proposer.propose(4, Fault(FaultKind.WRONG_FEE, 1))
    signers = {ours: net.challenger.address, theirs: dev_key("other-challenger").address}
    before = {tower: net.w3.eth.get_balance(address) for tower, address in signers.items()}
    rpc(net, "evm_setAutomine", False)
    try:
        for _ in range(2):  # commits, in one block; then reveals, in one block
            ours.tick()
            theirs.tick()
            rpc(net, "evm_mine")
        for tower in (ours, theirs):
            assert [s.action for s in tower.store.submissions()] == ["commit", "reveal"]
    finally:
        rpc(net, "evm_setAutomine", True)
    ours.tick()
    theirs.tick()
    states = {ours.store.challenges()[0].state, theirs.store.challenges()[0].state}
    assert states == {ChallengeState.SUCCEEDED, ChallengeState.ALREADY_REJECTED}
    owed = [
        net.client.owed(net.challenger.address),
        net.client.owed(dev_key("other-challenger").address),
    ]
    stake, reward = net.config.min_stake, net.config.proposer_bond // 2
    assert sorted(owed) == [0, stake + reward]
    for tower, address in signers.items():  # the loser paid gas and nothing else
        gas_cost = 0
        for sub in tower.store.submissions():
            receipt = net.w3.eth.get_transaction_receipt(sub.tx_hash)
            gas_cost += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
        won = tower.store.challenges()[0].state is ChallengeState.SUCCEEDED
        reveal = tower.store.submissions()[-1]
        assert reveal.state == ("mined" if won else "reverted")
        spent = before[tower] - net.w3.eth.get_balance(address)
        assert spent == gas_cost + (stake if won else 0)  # the winner's stake is in `owed`
    ours.close()
    theirs.close()


def test_endpoints_that_disagree_are_never_acted_on(tmp_path: Path) -> None:
    """Two anvil nodes with the same deployment (same deployer, same address) but different
    batches: the service records nothing from the disputed range and raises rpc_disagreement."""
    require_anvil()
    alerts: list[str] = []
    with start_devnet("anvil") as honest, start_devnet("anvil") as lying:
        assert honest.client.address == lying.client.address
        honest.proposer.propose(3)
        lying.proposer.propose(3, Fault(FaultKind.WRONG_ROOT, 0))  # the same index, other data
        config = ServiceConfig(tmp_path, confirmations=0)
        tower = Watchtower(
            config,
            [honest.client, lying.client],
            devnet_genesis(),
            honest.challenger,
            alert=lambda kind, **_: alerts.append(kind),
        )
        report = tower.tick()
        assert report.disagreement is not None
        assert "rpc_disagreement" in alerts
        assert tower.store.batches() == []
        assert tower.store.challenges() == []
        assert lying.client.batch(0).status is OnChain.PENDING
        tower.close()


def test_a_challenge_is_never_sent_after_the_deadline(tmp_path: Path) -> None:
    require_anvil()
    alerts: list[str] = []
    with start_devnet("anvil", challenge_period=100) as net:
        config = ServiceConfig(tmp_path, confirmations=3)
        tower = Watchtower(
            config,
            [net.client],
            devnet_genesis(),
            net.challenger,
            alert=lambda kind, **_: alerts.append(kind),
        )
        net.proposer.propose(3, Fault(FaultKind.WRONG_FEE, 1))
        tower.tick()  # fraud found, not yet confirmed
        assert tower.store.challenges() == []
        rpc(net, "evm_increaseTime", 500)
        for _ in range(3):
            rpc(net, "evm_mine")
        tower.tick()
        (challenge,) = tower.store.challenges()
        assert challenge.state is ChallengeState.FAILED
        assert "challenge period over" in challenge.detail or "deadline" in challenge.detail
        assert tower.store.submissions() == []
        assert "challenge_failed" in alerts
        tower.close()


def test_after_a_rejection_the_new_chain_is_followed(tmp_path: Path) -> None:
    with start_devnet("embedded") as net:
        tower = _tower(net, tmp_path)
        net.proposer.propose(3)
        bad, _ = net.proposer.propose(3, Fault(FaultKind.GARBAGE_VALID, 1))
        tower.tick()
        tower.tick()
        assert net.client.batch(bad.index).status is OnChain.REJECTED
        net.client.deposit_bond(net.proposer.account, net.config.proposer_bond)
        good, _ = net.proposer.propose(4)
        assert good.index == bad.index
        report = tower.tick()
        assert report.verdicts == [(good.index, "valid")]
        assert tower.state.head_root() == good.final_root
        tower.close()


def test_stalled_low_balance_and_slashed_alerts(tmp_path: Path) -> None:
    alerts: list[tuple[str, dict[str, object]]] = []
    with start_devnet("embedded") as net:
        poor = dev_key("poor-challenger")
        fund(net.w3, poor.address, net.config.min_stake // 2)  # less than one stake
        config = ServiceConfig(tmp_path, confirmations=0, stall_after=300)
        clock = ManualClock()
        tower = Watchtower(
            config, [net.client], devnet_genesis(), poor,
            alert=lambda kind, **fields: alerts.append((kind, fields)), clock=clock,
        )  # fmt: skip
        net.proposer.propose(3, Fault(FaultKind.WRONG_ROOT, 0))
        tower.tick()
        kinds = [kind for kind, _ in alerts]
        assert "fraud_detected" in kinds and "low_balance" in kinds
        assert "deadline_at_risk" in kinds  # it cannot pay the stake: retried, not failed
        assert "challenge_failed" not in kinds
        assert tower.store.submissions() == []

        clock.advance(301)
        tower.tick()  # no new L1 block for longer than stall_after
        assert [kind for kind, _ in alerts].count("stalled") == 1
        assert tower.ready[0] is False
        tower.tick()
        assert [kind for kind, _ in alerts].count("stalled") == 1  # once per episode

        # Someone else proves the fraud: the proposer is slashed, and we hear about it.
        rich = _other_tower(net, tmp_path / "other", confirmations=0)
        for _ in range(2):  # commit, then reveal
            rich.tick()
        rich.close()
        tower.tick()
        slashed = [fields for kind, fields in alerts if kind == "proposer_slashed"]
        assert slashed and slashed[0]["batch"] == 0
        tower.close()
