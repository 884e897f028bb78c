"""``verify_chain(roots=RootWorker)``: the outcomes of the reference path, and a batch the root
worker could not serve is named by its outcome's ``root_fallback`` (that batch only)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from watchtower.execute.replay import init_genesis
from watchtower.execute.rootworker import RootWorker
from watchtower.execute.statedb import StateDB
from watchtower.execute.transition import rules_of_protocol
from watchtower.execute.verify import Candidate, Outcome, verify_chain
from watchtower.rollup.bundle import Bundle, load_bundle
from watchtower.rollup.types import Verdict


@pytest.fixture(scope="module")
def worker() -> Iterator[RootWorker]:
    with RootWorker(chunk=3) as roots:
        yield roots


def _verify(
    path: Path,
    bundle: Bundle,
    roots: RootWorker | None,
    *,
    kill_at: tuple[int, int] | None = None,
) -> list[Outcome[None]]:
    """Verify the bundle's batches (killing the worker at batch, step ``kill_at``)."""
    index = -1

    def on_step(k: int) -> None:
        if roots is not None and kill_at == (index, k) and roots.pid is not None:
            os.kill(roots.pid, signal.SIGKILL)

    def candidates() -> Iterator[Candidate[None]]:
        nonlocal index
        for batch in bundle.batches:
            index = batch.index
            yield Candidate.of(batch, None)

    with StateDB(path, sync=False) as store:
        init_genesis(store, bundle.genesis)
        rules = rules_of_protocol(bundle.protocol)
        return list(verify_chain(store, candidates(), on_step=on_step, rules=rules, roots=roots))


def _decided(outcomes: list[Outcome[None]]) -> list[tuple[Verdict, str]]:
    return [(o.verdict, o.action.value) for o in outcomes]


@pytest.mark.parametrize("name", ["honest.json", "fraud-wrong-root.json", "invalid-kinds.json"])
def test_the_outcomes_are_the_reference_ones(name: str, tmp_path: Path, worker: RootWorker) -> None:
    bundle = load_bundle(FIXTURES / name)
    expected = _verify(tmp_path / "reference", bundle, None)
    fallbacks = worker.fallbacks
    got = _verify(tmp_path / "pipelined", bundle, worker)
    assert _decided(got) == _decided(expected)
    assert [o.root_fallback for o in got] == [None] * len(got)
    assert worker.fallbacks == fallbacks  # the worker served every replayed batch


def test_a_killed_worker_is_reported_for_its_batch_only(tmp_path: Path, worker: RootWorker) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    assert len(bundle.batches) >= 3
    expected = _verify(tmp_path / "reference", bundle, None)
    got = _verify(tmp_path / "pipelined", bundle, worker, kill_at=(1, 2))
    assert _decided(got) == _decided(expected)
    reasons = [o.root_fallback for o in got]
    assert reasons[0] is None and reasons[2:] == [None] * (len(got) - 2)
    assert reasons[1] is not None and reasons[1].startswith("batch 1: "), reasons[1]


def test_a_reason_left_from_an_earlier_batch_is_not_reported_again(
    tmp_path: Path, worker: RootWorker
) -> None:
    """A batch that never reaches the worker (it does not build on the head: undecidable) has no
    fallback, whatever the worker said of the batch before."""
    bundle = load_bundle(FIXTURES / "honest.json")
    stray = replace(bundle.batches[0], prev_root=b"\x01" * 32)
    worker.last_fallback = "batch 7: an earlier failure"
    outcomes = _verify(tmp_path / "db", replace(bundle, batches=(stray,)), worker)
    assert outcomes[0].verdict.kind.value == "undecidable"
    assert outcomes[0].root_fallback is None


def test_the_worker_ignores_ctrl_c_and_sigterm(tmp_path: Path) -> None:
    """A Ctrl-C (the terminal's process group) or a SIGTERM to the service's group reaches the
    worker too: it leaves the stopping to its parent, and serves the next batch."""
    bundle = load_bundle(FIXTURES / "honest.json")
    with RootWorker() as roots:
        _verify(tmp_path / "first", bundle, roots)  # started, and a batch served
        pid = roots.pid
        assert pid is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            os.kill(pid, sig)
        outcomes = _verify(tmp_path / "second", bundle, roots)
        assert [o.root_fallback for o in outcomes] == [None] * len(outcomes)
        assert roots.pid == pid and roots.fallbacks == 0
