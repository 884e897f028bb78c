"""``Watchtower.tick()`` in watch mode over the in-memory L1 (tests/fakes/l1.py): every alert the
follow and replay stages raise, without a node. The batches are the fixture bundles' (replayed for
real); the anvil tests (tests/integration/test_service.py and others) are the end-to-end layer."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.fakes.l1 import FakeChain, FakeL1, Reject, Submit
from watchtower.execute.replay import init_genesis
from watchtower.execute.statedb import StateDB
from watchtower.metrics import Metrics
from watchtower.rollup.bundle import Bundle, load_bundle
from watchtower.rollup.calldata import encode_submit_batch_calldata
from watchtower.rollup.codec import encode_batch
from watchtower.rollup.types import Batch
from watchtower.service import ServiceConfig, ServiceMode, Watchtower
from watchtower.store.db import BatchStatus


@functools.cache
def bundle(name: str) -> tuple[Bundle, bytes]:
    """A fixture bundle and its genesis root."""
    loaded = load_bundle(FIXTURES / f"{name}.json")
    with tempfile.TemporaryDirectory() as tmp:
        state = StateDB(Path(tmp) / "state")
        try:
            return loaded, init_genesis(state, loaded.genesis)
        finally:
            state.close()


def submit(batch: Batch, **kwargs: Any) -> Submit:
    data = encode_batch(batch.index, batch.prev_root, batch.steps)
    return Submit(
        data, timestamp=batch.context.timestamp, coinbase=batch.context.coinbase, **kwargs
    )


class Alerts:
    def __init__(self) -> None:
        self.raised: list[tuple[str, dict[str, Any]]] = []
        self.hook: Any = None

    def __call__(self, kind: str, **fields: Any) -> None:
        if self.hook is not None:
            self.hook(kind, fields)
        self.raised.append((kind, fields))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.raised]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [fields for k, fields in self.raised if k == kind]


class World:
    def __init__(self, tmp_path: Path, name: str, *, endpoints: int = 1, confirmations: int = 2):
        self.bundle, genesis_root = bundle(name)
        self.chain = FakeChain(genesis_root=genesis_root, params=self.bundle.params)
        self.l1 = [self.chain.endpoint(f"node-{i}:8545") for i in range(endpoints)]
        self.alerts = Alerts()
        self.tower = Watchtower(
            ServiceConfig(tmp_path / "data", mode=ServiceMode.WATCH, confirmations=confirmations),
            [],
            self.bundle.genesis,
            alert=self.alerts,
            metrics=Metrics(),
            readers=self.l1,
        )

    @property
    def batches(self) -> tuple[Batch, ...]:
        return self.bundle.batches

    def verdicts(self) -> list[tuple[int, str | None, str]]:
        return [(r.idx, r.verdict, r.status.value) for r in self.tower.store.batches()
                if r.status is not BatchStatus.REMOVED]  # fmt: skip


@pytest.fixture
def honest(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path, "honest")
    yield world
    world.tower.close()


@pytest.fixture
def fraud(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path, "fraud-wrong-root")
    yield world
    world.tower.close()


def test_honest_batches_are_verified_without_an_alert(honest: World) -> None:
    for batch in honest.batches:
        honest.chain.mine(submit(batch))
    report = honest.tower.tick()
    assert report.scanned_to == honest.chain.head
    assert report.verdicts == [(0, "valid"), (1, "valid"), (2, "valid")]
    assert honest.alerts.raised == []
    assert honest.tower.ready[0] is True


def test_a_watchtower_on_readers_alone_cannot_sign(tmp_path: Path) -> None:
    from eth_account import Account

    from watchtower.errors import InputError

    _, genesis_root = bundle("honest")
    chain = FakeChain(genesis_root=genesis_root)
    with pytest.raises(InputError, match="a signer needs an L1 client"):
        Watchtower(
            ServiceConfig(tmp_path, mode=ServiceMode.WATCH),
            [],
            bundle("honest")[0].genesis,
            Account.create(),
            readers=[chain.endpoint()],
        )


def test_fraud_detected_then_proposer_slashed(fraud: World) -> None:
    for batch in fraud.batches:
        fraud.chain.mine(submit(batch))
    report = fraud.tower.tick()
    assert report.verdicts == [(0, "valid"), (1, "fraud")]
    (alert,) = fraud.alerts.of("fraud_detected")
    fraud_tx = submit(fraud.batches[1]).tx_hash
    assert (alert["batch"], alert["step"], alert["l1_block"]) == (1, 7, 2)
    assert alert["batch_tx"] == "0x" + fraud_tx.hex()
    assert fraud.verdicts()[2] == (2, "skipped", "pending")

    rejection = fraud.chain.mine(Reject(1, 2))
    fraud.tower.tick()
    (slashed,) = fraud.alerts.of("proposer_slashed")
    assert slashed == {
        "batch": 1,
        "l1_block": rejection.number,
        "last_batch": 2,
        "rejection_log": f"0x{Reject(1, 2).tx_hash.hex()}:0",
    }
    assert [s for _, _, s in fraud.verdicts()] == ["pending", "rejected", "rejected"]
    assert fraud.alerts.kinds() == ["fraud_detected", "proposer_slashed"]


def test_alerts_are_raised_before_the_range_is_recorded(fraud: World) -> None:
    fraud.chain.mine(submit(fraud.batches[0]))
    fraud.chain.mine(Reject(0, 0))
    seen: list[tuple[str, int]] = []
    fraud.alerts.hook = lambda kind, _: seen.append((kind, fraud.tower.store.next_block(0)))
    fraud.tower.tick()
    assert seen == [("proposer_slashed", 0)]  # the range (0..2) was not recorded yet
    assert fraud.tower.store.next_block(0) == 3


def test_rpc_disagreement_records_nothing(tmp_path: Path) -> None:
    world = World(tmp_path, "honest", endpoints=2)
    try:
        world.chain.mine(submit(world.batches[0]))
        world.l1[1].hashes[1] = b"\x66" * 32
        report = world.tower.tick()
        (alert,) = world.alerts.of("rpc_disagreement")
        assert alert["detail"].startswith("block 1: node-0:8545 has 0x")
        assert report.disagreement == alert["detail"]
        assert world.tower.store.batches() == [] and report.scanned_to is None
        assert world.tower.ready == (False, f"L1 endpoints disagree: {alert['detail']}")

        world.l1[1].hashes.clear()  # the endpoint is fixed (or replaced)
        assert world.tower.tick().verdicts == [(0, "valid")]
    finally:
        world.tower.close()


def test_calldata_disagreement_is_an_rpc_disagreement(tmp_path: Path) -> None:
    world = World(tmp_path, "honest", endpoints=2)
    try:
        tx = submit(world.batches[0])
        world.chain.mine(tx)
        world.l1[1].calldata[tx.tx_hash] = encode_submit_batch_calldata(b"\x01forged")
        world.tower.tick()
        (alert,) = world.alerts.of("rpc_disagreement")
        assert "calldata differs between node-0:8545 and node-1:8545" in alert["detail"]
        assert world.tower.store.batches() == []
    finally:
        world.tower.close()


def test_a_reorg_within_confirmations_is_no_alert(honest: World) -> None:
    for batch in honest.batches[:2]:
        honest.chain.mine(submit(batch))
    honest.tower.tick()
    honest.chain.reorg(1, [], [submit(honest.batches[1])])  # batch 1 one block later
    report = honest.tower.tick()
    assert report.reorg_from == 2
    assert honest.alerts.raised == []
    assert [(r.idx, r.l1_block) for r in honest.tower.store.batches((BatchStatus.PENDING,))] == [
        (0, 1),
        (1, 3),
    ]


def test_deep_reorg(honest: World) -> None:
    for batch in honest.batches:
        honest.chain.mine(submit(batch))
    honest.chain.mine_empty(2)
    honest.tower.tick()
    honest.chain.reorg(5, [], [submit(b) for b in honest.batches[:2]])  # batch 2 not yet again
    report = honest.tower.tick()
    (alert,) = honest.alerts.of("deep_reorg")
    assert alert == {"l1_block": 1, "depth": 5, "confirmations": 2, "removed_batches": [0, 1, 2]}
    assert report.reorg_from == 1
    assert honest.verdicts() == [(0, "valid", "pending"), (1, "valid", "pending")]


def test_batch_unreadable_halts_verification_until_readable(honest: World) -> None:
    l1: FakeL1 = honest.l1[0]
    txs = [submit(batch) for batch in honest.batches]
    for tx in txs:
        honest.chain.mine(tx)
    l1.calldata[txs[1].tx_hash] = encode_submit_batch_calldata(b"\x01garbage")  # for a while
    report = honest.tower.tick()
    assert report.verdicts == [(0, "valid")]
    assert honest.alerts.kinds() == ["batch_unreadable", "verification_halted"]
    unreadable, halted = (fields for _, fields in honest.alerts.raised)
    assert (unreadable["batch"], unreadable["l1_block"]) == (1, 2)
    assert unreadable["reason"].startswith("batch bytes do not decode")
    assert (halted["batch"], halted["verdict"], halted["waiting"]) == (1, "unreadable", 1)
    assert honest.verdicts() == [(0, "valid", "pending"), (1, "unreadable", "pending"),
                                 (2, "skipped", "pending")]  # fmt: skip

    honest.tower.tick()  # still unreadable: announced once
    assert honest.alerts.kinds() == ["batch_unreadable", "verification_halted"]

    l1.calldata.clear()
    report = honest.tower.tick()
    assert report.verdicts == [(1, "valid"), (2, "valid")]
    assert len(honest.alerts.raised) == 2


def test_an_undecidable_batch_halts_verification(honest: World) -> None:
    first, second = honest.batches[:2]
    elsewhere = encode_batch(0, b"\x77" * 32, first.steps)  # builds on a root we never had
    honest.chain.mine(Submit(elsewhere, timestamp=first.context.timestamp))
    honest.chain.mine(submit(second))
    report = honest.tower.tick()
    assert report.verdicts == [(0, "undecidable")]
    (halted,) = honest.alerts.of("verification_halted")
    assert (halted["batch"], halted["verdict"], halted["waiting"]) == (0, "undecidable", 1)
    assert "the verified chain ends at" in halted["reason"]
    assert honest.alerts.kinds() == ["verification_halted"]


def test_a_transport_error_fails_the_tick_and_the_next_one_catches_up(honest: World) -> None:
    honest.chain.mine(submit(honest.batches[0]))
    honest.l1[0].fail = OSError("connection reset by peer")
    with pytest.raises(OSError, match="connection reset"):
        honest.tower.tick()  # the runner logs tick_failed and backs off
    honest.tower.tick_failed("OSError")
    assert honest.tower.ready == (False, "OSError")
    assert honest.tower.store.batches() == []

    honest.l1[0].fail = None
    assert honest.tower.tick().verdicts == [(0, "valid")]
    assert honest.tower.ready[0] is True


def test_a_node_refusing_large_ranges_loses_no_batch(tmp_path: Path) -> None:
    world = World(tmp_path, "honest")
    try:
        for batch in world.batches:
            world.chain.mine(submit(batch))
            world.chain.mine_empty(5)
        world.l1[0].max_range = 4
        report = world.tower.tick()
        assert report.verdicts == [(0, "valid"), (1, "valid"), (2, "valid")]
        assert world.tower.follower.chunk <= 4
        assert world.tower.store.next_block(0) == world.chain.head + 1
    finally:
        world.tower.close()
