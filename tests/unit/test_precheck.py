"""Stateless checks done ahead (in a worker process) give the verdicts of checks done in place."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from watchtower.execute.precheck import Prechecker, precheck
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.statedb import StateDB
from watchtower.execute.transition import RuleSet
from watchtower.execute.verify import Candidate, verify_chain
from watchtower.rollup.bundle import load_bundle
from watchtower.rollup.types import Step


@pytest.mark.parametrize("fixture", ["honest.json", "invalid-kinds.json", "fraud-wrong-root.json"])
def test_worker_prechecks_give_the_same_verdicts(fixture: str, tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / fixture)
    in_place = StateDB(tmp_path / "in-place", sync=False)
    ahead = StateDB(tmp_path / "ahead", sync=False)
    init_genesis(in_place, bundle.genesis)
    init_genesis(ahead, bundle.genesis)
    with Prechecker(chunk=2) as worker:  # several chunks per batch
        pending = [worker.submit(batch) for batch in bundle.batches]
        for batch, prechecked in zip(bundle.batches, pending, strict=True):
            assert prechecked.fits(batch, RuleSet.ROLLUP)
            assert [prechecked.check(k) for k in range(len(batch.steps))] == list(
                precheck(batch).results
            )
            expected = replay_batch(in_place, batch)
            assert replay_batch(ahead, batch, prechecked=prechecked) == expected
            if expected.kind.value != "valid":
                break
    assert ahead.head_root() == in_place.head_root()
    in_place.close()
    ahead.close()


def test_prechecks_of_other_steps_are_not_used(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "invalid-kinds.json")
    batch = bundle.batches[0]
    # the checks of another batch's transactions (the steps reversed), same index and roots
    swapped = dataclasses.replace(
        batch, steps=tuple(Step(tx=s.tx, root=s.root) for s in reversed(batch.steps))
    )
    foreign = precheck(swapped)
    assert not foreign.fits(batch, RuleSet.ROLLUP)
    assert not precheck(batch).fits(batch, RuleSet.ROLLUP_V1)
    store = StateDB(tmp_path / "s", sync=False)
    reference = StateDB(tmp_path / "r", sync=False)
    init_genesis(store, bundle.genesis)
    init_genesis(reference, bundle.genesis)
    assert replay_batch(store, batch, prechecked=foreign) == replay_batch(reference, batch)
    store.close()
    reference.close()


@pytest.mark.parametrize("fixture", ["honest.json", "invalid-kinds.json", "fraud-wrong-root.json"])
def test_verify_chain_with_a_prechecker_decides_the_same(fixture: str, tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / fixture)
    outcomes = []
    for name, worker in (("in-place", None), ("ahead", Prechecker(chunk=3))):
        store = StateDB(tmp_path / name, sync=False)
        init_genesis(store, bundle.genesis)
        candidates = (Candidate.of(batch, None) for batch in bundle.batches)
        outcomes.append(
            [(o.verdict, o.action) for o in verify_chain(store, candidates, prechecker=worker)]
        )
        if worker is not None:
            worker.close()
        store.close()
    assert outcomes[0] == outcomes[1]
    assert len(outcomes[0]) == len(bundle.batches)
