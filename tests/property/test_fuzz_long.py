"""The long fuzz run: every fuzz target of ``test_fuzz_*`` with thousands of cases.

Marked ``slow`` (skipped unless selected): ``.venv/bin/pytest -m slow tests/property -q``.
Each test counts the cases it actually executed and fails if hypothesis ran fewer than asked,
so the total reported at the end (≥ 10,000, asserted below) is the number really run. The
properties are the same functions as in the default run, which uses 60 cases each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.property import test_fuzz_batch as batch
from tests.property import test_fuzz_step as step
from tests.property import test_fuzz_transactions as transactions
from watchtower.execute.replay import init_genesis
from watchtower.execute.statedb import StateDB

pytestmark = pytest.mark.slow

#: Cases per target. The total is what the long run promises (issue 6: at least 10,000).
CASES = {
    "batch decoder, hostile batches": 3000,
    "batch decoder, random bytes": 500,
    "transaction rules, hostile transactions": 3000,
    "transaction rules, random bytes": 500,
    "apply_step, hostile and edge-case steps": 2000,
    "replay_batch, hostile batches": 1500,
}
assert sum(CASES.values()) >= 10_000

_RESULTS: dict[str, tuple[int, float]] = {}


def _run(
    name: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], object]
) -> tuple[int, float]:
    """Run ``check`` on ``CASES[name]`` examples of ``strategy``; return (cases run, seconds)."""
    executed = 0

    @settings(
        max_examples=CASES[name],
        deadline=None,
        database=None,  # generated cases only: the count is not inflated by replayed ones
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def run(case: Any) -> None:
        nonlocal executed
        check(case)
        executed += 1

    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    assert executed >= CASES[name], f"{name}: hypothesis ran {executed} of {CASES[name]} cases"
    _RESULTS[name] = (executed, elapsed)
    return executed, elapsed


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print what ran, per target and in total, to the terminal (also without ``-s``)."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not _RESULTS:
        return
    total = sum(cases for cases, _ in _RESULTS.values())
    seconds = sum(s for _, s in _RESULTS.values())
    with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
        reporter.write_line("")
        for name, (cases, elapsed) in _RESULTS.items():
            reporter.write_line(f"fuzz {name}: {cases:,} cases in {elapsed:.1f} s")
        reporter.write_line(f"fuzz total: {total:,} cases in {seconds:.1f} s")


@pytest.fixture(scope="module")
def genesis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[step.Genesis]:
    store = StateDB(Path(tmp_path_factory.mktemp("fuzz-long")), sync=False)
    yield step.Genesis(store, init_genesis(store, step.GENESIS))
    store.close()


@pytest.mark.timeout(900)
def test_batch_decoder_long() -> None:
    _run("batch decoder, hostile batches", batch.hostile_batches(), batch.check_decoder)
    _run(
        "batch decoder, random bytes",
        st.binary(max_size=400).map(lambda b: b"\x01" + b),
        batch.check_decoder,
    )


@pytest.mark.timeout(900)
def test_transaction_rules_long() -> None:
    _run(
        "transaction rules, hostile transactions",
        transactions.hostile_transactions(),
        transactions.check_against_reference,
    )
    _run(
        "transaction rules, random bytes",
        transactions.any_bytes,
        transactions.check_against_reference,
    )


@pytest.mark.timeout(900)
def test_apply_step_long(genesis: step.Genesis) -> None:
    _run(
        "apply_step, hostile and edge-case steps",
        step.step_cases(),
        lambda case: step.check_step(genesis, *case),
    )


@pytest.mark.timeout(900)
def test_replay_batch_long(genesis: step.Genesis) -> None:
    _run(
        "replay_batch, hostile batches",
        step.batch_cases(genesis.root),
        lambda case: step.check_replay(genesis, case),
    )
