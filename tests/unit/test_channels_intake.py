"""Intake of monitoring requests (docs/channels.md §5): every rule, in order, with its message."""

from __future__ import annotations

import dataclasses

import pytest

from tests.channels_kit import (
    BENEFICIARY,
    CHAIN_ID,
    CONTRACTS,
    GUARDIAN,
    KEY_A,
    KEY_B,
    KEY_OTHER,
    OTHER,
    PAYMENT_CONTRACT,
    STATE_CONTRACT,
    A,
    B,
    cheque_request,
    payment_request,
    state_request,
)
from watchtower.channels import eip712
from watchtower.channels.intake import (
    Accepted,
    ChainFacts,
    IntakePolicy,
    Refused,
    Status,
    check_request,
    status_of,
)
from watchtower.channels.types import Kind, MonitoringRequest

NOW = 1_700_000_000
POLICY = IntakePolicy(CHAIN_ID, GUARDIAN, {v: k for k, v in CONTRACTS.items()})
STATE_CHAIN = ChainFacts(NOW, Status.OPEN, A, B, 5 * 10**18, 5 * 10**18)
PAYMENT_CHAIN = ChainFacts(NOW, Status.OPEN, A, B, 10 * 10**18, expiration=NOW + 86400)
CHEQUE_CHAIN = ChainFacts(NOW, Status.OPEN, A, paid_out=10**18)


def refused(verdict: object, rule: int, text: str) -> None:
    assert isinstance(verdict, Refused), verdict
    assert verdict.rule == rule, verdict
    assert text in verdict.reason, verdict.reason
    assert "\n" not in verdict.reason


def test_good_requests_are_accepted() -> None:
    v = check_request(state_request(), None, STATE_CHAIN, POLICY)
    assert v == Accepted(state_request(), B)
    v = check_request(state_request(reward_key=KEY_A), None, STATE_CHAIN, POLICY)
    assert v == Accepted(state_request(reward_key=KEY_A), A)
    assert check_request(state_request(reward=None), None, STATE_CHAIN, POLICY) == Accepted(
        state_request(reward=None), b""
    )
    assert check_request(payment_request(), None, PAYMENT_CHAIN, POLICY) == Accepted(
        payment_request(), B
    )
    assert check_request(cheque_request(), None, CHEQUE_CHAIN, POLICY) == Accepted(
        cheque_request(), BENEFICIARY
    )
    closing = dataclasses.replace(STATE_CHAIN, status=Status.CLOSING, nonce=6, deadline=NOW)
    assert isinstance(check_request(state_request(), None, closing, POLICY), Accepted)


def test_rule_1_chain_and_contract() -> None:
    refused(
        check_request(state_request(chain_id=1), None, STATE_CHAIN, POLICY),
        1,
        "chain id 1 is not this guardian's chain id 31337",
    )
    wrong = dataclasses.replace(payment_request(), contract=STATE_CONTRACT)
    refused(
        check_request(wrong, None, PAYMENT_CHAIN, POLICY),
        1,
        f"0x{STATE_CONTRACT.hex()} is not a payment channel this guardian guards",
    )
    unguarded = IntakePolicy(CHAIN_ID, GUARDIAN, {PAYMENT_CONTRACT: Kind.PAYMENT})
    refused(check_request(cheque_request(), None, CHEQUE_CHAIN, unguarded), 1, "not a chequebook")
    # rule 1 comes before everything else: a request wrong in every way names the chain id
    bad = dataclasses.replace(state_request(chain_id=1, keys=(KEY_OTHER, KEY_OTHER)), chain_id=1)
    refused(check_request(bad, None, ChainFacts(NOW, Status.NONE), POLICY), 1, "chain id 1")


def test_rule_2_signatures() -> None:
    refused(
        check_request(state_request(keys=(KEY_A, KEY_OTHER)), None, STATE_CHAIN, POLICY),
        2,
        f"state nonce 7 for channel 3 of 0x{STATE_CONTRACT.hex()} is signed by 0x{OTHER.hex()}, "
        f"not by party B 0x{B.hex()}",
    )
    refused(
        check_request(state_request(keys=(KEY_B, KEY_A)), None, STATE_CHAIN, POLICY),
        2,
        "not by party A",
    )
    req = state_request()
    high_s = dataclasses.replace(
        req, signatures=(req.signatures[0][:64] + b"\x00", req.signatures[1])
    )
    refused(check_request(high_s, None, STATE_CHAIN, POLICY), 2, "bad signature of party A")
    one = dataclasses.replace(req, signatures=req.signatures[:1])
    refused(check_request(one, None, STATE_CHAIN, POLICY), 2, "carries 1 signatures, expected 2")
    refused(
        check_request(payment_request(key=KEY_B), None, PAYMENT_CHAIN, POLICY),
        2,
        "not by the sender",
    )
    refused(
        check_request(cheque_request(key=KEY_B), None, CHEQUE_CHAIN, POLICY), 2, "not by the issuer"
    )
    refused(
        check_request(state_request(reward_key=KEY_OTHER), None, STATE_CHAIN, POLICY),
        2,
        f"reward for channel 3 of 0x{STATE_CONTRACT.hex()} is signed by 0x{OTHER.hex()}, "
        "neither party A",
    )
    refused(
        check_request(payment_request(reward_key=KEY_A), None, PAYMENT_CHAIN, POLICY),
        2,
        f"not by the recipient 0x{B.hex()}",
    )
    refused(
        check_request(cheque_request(reward_key=KEY_A), None, CHEQUE_CHAIN, POLICY),
        2,
        "not by the beneficiary",
    )
    bad_reward = dataclasses.replace(payment_request(), reward_signature=b"\x01" * 65)
    refused(check_request(bad_reward, None, PAYMENT_CHAIN, POLICY), 2, "reward for channel 5")


def test_rule_3_channel_on_chain() -> None:
    missing = ChainFacts(NOW, Status.NONE)
    refused(check_request(state_request(), None, missing, POLICY), 3, "does not exist on chain")
    refused(check_request(cheque_request(), None, missing, POLICY), 3, "is not a chequebook")
    # a bad signature is still found while the channel is missing (rule 2 first)
    refused(
        check_request(
            dataclasses.replace(payment_request(), signatures=(b"\x00" * 65,)),
            None,
            missing,
            POLICY,
        ),
        2,
        "bad signature of the sender",
    )
    for status in (Status.SETTLED,):
        refused(
            check_request(
                state_request(), None, dataclasses.replace(STATE_CHAIN, status=status), POLICY
            ),
            3,
            f"channel 3 of 0x{STATE_CONTRACT.hex()} is already settled",
        )
    for status in (Status.CLAIMED, Status.RECLAIMED):
        chain = dataclasses.replace(PAYMENT_CHAIN, status=status)
        refused(check_request(payment_request(), None, chain, POLICY), 3, f"already {status}")
    over = dataclasses.replace(STATE_CHAIN, status=Status.CLOSING, nonce=1, deadline=NOW - 1)
    refused(check_request(state_request(), None, over, POLICY), 3, "its window ended at")
    refused(
        check_request(state_request(balance_a=1), None, STATE_CHAIN, POLICY),
        3,
        "balances 1 + 6000000000000000000 do not add up to the deposits",
    )
    expired = dataclasses.replace(PAYMENT_CHAIN, expiration=NOW)
    refused(check_request(payment_request(), None, expired, POLICY), 3, f"expired at {NOW}")
    cashed = dataclasses.replace(CHEQUE_CHAIN, paid_out=5 * 10**18)
    refused(check_request(cheque_request(), None, cashed, POLICY), 3, "is already cashed")


def test_rule_4_strictly_above_what_is_held() -> None:
    refused(
        check_request(state_request(nonce=4), state_request(nonce=7), STATE_CHAIN, POLICY),
        4,
        f"state nonce 4 is not above the state nonce 7 already held for channel 3 of "
        f"0x{STATE_CONTRACT.hex()}",
    )
    refused(check_request(state_request(), state_request(), STATE_CHAIN, POLICY), 4, "nonce 7")
    assert isinstance(
        check_request(state_request(nonce=8), state_request(nonce=7), STATE_CHAIN, POLICY), Accepted
    )
    refused(
        check_request(payment_request(), payment_request(), PAYMENT_CHAIN, POLICY),
        4,
        "payment amount 3000000000000000000 is not above",
    )
    refused(
        check_request(cheque_request(), cheque_request(), CHEQUE_CHAIN, POLICY),
        4,
        "cheque cumulative payout 5000000000000000000 is not above",
    )
    refused(check_request(state_request(nonce=0), None, STATE_CHAIN, POLICY), 4, "is the deposits")
    closing = dataclasses.replace(STATE_CHAIN, status=Status.CLOSING, nonce=7, deadline=NOW + 9)
    refused(
        check_request(state_request(), None, closing, POLICY), 4, "the nonce 7 already on chain"
    )


def test_rule_5_reward_can_be_paid() -> None:
    refused(
        check_request(state_request(monitor=OTHER), None, STATE_CHAIN, POLICY),
        5,
        f"names monitor 0x{OTHER.hex()}, not this guardian 0x{GUARDIAN.hex()}",
    )
    # B's balance is 6 ether in the state: a 6 ether reward is fine, a wei more is not
    assert isinstance(
        check_request(state_request(reward=6 * 10**18), None, STATE_CHAIN, POLICY), Accepted
    )
    refused(
        check_request(state_request(reward=6 * 10**18 + 1), None, STATE_CHAIN, POLICY),
        5,
        f"reward 6000000000000000001 wei for channel 3 of 0x{STATE_CONTRACT.hex()} is above the "
        f"6000000000000000000 wei its signer 0x{B.hex()} gets",
    )
    refused(
        check_request(
            state_request(reward=4 * 10**18 + 1, reward_key=KEY_A), None, STATE_CHAIN, POLICY
        ),
        5,
        "above the 4000000000000000000 wei",
    )
    small = dataclasses.replace(PAYMENT_CHAIN, deposit_a=10**15)
    refused(
        check_request(payment_request(reward=10**15 + 1), None, small, POLICY),
        5,
        "above the 1000000000000000 wei",
    )
    refused(
        check_request(cheque_request(reward=4 * 10**18 + 1), None, CHEQUE_CHAIN, POLICY),
        5,
        "above the 4000000000000000000 wei",
    )
    strict = dataclasses.replace(POLICY, min_reward_wei=10**16)
    refused(
        check_request(state_request(), None, STATE_CHAIN, strict),
        5,
        "below this guardian's minimum 10000000000000000 wei",
    )
    refused(
        check_request(state_request(reward=None), None, STATE_CHAIN, strict), 5, "no reward offered"
    )
    # a reward for another nonce or channel cannot be paid by the contract
    req = state_request()
    assert req.reward is not None
    for field, value, text in (("nonce", 6, "names nonce 6"), ("channel_id", 4, "names channel 4")):
        reward = dataclasses.replace(req.reward, **{field: value})
        other = dataclasses.replace(
            req, reward=reward, reward_signature=eip712.sign(KEY_B, req.domain, reward)
        )
        refused(check_request(other, None, STATE_CHAIN, POLICY), 5, text)


def test_status_codes() -> None:
    assert [status_of(Kind.STATE, i) for i in range(4)] == list(Status)[:4]
    assert status_of(Kind.PAYMENT, 2) is Status.CLAIMED
    assert status_of(Kind.PAYMENT, 3) is Status.RECLAIMED


@pytest.mark.parametrize("held", [None, state_request(nonce=1)])
def test_the_first_failing_rule_is_the_answer(held: MonitoringRequest | None) -> None:
    # wrong signer (2) and not above what is held (4) and reward to another monitor (5): rule 2
    req = state_request(nonce=1, keys=(KEY_A, KEY_OTHER), monitor=OTHER)
    verdict = check_request(req, held, STATE_CHAIN, POLICY)
    assert isinstance(verdict, Refused) and verdict.rule == 2
    req = state_request(nonce=1, monitor=OTHER)
    verdict = check_request(req, held, STATE_CHAIN, POLICY)
    assert isinstance(verdict, Refused) and verdict.rule == (5 if held is None else 4)


def test_rule_5_a_reward_of_the_closer_cannot_be_paid() -> None:
    closing = dataclasses.replace(
        STATE_CHAIN, status=Status.CLOSING, nonce=2, deadline=NOW + 60, closer=B
    )
    refused(
        check_request(state_request(), None, closing, POLICY),
        5,
        f"is signed by 0x{B.hex()}, the party that closed it",
    )
    from_a = state_request(reward_key=KEY_A)
    assert check_request(from_a, None, closing, POLICY) == Accepted(from_a, A)
    assert isinstance(check_request(state_request(), None, STATE_CHAIN, POLICY), Accepted)
