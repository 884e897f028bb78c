"""Every rule of the channel guardian's decisions (docs/channels.md §6), with an injected clock."""

from __future__ import annotations

import dataclasses

from tests.channels_kit import (
    BENEFICIARY,
    GUARDIAN,
    KEY_A,
    OTHER,
    A,
    B,
    cheque_request,
    payment_request,
    state_request,
)
from watchtower.channels import eip712
from watchtower.channels.decide import (
    CHANNEL_ACTION_FAILED,
    CHANNEL_CLAIM_MISSED,
    CHANNEL_REWARD_UNPAID,
    CHANNEL_UPDATE_MISSED,
    CHEQUE_AT_RISK,
    CHEQUE_BOUNCED,
    ISSUER_WITHDREW,
    STALE_CLOSE_DETECTED,
    Action,
    Alert,
    Bounce,
    CashOrder,
    ChequebookView,
    DecidePolicy,
    Done,
    PaymentChannelView,
    Plan,
    SendCash,
    SendClaim,
    SendSettle,
    SendUpdate,
    Sent,
    SentStatus,
    StateChannelView,
    Wait,
    Withdrawal,
    action_key,
    decide_chequebook,
    decide_payment,
    decide_state,
)
from watchtower.channels.intake import Status

NOW = 1_700_000_000
POLICY = DecidePolicy(GUARDIAN)
HELD = state_request(nonce=7)  # reward signed by B
CLOSING = StateChannelView(NOW, Status.CLOSING, nonce=4, deadline=NOW + 600, closer=A)


def kinds(plan: Plan) -> list[str]:
    return [d.kind for d in plan if isinstance(d, Alert)]


def last(plan: Plan) -> object:
    assert plan, "an empty plan"
    for d in plan[:-1]:
        assert isinstance(d, Alert), plan
    assert not isinstance(plan[-1], Alert), plan
    return plan[-1]


# --- state channel ---------------------------------------------------------------------------


def test_open_or_missing_channel_waits() -> None:
    for status in (Status.OPEN, Status.NONE):
        plan = decide_state(HELD, StateChannelView(NOW, status), (), POLICY)
        assert isinstance(last(plan), Wait) and kinds(plan) == []


def test_stale_close_sends_the_update_at_once_with_the_reward() -> None:
    plan = decide_state(HELD, CLOSING, (), POLICY)
    assert kinds(plan) == [STALE_CLOSE_DETECTED]
    assert last(plan) == SendUpdate(HELD, with_reward=True, deadline=NOW + 600, time_left=600)
    alert = plan[0]
    assert isinstance(alert, Alert)
    assert alert.fields["closing_nonce"] == 4 and alert.fields["held_nonce"] == 7
    assert alert.fields["closer"] == "0x" + A.hex()


def test_stale_close_at_the_deadline_still_sends_after_it_never() -> None:
    at = dataclasses.replace(CLOSING, now=CLOSING.deadline)
    assert isinstance(last(decide_state(HELD, at, (), POLICY)), SendUpdate)
    after = dataclasses.replace(CLOSING, now=CLOSING.deadline + 1)
    plan = decide_state(HELD, after, (), POLICY)
    assert kinds(plan) == [STALE_CLOSE_DETECTED, CHANNEL_UPDATE_MISSED]
    assert isinstance(last(plan), Done)


def test_a_reward_signed_by_the_closer_is_not_sent_and_alerted() -> None:
    held = state_request(nonce=7, reward_key=KEY_A)  # A signed the reward, and A closed
    plan = decide_state(held, CLOSING, (), POLICY)
    assert kinds(plan) == [STALE_CLOSE_DETECTED, CHANNEL_REWARD_UNPAID]
    update = last(plan)
    assert isinstance(update, SendUpdate) and not update.with_reward
    closed_by_b = dataclasses.replace(CLOSING, closer=B)
    update = last(decide_state(held, closed_by_b, (), POLICY))
    assert isinstance(update, SendUpdate) and update.with_reward
    no_reward = state_request(nonce=7, reward=None)
    plan = decide_state(no_reward, CLOSING, (), POLICY)
    assert kinds(plan) == [STALE_CLOSE_DETECTED]
    update = last(plan)
    assert isinstance(update, SendUpdate) and not update.with_reward


def test_an_update_in_the_journal_is_never_sent_again() -> None:
    key = action_key(HELD, Action.UPDATE)
    for status in (SentStatus.PENDING, SentStatus.MINED):
        plan = decide_state(HELD, CLOSING, (Sent(key, status),), POLICY)
        assert isinstance(last(plan), Wait), plan
    plan = decide_state(HELD, CLOSING, (Sent(key, SentStatus.FAILED),), POLICY)
    assert kinds(plan) == [STALE_CLOSE_DETECTED, CHANNEL_ACTION_FAILED]
    assert isinstance(last(plan), Done)
    # an update for another (older) nonce does not count: the held one is sent
    other = action_key(state_request(nonce=6), Action.UPDATE)
    assert isinstance(
        last(decide_state(HELD, CLOSING, (Sent(other, SentStatus.MINED),), POLICY)), SendUpdate
    )


def test_someone_elses_update_with_a_nonce_at_least_ours_is_done() -> None:
    for nonce in (7, 8):
        view = dataclasses.replace(CLOSING, nonce=nonce, reward_monitor=OTHER, reward_amount=5)
        plan = decide_state(HELD, view, (), POLICY)
        assert kinds(plan) == [] and isinstance(last(plan), Done), plan


def test_our_reward_on_chain_is_settled_after_the_deadline_once() -> None:
    view = dataclasses.replace(CLOSING, nonce=7, reward_monitor=GUARDIAN, reward_amount=10**15)
    plan = decide_state(HELD, view, (), POLICY)
    assert last(plan) == Wait(NOW + 601, f"channel 3: settle after {NOW + 600}")
    after = dataclasses.replace(view, now=NOW + 601)
    assert last(decide_state(HELD, after, (), POLICY)) == SendSettle(HELD)
    key = action_key(HELD, Action.SETTLE)
    assert isinstance(
        last(decide_state(HELD, after, (Sent(key, SentStatus.PENDING),), POLICY)), Wait
    )
    plan = decide_state(HELD, after, (Sent(key, SentStatus.FAILED),), POLICY)
    assert kinds(plan) == [CHANNEL_ACTION_FAILED] and isinstance(last(plan), Done)


def test_settled_is_done_and_an_unpaid_reward_is_alerted() -> None:
    offered = 10**15  # HELD's reward
    settled = StateChannelView(
        NOW, Status.SETTLED, nonce=7, reward_monitor=GUARDIAN, reward_amount=offered
    )
    plan = decide_state(HELD, settled, (), POLICY)
    assert kinds(plan) == [] and isinstance(last(plan), Done)
    short = dataclasses.replace(settled, reward_amount=40)  # capped by the payer's balance
    plan = decide_state(HELD, short, (), POLICY)
    assert kinds(plan) == [CHANNEL_REWARD_UNPAID]
    alert = plan[0]
    assert isinstance(alert, Alert)
    assert alert.fields["offered"] == offered and alert.fields["paid"] == 40
    not_ours = dataclasses.replace(short, reward_monitor=OTHER)
    assert kinds(decide_state(HELD, not_ours, (), POLICY)) == []
    later_state = dataclasses.replace(short, nonce=8)
    assert kinds(decide_state(HELD, later_state, (), POLICY)) == []


# --- payment channel -------------------------------------------------------------------------

PAY = payment_request()
OPEN = PaymentChannelView(NOW, Status.OPEN, expiration=NOW + 86400)


def test_claim_waits_until_expiration_minus_the_margin() -> None:
    plan = decide_payment(PAY, OPEN, (), POLICY)
    assert last(plan) == Wait(
        NOW + 86400 - 3600, f"payment channel 5: claim at {NOW + 82800}, as late as is safe"
    )
    at = dataclasses.replace(OPEN, now=NOW + 82800)
    assert last(decide_payment(PAY, at, (), POLICY)) == SendClaim(PAY, True, NOW + 86400, 3600)
    late = dataclasses.replace(OPEN, now=NOW + 86399)
    assert last(decide_payment(PAY, late, (), POLICY)) == SendClaim(PAY, True, NOW + 86400, 1)


def test_the_margin_is_at_least_ten_blocks() -> None:
    tiny = DecidePolicy(GUARDIAN, claim_margin=5, block_time=12)
    assert tiny.effective_claim_margin == 120
    plan = decide_payment(PAY, dataclasses.replace(OPEN, now=NOW + 86400 - 121), (), tiny)
    assert isinstance(last(plan), Wait)
    plan = decide_payment(PAY, dataclasses.replace(OPEN, now=NOW + 86400 - 120), (), tiny)
    assert isinstance(last(plan), SendClaim)


def test_claim_never_at_or_after_expiration() -> None:
    expired = dataclasses.replace(OPEN, now=NOW + 86400)
    plan = decide_payment(PAY, expired, (), POLICY)
    assert kinds(plan) == [CHANNEL_CLAIM_MISSED] and isinstance(last(plan), Done)
    key = action_key(PAY, Action.CLAIM)
    plan = decide_payment(PAY, expired, (Sent(key, SentStatus.PENDING),), POLICY)
    assert kinds(plan) == [] and isinstance(last(plan), Wait)


def test_claim_journal_and_end_states() -> None:
    at = dataclasses.replace(OPEN, now=NOW + 82800)
    key = action_key(PAY, Action.CLAIM)
    for status in (SentStatus.PENDING, SentStatus.MINED):
        assert isinstance(last(decide_payment(PAY, at, (Sent(key, status),), POLICY)), Wait)
    plan = decide_payment(PAY, at, (Sent(key, SentStatus.FAILED),), POLICY)
    assert kinds(plan) == [CHANNEL_ACTION_FAILED] and isinstance(last(plan), Done)
    for status in (Status.CLAIMED, Status.RECLAIMED):
        plan = decide_payment(PAY, dataclasses.replace(at, status=status), (), POLICY)
        assert plan == (Done(f"payment channel 5 is {status.value}"),)
    assert isinstance(
        last(decide_payment(PAY, dataclasses.replace(at, status=Status.NONE), (), POLICY)), Wait
    )
    no_reward = payment_request(reward=None)
    claim = last(decide_payment(no_reward, at, (), POLICY))
    assert isinstance(claim, SendClaim) and not claim.with_reward


# --- chequebook ------------------------------------------------------------------------------

C1 = eip712.address_of((0xC1).to_bytes(32, "big"))
C2 = eip712.address_of((0xC2).to_bytes(32, "big"))
KEY_C1, KEY_C2 = (0xC1).to_bytes(32, "big"), (0xC2).to_bytes(32, "big")
BIG = cheque_request(cumulative=9 * 10**18, beneficiary=C1, reward_key=KEY_C1)  # uncashed 9
MID = cheque_request(cumulative=6 * 10**18, beneficiary=C2, reward_key=KEY_C2)  # uncashed 5
SMALL = cheque_request(cumulative=2 * 10**18)  # B, uncashed 2
HELD_CHEQUES = (SMALL, MID, BIG)
PAID = {C2: 10**18}
E = 10**18


def test_solvent_chequebook_waits_and_cashed_is_done() -> None:
    plan = decide_chequebook(HELD_CHEQUES, ChequebookView(NOW, 16 * E, PAID), (), POLICY)
    assert kinds(plan) == [] and isinstance(last(plan), Wait)
    paid = {C1: 9 * E, C2: 6 * E, BENEFICIARY: 2 * E}
    plan = decide_chequebook(HELD_CHEQUES, ChequebookView(NOW, 0, paid), (), POLICY)
    assert isinstance(last(plan), Done)


def test_at_risk_cheques_are_cashed_largest_first() -> None:
    plan = decide_chequebook(HELD_CHEQUES, ChequebookView(NOW, 15 * E, PAID), (), POLICY)
    assert kinds(plan) == [CHEQUE_AT_RISK]
    alert = plan[0]
    assert isinstance(alert, Alert)
    assert alert.fields["uncashed"] == 16 * E and alert.fields["shortfall"] == E
    assert last(plan) == SendCash(
        (CashOrder(BIG, 9 * E, 9 * E), CashOrder(MID, 5 * E, 5 * E), CashOrder(SMALL, 2 * E, E))
    )


def test_cash_stops_when_the_balance_left_pays_nothing() -> None:
    plan = decide_chequebook(HELD_CHEQUES, ChequebookView(NOW, 10 * E, PAID), (), POLICY)
    assert last(plan) == SendCash((CashOrder(BIG, 9 * E, 9 * E), CashOrder(MID, 5 * E, E)))


def test_only_cheques_with_a_reward_are_cashed_and_all_are_alerted() -> None:
    no_reward = cheque_request(cumulative=9 * 10**18, beneficiary=C1, reward=None)
    plan = decide_chequebook((no_reward, MID), ChequebookView(NOW, 3 * E, PAID), (), POLICY)
    assert kinds(plan) == [CHEQUE_AT_RISK]
    assert last(plan) == SendCash((CashOrder(MID, 5 * E, 3 * E),))
    plan = decide_chequebook((no_reward,), ChequebookView(NOW, 3 * E), (), POLICY)
    assert kinds(plan) == [CHEQUE_AT_RISK] and isinstance(last(plan), Wait)


def test_cheques_in_the_journal_are_not_cashed_again() -> None:
    view = ChequebookView(NOW, 10 * E, PAID)
    pending = (Sent(action_key(BIG, Action.CASH), SentStatus.PENDING),)
    # BIG in flight takes 9 of the 10: MID gets the last one, SMALL nothing
    assert last(decide_chequebook(HELD_CHEQUES, view, pending, POLICY)) == SendCash(
        (CashOrder(MID, 5 * E, E),)
    )
    failed = (Sent(action_key(BIG, Action.CASH), SentStatus.FAILED),)
    plan = decide_chequebook(HELD_CHEQUES, view, failed, POLICY)
    assert kinds(plan) == [CHEQUE_AT_RISK, CHANNEL_ACTION_FAILED]
    assert last(plan) == SendCash((CashOrder(MID, 5 * E, 5 * E), CashOrder(SMALL, 2 * E, 2 * E)))
    everything = tuple(Sent(action_key(r, Action.CASH), SentStatus.MINED) for r in HELD_CHEQUES)
    assert isinstance(last(decide_chequebook(HELD_CHEQUES, view, everything, POLICY)), Wait)


def test_withdrawals_and_bounces_are_alerted() -> None:
    view = ChequebookView(
        NOW,
        20 * E,
        PAID,
        withdrawals=(Withdrawal(5 * E, 20 * E, block=9),),
        bounced=(Bounce(C1, 9 * E, E, block=9), Bounce(OTHER, 3, 1, block=9)),
    )
    plan = decide_chequebook(HELD_CHEQUES, view, (), POLICY)
    assert kinds(plan) == [ISSUER_WITHDREW, CHEQUE_BOUNCED]  # OTHER's bounce is not ours
    withdrew, bounced = plan[0], plan[1]
    assert isinstance(withdrew, Alert) and withdrew.fields["amount"] == 5 * E
    assert withdrew.fields["uncashed"] == 16 * E
    assert isinstance(bounced, Alert) and bounced.fields["beneficiary"] == "0x" + C1.hex()
    assert isinstance(last(plan), Wait)


def test_a_reward_above_the_payout_is_alerted() -> None:
    greedy = cheque_request(cumulative=9 * 10**18, beneficiary=C1, reward=2 * E, reward_key=KEY_C1)
    plan = decide_chequebook((greedy,), ChequebookView(NOW, E), (), POLICY)
    assert kinds(plan) == [CHEQUE_AT_RISK, CHANNEL_REWARD_UNPAID]
    assert last(plan) == SendCash((CashOrder(greedy, 9 * E, E),))


def test_action_keys_differ_per_action_channel_and_sequence() -> None:
    keys = {
        action_key(HELD, Action.UPDATE),
        action_key(state_request(nonce=8), Action.UPDATE),
        action_key(HELD, Action.SETTLE),
        action_key(state_request(channel=4), Action.SETTLE),
        action_key(PAY, Action.CLAIM),
        action_key(BIG, Action.CASH),
        action_key(MID, Action.CASH),
    }
    assert len(keys) == 7
    assert action_key(HELD, Action.SETTLE) == action_key(state_request(nonce=9), Action.SETTLE)
