"""Soak and pruning in the service: the state stays bounded over a long run, and fraud in any
batch still inside its window is proven after all the pruning.

The full soak (``bench/soak.py`` defaults: 1,000 batches x 100 transfers, about 10 minutes) is
marked ``slow`` and runs only with ``pytest -m slow tests/integration/test_soak.py``; a short
variant (30 x 20) and an in-process service run are in the default suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import SoakConfig, SoakResult, run
from tests.integration.conftest import require_anvil, rpc
from watchtower.errors import StateCorruptionError
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.proof.fraud import build_fraud_proof, check_fraud_proof
from watchtower.service import ServiceConfig, Watchtower
from watchtower.store.db import BatchStatus
from watchtower_dev.builder import with_wrong_root
from watchtower_dev.devnet import Devnet, start_devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration

DAY = 24 * 3600


def node_bound(cfg: SoakConfig, accounts: int) -> int:
    """Live nodes pruning allows: about two per account for the head state, plus, for every
    retained root, the nodes its batch changed (measured: about two per transfer; four here).
    Retained roots: the window or ``keep_recent``, plus the batches since the last prune."""
    retained = max(cfg.window + 1, cfg.keep_recent) + cfg.prune_every + 1
    return 2 * accounts + retained * cfg.transfers * 4


def check_soak(result: SoakResult, rss_growth_mb: float) -> None:
    cfg = result.config
    assert result.fraud_proven, "the fraud posted after the soak was not rejected on chain"
    span = result.provable_to - result.provable_from + 1
    assert result.provable == span, f"only {result.provable}/{span} batches provable"
    assert result.provable_from <= result.oldest_in_window, "a batch in its window was pruned"
    assert span >= min(cfg.window, cfg.batches) - 2  # the window, give or take the wall clock
    bound = node_bound(cfg, result.final_accounts)
    assert result.pruned[-1].nodes <= bound, f"{result.pruned[-1].nodes} live nodes > {bound}"
    if result.unpruned:  # the bound means something: without pruning it is exceeded
        assert result.unpruned[-1].nodes > bound
        assert result.pruned[-1].state_mb < result.unpruned[-1].state_mb
    second_half = [s for s in result.pruned if s.batch > cfg.batches // 2]
    growth = second_half[-1].rss_mb - second_half[0].rss_mb
    assert growth < rss_growth_mb, f"RSS grew {growth:.1f} MB over the second half"
    assert result.prune_runs, "the service never pruned"


def test_short_soak(tmp_path: Path) -> None:
    """30 batches x 20 transfers with a 5-batch window: pruning keeps the state bounded, every
    batch in the window stays provable, and a fraud at the end is rejected on chain."""
    require_anvil()
    cfg = SoakConfig(
        batches=30,
        transfers=20,
        window=5,
        prune_every=5,
        keep_recent=3,
        sample_every=5,
    )
    check_soak(run(cfg, tmp_path, echo=False), rss_growth_mb=32)


@pytest.mark.slow
def test_full_soak(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The full soak of bench/soak.py (about 10 minutes): only with ``-m slow``."""
    if "slow" not in (request.config.getoption("markexpr", "") or ""):
        pytest.skip("the full soak takes about 10 minutes: select it with `-m slow`")
    require_anvil()
    check_soak(run(SoakConfig(), tmp_path, echo=False), rss_growth_mb=64)


def test_service_prunes_and_still_challenges_fraud_in_the_window(
    anvil_net: Devnet, tmp_path: Path
) -> None:
    """In process: a day of L1 time per batch and a 7-day window; pruning every 3 batches. After
    24 batches the state is bounded, the oldest batch in the window is provable, old calldata is
    gone, a restart replays nothing, and a fraud is challenged and rejected on chain."""
    net = anvil_net
    config = ServiceConfig(tmp_path, confirmations=0, prune_every=3, keep_recent=2)
    tower = Watchtower(config, [net.client], devnet_genesis(), net.challenger)
    for _ in range(24):
        rpc(net, "evm_increaseTime", DAY)
        batch, _ = net.proposer.propose(5)
        report = tower.tick()
        assert report.verdicts == [(batch.index, "valid")]
    floor = tower.state.pruned_below()
    assert 14 <= floor <= 17  # about 7 batches inside the window, plus up to 3 since the prune
    nodes = tower.state.node_count()
    accounts = len(devnet_genesis()) + 24  # one new account per 5-transfer batch
    assert nodes <= 2 * accounts + (8 + 3 + 1) * 5 * 4
    assert net.proposer.store.node_count() > 3 * nodes  # what keeping everything costs

    # The oldest batch still in its window is provable at any step.
    oldest = next(r for r in tower.store.batches((BatchStatus.PENDING,)) if r.idx == floor)
    batch = tower.batch_of(oldest)
    for step in (0, len(batch.steps) - 1):
        faulty = with_wrong_root(batch, step, b"\x0f" * 32)
        proof = build_fraud_proof(tower.state, faulty, step, tower.params)
        assert check_fraud_proof(proof).fraud
    # Old valid batches keep their verdicts, not their calldata.
    old = [r for r in tower.store.batches() if r.idx < floor - 1]
    assert old and all(r.verdict == "valid" and r.data == b"" for r in old)

    # A restart replays nothing: the pruned batches are known as verified.
    tower.close()
    tower = Watchtower(config, [net.client], devnet_genesis(), net.challenger)
    assert tower.tick().verdicts == []

    fraud, _ = net.proposer.propose(5, Fault(FaultKind.WRONG_FEE, 2))
    tower.tick()
    tower.tick()
    assert net.client.batch(fraud.index).status is OnChain.REJECTED
    tower.close()


def test_a_long_catch_up_is_pruned_as_it_goes(anvil_net: Devnet, tmp_path: Path) -> None:
    """A service started late replays many batches in one tick: pruning runs between them, not
    only after the tick, so the state never holds the whole backlog."""
    net = anvil_net
    for _ in range(15):
        rpc(net, "evm_increaseTime", DAY)
        net.proposer.propose(5)
    config = ServiceConfig(tmp_path, confirmations=0, prune_every=3, keep_recent=2)
    tower = Watchtower(config, [net.client], devnet_genesis(), net.challenger)
    prunes: list[int] = []
    original = tower.prune

    def counted() -> None:
        before = tower.state.pruned_at()
        original()
        if tower.state.pruned_at() != before:
            prunes.append(tower.state.head().index)  # type: ignore[union-attr]

    tower.prune = counted  # type: ignore[method-assign]
    report = tower.tick()  # the whole backlog in one tick
    assert len(report.verdicts) == 15
    assert prunes == [2, 5, 8, 11, 14]  # every 3 batches, during the replay
    assert tower.state.pruned_below() >= 6
    tower.close()


def test_a_failing_prune_does_not_fail_the_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pruning is housekeeping after replay and challenges: a state error in it is logged and
    retried next tick, and the tick itself succeeds (a failed tick would back off the next)."""

    def broken(*_: object, **__: object) -> None:
        raise StateCorruptionError("state root 0xab: a trie node is not a list")

    monkeypatch.setattr("watchtower.service.prune_state", broken)
    with start_devnet("embedded") as net:
        tower = Watchtower(
            ServiceConfig(tmp_path, confirmations=0, prune_every=1),
            [net.client],
            devnet_genesis(),
            net.challenger,
        )
        batch, _ = net.proposer.propose(3)
        assert tower.tick().verdicts == [(batch.index, "valid")]
        assert tower.state.pruned_below() == 0
        tower.close()
