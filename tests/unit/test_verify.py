"""The verification driver (watchtower.execute.verify): in-memory batches, no L1, no store."""

from __future__ import annotations

from dataclasses import replace

from tests.conftest import FIXTURES
from watchtower.execute.replay import init_genesis
from watchtower.execute.statedb import StateDB
from watchtower.execute.verify import Candidate, Outcome, verify_chain
from watchtower.rollup.bundle import load_bundle
from watchtower.rollup.types import Batch, Step, VerdictKind

HONEST = load_bundle(FIXTURES / "honest.json")
FRAUD = load_bundle(FIXTURES / "fraud-wrong-root.json")


def with_wrong_root(batch: Batch, step: int, root: bytes) -> Batch:
    """The batch claiming ``root`` from ``step`` on (as the sequencer's builder makes it; not
    imported: development code moves to its own package)."""
    steps = [s if k < step else Step(s.tx, root) for k, s in enumerate(batch.steps)]
    return replace(batch, steps=tuple(steps))


def _run(
    store: StateDB, batches: list[Batch], known: dict[int, VerdictKind] | None = None
) -> list[Outcome[int]]:
    known = known or {}
    return list(
        verify_chain(store, [Candidate.of(b, b.index, known.get(b.index)) for b in batches])
    )


def _kinds(outcomes: list[Outcome[int]]) -> list[tuple[int, str, str]]:
    return [(o.candidate.index, o.verdict.kind.value, o.action.value) for o in outcomes]


def test_a_valid_chain_is_committed(store: StateDB) -> None:
    init_genesis(store, HONEST.genesis)
    outcomes = _run(store, list(HONEST.batches))
    assert _kinds(outcomes) == [(i, "valid", "replayed") for i in range(3)]
    head = store.head()
    assert head is not None and head.final_root == HONEST.batches[2].final_root
    assert not any(o.blocks for o in outcomes)


def test_fraud_skips_every_later_batch(store: StateDB) -> None:
    init_genesis(store, FRAUD.genesis)
    outcomes = _run(store, list(FRAUD.batches))
    assert _kinds(outcomes) == [
        (0, "valid", "replayed"),
        (1, "fraud", "replayed"),
        (2, "skipped", "skipped"),
    ]
    assert outcomes[1].verdict.step == 7 and outcomes[1].blocks and not outcomes[1].halts
    assert outcomes[2].builds_on == 1
    assert outcomes[2].verdict.reason == "builds on fraudulent batch 1"
    head = store.head()  # the state just before the fraudulent batch: what a proof needs
    assert head is not None and head.index == 0


def test_an_undecidable_batch_halts(store: StateDB) -> None:
    init_genesis(store, HONEST.genesis)
    b0, b1, b2 = HONEST.batches
    detached = replace(b1, prev_root=b"\x11" * 32)  # builds on nothing we verified
    outcomes = _run(store, [b0, detached, b2])
    assert _kinds(outcomes) == [
        (0, "valid", "replayed"),
        (1, "undecidable", "replayed"),
        (2, "skipped", "skipped"),
    ]
    assert outcomes[1].halts
    assert outcomes[2].verdict.reason == "builds on undecidable batch 1"


def test_an_unreadable_batch_halts_without_loading(store: StateDB) -> None:
    init_genesis(store, HONEST.genesis)
    b0, b1, b2 = HONEST.batches
    unreadable = replace(Candidate.of(b1, 1), load=None, reason="bad calldata")
    candidates = [Candidate.of(b0, 0), unreadable, Candidate.of(b2, 2)]
    outcomes = list(verify_chain(store, candidates))
    assert [o.verdict.kind for o in outcomes] == [
        VerdictKind.VALID,
        VerdictKind.UNREADABLE,
        VerdictKind.SKIPPED,
    ]
    assert outcomes[1].halts and outcomes[1].verdict.reason == "bad calldata"


def test_resuming_accepts_verified_batches_without_replaying(store: StateDB) -> None:
    init_genesis(store, HONEST.genesis)
    _run(store, list(HONEST.batches[:2]))  # crashed before the verdicts were recorded
    outcomes = _run(store, list(HONEST.batches))
    assert _kinds(outcomes) == [
        (0, "valid", "accepted"),
        (1, "valid", "accepted"),
        (2, "valid", "replayed"),
    ]


def test_a_replacement_at_a_lower_index_rolls_back(store: StateDB) -> None:
    init_genesis(store, HONEST.genesis)
    _run(store, list(HONEST.batches))
    b0, b1, _ = HONEST.batches
    # Batch 1 is replaced (a reorg): an empty batch on the same parent, valid, other roots.
    empty = Batch(1, b1.prev_root, b1.context, ())
    outcomes = _run(store, [b0, empty])
    assert _kinds(outcomes) == [(0, "valid", "accepted"), (1, "valid", "replayed")]
    head = store.head()
    assert head is not None and (head.index, head.final_root) == (1, b1.prev_root)
    assert store.batch(2) is None


def test_a_replaced_batch_with_other_roots_is_replayed(store: StateDB) -> None:
    init_genesis(store, HONEST.genesis)
    _run(store, list(HONEST.batches))
    b0, b1, b2 = HONEST.batches
    lying = with_wrong_root(b1, 3, b"\x22" * 32)
    outcomes = _run(store, [b0, lying, b2])
    assert _kinds(outcomes) == [
        (0, "valid", "accepted"),
        (1, "fraud", "replayed"),
        (2, "skipped", "skipped"),
    ]
    assert outcomes[1].verdict.step == 3
    head = store.head()
    assert head is not None and head.index == 0  # rolled back; batch 1's record is gone


def test_a_recorded_verdict_is_kept_and_blocks(store: StateDB) -> None:
    init_genesis(store, FRAUD.genesis)
    b0, b1, b2 = FRAUD.batches
    outcomes = _run(store, [b0, b1, b2], known={1: VerdictKind.FRAUD, 2: VerdictKind.SKIPPED})
    assert _kinds(outcomes) == [
        (0, "valid", "replayed"),
        (1, "fraud", "kept"),
        (2, "skipped", "skipped"),
    ]


def test_a_skipped_batch_is_verified_once_its_parent_is(store: StateDB) -> None:
    init_genesis(store, HONEST.genesis)
    outcomes = _run(store, list(HONEST.batches), known={2: VerdictKind.SKIPPED})
    assert _kinds(outcomes)[2] == (2, "valid", "replayed")
