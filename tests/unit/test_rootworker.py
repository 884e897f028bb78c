"""Replay with a root worker (roots computed in another process) gives the verdicts, the stored
state and the hooks of the reference replay, including when the worker is killed mid-batch."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_typing import Address

import watchtower.execute.replay as replay_module
from tests.conftest import FIXTURES
from tests.helpers import reachable_nodes_present
from watchtower.execute.flat import FlatUnsupported, open_flat_state
from watchtower.execute.pipeline import PipelinedSteps
from watchtower.execute.reach import mark
from watchtower.execute.replay import init_genesis, iter_steps, replay_batch
from watchtower.execute.rootworker import RootWorker, RootWorkerFailed
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, rules_of_protocol
from watchtower.rollup.bridge import encode_deposit
from watchtower.rollup.bundle import load_bundle
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import (
    Batch,
    BlockContext,
    GenesisAccount,
    Step,
    Verdict,
    VerdictKind,
)
from watchtower_dev.builder import build_batch, with_wrong_root
from watchtower_dev.txgen import accounts, transfer


@pytest.fixture(scope="module")
def worker() -> Iterator[RootWorker]:
    with RootWorker(chunk=3) as roots:  # several chunks per batch, and partial ones
        yield roots


def _stored(store: StateDB) -> tuple[bytes | None, int, frozenset[bytes]]:
    """What a commit left: the head root, the node count and every key the head reaches."""
    head = store.head_root()
    assert head is not None
    with store.reader() as get:
        reached = frozenset(mark(get, [head]))
    return head, store.node_count(), reached


def replay_both(
    tmp_path: Path,
    genesis: dict[bytes, GenesisAccount],
    batches: list[Batch],
    worker: RootWorker,
    rules: RuleSet = RuleSet.ROLLUP,
    *,
    kill_at: tuple[int, int] | None = None,
) -> list[Verdict]:
    """Replay ``batches`` with and without the worker (until one is not valid); assert the same
    verdicts, the same hooks and the same stored state; return the verdicts."""
    reference = StateDB(tmp_path / "reference", sync=False)
    pipelined = StateDB(tmp_path / "pipelined", sync=False)
    init_genesis(reference, genesis)
    init_genesis(pipelined, genesis)
    verdicts = []
    try:
        for batch in batches:
            steps_ref: list[int] = []
            steps_pipe: list[int] = []

            def on_step(k: int, index: int = batch.index, seen: list[int] = steps_pipe) -> None:
                seen.append(k)
                if kill_at == (index, k) and worker.pid is not None:
                    os.kill(worker.pid, signal.SIGKILL)

            expected = replay_batch(reference, batch, rules=rules, on_step=steps_ref.append)
            got = replay_batch(pipelined, batch, rules=rules, on_step=on_step, roots=worker)
            assert got == expected
            if kill_at is None:  # the flat path handled the batch: nothing fell back
                assert worker.last_fallback is None, worker.last_fallback
            assert steps_pipe == steps_ref  # every step's hooks once, in order
            assert _stored(pipelined) == _stored(reference)
            verdicts.append(got)
            if expected.kind is not VerdictKind.VALID:
                break
    finally:
        reference.close()
        pipelined.close()
    return verdicts


@pytest.mark.parametrize("fixture", ["honest.json", "invalid-kinds.json", "fraud-wrong-root.json"])
@pytest.mark.parametrize("protocol_rules", [True, False])
def test_fixtures_give_the_reference_verdicts(
    fixture: str, protocol_rules: bool, tmp_path: Path, worker: RootWorker
) -> None:
    bundle = load_bundle(FIXTURES / fixture)
    rules = rules_of_protocol(bundle.protocol) if protocol_rules else RuleSet.ROLLUP
    verdicts = replay_both(tmp_path, bundle.genesis, list(bundle.batches), worker, rules)
    assert worker.last_fallback is None
    kinds = [v.kind for v in verdicts]
    assert kinds[-1] is (VerdictKind.FRAUD if "fraud" in fixture else VerdictKind.VALID)


@pytest.mark.slow
def test_the_large_fixture_gives_the_reference_verdicts(tmp_path: Path, worker: RootWorker) -> None:
    bundle = load_bundle(FIXTURES / "large-10k-accounts.json")
    rules = rules_of_protocol(bundle.protocol)
    verdicts = replay_both(tmp_path, bundle.genesis, list(bundle.batches), worker, rules)
    assert [v.kind for v in verdicts] == [VerdictKind.VALID] * len(bundle.batches)
    assert worker.last_fallback is None


@pytest.mark.parametrize("where", ["first", "chunk-start", "mid-chunk", "chunk-end", "last"])
@pytest.mark.parametrize("only_one", [True, False])
def test_a_wrong_root_is_fraud_at_that_step(
    where: str, only_one: bool, tmp_path: Path, worker: RootWorker
) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    batch = bundle.batches[1]
    last = len(batch.steps) - 1
    step = {"first": 0, "chunk-start": 6, "mid-chunk": 7, "chunk-end": 8, "last": last}[where]
    wrong = b"\x42" * 32
    if only_one:  # the steps after claim the right roots again
        steps = list(batch.steps)
        steps[step] = Step(tx=steps[step].tx, root=wrong)
        bad = dataclasses.replace(batch, steps=tuple(steps))
    else:
        bad = with_wrong_root(batch, step, wrong)
    verdicts = replay_both(tmp_path, bundle.genesis, [bundle.batches[0], bad], worker)
    assert verdicts[-1].kind is VerdictKind.FRAUD and verdicts[-1].step == step
    assert verdicts[-1].claimed_root == wrong
    # the worker is usable again after the abandoned batch
    replay_both(tmp_path / "again", bundle.genesis, list(bundle.batches), worker)
    assert worker.last_fallback is None


@pytest.mark.parametrize("kill_step", [0, 4, 19])
def test_a_killed_worker_gives_the_same_verdict(
    kill_step: int, tmp_path: Path, worker: RootWorker
) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    before = worker.pid
    fallbacks = worker.fallbacks
    verdicts = replay_both(
        tmp_path, bundle.genesis, list(bundle.batches), worker, kill_at=(1, kill_step)
    )
    assert [v.kind for v in verdicts] == [VerdictKind.VALID] * 3
    assert worker.fallbacks == fallbacks + 1
    assert worker.pid != before  # batch 2 started a fresh worker
    assert worker.last_fallback is None  # and batch 2 did not fall back


@pytest.mark.parametrize("kill_step", [0, 6])
def test_a_killed_worker_in_a_fraudulent_batch(
    kill_step: int, tmp_path: Path, worker: RootWorker
) -> None:
    bundle = load_bundle(FIXTURES / "fraud-wrong-root.json")  # fraud at batch 1, step 7
    verdicts = replay_both(
        tmp_path, bundle.genesis, list(bundle.batches), worker, kill_at=(1, kill_step)
    )
    assert verdicts[-1].kind is VerdictKind.FRAUD and verdicts[-1].step == 7
    # (whether the batch fell back depends on whether step 7's root had arrived: either way
    # the verdict is the reference's) and the next replay has a working worker
    replay_both(tmp_path / "again", bundle.genesis, list(bundle.batches[:1]), worker)
    assert worker.last_fallback is None


def test_the_hooks_run_once_per_step_and_before_commit(
    tmp_path: Path, worker: RootWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash tests count hits of ``replay.step``: the pipelined replay hits it as often,
    and ``replay.before_commit`` comes after every step of the batch."""
    bundle = load_bundle(FIXTURES / "honest.json")
    store = StateDB(tmp_path / "s", sync=False)
    init_genesis(store, bundle.genesis)
    seen: list[str] = []
    monkeypatch.setattr(replay_module, "failpoint", seen.append)
    verdict = replay_batch(store, bundle.batches[0], roots=worker)
    store.close()
    assert verdict.kind is VerdictKind.VALID
    assert seen == ["replay.step"] * len(bundle.batches[0].steps) + ["replay.before_commit"]


def test_storage_writes_are_not_guessed(tmp_path: Path) -> None:
    """What the flat state does not handle raises FlatUnsupported (the batch is then replayed
    by the reference path); an account created in the batch is read back from the overlay."""
    bundle = load_bundle(FIXTURES / "honest.json")
    store = StateDB(tmp_path / "s", sync=False)
    root = init_genesis(store, bundle.genesis)
    ctx = bundle.batches[0].context
    state = open_flat_state(PendingWrites(store), root, ctx)
    fresh = Address(b"\x11" * 20)
    state.set_balance(fresh, 5)
    state.make_state_root()
    assert state.flat_accounts.take_changes()[0][0] == fresh
    assert state.get_balance(fresh) == 5
    state.set_storage(fresh, 1, 2)
    with pytest.raises(FlatUnsupported, match="storage"):
        state.make_state_root()
    other = open_flat_state(PendingWrites(store), root, ctx)
    other.set_balance(fresh, 5)
    other.make_state_root()
    other.delete_account(fresh)
    with pytest.raises(FlatUnsupported):
        other.make_state_root()
    coded = open_flat_state(PendingWrites(store), root, ctx)
    coded.set_code(fresh, b"\x00")
    with pytest.raises(FlatUnsupported, match="code"):
        coded.make_state_root()
    store.close()


def test_a_worker_error_is_reported_and_the_next_batch_starts_afresh(
    tmp_path: Path, worker: RootWorker
) -> None:
    roots = worker.begin(tmp_path / "not-a-state-database", b"\x00" * 32)
    roots.send_steps([[]])
    with pytest.raises(RootWorkerFailed, match="failed"):
        roots.wait_root(0)
    assert worker.pid is None  # discarded: the next batch starts a fresh worker
    bundle = load_bundle(FIXTURES / "honest.json")
    replay_both(tmp_path, bundle.genesis, list(bundle.batches[:1]), worker)
    assert worker.last_fallback is None and worker.pid is not None


CRASH_CHILD = r"""
import sys
from pathlib import Path
from watchtower.execute import statedb
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.rootworker import RootWorker
from watchtower.rollup.bundle import load_bundle

original = statedb.StateDB._write_items
roots = RootWorker(chunk=3)

def announced(self, items, meta):
    print(f"commit {roots.pid}", flush=True)   # the parent kills us from here on
    original(self, items, meta)

statedb.StateDB._write_items = announced
bundle = load_bundle(Path(sys.argv[2]))
db = statedb.StateDB(Path(sys.argv[1]), sync=True)
init_genesis(db, bundle.genesis)
while True:
    head = db.head()
    nxt = 0 if head is None else head.index + 1
    if nxt == len(bundle.batches):
        db.rollback_to(None)
        continue
    assert replay_batch(db, bundle.batches[nxt], roots=roots).kind.value == "valid"
    assert roots.last_fallback is None, roots.last_fallback
"""


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status


def test_sigkill_during_a_pipelined_replay_leaves_a_committed_root_and_no_worker(
    tmp_path: Path,
) -> None:
    """The replaying process killed at a commit (with the root worker's nodes): the database
    reopens at a committed root whose nodes are all there, the orphaned worker exits, and the
    replay goes on from there (with the worker) to the same roots."""
    bundle_path = FIXTURES / "honest.json"
    bundle = load_bundle(bundle_path)
    finals = {b.index: b.final_root for b in bundle.batches}
    rng = random.Random(11)
    for attempt in range(3):
        data = tmp_path / "state"
        child = subprocess.Popen(
            [sys.executable, "-c", CRASH_CHILD, str(data), str(bundle_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        line = ""
        for _ in range(rng.randrange(1, 6)):
            line = child.stdout.readline()
            assert line.startswith("commit "), f"child died early (attempt {attempt}): {line!r}"
        time.sleep(rng.random() * 0.004)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        worker_pid = int(line.split()[1])
        deadline = time.monotonic() + 20
        while not _gone(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(worker_pid), "the root worker outlived the replaying process"
        with StateDB(data) as db:
            previous = db.genesis_root()
            for record in db.batches():
                assert record.prev_root == previous
                assert record.final_root == finals[record.index]
                previous = record.final_root
            assert db.head_root() == previous and previous is not None
            assert reachable_nodes_present(db, previous) > 1
            with RootWorker() as roots:
                head = db.head()
                for batch in bundle.batches[0 if head is None else head.index + 1 :]:
                    assert replay_batch(db, batch, roots=roots).kind is VerdictKind.VALID
                    assert roots.last_fallback is None


@pytest.mark.parametrize("fixture", ["honest.json", "invalid-kinds.json"])
def test_the_traces_are_the_reference_traces(
    fixture: str, tmp_path: Path, worker: RootWorker
) -> None:
    """Step by step, outcomes included (sender, recipient, value, reason, detail, root)."""
    bundle = load_bundle(FIXTURES / fixture)
    store = StateDB(tmp_path / "s", sync=False)
    root = init_genesis(store, bundle.genesis)
    batch = bundle.batches[0]
    assert batch.prev_root == root
    expected = list(iter_steps(open_state(PendingWrites(store), root, batch.context), batch))
    pipelined = PipelinedSteps(store, batch, worker, rules=RuleSet.ROLLUP, prechecked=None)
    assert list(pipelined) == expected
    pipelined.close()
    assert worker.last_fallback is None
    store.close()


def test_touched_empty_accounts_new_accounts_and_deposits(
    tmp_path: Path, worker: RootWorker
) -> None:
    """Zero-value transfers to an account that does not exist and a zero tip to a coinbase that
    does not exist (py-evm touches, then deletes them: EIP-161), then the coinbase and a
    recipient created (trie inserts), deposits of 0 and to a new account: all on the flat path
    (no fallback), with the reference's verdicts and stored state."""
    keys = accounts(2, b"rootworker")
    params = RollupParams()
    coinbase, nobody, newcomer = b"\xcb" * 20, b"\x0e" * 20, b"\x0f" * 20
    genesis = {k.address: GenesisAccount(balance=10**18) for k in keys}
    ctx = BlockContext(1, 1, coinbase, params.base_fee, params.gas_limit, params.chain_id)

    def pay(n: int, to: bytes, value: int, tip: int) -> bytes:
        return transfer(keys[0], to, nonce=n, value=value, chain_id=params.chain_id, tip=tip)

    first = [pay(0, nobody, 0, 0), pay(1, nobody, 0, 0), encode_deposit(0, newcomer, 0)]
    second = [pay(2, nobody, 5, 1), encode_deposit(1, newcomer, 7), pay(3, newcomer, 0, 0)]
    batches: list[Batch] = []
    with StateDB(tmp_path / "builder", sync=False) as builder:
        root = init_genesis(builder, genesis)
        for index, txs in enumerate([first, second]):
            pending = PendingWrites(builder)
            batches.append(build_batch(pending, index, root, ctx, txs))
            builder.commit_nodes(pending)
            root = batches[-1].final_root
    assert batches[0].steps[0].root != batches[0].prev_root  # the sender paid
    verdicts = replay_both(tmp_path / "replay", genesis, batches, worker)
    assert [v.kind for v in verdicts] == [VerdictKind.VALID] * 2
    assert worker.last_fallback is None
