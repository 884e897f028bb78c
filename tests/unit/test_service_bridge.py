"""The service guards the bridge (docs/protocol.md §8.8), over the in-memory L1: deposits and claims
followed (cross-checked, rewound by reorgs), each bridge alert raised with its fields, the L2
supply and the metrics. Batches are built and replayed for real (tests/fakes/bridge_world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.bridge_world import (
    ALICE,
    ALLOC,
    BOB,
    ETHER,
    FEE,
    FRESH,
    GENESIS_SUPPLY,
    BridgeWorld,
    deposit,
    send,
    withdraw,
)
from tests.fakes.l1 import Claim, DepositTx, Reject
from watchtower.alert.events import AlertKind, dedup_key
from watchtower.rollup.params import DEPOSIT_INCLUSION_DELAY
from watchtower.store import bridge as records


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BridgeWorld]:
    w = BridgeWorld(tmp_path / "data")
    yield w
    w.close()


def _honest_start(world: BridgeWorld) -> None:
    """Deposit 2 ETH to FRESH; batch 0 credits it, Alice withdraws 3 ETH (step 1) and pays Bob."""
    world.chain.mine(DepositTx(FRESH, 2 * ETHER))
    world.chain.mine(
        world.propose(
            [
                deposit(0, FRESH, 2 * ETHER),
                withdraw(ALICE, 0, 3 * ETHER),
                send(ALICE, BOB.address, 1, 1),
            ]
        )
    )


def test_an_honest_bridge_is_followed_without_an_alert(world: BridgeWorld) -> None:
    _honest_start(world)
    report = world.tower.tick()
    assert report.verdicts == [(0, "valid")]
    assert world.alerts.raised == []
    store = world.tower.store
    assert [(d.index, d.recipient, d.amount) for d in records.deposits(store)] == [
        (0, FRESH, 2 * ETHER)
    ]
    supply = GENESIS_SUPPLY + 2 * ETHER - 3 * ETHER - 2 * FEE
    assert records.l2_supply(store, GENESIS_SUPPLY) == (0, supply)
    (live,) = records.live_withdrawals(store)
    assert (live.withdrawal.step, live.withdrawal.account, live.withdrawal.amount) == (
        1,
        ALICE.address,
        3 * ETHER,
    )
    assert not live.claimed
    assert world.metric("watchtower_bridge_balance_wei") == GENESIS_SUPPLY + 2 * ETHER
    assert world.metric("watchtower_l2_supply_wei") == supply
    assert world.metric("watchtower_deposits_pending") == 0
    assert world.metric("watchtower_withdrawals_pending") == 1
    assert world.metric("watchtower_withdrawals_pending_wei") == 3 * ETHER

    # The honest claim, once final (the fake contract does not check: the watchtower does).
    world.chain.mine(Claim(0, 1, ALICE.address, 3 * ETHER))
    world.tower.tick()
    assert world.alerts.raised == []
    (claim,) = records.claims(store)
    assert claim.verdict == "backed"
    assert records.live_withdrawals(store)[0].claimed
    assert world.metric("watchtower_withdrawals_pending") == 0
    assert world.metric("watchtower_withdrawals_forged_total") == 0
    assert store.integrity_check() == []


def test_a_forged_claim_is_withdrawal_forged_and_breaks_conservation(world: BridgeWorld) -> None:
    _honest_start(world)
    world.tower.tick()
    forged = Claim(0, 0, BOB.address, 5 * ETHER)  # step 0 is the deposit: no withdrawal
    world.chain.mine(forged)
    world.tower.tick()
    (alert,) = world.alerts.of("withdrawal_forged")
    assert alert["batch"] == 0 and alert["step"] == 0 and alert["amount"] == 5 * ETHER
    assert alert["account"] == "0x" + BOB.address.hex()
    assert alert["tx"] == "0x" + forged.tx_hash.hex()
    assert alert["reason"] == "step 0 of batch 0 made no withdrawal in the replay"
    (violated,) = world.alerts.of("conservation_violated")
    balance = GENESIS_SUPPLY + 2 * ETHER - 5 * ETHER
    required = GENESIS_SUPPLY + 2 * ETHER - 2 * FEE  # supply + 3 ETH withdrawn, not claimed
    assert violated["bridge_balance"] == balance and violated["required"] == required
    assert violated["shortfall"] == required - balance
    assert world.metric("watchtower_withdrawals_forged_total") == 1

    world.tower.tick()  # judged once; the condition stays open (one episode)
    assert len(world.alerts.of("withdrawal_forged")) == 1
    assert len(world.alerts.of("conservation_violated")) == 2
    assert len({a["episode"] for a in world.alerts.of("conservation_violated")}) == 1

    world.chain.mine(DepositTx(ALICE.address, 6 * ETHER))  # backs it again (pending deposit)
    world.tower.tick()
    (resolved,) = world.alerts.of("conservation_violated_resolved")
    assert resolved["shortfall"] == 0
    assert resolved["episode"] == violated["episode"]


def test_a_claim_twice_and_a_claim_of_another_amount_are_forged(world: BridgeWorld) -> None:
    _honest_start(world)
    world.chain.mine(
        Claim(0, 1, ALICE.address, 3 * ETHER),
        Claim(0, 1, ALICE.address, 3 * ETHER, nonce=1),
        Claim(0, 1, ALICE.address, 4 * ETHER, nonce=2),
    )
    world.tower.tick()
    reasons = [a["reason"] for a in world.alerts.of("withdrawal_forged")]
    assert reasons == [
        "withdrawal 1 of batch 0 was already claimed",
        f"withdrawal 1 of batch 0 pays {3 * ETHER} wei to 0x{ALICE.address.hex()} in the "
        f"replay, the claim {4 * ETHER} wei to 0x{ALICE.address.hex()}",
    ]


def test_a_fraudulent_batch_carries_its_value_at_risk_and_claims_on_it_are_forged(
    world: BridgeWorld,
) -> None:
    world.chain.mine(world.propose([withdraw(ALICE, 0, ETHER)]))
    fraud = world.propose(
        [withdraw(ALICE, 1, 8 * ETHER), withdraw(BOB, 0, ETHER // 2)], wrong_from=1
    )
    world.chain.mine(fraud)
    world.tower.tick()
    (alert,) = world.alerts.of("fraud_detected")
    assert alert["batch"] == 1 and alert["value_at_risk"] == 8 * ETHER + ETHER // 2
    row = next(r for r in world.tower.store.batches() if r.idx == 1)
    assert records.value_at_risk(world.tower.store, row.id) == 8 * ETHER + ETHER // 2

    world.chain.mine(Claim(1, 0, ALICE.address, 9 * ETHER), Claim(7, 0, BOB.address, 1))
    world.tower.tick()
    assert [a["reason"] for a in world.alerts.of("withdrawal_forged")] == [
        "batch 1 was judged fraud",
        "batch 7 was never verified by this watchtower",
    ]


def test_an_overdue_deposit_alerts_once_and_resolves_when_consumed(world: BridgeWorld) -> None:
    tx = DepositTx(FRESH, ETHER)
    world.chain.mine(tx)
    world.tower.tick()
    assert world.metric("watchtower_deposits_pending") == 1
    world.wait(DEPOSIT_INCLUSION_DELAY - 100)
    world.tower.tick()
    assert world.alerts.of("deposit_overdue") == []
    world.wait(200)
    world.tower.tick()
    world.tower.tick()
    (alert,) = world.alerts.of("deposit_overdue")
    assert alert["deposit"] == 0 and alert["tx"] == "0x" + tx.tx_hash.hex()
    assert alert["amount"] == ETHER and alert["recipient"] == "0x" + FRESH.hex()
    assert alert["seconds_overdue"] >= 0
    assert world.metric("watchtower_deposit_oldest_pending_age_seconds") > DEPOSIT_INCLUSION_DELAY

    world.chain.mine(world.propose([deposit(0, FRESH, ETHER)]))
    world.tower.tick()
    (resolved,) = world.alerts.of("deposit_overdue_resolved")
    assert resolved["tx"] == alert["tx"] and resolved["deposit"] == 0
    assert world.metric("watchtower_deposits_pending") == 0


def test_deposit_steps_that_do_not_match_the_queue_are_deposit_mismatch(
    world: BridgeWorld,
) -> None:
    world.chain.mine(DepositTx(FRESH, ETHER))
    bad = world.propose([send(ALICE, BOB.address, 0, 1), deposit(0, FRESH, 2 * ETHER)])
    world.chain.mine(bad)  # the fake contract does not check what the real one refuses
    world.tower.tick()
    (alert,) = world.alerts.of("deposit_mismatch")
    assert (alert["batch"], alert["step"], alert["deposit_start"]) == (0, 1, 0)
    assert alert["expected"] == f"deposit 0: {ETHER} wei to 0x{FRESH.hex()}"
    assert alert["actual"] == f"deposit 0: {2 * ETHER} wei to 0x{FRESH.hex()}"
    assert alert["batch_tx"] == "0x" + bad.tx_hash.hex()


def test_a_reorg_removes_deposits_and_claims_and_they_come_back(world: BridgeWorld) -> None:
    _honest_start(world)
    world.tower.tick()
    later = DepositTx(BOB.address, ETHER)
    forged = Claim(0, 0, BOB.address, ETHER)
    world.chain.mine(later, forged)
    world.tower.tick()
    store = world.tower.store
    assert len(records.deposits(store)) == 2 and len(records.claims(store)) == 1
    assert len(world.alerts.of("withdrawal_forged")) == 1

    world.chain.reorg(1)  # the block with the deposit and the claim is gone
    report = world.tower.tick()
    assert report.reorg_from == world.chain.head
    assert [d.index for d in records.deposits(store)] == [0]
    assert records.claims(store) == []
    assert world.metric("watchtower_deposits_pending") == 0

    world.chain.mine(later)  # mined again: recorded again at its new block
    world.tower.tick()
    assert [(d.index, d.l1_block) for d in records.deposits(store)] == [
        (0, 1), (1, world.chain.head)]  # fmt: skip
    assert store.integrity_check() == []


def test_a_reorg_removes_the_batch_that_consumed_a_deposit_and_it_comes_back(
    world: BridgeWorld,
) -> None:
    world.chain.mine(DepositTx(FRESH, 2 * ETHER))
    batch0 = world.propose(
        [
            deposit(0, FRESH, 2 * ETHER),
            withdraw(ALICE, 0, 3 * ETHER),
            send(ALICE, BOB.address, 1, 1),
        ]
    )
    world.chain.mine(batch0)
    world.tower.tick()
    store = world.tower.store
    assert world.metric("watchtower_deposits_pending") == 0
    assert len(records.live_withdrawals(store)) == 1

    world.chain.reorg(1)  # the block with batch 0 is gone: its deposit is pending again
    report = world.tower.tick()
    assert report.reorg_from == world.chain.head
    assert world.metric("watchtower_deposits_pending") == 1
    assert records.live_withdrawals(store) == []  # its withdrawal is no longer backed
    assert records.l2_supply(store, GENESIS_SUPPLY)[1] == GENESIS_SUPPLY
    assert world.alerts.raised == []

    world.chain.mine(batch0)  # mined again: verified again, the deposit consumed, no alert
    world.tower.tick()
    assert [(r.idx, r.verdict, r.status.value) for r in store.batches()] == [
        (0, "valid", "pending")
    ]
    assert world.metric("watchtower_deposits_pending") == 0
    assert len(records.live_withdrawals(store)) == 1
    assert world.alerts.raised == []
    assert store.integrity_check() == []


def test_a_rejected_batch_stops_backing_its_withdrawals(world: BridgeWorld) -> None:
    _honest_start(world)
    world.tower.tick()
    world.chain.mine(Reject(0, 0))  # (as if a challenge had rejected it)
    world.tower.tick()
    assert records.live_withdrawals(world.tower.store) == []
    world.chain.mine(Claim(0, 1, ALICE.address, 3 * ETHER))
    world.tower.tick()
    assert [a["reason"] for a in world.alerts.of("withdrawal_forged")] == [
        "batch 0 was never verified by this watchtower"
    ]


def test_endpoints_that_disagree_about_a_deposit_record_nothing(tmp_path: Path) -> None:
    world = BridgeWorld(tmp_path / "data", endpoints=2)
    try:
        tx = DepositTx(FRESH, ETHER)
        world.chain.mine(tx)
        world.l1[1].hidden.add(tx.tx_hash)
        report = world.tower.tick()
        assert report.disagreement is not None and "bridge events differ" in report.disagreement
        assert f"deposit 0 of {ETHER} wei" in report.disagreement
        assert "only on node-0:8545" in report.disagreement
        assert records.deposits(world.tower.store) == []
        world.l1[1].hidden.clear()
        world.tower.tick()
        assert len(records.deposits(world.tower.store)) == 1
        assert world.alerts.kinds() == ["rpc_disagreement", "rpc_disagreement_resolved"]
    finally:
        world.close()


def test_a_genesis_the_bridge_does_not_back_is_genesis_unbacked(tmp_path: Path) -> None:
    world = BridgeWorld(tmp_path / "data", genesis_supply=GENESIS_SUPPLY - 7)
    try:
        (alert,) = world.alerts.of("genesis_unbacked")
        assert alert == {"genesis_supply": GENESIS_SUPPLY - 7, "genesis_balances": GENESIS_SUPPLY,
                         "shortfall": 7, "rollup": world.l1[0].address}  # fmt: skip
        world.tower.tick()
        (violated,) = world.alerts.of("conservation_violated")
        assert violated["shortfall"] == 7 and violated["last_verified_batch"] is None
    finally:
        world.close()


def test_flows_lost_in_a_crash_are_rebuilt_from_the_batch(world: BridgeWorld) -> None:
    _honest_start(world)
    world.tower.tick()
    store = world.tower.store
    (row,) = store.batches()
    before = records.l2_supply(store, GENESIS_SUPPLY)
    with store.transaction() as db:  # as if the process died before recording them
        db.execute("DELETE FROM bridge_batches")
        db.execute("DELETE FROM bridge_withdrawals")
    store.clear_verdict(row.id)
    world.tower.tick()
    assert records.l2_supply(store, GENESIS_SUPPLY) == before
    assert len(records.live_withdrawals(store)) == 1


def test_status_shows_the_bridge(world: BridgeWorld) -> None:
    import json

    from click.testing import CliRunner

    from watchtower.cli import main

    _honest_start(world)
    queued = world.chain.mine(DepositTx(BOB.address, ETHER))  # deposit 1: pending
    world.chain.mine_empty(2)
    world.tower.tick()
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--data-dir", str(world.path), "--json"])
    assert result.exit_code == 0, result.output
    bridge = json.loads(result.output)["bridge"]
    assert bridge["locked_wei"] == GENESIS_SUPPLY + 3 * ETHER
    assert bridge["l2_supply_wei"] == GENESIS_SUPPLY + 2 * ETHER - 3 * ETHER - 2 * FEE
    assert bridge["pending_deposits"] == 1
    assert bridge["oldest_pending_deposit_age_seconds"] == 24
    assert world.chain.blocks[-1].timestamp - queued.timestamp == 24
    (awaiting,) = bridge["awaiting_finalization"]
    assert awaiting["amount_wei"] == 3 * ETHER and awaiting["step"] == 1
    assert awaiting["seconds_left"] > 6 * 24 * 3600
    assert bridge["claimable"] == [] and bridge["forged_claims"] == 0

    text = runner.invoke(main, ["status", "--data-dir", str(world.path)])
    assert text.exit_code == 0, text.output
    assert f"bridge: locked 14 ETH ({GENESIS_SUPPLY + 3 * ETHER} wei)" in text.output
    assert "pending deposits: 1 (oldest 24s old)" in text.output
    assert "withdrawals awaiting finalization: 1 (3 ETH" in text.output
    assert "claimable: 0 (0 ETH (0 wei))" in text.output


def test_a_restart_judges_nothing_twice_and_keeps_open_overdue_alerts(tmp_path: Path) -> None:
    from watchtower.service import ServiceConfig, ServiceMode, Watchtower

    world = BridgeWorld(tmp_path / "data")
    try:
        _honest_start(world)
        overdue = DepositTx(BOB.address, ETHER)
        world.chain.mine(overdue, Claim(0, 0, BOB.address, 2 * ETHER))  # a forged claim
        world.wait(DEPOSIT_INCLUSION_DELAY + 60)
        world.tower.tick()
        assert sorted(world.alerts.kinds()) == [
            "conservation_violated", "deposit_overdue", "withdrawal_forged"]  # fmt: skip
        world.tower.close()

        again = Watchtower(
            ServiceConfig(world.path, mode=ServiceMode.WATCH, confirmations=2),
            [],
            ALLOC,
            alert=world.alerts,
            readers=world.l1,
        )
        world.tower = again
        world.alerts.raised.clear()
        again.tick()
        # The claim keeps its verdict and the deposit its open alert; the shortfall is a new
        # episode of this process (as stalled or rpc_disagreement after a restart).
        assert world.alerts.kinds() == ["conservation_violated"]
        world.chain.mine(world.propose([deposit(1, BOB.address, ETHER)]))
        again.tick()
        (resolved,) = world.alerts.of("deposit_overdue_resolved")
        assert resolved["tx"] == "0x" + overdue.tx_hash.hex()
    finally:
        world.close()


def test_conservation_waits_for_the_scan_to_reach_recent_state(world: BridgeWorld) -> None:
    world.l1[0].state_window = 128  # a full node, not an archive: old states are pruned
    world.tower.follower.chunk = 100  # 50 chunks a tick: 5,000 blocks
    _honest_start(world)
    world.chain.mine(Claim(0, 0, BOB.address, 5 * ETHER))  # forged: breaks conservation
    world.chain.mine_empty(6_000)
    world.tower.tick()  # scanned to ~5,000 of 6,003: the balance there is not readable
    assert world.tower.store.next_block(0) - 1 < world.chain.head - 128
    assert world.alerts.kinds() == ["withdrawal_forged"]
    world.tower.tick()  # caught up
    assert world.alerts.kinds() == ["withdrawal_forged", "conservation_violated"]


def _key(fields: dict[str, object]) -> str:
    return dedup_key(AlertKind.DEPOSIT_OVERDUE, fields, 0.0, 3600.0)  # type: ignore[arg-type]


def test_an_overdue_deposit_a_reorg_removes_is_resolved_and_pages_again_if_overdue_again(
    world: BridgeWorld,
) -> None:
    tx = DepositTx(FRESH, ETHER)
    world.chain.mine(tx)
    queued_in = world.chain.head
    world.chain.mine(after=DEPOSIT_INCLUSION_DELAY + 100)  # an hour of slots without a block
    world.wait(30)  # past the confirmation depth
    world.tower.tick()
    world.tower.tick()
    (first,) = world.alerts.of("deposit_overdue")
    assert "episode" not in first  # the first episode keeps the key it always had

    world.chain.reorg(world.chain.head - queued_in + 1)  # the deposit's block is gone
    world.tower.tick()
    assert records.deposits(world.tower.store) == []
    (resolved,) = world.alerts.of("deposit_overdue_resolved")  # not left open for ever
    assert resolved["tx"] == first["tx"] and resolved["deposit"] == 0
    assert "reorg" in resolved["reason"] and "episode" not in resolved
    assert records.overdue_open(world.tower.store) == {}

    world.chain.mine(tx)  # the same transaction mined again, and left pending past the delay
    world.chain.mine(after=DEPOSIT_INCLUSION_DELAY + 100)
    world.wait(30)
    world.tower.tick()
    world.tower.tick()
    again = world.alerts.of("deposit_overdue")[1:]
    assert len(again) == 1 and again[0]["tx"] == first["tx"] and again[0]["episode"] == 1
    assert _key(again[0]) != _key(first)  # a new page: the outbox would drop a duplicate


def test_a_deposit_overdue_again_when_its_batch_is_reorged_out_pages_again(
    world: BridgeWorld,
) -> None:
    world.chain.mine(DepositTx(FRESH, ETHER))
    world.wait(DEPOSIT_INCLUSION_DELAY + 100)
    world.tower.tick()
    (first,) = world.alerts.of("deposit_overdue")
    batch0 = world.propose([deposit(0, FRESH, ETHER)])
    world.chain.mine(batch0)
    world.tower.tick()
    (consumed,) = world.alerts.of("deposit_overdue_resolved")
    assert "reason" not in consumed and consumed["tx"] == first["tx"]

    world.chain.reorg(1)  # the batch is gone: the deposit is pending, and overdue, again
    world.tower.tick()
    second = world.alerts.of("deposit_overdue")[1:]
    assert len(second) == 1 and second[0]["episode"] == 1 and _key(second[0]) != _key(first)

    world.chain.mine(batch0)  # included again: that episode ends
    world.tower.tick()
    resolved = world.alerts.of("deposit_overdue_resolved")[1:]
    assert len(resolved) == 1 and resolved[0]["episode"] == 1 and "reason" not in resolved[0]
    assert records.overdue_open(world.tower.store) == {}
