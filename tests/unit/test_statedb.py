from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from watchtower.errors import StateCorruptionError
from watchtower.execute.reach import new_keys
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.state import open_state
from watchtower.execute.statedb import BatchRecord, PendingWrites, StateDB
from watchtower.execute.transition import apply_step
from watchtower.rollup.bundle import load_bundle
from watchtower.rollup.types import VerdictKind


def test_commit_is_invisible_until_written(store: StateDB) -> None:
    pending = PendingWrites(store)
    pending[b"k" * 32] = b"value"
    assert store.get_node(b"k" * 32) is None
    assert pending[b"k" * 32] == b"value"
    store.commit_nodes(pending)
    assert store.get_node(b"k" * 32) == b"value"
    assert pending.pending_count == 0


def test_batches_chain_and_roll_back(store: StateDB) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    genesis = init_genesis(store, bundle.genesis)
    assert store.head_root() == genesis
    for batch in bundle.batches:
        assert replay_batch(store, batch).kind is VerdictKind.VALID
    head = store.head()
    assert head is not None and head.index == 2
    assert head.final_root == bundle.batches[2].final_root
    assert [r.index for r in store.batches()] == [0, 1, 2]

    assert store.rollback_to(0) == bundle.batches[0].final_root
    assert [r.index for r in store.batches()] == [0]
    # Batch 1 replays again on top of the rolled-back head; the old nodes are still there.
    assert replay_batch(store, bundle.batches[1]).kind is VerdictKind.VALID
    assert store.rollback_to(None) == genesis
    assert store.head() is None


def test_refuses_a_batch_that_does_not_link(store: StateDB) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    init_genesis(store, bundle.genesis)
    record = BatchRecord(index=0, prev_root=b"\x01" * 32, final_root=b"\x02" * 32)
    with pytest.raises(StateCorruptionError, match="batch 0 starts from"):
        store.commit_batch(PendingWrites(store), record)


def test_out_of_order_batch_is_undecidable_and_not_stored(store: StateDB) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    init_genesis(store, bundle.genesis)
    verdict = replay_batch(store, bundle.batches[1])
    assert verdict.kind is VerdictKind.UNDECIDABLE
    assert "expected batch 0" in verdict.reason
    assert store.head() is None


def test_other_genesis_is_refused(tmp_path: Path) -> None:
    honest = load_bundle(FIXTURES / "honest.json")
    other = load_bundle(FIXTURES / "invalid-kinds.json")
    with StateDB(tmp_path / "s", sync=False) as db:
        init_genesis(db, honest.genesis)
        assert init_genesis(db, honest.genesis)  # idempotent
        with pytest.raises(StateCorruptionError, match="use another data directory"):
            init_genesis(db, other.genesis)


def test_reopen_keeps_progress(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    with StateDB(tmp_path / "s") as db:
        init_genesis(db, bundle.genesis)
        replay_batch(db, bundle.batches[0])
    with StateDB(tmp_path / "s") as db:
        head = db.head()
        assert head is not None and head.final_root == bundle.batches[0].final_root
        assert replay_batch(db, bundle.batches[1]).kind is VerdictKind.VALID


def test_a_commit_of_another_process_nodes_caches_the_top_of_the_new_trie(store: StateDB) -> None:
    # The root worker computes the nodes in its own process: the replaying process's cache
    # learns the top levels of the new state at the commit (they are on disk by then).
    bundle = load_bundle(FIXTURES / "large-10k-accounts.json")
    init_genesis(store, bundle.genesis)
    batch = bundle.batches[0]
    scratch = PendingWrites(store)
    assert replay_batch(store, batch, commit=False).kind is VerdictKind.VALID
    # the nodes a reference replay would write, handed over as items (as the worker does)
    state = open_state(scratch, batch.prev_root, batch.context)
    for step in batch.steps:
        apply_step(state, step.tx)
    state.persist()
    scratch.keep_only(new_keys(scratch.pending_get, batch.final_root))
    items = scratch.drain()
    store.node_cache.clear()
    store.commit_batch_items(items, BatchRecord(0, batch.prev_root, batch.final_root))
    root = store.node_cache.get(batch.final_root)
    assert isinstance(root, list) and len(root) == 17  # a 10,000-account trie branches at once
    children = [c for c in root[:16] if len(c) == 32]
    cached = [c for c in children if store.node_cache.get(c) is not None]
    assert cached and len(cached) == len([c for c in children if c in dict(items)])
    assert 17 < len(store.node_cache) <= 1 + 16 + 256
    assert store.get_node(batch.final_root) is not None
