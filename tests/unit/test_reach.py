"""What a batch commit writes (watchtower.execute.reach.new_keys): the final state's new nodes,
all of them, and nothing else."""

from __future__ import annotations

from tests.conftest import FIXTURES
from watchtower.execute.reach import mark, new_keys
from watchtower.execute.replay import init_genesis
from watchtower.execute.state import build_genesis, open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import apply_step
from watchtower.execute.verify import Candidate, verify_chain
from watchtower.rollup.bundle import load_bundle
from watchtower.rollup.types import GenesisAccount, VerdictKind


def _replay_all(store: StateDB, name: str) -> list[bytes]:
    bundle = load_bundle(FIXTURES / name)
    genesis = init_genesis(store, bundle.genesis)
    outcomes = list(verify_chain(store, [Candidate.of(b, b.index) for b in bundle.batches]))
    assert all(o.verdict.kind is VerdictKind.VALID for o in outcomes)
    return [genesis] + [b.final_root for b in bundle.batches]


def test_the_store_holds_exactly_the_committed_states(store: StateDB) -> None:
    # invalid-kinds: invalid steps, new accounts (the trie changes shape), several batches
    roots = _replay_all(store, "invalid-kinds.json")
    with store.reader() as get:
        reachable = mark(get, roots)  # raises if any node of a committed state is missing
    assert store.node_count() == len(reachable), "nodes of intermediate states were written"


def test_intermediate_step_states_are_not_written_but_the_final_ones_are(store: StateDB) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    _replay_all(store, "honest.json")
    batch = bundle.batches[1]
    intermediate = {s.root for s in batch.steps[:-1]} - {batch.prev_root, batch.final_root}
    assert intermediate, "the fixture's batch should change the root more than once"
    assert not any(store.has_node(root) for root in intermediate)
    assert store.has_node(batch.final_root)


def test_a_new_state_reaches_code_and_storage(store: StateDB) -> None:
    alloc = {
        b"\x11" * 20: GenesisAccount(balance=5, code=b"\x60\x00\x60\x00\xf3", storage={1: 7}),
        b"\x22" * 20: GenesisAccount(balance=9),
        b"\x33" * 20: GenesisAccount(nonce=1, storage={i: i + 1 for i in range(1, 40)}),
    }
    pending = PendingWrites(store)
    root = build_genesis(pending, alloc, rollup_rules=False)
    reached = new_keys(pending.pending_get, root)
    written = {key for key, _ in pending.drain()}
    assert reached == written
    assert len(written) > 10  # code, two storage tries and the account trie


def test_the_walk_stops_at_nodes_already_stored(store: StateDB) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    init_genesis(store, bundle.genesis)
    batch = bundle.batches[0]
    pending = PendingWrites(store)
    state = open_state(pending, batch.prev_root, batch.context)
    outcome = apply_step(state, batch.steps[0].tx)
    assert outcome.valid and outcome.root == batch.steps[0].root
    state.persist()
    new = new_keys(pending.pending_get, outcome.root)
    assert outcome.root in new
    assert all(pending.pending_get(key) is not None for key in new)
    # one transfer changes a few paths of the trie, not the whole state
    with store.reader() as get:
        assert len(new) < len(mark(get, [batch.prev_root])) // 4
