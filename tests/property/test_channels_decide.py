"""Properties of the channel guardian's decisions (docs/channels.md §6), by simulation: ticks at
increasing L1 times, a journal that records every send and later mines or fails it, a chain that
applies what mined. Never two sends for one action; never an update or claim after its deadline;
always one before it when a tick falls in the window."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.channels_kit import GUARDIAN, OTHER, A, B, cheque_request, payment_request, state_request
from watchtower.channels import eip712
from watchtower.channels.decide import (
    Alert,
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
    decide_chequebook,
    decide_payment,
    decide_state,
)
from watchtower.channels.intake import Status

T0 = 1_700_000_000
HELD = {n: state_request(nonce=n) for n in (1, 5, 9)}


def _shape(plan: Plan) -> None:
    """Alerts first, then exactly one of Send*/Wait/Done."""
    assert plan
    assert all(isinstance(d, Alert) for d in plan[:-1]), plan
    assert isinstance(plan[-1], SendUpdate | SendSettle | SendClaim | SendCash | Wait | Done)


@settings(max_examples=max(400, settings().max_examples))
@given(
    held_nonce=st.sampled_from(sorted(HELD)),
    close_nonce=st.integers(0, 10),
    closer=st.sampled_from([A, B]),
    window=st.integers(60, 7200),
    steps=st.lists(st.integers(1, 300), min_size=1, max_size=30),
    outcomes=st.lists(st.sampled_from(["stay", "mine", "fail", "reorg"]), min_size=30, max_size=30),
    other_update=st.one_of(st.none(), st.integers(1, 29)),
)
def test_state_channel_simulation(
    held_nonce: int,
    close_nonce: int,
    closer: bytes,
    window: int,
    steps: list[int],
    outcomes: list[str],
    other_update: int | None,
) -> None:
    held = HELD[held_nonce]
    deadline = T0 + window
    view = StateChannelView(T0, Status.CLOSING, nonce=close_nonce, deadline=deadline, closer=closer)
    journal: dict[str, SentStatus] = {}
    sends: list[str] = []
    now = T0
    first = True
    for i, step in enumerate(steps):
        if other_update == i and view.status is Status.CLOSING and now <= deadline:
            # someone else updates with a higher nonce (and its own reward)
            view = dataclasses.replace(
                view, nonce=max(view.nonce, held_nonce) + 1, reward_monitor=OTHER, reward_amount=1
            )
        view = dataclasses.replace(view, now=now)
        plan = decide_state(
            held, view, tuple(Sent(k, s) for k, s in journal.items()), DecidePolicy(GUARDIAN)
        )
        _shape(plan)
        action = plan[-1]
        if first and close_nonce < held_nonce and now <= deadline:
            assert isinstance(action, SendUpdate), plan  # at once, not later
        first = False
        if isinstance(action, SendUpdate):
            assert now <= deadline and view.nonce < held_nonce
            assert action.time_left == deadline - now >= 0
            assert action.with_reward == (closer != B)  # the reward is B's: paid unless B closed
        if isinstance(action, SendSettle):
            assert now > deadline and view.reward_monitor == GUARDIAN
        if isinstance(action, SendUpdate | SendSettle):
            assert action.key not in journal, "an action sent twice"
            journal[action.key] = SentStatus.PENDING
            sends.append(action.key)
        # the journal's transactions progress; what mined is applied to the chain; a reorg
        # takes a mined update out again (the journal follows it: its record stays)
        if outcomes[i] == "reorg" and view.status is Status.CLOSING and view.nonce == held_nonce:
            view = dataclasses.replace(view, nonce=close_nonce, reward_monitor=b"", reward_amount=0)
        for key, status in list(journal.items()):
            if status is SentStatus.PENDING and outcomes[i] in ("mine", "fail"):
                mined = outcomes[i] == "mine"
                journal[key] = SentStatus.MINED if mined else SentStatus.FAILED
                if mined and key.endswith(f":update:{held_nonce}") and now <= deadline:
                    view = dataclasses.replace(
                        view, nonce=held_nonce, reward_monitor=GUARDIAN if closer != B else b"",
                        reward_amount=10**15 if closer != B else 0,
                    )  # fmt: skip
                elif mined and key.endswith(":settle"):
                    view = dataclasses.replace(view, status=Status.SETTLED)
        now += step
    assert len(sends) == len(set(sends))
    assert len(sends) <= 2


@given(
    expiration=st.integers(T0 + 1, T0 + 3 * 86400),
    margin=st.integers(0, 7200),
    block_time=st.integers(1, 15),
    start=st.integers(T0 - 86400, T0 + 3 * 86400),
    steps=st.lists(st.integers(1, 5000), min_size=1, max_size=40),
)
def test_payment_channel_claims_once_in_the_safe_window(
    expiration: int, margin: int, block_time: int, start: int, steps: list[int]
) -> None:
    policy = DecidePolicy(GUARDIAN, claim_margin=margin, block_time=block_time)
    claim_at = expiration - max(margin, 10 * block_time)
    held = payment_request()
    journal: dict[str, SentStatus] = {}
    now = start
    claimed_at: int | None = None
    for step in steps:
        view = PaymentChannelView(now, Status.OPEN, expiration)
        plan = decide_payment(held, view, tuple(Sent(k, s) for k, s in journal.items()), policy)
        _shape(plan)
        action = plan[-1]
        if isinstance(action, SendClaim):
            assert claim_at <= now < expiration  # never early, never after expiration
            assert action.key not in journal
            journal[action.key] = SentStatus.PENDING
            claimed_at = now
        elif claimed_at is None and claim_at <= now < expiration:
            raise AssertionError(f"no claim at {now} in [{claim_at}, {expiration}): {plan}")
        if isinstance(action, Wait) and action.until is not None:
            assert action.until == claim_at > now
        now += step


E = 10**18
KEYS = [(0xC0 + i).to_bytes(32, "big") for i in range(5)]
BENEFICIARIES = [eip712.address_of(k) for k in KEYS]


@st.composite
def cheques(draw: st.DrawFn) -> tuple[list, dict[bytes, int]]:  # type: ignore[type-arg]
    count = draw(st.integers(1, 5))
    held, paid = [], {}
    for i in range(count):
        cumulative = draw(st.integers(1, 10)) * E
        rewarded = draw(st.booleans())
        held.append(
            cheque_request(
                cumulative=cumulative,
                beneficiary=BENEFICIARIES[i],
                reward=10**15 if rewarded else None,
                reward_key=KEYS[i],
            )
        )
        paid[BENEFICIARIES[i]] = draw(st.integers(0, cumulative // E)) * E
    return held, paid


@given(
    drawn=cheques(),
    liquid=st.integers(0, 60).map(lambda n: n * E // 2),
    in_journal=st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from(list(SentStatus))), max_size=5
    ),
)
def test_chequebook_cashes_largest_first_within_the_balance(
    drawn: tuple[list, dict[bytes, int]],  # type: ignore[type-arg]
    liquid: int,
    in_journal: list[tuple[int, SentStatus]],
) -> None:
    held, paid = drawn
    sent = tuple(
        Sent(
            f"cheque:0x{held[i].contract.hex()}:{held[i].channel_key:#x}:cash:{held[i].sequence}", s
        )
        for i, s in in_journal
        if i < len(held)
    )
    journaled = {s.key for s in sent}
    plan = decide_chequebook(held, ChequebookView(T0, liquid, paid), sent, DecidePolicy(GUARDIAN))
    _shape(plan)
    uncashed = sum(max(0, r.sequence - paid[r.message.beneficiary]) for r in held)
    at_risk = liquid < uncashed
    assert ("cheque_at_risk" in [d.kind for d in plan if isinstance(d, Alert)]) == at_risk
    action = plan[-1]
    if isinstance(action, SendCash):
        assert at_risk
        amounts = [o.uncashed for o in action.orders]
        assert amounts == sorted(amounts, reverse=True)
        assert all(o.expected_paid > 0 for o in action.orders)
        assert sum(o.expected_paid for o in action.orders) <= liquid
        assert all(o.key not in journaled for o in action.orders)
        assert all(o.request.reward is not None for o in action.orders)
        assert len({o.key for o in action.orders}) == len(action.orders)
    elif at_risk and liquid > 0 and not journaled:
        # nothing to cash only when no uncashed cheque carries a reward
        assert all(r.reward is None for r in held if r.sequence > paid[r.message.beneficiary]), plan
