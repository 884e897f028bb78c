"""The follower over an in-memory L1 (tests/fakes/l1.py): what it reads, what it returns, and
what the store makes of it. Milliseconds each; the anvil tests (tests/integration) are the
end-to-end layer for the same behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.l1 import FakeChain, Reject, Submit
from watchtower.follow.scanner import (
    DisagreementError,
    EndpointBehindError,
    Follower,
    ScanOutcome,
)
from watchtower.l1.reader import L1Reader, LogRangeTooLargeError, TransactionUnavailableError
from watchtower.rollup.calldata import encode_submit_batch_calldata
from watchtower.rollup.codec import encode_batch
from watchtower.rollup.types import Step
from watchtower.store.db import BatchStatus, Store


def root(n: int) -> bytes:
    return bytes([n + 1]) * 32


def data(index: int, tag: bytes = b"") -> bytes:
    """Batch bytes of batch ``index`` (one step; ``tag`` makes another batch of that index)."""
    return encode_batch(index, root(index), (Step(b"\x01tx" + tag, root(index + 1)),))


def persist(store: Store, outcome: ScanOutcome) -> None:
    """What the service does with an outcome (after its alerts)."""
    store.record_scan(outcome.next_block, outcome.blocks, outcome.batches, outcome.rejections)


def follow(follower: Follower, store: Store, to_block: int | None = None) -> list[ScanOutcome]:
    """Scan to ``to_block`` (default: the common head) and record every range."""
    outcomes = []
    while (outcome := follower.scan(store.next_block(0), to_block)) is not None:
        persist(store, outcome)
        outcomes.append(outcome)
    return outcomes


def live(store: Store) -> list[tuple[int, int, str]]:
    return [(r.idx, r.l1_block, r.status.value) for r in store.batches()]


@pytest.fixture
def chain() -> FakeChain:
    return FakeChain()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.sqlite")


def test_the_fake_is_an_l1_reader(chain: FakeChain) -> None:
    reader: L1Reader = chain.endpoint()  # mypy checks the protocol here
    assert reader.head() == 0


def test_a_range_is_scanned_and_recorded(chain: FakeChain, store: Store) -> None:
    chain.mine(Submit(data(0)))
    chain.mine()
    chain.mine(Submit(data(1)), Submit(data(2)))
    chain.mine(Reject(2, 2))
    follower = Follower([chain.endpoint()])

    outcome = follower.scan(0)
    assert outcome is not None
    assert (outcome.scanned_from, outcome.scanned_to, outcome.next_block) == (0, 4, 5)
    assert [(b.idx, b.l1_block, b.log_index, b.verdict) for b in outcome.batches] == [
        (0, 1, 0, None),
        (1, 3, 0, None),
        (2, 3, 1, None),
    ]
    assert outcome.batches[1].data == data(1)
    assert [(r.first, r.last, r.l1_block) for r in outcome.rejections] == [(2, 2, 4)]
    assert [n for n, _ in outcome.blocks] == [1, 3, 4]  # blocks with logs, and the last one
    assert store.batches() == []  # the follower records nothing

    persist(store, outcome)
    assert live(store) == [(0, 1, "pending"), (1, 3, "pending"), (2, 3, "rejected")]
    assert store.next_block(0) == 5
    assert follower.scan(5) is None  # up to date


def test_a_scan_covers_at_most_a_chunk(chain: FakeChain, store: Store) -> None:
    for index in range(5):
        chain.mine(Submit(data(index)))
    follower = Follower([chain.endpoint()], chunk=2)
    outcomes = follow(follower, store)
    assert [(o.scanned_from, o.scanned_to) for o in outcomes] == [(0, 1), (2, 3), (4, 5)]
    assert [r.idx for r in store.batches()] == [0, 1, 2, 3, 4]


def test_a_reorg_is_found_by_the_stored_hashes_and_rewound(chain: FakeChain, store: Store) -> None:
    chain.mine(Submit(data(0)))
    chain.mine(Submit(data(1)))
    chain.mine(Submit(data(2)))
    chain.mine()
    follower = Follower([chain.endpoint()])
    follow(follower, store)
    assert follower.find_reorg(store.recent_blocks()) is None

    # Blocks 3 and 4 replaced: batch 2 mined again one block later, another batch 3 with it.
    chain.reorg(2, [], [Submit(data(2)), Submit(data(3))])
    reorg = follower.find_reorg(store.recent_blocks())
    assert reorg == 3
    removed = store.rewind(reorg)
    assert [r.idx for r in removed] == [2]
    assert live(store) == [(0, 1, "pending"), (1, 2, "pending"), (2, 3, "removed")]

    follow(follower, store)
    assert live(store) == [(0, 1, "pending"), (1, 2, "pending"), (2, 4, "pending"),
                           (3, 4, "pending")]  # fmt: skip
    assert follower.find_reorg(store.recent_blocks()) is None


def test_a_reorg_while_stopped_is_found_after_a_restart(chain: FakeChain, tmp_path: Path) -> None:
    chain.mine(Submit(data(0)))
    chain.mine(Submit(data(1)))
    chain.mine_empty(3)
    with Store(tmp_path / "s.sqlite") as store:
        follow(Follower([chain.endpoint()]), store)

    chain.reorg(4, [Submit(data(1, b"other"))])  # while no watchtower runs

    with Store(tmp_path / "s.sqlite") as store:
        follower = Follower([chain.endpoint()])  # a new process: only the store remembers
        reorg = follower.find_reorg(store.recent_blocks())
        assert reorg == 2
        assert [r.idx for r in store.rewind(reorg)] == [1]
        follow(follower, store)
        (_first, old, new) = store.batches()
        assert (old.status, new.status) == (BatchStatus.REMOVED, BatchStatus.PENDING)
        assert new.data == data(1, b"other") and new.l1_block == 2


def test_a_reorg_of_the_whole_window_rewinds_over_it(chain: FakeChain, store: Store) -> None:
    chain.mine(Submit(data(0)))
    chain.mine_empty(2)
    follower = Follower([chain.endpoint()])
    follow(follower, store)
    chain.reorg(3, [], [], [Submit(data(0))])
    assert follower.find_reorg(store.recent_blocks()) == 1  # the oldest stored block


def test_a_range_the_node_refuses_is_halved_without_losing_batches(
    chain: FakeChain, store: Store
) -> None:
    for index in range(10):
        chain.mine(Submit(data(index)))
    chain.mine(Reject(9, 9))
    l1 = chain.endpoint()
    l1.max_range = 3
    follower = Follower([l1], chunk=100)
    outcomes = follow(follower, store)
    assert follower.chunk <= 3
    assert all(o.scanned_to - o.scanned_from < 3 for o in outcomes)
    assert [o.scanned_from for o in outcomes] == sorted({o.scanned_from for o in outcomes})
    assert store.next_block(0) == chain.head + 1
    assert [r.idx for r in store.batches()] == list(range(10))
    assert store.batches()[9].status is BatchStatus.REJECTED


def test_a_single_block_the_node_refuses_is_an_error(chain: FakeChain) -> None:
    chain.mine(Submit(data(0)))
    l1 = chain.endpoint()
    l1.max_range = 1

    def refuse(first: int, last: int) -> list[object]:
        raise LogRangeTooLargeError(first, last, "response size exceeded")

    l1.rollup_logs = refuse  # type: ignore[assignment,method-assign]
    with pytest.raises(LogRangeTooLargeError):
        Follower([l1], chunk=1).scan(1)


def test_a_lagging_endpoint_is_waited_for_and_reorgs_are_asked_of_the_primary(
    chain: FakeChain, store: Store
) -> None:
    for index in range(6):
        chain.mine(Submit(data(index)))
    primary, second = chain.endpoint("a:1"), chain.endpoint("b:2")
    second.lag = 3
    follower = Follower([primary, second])
    assert follower.head() == 3
    follow(follower, store)
    assert store.next_block(0) == 4 and [r.idx for r in store.batches()] == [0, 1, 2]

    second.lag = 5  # falls further behind: what is stored is still canonical on the primary
    second.calls.clear()
    assert follower.find_reorg(store.recent_blocks()) is None
    assert "block_hash" not in second.calls

    second.lag = 0
    follow(follower, store)
    assert [r.idx for r in store.batches()] == [0, 1, 2, 3, 4, 5]


def test_an_endpoint_without_a_block_the_primary_served_is_behind(chain: FakeChain) -> None:
    chain.mine(Submit(data(0)))
    primary, second = chain.endpoint("a:1"), chain.endpoint("b:2")
    follower = Follower([primary, second])
    second.lag = 1  # after the common head was read
    with pytest.raises(EndpointBehindError, match=r"block 1: not yet on b:2"):
        follower.scan(0, to_block=1)


def test_endpoints_disagreeing_on_a_block_hash_record_nothing(
    chain: FakeChain, store: Store
) -> None:
    chain.mine(Submit(data(0)))
    chain.mine(Submit(data(1)))
    primary, liar = chain.endpoint("a:1"), chain.endpoint("b:2")
    liar.hashes[2] = b"\xee" * 32
    follower = Follower([primary, liar])
    with pytest.raises(DisagreementError, match=r"block 2: a:1 has 0x.*, b:2 has 0xeeee"):
        follow(follower, store)
    assert store.batches() == [] and store.next_block(0) == 0 and store.recent_blocks() == []


def test_endpoints_disagreeing_on_calldata_record_nothing(chain: FakeChain, store: Store) -> None:
    chain.mine(Submit(data(0)))
    tx = Submit(data(1))
    chain.mine(tx)
    primary, liar = chain.endpoint("a:1"), chain.endpoint("b:2")
    liar.calldata[tx.tx_hash] = encode_submit_batch_calldata(data(1, b"forged"))
    with pytest.raises(DisagreementError, match=r"batch 1 tx 0x.*calldata differs.*a:1 and b:2"):
        follow(Follower([primary, liar]), store)
    assert store.batches() == [] and store.next_block(0) == 0

    # Both unreadable the same way: that is an unreadable batch, not a disagreement.
    primary.calldata[tx.tx_hash] = liar.calldata[tx.tx_hash]
    follow(Follower([primary, liar]), store)
    assert [(r.idx, r.verdict) for r in store.batches()] == [(0, None), (1, "unreadable")]


def test_an_unreadable_batch_does_not_stop_the_scan(chain: FakeChain, store: Store) -> None:
    broken = Submit(data(1), calldata=encode_submit_batch_calldata(data(1))[:-40])
    mismatch = Submit(data(2), commitment={"final_root": b"\x99" * 32})
    chain.mine(Submit(data(0)), broken)
    chain.mine(mismatch, Submit(data(3)))
    chain.mine(Reject(3, 3))
    outcome = Follower([chain.endpoint()]).scan(0)
    assert outcome is not None
    assert [(r.idx, r.verdict) for r in outcome.unreadable] == [(1, "unreadable"),
                                                               (2, "unreadable")]  # fmt: skip
    persist(store, outcome)
    rows = {r.idx: r for r in store.batches()}
    assert rows[1].reason.startswith("calldata does not decode")
    assert rows[1].data == broken.input  # the raw input, as evidence
    assert rows[2].reason == "batch bytes do not match the commitment the contract emitted"
    assert (rows[0].verdict, rows[0].status) == (None, BatchStatus.PENDING)
    assert (rows[3].verdict, rows[3].status) == (None, BatchStatus.REJECTED)
    assert store.next_block(0) == 4


def test_a_transaction_the_endpoint_does_not_return_is_unreadable_for_now(
    chain: FakeChain, store: Store
) -> None:
    tx = Submit(data(0))
    chain.mine(tx)
    l1 = chain.endpoint("node:8545")
    l1.missing.add(tx.tx_hash)
    follower = Follower([l1])
    follow(follower, store)
    (row,) = store.unreadable_batches()
    assert row.reason == "transaction not found on node:8545"

    assert list(follower.reread(store.unreadable_batches())) == []  # still missing
    l1.missing.clear()
    ((again, batch_bytes),) = follower.reread(store.unreadable_batches())
    assert (again.id, batch_bytes) == (row.id, data(0))


def test_a_reread_the_endpoints_disagree_on_stops_there(chain: FakeChain, store: Store) -> None:
    first, second = Submit(data(0)), Submit(data(1))
    chain.mine(first, second)
    primary, other = chain.endpoint("a:1"), chain.endpoint("b:2")
    for endpoint in (primary, other):
        endpoint.missing |= {first.tx_hash, second.tx_hash}
    follower = Follower([primary, other])
    follow(follower, store)
    assert len(store.unreadable_batches()) == 2

    primary.missing.clear()
    other.missing = {second.tx_hash}
    rereading = follower.reread(store.unreadable_batches())
    row, _ = next(rereading)
    assert row.idx == 0  # readable the same on both: the service marks it before going on
    with pytest.raises(DisagreementError, match=r"batch 1 .*calldata differs between a:1 and b:2"):
        next(rereading)


def test_transport_errors_propagate(chain: FakeChain) -> None:
    l1 = chain.endpoint()
    l1.fail = OSError("connection reset")
    with pytest.raises(OSError, match=r"connection reset"):
        Follower([l1]).scan(0)


def test_confirmations_as_a_number_or_a_tag(chain: FakeChain) -> None:
    chain.mine_empty(100)
    primary, second = chain.endpoint(), chain.endpoint()
    second.lag = 10
    follower = Follower([primary, second])
    assert follower.confirmed_head(2) == 88  # below the common head
    assert follower.confirmed_head("finalized") == 36  # the primary's tag


def test_the_web3_reader_names_a_missing_transaction_by_host_and_port() -> None:
    from types import SimpleNamespace

    from web3.exceptions import TransactionNotFound

    from watchtower.l1.reader import Web3L1Reader

    class Client:
        w3 = SimpleNamespace(provider=SimpleNamespace(endpoint_uri="https://node:8545/APIKEY"))
        contract = SimpleNamespace(
            events=SimpleNamespace(
                BatchSubmitted=lambda: SimpleNamespace(abi={"name": "Sub", "inputs": []}),
                BatchesRejected=lambda: SimpleNamespace(abi={"name": "Rej", "inputs": []}),
            )
        )

        def batch_calldata(self, tx_hash: bytes) -> bytes:
            raise TransactionNotFound("not found")

    reader = Web3L1Reader(Client())  # type: ignore[arg-type]
    assert reader.label == "node:8545"
    with pytest.raises(TransactionUnavailableError, match=r"not found on node:8545$"):
        reader.batch_calldata(b"\x01" * 32)


def test_with_a_quorum_an_endpoint_down_is_left_out_of_the_tick(
    chain: FakeChain, store: Store
) -> None:
    """l1.quorum per tick: with quorum 2 of three endpoints, one failing is left out (named in
    ``missing``) and the other two are still cross-checked; two failing, or the primary, or any
    one without a quorum, fail the tick as before."""
    from tests.fakes.l1 import TransportError

    for index in range(3):
        chain.mine(Submit(data(index)))
    primary, second, third = chain.endpoint("a:1"), chain.endpoint("b:2"), chain.endpoint("c:3")
    follower = Follower([primary, second, third], quorum=2)
    third.fail = TransportError("connection refused")
    follow(follower, store)
    assert follower.missing == ["c:3"] and [r.idx for r in store.batches()] == [0, 1, 2]
    assert "block_hash" in second.calls  # still cross-checked

    chain.mine(Submit(data(3)))
    second.lag = 0
    second.fail = TransportError("connection refused")
    with pytest.raises(TransportError):  # one answering: below the quorum
        follow(follower, store)
    second.fail = third.fail = None
    follow(follower, store)
    assert follower.missing == [] and [r.idx for r in store.batches()] == [0, 1, 2, 3]

    third.fail = TransportError("connection refused")
    with pytest.raises(TransportError):  # without a quorum: every endpoint must answer
        follow(Follower([primary, second, third]), store)
    primary.fail = TransportError("connection refused")
    third.fail = None
    with pytest.raises(TransportError):  # the primary is never left out
        follow(Follower([primary, second, third], quorum=1), store)
