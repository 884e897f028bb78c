"""A first sync: where it starts (the contract's deployment block, found or configured) and what
it pages about (history older than the head at start-up is logged, not paged; what still needs
action is). Over the in-memory L1 (tests/fakes/l1.py) with the fixture bundles replayed for real.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.fakes.l1 import FakeChain, FakeL1, Reject
from tests.unit.test_service_fake_l1 import Alerts, bundle, submit
from watchtower.follow.start import deployment_block
from watchtower.metrics import Metrics
from watchtower.service import ServiceConfig, ServiceMode, Watchtower
from watchtower.status import META_HISTORY_BEFORE, META_START_BLOCK


def _tower(
    data: Path, chain: FakeChain, alerts: Alerts, l1: FakeL1 | None = None, **config: Any
) -> Watchtower:
    loaded, _ = bundle("fraud-wrong-root")
    return Watchtower(
        ServiceConfig(data, mode=ServiceMode.WATCH, confirmations=2, **config),
        [],
        loaded.genesis,
        alert=alerts,
        metrics=Metrics(),
        readers=[l1 or chain.endpoint()],
    )


def _chain(**kwargs: Any) -> FakeChain:
    loaded, root = bundle("fraud-wrong-root")
    return FakeChain(genesis_root=root, params=loaded.params, **kwargs)


@pytest.mark.parametrize("head", [1, 2, 7, 64, 1000])
def test_the_deployment_block_is_found_in_log2_reads(head: int) -> None:
    for deployed in {0, 1, head // 3, head - 1, head}:
        reads: list[int] = []

        def has_code(block: int, deployed: int = deployed, reads: list[int] = reads) -> bool:
            reads.append(block)
            return block >= deployed

        assert deployment_block(has_code, head) == deployed
        assert len(reads) <= math.ceil(math.log2(head)) + 1, (deployed, reads)


def test_a_first_sync_starts_at_the_deployment_block(tmp_path: Path) -> None:
    chain = _chain(deployed_at=40)
    chain.mine_empty(45)
    loaded, _ = bundle("fraud-wrong-root")
    chain.mine(submit(loaded.batches[0]))
    l1 = chain.endpoint()
    ranges: list[int] = []
    scan = l1.rollup_logs
    l1.rollup_logs = lambda first, last: (ranges.append(first), scan(first, last))[1]  # type: ignore[method-assign]
    alerts = Alerts()
    tower = _tower(tmp_path, chain, alerts, l1)
    try:
        assert tower.start_block == 40
        assert tower.store.get_meta(META_START_BLOCK) == "40"
        assert l1.calls.count("has_code") <= math.ceil(math.log2(46)) + 1
        report = tower.tick()
        assert ranges[0] == 40  # nothing before the contract is read
        assert report.verdicts == [(0, "valid")]
    finally:
        tower.close()
    # A restart keeps the recorded start and searches no more.
    again = chain.endpoint()
    tower = _tower(tmp_path, chain, Alerts(), again)
    try:
        assert tower.start_block == 40 and "has_code" not in again.calls
    finally:
        tower.close()


def test_a_configured_start_block_is_used_without_searching(tmp_path: Path) -> None:
    chain = _chain(deployed_at=10)
    chain.mine_empty(20)
    l1 = chain.endpoint()
    tower = _tower(tmp_path, chain, Alerts(), l1, start_block=15)
    try:
        assert tower.start_block == 15 and "has_code" not in l1.calls
        assert tower.store.get_meta(META_START_BLOCK) == "15"
        tower.tick()
        assert tower.store.next_block(-1) == chain.head + 1
    finally:
        tower.close()


def test_a_node_without_old_state_scans_from_zero_and_says_so(tmp_path: Path) -> None:
    chain = _chain(deployed_at=10)
    chain.mine_empty(20)
    l1 = chain.endpoint()

    def no_state(block: int) -> bool:
        raise ValueError(f"missing trie node at block {block}")

    l1.has_code = no_state  # type: ignore[method-assign]
    with capture_logs() as logs:
        tower = _tower(tmp_path, chain, Alerts(), l1)
    try:
        assert tower.start_block == 0
        (unknown,) = [e for e in logs if e["event"] == "start_block_unknown"]
        assert "missing trie node" in unknown["error"] and "l1.start_block" in unknown["detail"]
        assert tower.store.get_meta(META_START_BLOCK) is None  # the next start tries again
    finally:
        tower.close()


def test_a_first_sync_does_not_page_about_an_old_slashing_but_a_restart_pages_a_new_one(
    tmp_path: Path,
) -> None:
    loaded, _ = bundle("fraud-wrong-root")
    chain = _chain()
    for batch in loaded.batches:
        chain.mine(submit(batch))
    old = chain.mine(Reject(1, 2))  # someone else proved batch 1 wrong, before we started
    chain.mine_empty(3)
    alerts = Alerts()
    with capture_logs() as logs:
        tower = _tower(tmp_path, chain, alerts)
        try:
            assert tower.history_before == chain.head
            tower.tick()
        finally:
            tower.close()
    assert alerts.of("proposer_slashed") == []
    assert alerts.of("fraud_detected") == []  # batch 1 is rejected: nothing left to do
    (history,) = [e for e in logs if e["event"] == "history_event"]
    assert (history["alert_kind"], history["batch"], history["l1_block"]) == (
        "proposer_slashed",
        1,
        old.number,
    )
    # Later, after a restart: a new fraudulent batch 1, rejected again, is news.
    chain.mine(submit(loaded.batches[1], nonce=1))
    new = chain.mine(Reject(1, 1, nonce=1))
    chain.mine_empty(2)
    tower = _tower(tmp_path, chain, alerts)
    try:
        assert tower.store.get_meta(META_HISTORY_BEFORE) == str(old.number + 3)
        tower.tick()
    finally:
        tower.close()
    (slashed,) = alerts.of("proposer_slashed")
    assert (slashed["batch"], slashed["l1_block"]) == (1, new.number)
    assert len(alerts.of("fraud_detected")) == 0  # rejected before the tick replayed it


def test_fraud_pending_in_its_window_on_a_first_sync_still_pages(tmp_path: Path) -> None:
    loaded, _ = bundle("fraud-wrong-root")
    chain = _chain()
    for batch in loaded.batches:
        chain.mine(submit(batch))
    chain.mine_empty(5)
    alerts = Alerts()
    tower = _tower(tmp_path, chain, alerts)
    try:
        assert tower.history_before == chain.head  # all of it is older than the start
        tower.tick()
    finally:
        tower.close()
    (fraud,) = alerts.of("fraud_detected")
    assert (fraud["batch"], fraud["step"], fraud["l1_block"]) == (1, 7, 2)
    assert fraud["deadline"] > chain.blocks[-1].timestamp  # still inside its window


def test_an_existing_store_has_no_history_boundary(tmp_path: Path) -> None:
    """A data directory that scanned before this release: nothing is treated as history."""
    chain = _chain()
    chain.mine_empty(3)
    tower = _tower(tmp_path, chain, Alerts())
    tower.tick()
    tower.store.set_meta(META_HISTORY_BEFORE, None)
    tower.close()
    chain.mine(Reject(0, 0))
    alerts = Alerts()
    tower = _tower(tmp_path, chain, alerts)
    try:
        assert tower.history_before == -1
        tower.tick()
    finally:
        tower.close()
    assert len(alerts.of("proposer_slashed")) == 1
