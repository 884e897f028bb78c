"""Every decision of the challenge journal (watchtower.submit.decide), in milliseconds: no chain,
no clock, no database; frozen records and one observation in, one decision out."""

from __future__ import annotations

import dataclasses

import pytest

from watchtower.submit.decide import (
    COMMIT,
    REVEAL,
    Bump,
    ChainView,
    Done,
    End,
    FeePolicy,
    Fees,
    Outcome,
    Rebroadcast,
    Receipt,
    Record,
    Retry,
    SendCommit,
    SendReveal,
    Sent,
    Simulate,
    TargetState,
    Wait,
    backoff,
    bumped_fees,
    classify,
    decide,
)

POLICY = FeePolicy(bump_after=10.0, urgent_window=3600, max_fee_cap=100 * 10**9)
NOW = 1_000_000.0
DEADLINE = 2_000_000
NO_COMMITMENT = "Rollup: no commitment for this challenge"
TOO_RECENT = "Rollup: commitment must be in an earlier block"
GWEI = 10**9

RECORD = Record(batch_id=1, batch=3, step=2, stake=10**18, deadline=DEADLINE, salt=b"\x01" * 32)
VIEW = ChainView(
    l1_time=int(NOW),
    head=100,
    confirmed_nonce=5,
    simulation=NO_COMMITMENT,
    simulated=True,
    base_fee=10 * GWEI,
    tip=GWEI,
)


def tx(n: int, action: str, nonce: int, max_fee: int = 21 * GWEI, sent_at: float = NOW) -> Sent:
    return Sent(bytes([n]) * 32, action, nonce, max_fee, GWEI, sent_at)


def view(**changes: object) -> ChainView:
    return dataclasses.replace(VIEW, **changes)  # type: ignore[arg-type]


def record(**changes: object) -> Record:
    return dataclasses.replace(RECORD, **changes)  # type: ignore[arg-type]


# -- before anything is sent ------------------------------------------------------------------
def test_a_commit_is_due_when_the_reveal_fails_only_for_want_of_a_commitment() -> None:
    decision = decide(RECORD, [], VIEW, NOW, POLICY)
    assert decision == SendCommit(Fees(21 * GWEI, GWEI), fresh_nonce=True)


def test_no_fraud_in_the_pre_flight_is_a_definite_failure() -> None:
    decision = decide(
        RECORD, [], view(simulation="Rollup: no fraud: the claimed root is correct"), NOW, POLICY
    )
    assert isinstance(decision, Done) and decision.end is End.NO_FRAUD


@pytest.mark.parametrize(
    "simulation",
    [
        "429 Client Error: Too Many Requests",  # an RPC error read as a revert
        "MPT: bad node",  # not understood: maybe a reorg under the proof
        "Rollup: stake below minStake",  # a configuration a human can fix
        "Rollup: batch is not pending",  # while the batch reads as pending: two heads
    ],
)
def test_anything_else_in_the_pre_flight_is_retried_with_a_growing_wait(simulation: str) -> None:
    first = decide(RECORD, [], view(simulation=simulation), NOW, POLICY)
    later = decide(record(attempts=4), [], view(simulation=simulation), NOW, POLICY)
    assert isinstance(first, Retry) and isinstance(later, Retry)
    assert (first.delay, later.delay) == (1.0, 16.0)


def test_a_failed_observation_is_retried_never_an_answer() -> None:
    decision = decide(record(attempts=2), [], ChainView(error="ReadTimeout"), NOW, POLICY)
    assert decision == Retry("observation failed: ReadTimeout", 4.0)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n, POLICY) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_the_eth_call_is_asked_for_only_when_something_is_to_be_sent() -> None:
    unsimulated = view(simulation=None, simulated=False)
    assert decide(RECORD, [], unsimulated, NOW, POLICY) == Simulate()
    in_flight = [tx(1, COMMIT, 5, sent_at=NOW - 3)]
    decision = decide(record(commit_nonce=5), in_flight, unsimulated, NOW, POLICY)
    assert decision == Rebroadcast(in_flight[0].tx_hash)


# -- the commit in flight ---------------------------------------------------------------------
def test_a_commit_in_flight_is_rebroadcast_until_a_bump_is_due() -> None:
    sent = [tx(1, COMMIT, 5, sent_at=NOW - 3)]
    assert decide(record(commit_nonce=5), sent, VIEW, NOW, POLICY) == Rebroadcast(sent[0].tx_hash)


def test_a_bump_far_from_the_deadline_raises_both_fees_by_an_eighth() -> None:
    sent = [tx(1, COMMIT, 5, max_fee=16 * GWEI, sent_at=NOW - 11)]
    decision = decide(record(commit_nonce=5), sent, VIEW, NOW, POLICY)
    assert decision == Bump(COMMIT, 5, Fees(18 * GWEI + 1, GWEI * 9 // 8 + 1), False, False)


def test_a_bump_in_the_last_hour_doubles_the_fees() -> None:
    sent = [tx(1, COMMIT, 5, max_fee=16 * GWEI, sent_at=NOW - 11)]
    late = view(l1_time=DEADLINE - 1800)
    decision = decide(record(commit_nonce=5), sent, late, NOW, POLICY)
    assert decision == Bump(COMMIT, 5, Fees(32 * GWEI + 1, 2 * GWEI + 1), True, False)


def test_the_fee_cap_limits_a_bump_then_stops_them() -> None:
    near = [tx(1, COMMIT, 5, max_fee=90 * GWEI, sent_at=NOW - 11)]
    decision = decide(record(commit_nonce=5), near, VIEW, NOW, POLICY)
    assert isinstance(decision, Bump) and decision.capped and decision.fees.max_fee == 100 * GWEI
    at_cap = [tx(1, COMMIT, 5, max_fee=100 * GWEI, sent_at=NOW - 11)]
    decision = decide(record(commit_nonce=5), at_cap, VIEW, NOW, POLICY)
    assert isinstance(decision, Wait) and decision.fee_cap_reached
    assert bumped_fees(at_cap[0], False, POLICY) is None


def test_a_nonce_taken_by_another_transaction_gets_a_fresh_one() -> None:
    """The chain's nonce passed ours and none of our transactions for it has a receipt: another
    process or a human used it. Not success ("nonce too low" is not an answer): send again."""
    sent = [tx(1, COMMIT, 5, sent_at=NOW - 3)]
    decision = decide(record(commit_nonce=5), sent, view(confirmed_nonce=6), NOW, POLICY)
    assert decision == SendCommit(Fees(21 * GWEI, GWEI), fresh_nonce=True)


def test_a_nonce_allocated_but_never_signed_is_used_as_recorded() -> None:
    decision = decide(record(commit_nonce=5), [], VIEW, NOW, POLICY)
    assert decision == SendCommit(Fees(21 * GWEI, GWEI), fresh_nonce=False)


def test_a_reverted_commit_is_sent_again_with_a_fresh_nonce() -> None:
    sent = [tx(1, COMMIT, 5)]
    receipts = {sent[0].tx_hash: Receipt(0, 90, 30_000, "out of gas? used all of 30000")}
    decision = decide(
        record(commit_nonce=5), sent, view(receipts=receipts, confirmed_nonce=6), NOW, POLICY
    )
    assert decision == SendCommit(Fees(21 * GWEI, GWEI), fresh_nonce=True)


def test_a_mined_commit_missing_from_the_state_is_waited_for() -> None:
    sent = [tx(1, COMMIT, 5)]
    receipts = {sent[0].tx_hash: Receipt(1, 99, 45_867)}
    decision = decide(
        record(commit_nonce=5), sent, view(receipts=receipts, confirmed_nonce=6), NOW, POLICY
    )
    assert isinstance(decision, Wait)


# -- the reveal -------------------------------------------------------------------------------
def _committed(**changes: object) -> ChainView:
    base = view(confirmed_nonce=6, commitment_block=99, simulation=TOO_RECENT)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


COMMITTED = [tx(1, COMMIT, 5)]
COMMIT_RECEIPT = {COMMITTED[0].tx_hash: Receipt(1, 99, 45_867)}


def test_the_reveal_is_due_once_the_commitment_is_on_chain() -> None:
    """An eth_call in the commitment's own block says "earlier block": every other check passed,
    and the reveal can only land later."""
    for simulation in (TOO_RECENT, None):
        v = _committed(receipts=COMMIT_RECEIPT, simulation=simulation)
        decision = decide(record(commit_nonce=5), COMMITTED, v, NOW, POLICY)
        assert decision == SendReveal(Fees(21 * GWEI, GWEI), fresh_nonce=True)


def test_a_commitment_too_recent_for_the_reveal_depth_is_waited_for() -> None:
    deep = dataclasses.replace(POLICY, reveal_depth=2)
    v = _committed(receipts=COMMIT_RECEIPT, head=100)
    assert isinstance(decide(record(commit_nonce=5), COMMITTED, v, NOW, deep), Wait)
    v = _committed(receipts=COMMIT_RECEIPT, head=101)
    assert isinstance(decide(record(commit_nonce=5), COMMITTED, v, NOW, deep), SendReveal)


def test_a_reveal_in_flight_is_bumped_and_its_taken_nonce_replaced() -> None:
    sent = [*COMMITTED, tx(2, REVEAL, 6, max_fee=8 * GWEI, sent_at=NOW - 20)]
    rec = record(commit_nonce=5, reveal_nonce=6)
    decision = decide(rec, sent, _committed(receipts=COMMIT_RECEIPT), NOW, POLICY)
    assert decision == Bump(REVEAL, 6, Fees(9 * GWEI + 1, GWEI * 9 // 8 + 1), False, False)
    taken = _committed(receipts=COMMIT_RECEIPT, confirmed_nonce=7)
    assert decide(rec, sent, taken, NOW, POLICY) == SendReveal(Fees(21 * GWEI, GWEI), True)


def test_our_reveal_mined_is_success_whatever_else_is_seen() -> None:
    sent = [*COMMITTED, tx(2, REVEAL, 6)]
    receipts = {**COMMIT_RECEIPT, sent[1].tx_hash: Receipt(1, 100, 2_000_000)}
    rec = record(commit_nonce=5, reveal_nonce=6)
    for v in (
        _committed(receipts=receipts, commitment_block=None),
        _committed(receipts=receipts, batch=TargetState.GONE),
        _committed(receipts=receipts, l1_time=DEADLINE + 1),
    ):
        decision = decide(rec, sent, v, NOW, POLICY)
        assert isinstance(decision, Done) and decision.end is End.SUCCEEDED
        assert decision.tx_hash == sent[1].tx_hash


def test_a_batch_rejected_by_someone_else_ends_the_challenge() -> None:
    decision = decide(RECORD, [], view(batch=TargetState.GONE), NOW, POLICY)
    assert isinstance(decision, Done) and decision.end is End.ALREADY_REJECTED


def test_the_deadline_passing_ends_the_challenge() -> None:
    for v in (view(l1_time=DEADLINE + 1), view(batch=TargetState.FINALIZED)):
        decision = decide(RECORD, [], v, NOW, POLICY)
        assert isinstance(decision, Done) and decision.end is End.DEADLINE


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Rollup: no fraud: the claimed root is correct", End.NO_FRAUD),
        ("Rollup: challenge period over", End.DEADLINE),
    ],
)
def test_a_reveal_reverted_with_a_known_final_reason_ends_it(reason: str, expected: End) -> None:
    sent = [*COMMITTED, tx(2, REVEAL, 6)]
    receipts = {**COMMIT_RECEIPT, sent[1].tx_hash: Receipt(0, 100, 900_000, reason)}
    v = _committed(receipts=receipts, confirmed_nonce=7)
    decision = decide(record(commit_nonce=5, reveal_nonce=6), sent, v, NOW, POLICY)
    assert isinstance(decision, Done) and decision.end is expected


def test_a_reveal_reverted_for_its_commitment_is_sent_again_at_once() -> None:
    """Commit and reveal in one block after a reorg: the stake came back; reveal again."""
    sent = [*COMMITTED, tx(2, REVEAL, 6)]
    receipts = {**COMMIT_RECEIPT, sent[1].tx_hash: Receipt(0, 100, 900_000, TOO_RECENT)}
    v = _committed(receipts=receipts, confirmed_nonce=7)
    decision = decide(record(commit_nonce=5, reveal_nonce=6), sent, v, NOW, POLICY)
    assert decision == SendReveal(Fees(21 * GWEI, GWEI), fresh_nonce=True)


def test_a_reveal_reverted_for_an_unknown_reason_is_retried_after_a_wait() -> None:
    sent = [*COMMITTED, tx(2, REVEAL, 6, sent_at=NOW - 0.5)]
    receipts = {**COMMIT_RECEIPT, sent[1].tx_hash: Receipt(0, 100, 3_000_000, "out of gas?")}
    v = _committed(receipts=receipts, confirmed_nonce=7)
    rec = record(commit_nonce=5, reveal_nonce=6)
    decision = decide(rec, sent, v, NOW, POLICY)
    assert isinstance(decision, Retry) and decision.delay == pytest.approx(0.5)
    assert decide(rec, sent, v, NOW + 1, POLICY) == SendReveal(Fees(21 * GWEI, GWEI), True)


def test_a_commit_removed_by_a_reorg_is_rebroadcast_never_a_second_stake() -> None:
    """The receipt and the commitment are gone: the same signed commit goes out again (same
    nonce); no reveal is signed until the commitment is back."""
    sent = [*COMMITTED, tx(2, REVEAL, 6)]
    v = view(confirmed_nonce=5, simulation=NO_COMMITMENT)
    decision = decide(record(commit_nonce=5, reveal_nonce=6), sent, v, NOW, POLICY)
    assert decision == Rebroadcast(COMMITTED[0].tx_hash)


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (None, Outcome.OK),
        (NO_COMMITMENT, Outcome.NO_COMMITMENT),
        (TOO_RECENT, Outcome.TOO_RECENT),
        ("Rollup: no such pending batch", Outcome.NOT_PENDING),
        ("Rollup: batch is not pending", Outcome.NOT_PENDING),
        ("Rollup: challenge period over", Outcome.DEADLINE),
        ("Rollup: no fraud: the claimed root is correct", Outcome.NO_FRAUD),
        ("Rollup: bad step inclusion proof", Outcome.OTHER),
        ("too many requests", Outcome.OTHER),
    ],
)
def test_revert_reasons_are_classified(reason: str | None, outcome: Outcome) -> None:
    assert classify(reason) is outcome
