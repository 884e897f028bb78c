"""The sender-recovery worker is an optimisation, never a point of failure: with it, without it,
with it killed, stopped or given up, verify_chain decides the same; a load done ahead fails
where a load in turn would; the worker exits with its parent.

Real processes throughout (spawned workers, SIGKILL, SIGSTOP); no mocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES
from watchtower.execute.precheck import Prechecker
from watchtower.execute.replay import init_bundle
from watchtower.execute.statedb import StateDB
from watchtower.execute.transition import rules_of_protocol
from watchtower.execute.verify import Action, Candidate, verify_chain
from watchtower.rollup.bundle import Bundle, load_bundle
from watchtower.rollup.types import Batch, Verdict

FIXTURE_NAMES = ["honest.json", "invalid-kinds.json", "fraud-wrong-root.json"]


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


class Events:
    """What the prechecker logs (its ``log`` hook, as structlog's ``warning`` is in the
    service)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [fields for name, fields in self.lines if name == event]


def _verify(
    bundle: Bundle,
    path: Path,
    prechecker: Prechecker | None,
    candidates: Callable[[], Iterator[Candidate[None]]] | None = None,
) -> list[tuple[Verdict, Action]]:
    rules = rules_of_protocol(bundle.protocol)
    with StateDB(path, sync=False) as state_db:
        init_bundle(state_db, bundle)
        chain = (
            candidates()
            if candidates is not None
            else (Candidate.of(b, None) for b in bundle.batches)
        )
        return [
            (o.verdict, o.action)
            for o in verify_chain(state_db, chain, rules=rules, prechecker=prechecker)
        ]


@pytest.mark.parametrize("fixture", FIXTURE_NAMES)
def test_the_same_verdicts_with_and_without_a_running_worker(fixture: str, tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / fixture)
    reference = _verify(bundle, tmp_path / "in-place", None)
    events = Events()
    with Prechecker(chunk=3, log=events) as worker:
        assert worker.ready()
        assert _verify(bundle, tmp_path / "worker", worker) == reference
        assert worker.chunks_from_worker > 0  # the worker's results were used
        assert (worker.started, worker.failures, events.lines) == (1, 0, [])
    kinds = {verdict.kind.value for verdict, _ in reference}
    assert kinds <= {"valid", "fraud", "skipped"} and len(reference) == len(bundle.batches)


def test_a_worker_killed_mid_batch_costs_nothing_but_speed(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "fraud-wrong-root.json")
    reference = _verify(bundle, tmp_path / "in-place", None)
    events = Events()
    with Prechecker(chunk=2, timeout=20, log=events) as worker:
        assert worker.ready()
        first = worker.pid()
        assert first is not None
        # Stopped, the worker holds the first batch's chunks; killed while replay waits for one.
        os.kill(first, signal.SIGSTOP)
        killer = threading.Timer(0.3, os.kill, (first, signal.SIGKILL))
        killer.start()
        try:
            assert _verify(bundle, tmp_path / "worker", worker) == reference
        finally:
            killer.cancel()
        (failed,) = events.named("precheck_worker_failed")
        assert "died" in failed["reason"] and failed["restarts_left"] == 3
        assert (failed["batch"], failed["step"]) == (0, 0)  # waiting for its first chunk
        assert _wait_gone(first)
        # The next batch went to a fresh worker, started lazily, which answers.
        assert (worker.started, worker.failures) == (2, 1)
        second = worker.pid()
        assert second not in (None, first)
        assert worker.ready()
        pending = worker.submit(bundle.batches[0], rules_of_protocol(bundle.protocol))
        assert [pending.check(k) for k in range(len(bundle.batches[0].steps))]
        assert pending.from_worker > 0 and pending.failure is None
    assert second is not None and _wait_gone(second)  # close() stopped it


def test_a_result_that_never_comes_is_given_up_after_the_timeout(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    reference = _verify(bundle, tmp_path / "in-place", None)
    events = Events()
    with Prechecker(chunk=5, timeout=0.5, log=events) as worker:
        assert worker.ready()
        hung = worker.pid()
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)  # alive, and silent
        try:
            assert _verify(bundle, tmp_path / "worker", worker) == reference
        finally:
            if not _gone(hung):
                os.kill(hung, signal.SIGCONT)
        (failed,) = events.named("precheck_worker_failed")
        assert failed["reason"] == "no result within 0.5 s"
        assert _wait_gone(hung)  # the hung worker was killed, not left behind


def test_the_worker_is_given_up_after_max_restarts(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "invalid-kinds.json")
    rules = rules_of_protocol(bundle.protocol)
    batch = bundle.batches[0]
    events = Events()
    with Prechecker(chunk=4, max_restarts=1, log=events) as worker:
        for _ in range(2):
            assert worker.ready()
            pid = worker.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            assert _wait_gone(pid)
            pending = worker.submit(batch, rules)
            assert [pending.check(k) for k in range(len(batch.steps))]  # in place
            assert pending.from_worker == 0
        assert worker.off and not worker.ready() and worker.pid() is None
        assert [f["restarts_left"] for f in events.named("precheck_worker_failed")] == [1, 0]
        assert len(events.named("precheck_worker_off")) == 1
        # Off: the checks are done in place, the verdicts are the same.
        assert _verify(bundle, tmp_path / "off", worker) == _verify(bundle, tmp_path / "ref", None)
        assert worker.started == 2


class Loads:
    """Candidates whose loads are counted, some of which fail."""

    def __init__(self, bundle: Bundle, failing: set[int]) -> None:
        self.bundle, self.failing = bundle, failing
        self.loaded: list[int] = []

    def load(self, batch: Batch) -> Batch:
        self.loaded.append(batch.index)
        if batch.index in self.failing:
            raise OSError(f"batch {batch.index}: the L1 node lost it")
        return batch

    def __call__(self) -> Iterator[Candidate[None]]:
        for batch in self.bundle.batches:
            yield Candidate(
                index=batch.index,
                prev_root=batch.prev_root,
                final_root=batch.final_root,
                steps=len(batch.steps),
                load=lambda b=batch: self.load(b),  # type: ignore[misc]
                ref=None,
            )


def _until_error(
    bundle: Bundle, path: Path, loads: Loads, worker: Prechecker | None
) -> tuple[list[Action], str]:
    rules = rules_of_protocol(bundle.protocol)
    actions: list[Action] = []
    with StateDB(path, sync=False) as state_db:
        init_bundle(state_db, bundle)
        try:
            for outcome in verify_chain(state_db, loads(), rules=rules, prechecker=worker):
                actions.append(outcome.action)
        except OSError as exc:
            return actions, str(exc)
    return actions, ""


def test_a_load_done_ahead_fails_in_its_turn_as_without_the_worker(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    results = []
    with Prechecker(chunk=5) as worker:
        for name, prechecker in (("in-place", None), ("worker", worker)):
            loads = Loads(bundle, failing={1})
            results.append(_until_error(bundle, tmp_path / name, loads, prechecker))
            assert loads.loaded == [0, 1]  # batch 2 is never loaded: the failure stopped it
    assert results[0] == results[1] == ([Action.REPLAYED], "batch 1: the L1 node lost it")


def test_no_load_of_accepted_batches_nor_beyond_a_fraud(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "fraud-wrong-root.json")  # valid, fraud, skipped
    rules = rules_of_protocol(bundle.protocol)
    with Prechecker(chunk=5) as worker, StateDB(tmp_path / "s", sync=False) as state_db:
        init_bundle(state_db, bundle)
        for expected in ([Action.REPLAYED, Action.REPLAYED, Action.SKIPPED], None):
            # batch 2 fails to load: it is skipped (after the fraud) in both runs, no error
            loads = Loads(bundle, failing={2})
            actions = [
                o.action for o in verify_chain(state_db, loads(), rules=rules, prechecker=worker)
            ]
            if expected is not None:
                assert actions == expected
                # Loaded one ahead while batch 1 replayed (its failure kept, not raised).
                assert loads.loaded == [0, 1, 2]
            else:  # batch 0 is in the state: accepted, never loaded
                assert actions == [Action.ACCEPTED, Action.REPLAYED, Action.SKIPPED]
                assert loads.loaded == [1, 2]


def test_a_caller_that_stops_early_leaves_the_worker_usable(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    rules = rules_of_protocol(bundle.protocol)
    with Prechecker(chunk=5) as worker, StateDB(tmp_path / "s", sync=False) as state_db:
        init_bundle(state_db, bundle)
        chain = verify_chain(
            state_db,
            (Candidate.of(b, None) for b in bundle.batches),
            rules=rules,
            prechecker=worker,
        )
        assert next(chain).action is Action.REPLAYED
        assert isinstance(chain, types.GeneratorType)
        chain.close()  # the service stopping between batches: batch 1's checks are dropped
        assert state_db.head() is not None and state_db.head().index == 0  # type: ignore[union-attr]
        again = verify_chain(
            state_db,
            (Candidate.of(b, None) for b in bundle.batches),
            rules=rules,
            prechecker=worker,
        )
        assert [o.action for o in again] == [Action.ACCEPTED, Action.REPLAYED, Action.REPLAYED]
        assert worker.failures == 0


ORPHAN_SCRIPT = """
import sys, time
from watchtower.execute.precheck import Prechecker
worker = Prechecker()
assert worker.ready()
print(worker.pid(), flush=True)
time.sleep(120)
"""


def test_the_worker_exits_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the killed parent's resource tracker warns of semaphores
        text=True,
    )
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert not _gone(worker)
    finally:
        parent.kill()
        parent.wait(timeout=30)
        if parent.stdout is not None:
            parent.stdout.close()
    assert _wait_gone(worker), f"worker {worker} outlived its SIGKILLed parent"
