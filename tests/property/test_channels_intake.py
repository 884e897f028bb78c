"""Properties of the intake (docs/channels.md §5): for every combination of broken rules the
answer is the first broken one; a message changed after signing is never accepted."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.channels_kit import CONTRACTS, GUARDIAN, KEY_A, KEY_OTHER, OTHER, A, B, state_request
from watchtower.channels.intake import (
    Accepted,
    ChainFacts,
    IntakePolicy,
    Refused,
    Status,
    check_request,
)
from watchtower.channels.types import ChannelState

NOW = 1_700_000_000
POLICY = IntakePolicy(31337, GUARDIAN, {v: k for k, v in CONTRACTS.items()})
CHAIN = ChainFacts(NOW, Status.OPEN, A, B, 5 * 10**18, 5 * 10**18)
REQUESTS = {
    (bad_sig, bad_monitor): state_request(
        keys=(KEY_A, KEY_OTHER) if bad_sig else (KEY_A, (0xB0B).to_bytes(32, "big")),
        monitor=OTHER if bad_monitor else GUARDIAN,
    )
    for bad_sig in (False, True)
    for bad_monitor in (False, True)
}


@pytest.mark.parametrize("broken", list(itertools.product((False, True), repeat=5)))
def test_the_first_broken_rule_answers(broken: tuple[bool, bool, bool, bool, bool]) -> None:
    r1, r2, r3, r4, r5 = broken
    request = REQUESTS[(r2, r5)]
    policy = dataclasses.replace(POLICY, chain_id=1) if r1 else POLICY
    chain = dataclasses.replace(CHAIN, status=Status.SETTLED) if r3 else CHAIN
    held = state_request(nonce=request.sequence + 1) if r4 else None
    verdict = check_request(request, held, chain, policy)
    if not any(broken):
        assert isinstance(verdict, Accepted)
    else:
        assert isinstance(verdict, Refused)
        assert verdict.rule == broken.index(True) + 1, verdict


SIGNED = state_request()


@given(
    field=st.sampled_from(["channel_id", "nonce", "balance_a", "balance_b"]),
    delta=st.integers(-3, 3).filter(bool),
)
def test_a_message_changed_after_signing_is_refused(field: str, delta: int) -> None:
    assert isinstance(SIGNED.message, ChannelState)
    value = max(0, getattr(SIGNED.message, field) + delta)
    if value == getattr(SIGNED.message, field):
        return
    changed = dataclasses.replace(
        SIGNED, message=dataclasses.replace(SIGNED.message, **{field: value})
    )
    verdict = check_request(changed, None, CHAIN, POLICY)
    assert isinstance(verdict, Refused) and verdict.rule == 2, verdict
