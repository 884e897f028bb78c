"""``Store.rewind`` after a reorg the follower found on an in-memory L1: batches, rejections and
challenge receipts of the replaced blocks are undone, and a batch mined again comes back with its
new block (same record, same challenge journal)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fakes.l1 import FakeChain, Reject, Submit
from tests.unit.test_follower import data, follow
from watchtower.follow.scanner import Follower
from watchtower.rollup.types import VerdictKind
from watchtower.store.db import BatchRow, BatchStatus, ChallengeState, Store, SubmissionRow


@pytest.fixture
def chain() -> FakeChain:
    return FakeChain()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.sqlite")


def by_idx(store: Store) -> dict[int, BatchRow]:
    return {r.idx: r for r in store.batches() if r.status is not BatchStatus.REMOVED}


def send(store: Store, row: BatchRow, tx: bytes, nonce: int, *, mined_at: int | None) -> None:
    """A challenge transaction of ours, recorded as the journal does (and its receipt)."""
    store.record_submission(
        SubmissionRow(
            tx, row.id, nonce, 10**9, 10**8, b"raw" + tx, time.time(), "sent", None, None, "commit"
        )
    )
    if mined_at is not None:
        store.mark_submission(tx, "mined", mined_at, 50_000)


def rewind(chain: FakeChain, store: Store, follower: Follower) -> list[int]:
    reorg = follower.find_reorg(store.recent_blocks())
    assert reorg is not None
    return [r.idx for r in store.rewind(reorg)]


def test_batches_of_replaced_blocks_are_removed_and_come_back_with_their_new_block(
    chain: FakeChain, store: Store
) -> None:
    fraud = Submit(data(1))
    chain.mine(Submit(data(0)))
    chain.mine(fraud)
    chain.mine(Submit(data(2)))
    follower = Follower([chain.endpoint()])
    follow(follower, store)
    before = by_idx(store)[1]
    store.set_verdict(before.id, VerdictKind.FRAUD, fraud_step=0)
    store.open_challenge(before.id, 0, 10**18)
    send(store, before, b"\xc1" * 32, 7, mined_at=3)  # our commit, mined in block 3

    chain.reorg(2, [], [fraud])  # batch 1 mined again one block later; batch 2 gone
    assert rewind(chain, store, follower) == [1, 2]
    assert list(by_idx(store)) == [0]
    (sub,) = store.submissions(before.id)
    assert (sub.state, sub.l1_block, sub.gas_used) == ("sent", None, None)  # receipt undone
    assert sub.raw == b"raw" + b"\xc1" * 32 and sub.nonce == 7  # re-broadcast as it was

    follow(follower, store)
    after = by_idx(store)[1]
    assert (after.id, after.l1_block, after.status) == (before.id, 3, BatchStatus.PENDING)
    assert after.l1_block_hash != before.l1_block_hash
    assert after.verdict is None  # replayed again on the new chain
    assert store.challenge(before.id) is not None  # the journal goes on: never a second stake
    assert 2 not in by_idx(store)


def test_a_rejection_in_a_replaced_block_is_undone(chain: FakeChain, store: Store) -> None:
    chain.mine(Submit(data(0)))
    chain.mine(Submit(data(1)), Submit(data(2)))
    chain.mine(Submit(data(3)))
    chain.mine(Reject(1, 3))  # someone else's proof
    follower = Follower([chain.endpoint()])
    follow(follower, store)
    rows = by_idx(store)
    assert [rows[i].status for i in range(4)] == [BatchStatus.PENDING] + [BatchStatus.REJECTED] * 3
    # Batch 1: we had nothing sent (already_rejected, forgotten on a rewind); batch 2: our commit
    # was sent before the rejection (the journal goes on, sent again).
    for index in (1, 2):
        store.set_verdict(rows[index].id, VerdictKind.FRAUD, fraud_step=0)
        store.open_challenge(rows[index].id, 0, 10**18)
    send(store, rows[2], b"\xc2" * 32, 3, mined_at=2)
    for index in (1, 2):
        store.update_challenge(rows[index].id, ChallengeState.ALREADY_REJECTED, "by another")

    chain.reorg(1)  # the block with the rejection is gone
    assert rewind(chain, store, follower) == []  # no batch was logged there
    rows = by_idx(store)
    assert [rows[i].status for i in range(4)] == [BatchStatus.PENDING] * 4
    assert store.challenge(rows[1].id) is None
    challenge = store.challenge(rows[2].id)
    assert challenge is not None and challenge.state is ChallengeState.SENT
    (sub,) = store.submissions(rows[2].id)
    assert sub.l1_block == 2  # mined in a block that stays: its receipt stands


def test_a_challenge_that_succeeded_in_a_replaced_block_is_sent_again(
    chain: FakeChain, store: Store
) -> None:
    chain.mine(Submit(data(0)))
    chain.mine(Submit(data(1)))
    chain.mine(Reject(1, 1))  # our reveal rejected it
    follower = Follower([chain.endpoint()])
    follow(follower, store)
    row = by_idx(store)[1]
    store.set_verdict(row.id, VerdictKind.FRAUD, fraud_step=0)
    store.open_challenge(row.id, 0, 10**18)
    send(store, row, b"\xc0" * 32, 1, mined_at=2)
    send(store, row, b"\xde" * 32, 2, mined_at=3)
    store.update_challenge(row.id, ChallengeState.SUCCEEDED, "rejected")

    chain.reorg(1)
    assert rewind(chain, store, follower) == []
    assert by_idx(store)[1].status is BatchStatus.PENDING
    challenge = store.challenge(row.id)
    assert challenge is not None
    assert (challenge.state, challenge.detail) == (ChallengeState.SENT, "mined in a reorged block")
    commit, reveal = store.submissions(row.id)
    assert (commit.state, commit.l1_block) == ("mined", 2)  # its block stays
    assert (reveal.state, reveal.l1_block) == ("sent", None)
    assert store.next_block(0) == 3

    chain.mine(Reject(1, 1))  # the same reveal mined again
    follow(follower, store)
    assert by_idx(store)[1].status is BatchStatus.REJECTED
