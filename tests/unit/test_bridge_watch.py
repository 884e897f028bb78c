"""The watchtower's bridge decisions (watchtower/follow/bridge.py, docs/protocol.md §8.8), pure:
deposit steps against the queue, overdue deposits by L1 time, claims against verified
withdrawals, conservation, the genesis backing, the challenge order, the status summary."""

from __future__ import annotations

from dataclasses import dataclass

from watchtower.follow.bridge import (
    BACKED,
    FORGED,
    bridge_summary,
    conservation,
    deposit_mismatches,
    genesis_shortfall,
    judge_claim,
    overdue_deposits,
)
from watchtower.rollup.bridge import Deposit, Withdrawal, encode_deposit
from watchtower.rollup.params import DEPOSIT_INCLUSION_DELAY
from watchtower.submit.priority import challenge_order

ALICE, BOB = b"\xa1" * 20, b"\xb0" * 20
T0 = 1_700_000_000
QUEUE = {
    0: Deposit(0, ALICE, ALICE, 5, T0, 10),
    1: Deposit(1, ALICE, BOB, 7, T0 + 12, 11),
    2: Deposit(2, BOB, BOB, 9, T0 + 24, 12),
}
TRANSFER = b"\x02" + b"\x00" * 40  # any step that is not a deposit


# -- deposit_mismatch -----------------------------------------------------------------------------
def test_deposit_steps_that_consume_the_queue_in_order_match() -> None:
    txs = [TRANSFER, encode_deposit(1, BOB, 7), TRANSFER, encode_deposit(2, BOB, 9)]
    assert deposit_mismatches(4, txs, QUEUE, consumed=1) == []
    assert deposit_mismatches(4, [TRANSFER], QUEUE, consumed=1) == []


def test_a_deposit_credited_wrongly_names_batch_step_expected_and_actual() -> None:
    (m,) = deposit_mismatches(4, [TRANSFER, encode_deposit(0, ALICE, 6)], QUEUE, consumed=0)
    assert (m.batch, m.step) == (4, 1)
    assert m.expected == f"deposit 0: 5 wei to 0x{ALICE.hex()}"
    assert m.actual == f"deposit 0: 6 wei to 0x{ALICE.hex()}"
    (m,) = deposit_mismatches(4, [encode_deposit(0, BOB, 5)], QUEUE, consumed=0)
    assert m.actual.endswith(BOB.hex())


def test_an_invented_a_skipped_and_a_malformed_deposit_step_are_mismatches() -> None:
    (invented,) = deposit_mismatches(0, [encode_deposit(3, ALICE, 1)], QUEUE, consumed=3)
    assert invented.expected == "deposit 3: not in the L1 queue" and invented.step == 0
    (skipped,) = deposit_mismatches(0, [encode_deposit(1, BOB, 7)], QUEUE, consumed=0)
    assert skipped.expected.startswith("deposit 0:") and skipped.actual.startswith("deposit 1:")
    (bad,) = deposit_mismatches(0, [b"\x7e\x00\x01"], QUEUE, consumed=0)
    assert "3 bytes" in bad.actual and bad.expected.startswith("deposit 0:")


# -- deposit_overdue ------------------------------------------------------------------------------
def test_a_deposit_is_overdue_only_after_the_inclusion_delay_by_l1_time() -> None:
    pending = [QUEUE[1], QUEUE[2]]
    last_ok = QUEUE[1].l1_timestamp + DEPOSIT_INCLUSION_DELAY
    assert overdue_deposits(pending, last_ok) == []
    assert overdue_deposits(pending, last_ok + 1) == [QUEUE[1]]
    assert overdue_deposits(pending, last_ok + 100) == [QUEUE[1], QUEUE[2]]
    assert overdue_deposits([], 10**12) == []


# -- withdrawal_forged ----------------------------------------------------------------------------
W = Withdrawal(3, 2, ALICE, 10**18)


def _judge(
    verdict: str,
    withdrawal: Withdrawal | None,
    *,
    account: bytes = ALICE,
    amount: int = 10**18,
    already: bool = False,
) -> tuple[str, str]:
    judged = judge_claim(
        3,
        2,
        account=account,
        amount=amount,
        verdict=verdict,
        withdrawal=withdrawal,
        already_backed=already,
    )
    return judged.verdict, judged.reason


def test_a_claim_of_a_verified_withdrawal_is_backed() -> None:
    assert _judge("valid", W) == (BACKED, "")


def test_claims_nothing_verified_backs_are_forged_and_say_why() -> None:
    assert _judge("fraud", None) == (FORGED, "batch 3 was judged fraud")
    assert _judge("unknown", None) == (FORGED, "batch 3 was never verified by this watchtower")
    assert _judge("skipped", None) == (FORGED, "batch 3 was judged skipped")
    assert _judge("valid", None) == (FORGED, "step 2 of batch 3 made no withdrawal in the replay")
    verdict, reason = _judge("valid", W, amount=10**18 + 1)
    assert verdict == FORGED and f"{10**18 + 1} wei" in reason
    assert _judge("valid", W, account=BOB)[0] == FORGED
    assert _judge("valid", W, already=True) == (
        FORGED,
        "withdrawal 2 of batch 3 was already claimed",
    )


# -- conservation ---------------------------------------------------------------------------------
def test_conservation_holds_with_fees_burned_and_pending_deposits() -> None:
    check = conservation(bridge_balance=100, l2_supply=90, withdrawals_made=20, claims_backed=10)
    assert check.holds and check.required == 100 and check.shortfall == 0
    assert conservation(101, 90, 20, 10).holds


def test_conservation_violated_names_the_shortfall() -> None:
    check = conservation(bridge_balance=60, l2_supply=90, withdrawals_made=20, claims_backed=10)
    assert not check.holds and check.shortfall == 40
    assert check.fields() == {
        "bridge_balance": 60,
        "l2_supply": 90,
        "withdrawals_made": 20,
        "claims_backed": 10,
        "required": 100,
        "shortfall": 40,
    }


def test_genesis_shortfall() -> None:
    assert genesis_shortfall(10, 10) == 0
    assert genesis_shortfall(11, 10) == 0  # more than the genesis: harmless
    assert genesis_shortfall(7, 10) == 3


# -- challenge priority ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    idx: int
    deadline: int
    risk: int


def test_challenges_go_to_the_most_value_at_risk_then_the_nearest_deadline() -> None:
    rows = [
        Row(1, 500, 0),
        Row(2, 400, 0),
        Row(3, 900, 10**18),
        Row(4, 800, 10**18),
        Row(5, 100, 5),
    ]
    ordered = challenge_order(rows, lambda r: r.risk)
    assert [r.idx for r in ordered] == [4, 3, 5, 2, 1]


# -- status / metrics summary ---------------------------------------------------------------------
def test_the_summary_splits_withdrawals_by_window_and_ages_the_oldest_deposit() -> None:
    summary = bridge_summary(
        bridge_balance=10**19,
        l2_supply=9 * 10**18,
        pending=[QUEUE[1], QUEUE[2]],
        unclaimed=[
            (Withdrawal(0, 1, ALICE, 3), T0 + 99),
            (Withdrawal(1, 0, BOB, 4), T0 - 1),
            (Withdrawal(1, 2, BOB, 5), T0),
        ],
        l1_time=T0 + 100,
        forged_claims=1,
    )
    assert summary.pending_deposits == 2 and summary.oldest_deposit_age == 88
    assert [p.withdrawal.step for p in summary.claimable] == [1, 0, 2]
    assert summary.awaiting == () and summary.claimable_value == 12
    later = bridge_summary(
        bridge_balance=None,
        l2_supply=0,
        pending=[],
        l1_time=T0,
        unclaimed=[(Withdrawal(0, 1, ALICE, 3), T0 + 50)],
        forged_claims=0,
    )
    assert later.oldest_deposit_age is None and later.awaiting[0].seconds_left == 50
    assert later.awaiting_value == 3 and later.claimable == ()
