"""Unreadable batches without a chain: the store's record of them, where verification halts, and
how the scanner judges what an endpoint returns (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchtower.follow.scanner import Commitment, Reading
from watchtower.rollup.calldata import CalldataError, encode_submit_batch_calldata
from watchtower.rollup.codec import encode_batch, steps_root
from watchtower.rollup.types import Step, VerdictKind
from watchtower.store.db import BatchRow, BatchStatus, Rejection, Store, verification_halt

ROOT0, ROOT1, ROOT2 = b"\x10" * 32, b"\x11" * 32, b"\x12" * 32
STEPS = (Step(b"\x01tx", ROOT1), Step(b"", ROOT2))
DATA = encode_batch(1, ROOT0, STEPS)


def row(idx: int, tx: int, *, verdict: str | None = None, reason: str = "", data: bytes = DATA,
        l1_block: int = 10) -> BatchRow:  # fmt: skip
    return BatchRow(
        id=0, idx=idx, tx_hash=bytes([tx]) * 32, l1_block=l1_block + idx,
        l1_block_hash=bytes([tx]) * 32, log_index=0, prev_root=ROOT0, final_root=ROOT2,
        steps_root=steps_root(STEPS), count=2, coinbase=b"\xcb" * 20, timestamp=1,
        deadline=100, status=BatchStatus.PENDING,
        verdict=None if verdict is None else VerdictKind(verdict), fraud_step=None,
        claimed_root=None, computed_root=None, reason=reason, data=data,
    )  # fmt: skip


def test_an_unreadable_batch_is_recorded_with_its_reason_and_evidence(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        bad = row(1, 0xB1, verdict="unreadable", reason="calldata does not decode", data=b"raw")
        store.record_scan(12, [], [row(0, 0xA0), bad, row(2, 0xC2)], [])
        stored = [(r.idx, r.verdict, r.reason, r.data) for r in store.batches()]
        assert stored == [
            (0, None, "", DATA),
            (1, "unreadable", "calldata does not decode", b"raw"),
            (2, None, "", DATA),
        ]
        store.record_scan(12, [], [bad], [])  # the same range again (after a crash): no change
        assert len(store.batches()) == 3


def test_verification_halts_at_the_first_unreadable_or_undecidable_batch(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.record_scan(
            20,
            [],
            [
                row(0, 0xA0),
                row(1, 0xB1, verdict="unreadable", reason="no"),
                row(2, 0xC2),
                row(3, 0xD3),
            ],
            [],
        )
        first, _, *later = store.batches()
        store.set_verdict(first.id, VerdictKind.VALID)
        halt = verification_halt(store.batches())
        assert halt is not None
        assert (halt.batch.idx, [r.idx for r in halt.waiting]) == (1, [2, 3])
        assert halt.reason == "unreadable: no"
        for waiting in later:
            store.set_verdict(waiting.id, VerdictKind.SKIPPED, reason="builds on batch 1")
        # Rejected on chain (someone else proved it): nothing is halted any more.
        store.record_scan(30, [], [], [Rejection(1, 3, 25, 0, b"\xee" * 32)])
        assert verification_halt(store.batches()) is None
        assert [r.status for r in store.batches()][1:] == [BatchStatus.REJECTED] * 3
        # A new batch at index 1 that is undecidable halts it again.
        store.record_scan(40, [], [row(1, 0xE1, l1_block=30)], [])
        (new,) = [r for r in store.batches() if r.tx_hash == b"\xe1" * 32]
        store.set_verdict(new.id, VerdictKind.UNDECIDABLE, reason="expected batch 2 next")
        halt = verification_halt(store.batches())
        assert halt is not None and halt.batch.id == new.id and halt.waiting == ()


def test_a_fraudulent_batch_halts_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.record_scan(
            20, [], [row(0, 0xA0, verdict="fraud"), row(1, 0xB1, verdict="unreadable")], []
        )
        assert verification_halt(store.batches()) is None


def test_mark_readable_clears_only_an_unreadable_verdict(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.record_scan(
            20, [], [row(0, 0xA0, verdict="unreadable", reason="x", data=b""), row(1, 0xB1)], []
        )
        bad, good = store.batches()
        store.set_verdict(good.id, VerdictKind.VALID)
        store.mark_readable(bad.id, DATA)
        store.mark_readable(good.id, b"other")
        bad, good = store.batches()
        assert (bad.verdict, bad.reason, bad.data) == (None, "", DATA)
        assert (good.verdict, good.data) == ("valid", DATA)


def test_a_removed_unreadable_batch_mined_again_is_read_afresh(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.record_scan(20, [(11, b"\x01" * 32)], [row(1, 0xB1, verdict="unreadable")], [])
        store.rewind(11)
        store.record_scan(21, [], [row(1, 0xB1, l1_block=19)], [])  # readable this time
        (again,) = store.batches()
        assert (again.status, again.verdict, again.l1_block) == (BatchStatus.PENDING, None, 20)


# -- what the scanner makes of an endpoint's answer ---------------------------------------------
COMMITMENT = Commitment(1, ROOT0, 2, ROOT2, steps_root(STEPS))


class FakeClient:
    def __init__(self, calldata: bytes) -> None:
        self.calldata = calldata

    def batch_calldata(self, tx_hash: bytes) -> bytes:
        from watchtower.rollup.calldata import decode_submit_batch_calldata

        return decode_submit_batch_calldata(self.calldata)


def read(calldata: bytes) -> Reading:
    return Reading.of(FakeClient(calldata), b"\x00" * 32, COMMITMENT)  # type: ignore[arg-type]


def test_a_batch_is_readable_only_if_it_decodes_and_matches_its_commitment() -> None:
    good = read(encode_submit_batch_calldata(DATA))
    assert good == Reading(DATA, None)
    padded = encode_submit_batch_calldata(DATA)
    assert read(padded[: 4 + 64 + len(DATA)] + b"\xff") == good  # short, non-zero padding

    broken_abi = encode_submit_batch_calldata(DATA)[:-40]
    bad = read(broken_abi)
    assert bad.data == broken_abi and bad.problem is not None
    assert bad.problem.startswith("calldata does not decode: payload of")

    malformed = read(encode_submit_batch_calldata(DATA + b"\x00"))
    assert malformed.problem is not None and "do not decode" in malformed.problem

    other = encode_batch(1, ROOT0, (Step(b"\x02tx", ROOT1), Step(b"", ROOT2)))
    mismatch = read(encode_submit_batch_calldata(other))
    assert mismatch.problem == "batch bytes do not match the commitment the contract emitted"
    for field in ("index", "prev_root", "count", "final_root", "steps_root"):
        changed = dict(COMMITMENT.__dict__)
        changed[field] = 7 if field in ("index", "count") else b"\x99" * 32
        assert Commitment(**changed).problem(DATA) is not None, field


def test_two_readings_are_the_same_only_if_equally_readable_and_equal() -> None:
    good = Reading(DATA, None)
    assert good.same_as(Reading(DATA, None))
    assert not good.same_as(Reading(DATA + b"x", None))
    assert not good.same_as(Reading(DATA, "does not match"))
    assert Reading(b"raw", "a").same_as(Reading(b"raw", "b"))


def test_calldata_error_keeps_the_raw_input() -> None:
    with pytest.raises(CalldataError) as info:
        FakeClient(b"\x01\x02").batch_calldata(b"")
    assert info.value.calldata == b"\x01\x02"


def test_a_transaction_the_endpoint_cannot_find_is_unreadable_for_now() -> None:
    from watchtower.l1.reader import TransactionUnavailableError

    class Missing:
        label = "node:8545"

        def batch_calldata(self, tx_hash: bytes) -> bytes:
            raise TransactionUnavailableError("not found")

    reading = Reading.of(Missing(), b"\x00" * 32, COMMITMENT)  # type: ignore[arg-type]
    assert reading == Reading(b"", "transaction not found on node:8545")


def test_a_rollup_log_that_does_not_decode_is_the_endpoints_fault() -> None:
    from watchtower.l1.reader import DisagreementError, _decode_log

    class Event:
        def __init__(self) -> None:
            self.abi = {"name": "BatchSubmitted"}

        def process_log(self, log: object) -> object:
            raise ValueError("insufficient data\nbytes")

    with pytest.raises(DisagreementError, match="log 3 of block 9 does not decode as Batch") as e:
        _decode_log(Event(), {"logIndex": 3, "blockNumber": 9})
    assert "\n" not in str(e.value)


def test_unreadable_batches_are_the_live_ones(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.record_scan(
            20,
            [],
            [row(0, 0xA0, verdict="unreadable"), row(1, 0xB1), row(2, 0xC2, verdict="unreadable")],
            [Rejection(2, 2, 15, 0, b"\xee" * 32)],
        )
        assert [r.idx for r in store.unreadable_batches()] == [0]
