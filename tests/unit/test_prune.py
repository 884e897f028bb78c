"""State pruning: retained states stay complete and provable, everything else goes, crash-safe."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_typing import Address

from tests.helpers import reachable_nodes_present
from watchtower.errors import MissingStateError, StateCorruptionError
from watchtower.execute.prune import Retention, mark, prune_state, retained_roots
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, PrunedStateError, StateDB
from watchtower.proof.fraud import build_fraud_proof, check_fraud_proof
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount, VerdictKind
from watchtower_dev.builder import build_batch, with_wrong_root
from watchtower_dev.faults import Fault, FaultKind, build_faulty_batch
from watchtower_dev.txgen import accounts, transfer

PARAMS = RollupParams()
BATCHES = 10
TXS = 12
CONTRACT = bytes.fromhex("00000000000000000000000000000000c0de0001")
CODE = bytes.fromhex("6001600055")  # PUSH1 1 PUSH1 0 SSTORE: any code, never run by transfers
SLOTS = {1: 7, 2: 8, 3: 2**200}


@dataclass(frozen=True)
class Chain:
    genesis: dict[bytes, GenesisAccount]
    batches: list[Batch]
    txs: list[list[bytes]]


def _context(index: int) -> BlockContext:
    return BlockContext(
        number=index,
        timestamp=1_700_000_000 + 12 * index,
        coinbase=b"\xc0" * 20,
        base_fee=PARAMS.base_fee,
        gas_limit=PARAMS.gas_limit,
        chain_id=PARAMS.chain_id,
    )


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """Honest batches over 40 users and one contract with code and storage (built once)."""
    users = accounts(40, b"prune")
    genesis = {u.address: GenesisAccount(balance=10**21) for u in users}
    genesis[CONTRACT] = GenesisAccount(balance=1, code=CODE, storage=SLOTS)
    nonces = [0] * len(users)
    with StateDB(tmp_path_factory.mktemp("proposer") / "s", sync=False) as proposer:
        root = init_genesis(proposer, genesis)
        batches, all_txs = [], []
        for b in range(BATCHES):
            txs = []
            for i in range(TXS):
                s = (i * 7 + b * 3) % len(users)
                if i % 4 == 3:  # a new account now and then (trie insertions)
                    to = (0xA0 << 152 | b << 16 | i).to_bytes(20, "big")
                else:
                    to = users[(i * 11 + b + 1) % len(users)].address
                txs.append(
                    transfer(users[s], to, nonce=nonces[s], value=10**15, chain_id=PARAMS.chain_id)
                )
                nonces[s] += 1
            pending = PendingWrites(proposer)
            batch = build_batch(pending, b, root, _context(b), txs)
            proposer.commit_nodes(pending)
            batches.append(batch)
            all_txs.append(txs)
            root = batch.final_root
    return Chain(genesis=genesis, batches=batches, txs=all_txs)


@pytest.fixture
def db(tmp_path: Path, chain: Chain) -> Iterator[StateDB]:
    """A watchtower state with every batch of the chain verified."""
    with StateDB(tmp_path / "state", sync=False) as store:
        init_genesis(store, chain.genesis)
        for batch in chain.batches:
            assert replay_batch(store, batch).kind is VerdictKind.VALID
        yield store


def _assert_complete(store: StateDB, root: bytes) -> None:
    """An independent check that the state at ``root`` is whole: every account-trie node is on
    disk, and the contract's code and storage read back through py-evm."""
    assert reachable_nodes_present(store, root) > 1
    state = open_state(PendingWrites(store), root, _context(0))
    assert state.get_code(Address(CONTRACT)) == CODE
    for slot, value in SLOTS.items():
        assert state.get_storage(Address(CONTRACT), slot) == value


def test_prune_keeps_every_retained_state_and_deletes_the_rest(db: StateDB, chain: Chain) -> None:
    before = db.node_count()
    # Batches 6.. are in their window; keep_recent 2 asks for less, so the window decides.
    report = prune_state(db, Retention(oldest_provable=6, keep_recent=2))
    assert report.pruned_below == db.pruned_below() == 6
    assert [r.index for r in db.batches()] == [5, 6, 7, 8, 9]
    assert report.roots_kept == 5
    assert report.records_archived == 5
    for record in db.batches():
        _assert_complete(db, record.final_root)
    assert report.nodes_before == before
    assert report.nodes_after == db.node_count() == report.nodes_marked
    assert report.nodes_deleted == before - report.nodes_marked > before // 3
    # A pruned state is really gone: the genesis and batch-3 root nodes were deleted.
    genesis = db.genesis_root()
    assert genesis is not None
    assert db.get_node(genesis) is None
    assert db.get_node(chain.batches[3].final_root) is None
    # Archived records are receipts: still "verified" to the service, never a state to open.
    old = db.batch(2)
    assert old is not None and old.pruned and old.final_root == chain.batches[2].final_root
    live = db.batch(7)
    assert live is not None and not live.pruned


def test_keep_recent_decides_when_fewer_batches_are_in_the_window(db: StateDB) -> None:
    report = prune_state(db, Retention(oldest_provable=None, keep_recent=3))
    assert report.pruned_below == 7  # head 9: the pre-states of batches 7, 8, 9 are kept
    assert [r.index for r in db.batches()] == [6, 7, 8, 9]
    # Idempotent, and the floor never goes down.
    again = prune_state(db, Retention(oldest_provable=2, keep_recent=64))
    assert again.pruned_below == 7 and again.nodes_deleted == 0


def test_genesis_is_kept_while_batch_zero_is_provable(db: StateDB, chain: Chain) -> None:
    report = prune_state(db, Retention(oldest_provable=0, keep_recent=1))
    assert report.pruned_below == 0
    assert retained_roots(db)[0] == db.genesis_root()
    _assert_complete(db, chain.batches[0].prev_root)
    proof = build_fraud_proof(db, with_wrong_root(chain.batches[0], 3, b"\x01" * 32), 3, PARAMS)
    assert check_fraud_proof(proof).fraud


def test_fraud_stays_provable_at_and_after_the_floor(db: StateDB, chain: Chain) -> None:
    prune_state(db, Retention(oldest_provable=6, keep_recent=1))
    for index in range(6, BATCHES):
        faulty = with_wrong_root(chain.batches[index], TXS - 1, b"\xab" * 32)
        proof = build_fraud_proof(db, faulty, TXS - 1, PARAMS)
        assert check_fraud_proof(proof).fraud
    # A new faulty batch on the head (the next one to arrive) is provable too.
    head = chain.batches[-1]
    nxt = build_faulty_batch(
        PendingWrites(db),
        BATCHES,
        head.final_root,
        _context(BATCHES),
        _next_txs(db, head.final_root),
        fault=Fault(FaultKind.WRONG_FEE, 1),
    )
    proof = build_fraud_proof(db, nxt, 1, PARAMS)
    assert check_fraud_proof(proof).fraud
    # Below the floor the state is gone on purpose: one line that says so, not a trie error.
    with pytest.raises(
        PrunedStateError, match=r"^batch 3: its pre-state 0x[0-9a-f]{64} was pruned"
    ):
        build_fraud_proof(db, with_wrong_root(chain.batches[3], 0, b"\xab" * 32), 0, PARAMS)


def _next_txs(store: StateDB, root: bytes) -> list[bytes]:
    """Two valid transfers on the state at ``root``."""
    users = accounts(40, b"prune")
    state = open_state(PendingWrites(store), root, _context(BATCHES))
    out = []
    for k, user in enumerate(users[:2]):
        nonce = state.get_nonce(Address(user.address))
        out.append(
            transfer(user, users[k + 5].address, nonce=nonce, value=1, chain_id=PARAMS.chain_id)
        )
    return out


def test_replay_continues_from_the_head_after_pruning(tmp_path: Path, chain: Chain) -> None:
    with StateDB(tmp_path / "state", sync=False) as store:
        init_genesis(store, chain.genesis)
        for batch in chain.batches[:5]:
            replay_batch(store, batch)
        prune_state(store, Retention(oldest_provable=None, keep_recent=1))
        assert store.pruned_below() == 4
        for batch in chain.batches[5:]:
            assert replay_batch(store, batch).kind is VerdictKind.VALID
        report = prune_state(store, Retention(oldest_provable=None, keep_recent=1))
        assert report.pruned_below == BATCHES - 1
        _assert_complete(store, chain.batches[-1].final_root)
        _assert_complete(store, chain.batches[-2].final_root)
        # The service re-derives genesis at every start: that must not bring pruned nodes back.
        nodes = store.node_count()
        init_genesis(store, chain.genesis)
        assert store.node_count() == nodes


def test_rollback_below_the_floor_is_refused_in_one_line(db: StateDB, chain: Chain) -> None:
    prune_state(db, Retention(oldest_provable=6, keep_recent=1))
    with pytest.raises(
        PrunedStateError, match=r"^cannot roll back to batch 4: its state was pruned"
    ):
        db.rollback_to(4)
    with pytest.raises(PrunedStateError, match="cannot roll back to genesis"):
        db.rollback_to(None)
    assert db.rollback_to(5) == chain.batches[5].final_root  # the floor's pre-state: allowed
    assert replay_batch(db, chain.batches[6]).kind is VerdictKind.VALID


def test_mark_refuses_a_state_with_a_missing_node(db: StateDB, chain: Chain) -> None:
    head = chain.batches[-1].final_root
    with db.reader() as get:

        def without_root(key: bytes) -> bytes | None:
            return None if key == head else get(key)

        with pytest.raises(MissingStateError, match="is not in the state database"):
            mark(without_root, [head])
        with pytest.raises(StateCorruptionError):
            mark(lambda key: b"\xc3\x01\x02\x03", [head])  # a 3-item "node"


def test_retention_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="keep_recent"):
        Retention(oldest_provable=None, keep_recent=0)
    assert Retention(oldest_provable=None, keep_recent=64).floor(10) == 0
    assert Retention(oldest_provable=50, keep_recent=5).floor(100) == 50
    assert Retention(oldest_provable=99, keep_recent=5).floor(100) == 96
    assert Retention(oldest_provable=200, keep_recent=1).floor(100) == 100
    assert Retention(oldest_provable=None, keep_recent=1).floor(-1) == 0


CHILD = r"""
import sys, time
from pathlib import Path
from watchtower.execute.prune import Retention, prune_state
from watchtower.execute.statedb import StateDB

stop_after = int(sys.argv[2])
chunks = 0

def on_chunk(deleted):
    global chunks
    chunks += 1
    print("chunk", deleted, flush=True)
    if chunks == stop_after:
        time.sleep(120)  # the parent kills us here: k chunks committed, the rest not

db = StateDB(Path(sys.argv[1]), sync=True)
prune_state(db, Retention(oldest_provable=None, keep_recent=2), chunk=25, on_chunk=on_chunk)
"""


@pytest.mark.parametrize("chunks_before_kill", [1, 4])
def test_sigkill_in_the_middle_of_the_sweep(
    db: StateDB, chain: Chain, chunks_before_kill: int
) -> None:
    path = db.path
    nodes_before = db.node_count()
    db.close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(chunks_before_kill)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    for _ in range(chunks_before_kill):
        line = child.stdout.readline()
        assert line.startswith("chunk"), f"child died early: {line!r}"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    with StateDB(path) as store:
        # The floor was recorded before any node went; every retained state is whole.
        assert store.pruned_below() == BATCHES - 2
        assert [r.index for r in store.batches()] == [BATCHES - 3, BATCHES - 2, BATCHES - 1]
        for record in store.batches():
            _assert_complete(store, record.final_root)
        interrupted = store.node_count()
        assert interrupted < nodes_before  # some chunks were committed ...
        report = prune_state(store, Retention(oldest_provable=None, keep_recent=2))
        assert report.nodes_deleted > 0  # ... and the second run finishes the job
        assert store.node_count() == report.nodes_marked
        for record in store.batches():
            _assert_complete(store, record.final_root)
