"""The challenge journal's decisions: a pure function of what is recorded and what was observed.

A challenge is two L1 actions from the service's own account (protocol.md §7.5):

1. **commit**: ``commitChallenge(keccak(abi.encode(us, index, step, post_root, salt)))``, no
   value, where ``post_root`` is the root the step really produces; the salt is random and
   recorded before anything is signed;
2. **reveal**: ``challenge(index, step, witness, nodes, salt)`` with the stake, once the commit
   is in a block (the contract wants it in an *earlier* block than the reveal).

:func:`decide` looks at the journal (:class:`Record`, the :class:`Sent` transactions) and at one
observation of the chain (:class:`ChainView`) and says what to do next. It reads no clock and no
network: ``now`` is passed in, so every branch has a millisecond unit test
(``tests/unit/test_decide.py``). The executor (:mod:`watchtower.submit.challenger`) observes,
calls it, acts and records.

Rules, in the order they are applied:

* a failed observation (RPC error, timeout, 429) is never an answer: retry with backoff;
* our reveal mined with status 1: **succeeded**;
* the batch is no longer pending on chain (rejected, or its index holds another batch), and no
  reveal of ours succeeded: **already rejected** (someone else won; a reveal of ours in flight
  reverts and its stake comes back);
* the L1 time is past the deadline: **failed** (deadline passed);
* a reveal of ours reverted: with "no fraud" **failed** (our proof is wrong: a bug; critical);
  with "challenge period over" **failed**; otherwise its nonce is spent and the reveal is sent
  again with a fresh nonce (after a backoff when the reason is not understood);
* nonces are ours: a nonce the chain has passed while none of our transactions for it has a
  receipt was taken by another transaction (another process with the same key, a human): the
  action gets a fresh nonce. "nonce too low" is never read as success;
* an action in flight is re-broadcast, or replaced with the same nonce and higher fees once
  ``bump_after`` seconds passed without a receipt (x9/8 far from the deadline, x2 in its last
  ``urgent_window`` seconds; never above ``max_fee_cap``);
* the commit is sent after an ``eth_call`` of the reveal that reverts with exactly "no
  commitment for this challenge" (every other check of the contract passed: the proof is good);
* the reveal is sent once the commitment is on chain and ``reveal_depth`` blocks deep.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from watchtower import defaults
from watchtower.backoff import Backoff

COMMIT = "commit"
REVEAL = "reveal"


@dataclass(frozen=True)
class FeePolicy:
    bump_after: float = defaults.BUMP_AFTER  # seconds without a receipt before a replacement
    bump_factor_num: int = 9  # x 9/8 = +12.5 % (the replacement minimum is +10 %)
    bump_factor_den: int = 8
    urgent_window: int = 3600  # seconds before the deadline when fees double per bump
    max_fee_cap: int = 500 * 10**9  # never pay more than this per gas
    gas_margin_percent: int = 25
    #: Blocks on top of the commitment's block before the reveal is sent. 0: as soon as the
    #: commitment is in a block (the reveal can only land in a later one). A reorg that removes
    #: the commit is handled either way: the reveal reverts (stake returned) and both are redone.
    reveal_depth: int = 0
    retry_base: float = 1.0  # seconds before the first retry after a transient error
    retry_max: float = 60.0  # the retry wait doubles up to this

    @classmethod
    def of_settings(cls, settings: Mapping[str, Any]) -> FeePolicy:
        """The policy of a service's settings (challenges and channel actions alike): bump after
        ``challenge.bump_after``; a transaction that got no answer waits like a failed tick,
        from the poll interval, doubling, up to ``l1.max_backoff``."""
        return cls(
            bump_after=settings["challenge.bump_after"],
            retry_base=settings["l1.poll_interval"],
            retry_max=settings["l1.max_backoff"],
        )


class Outcome(enum.StrEnum):
    """What an ``eth_call`` of the reveal, or a reverted reveal, says."""

    OK = "ok"  # no revert: proof good and commitment old enough
    NO_COMMITMENT = "no_commitment"  # proof good, no commitment yet
    TOO_RECENT = "too_recent"  # proof good, commitment in this very block
    NOT_PENDING = "not_pending"  # the batch was rejected / replaced / never pending
    DEADLINE = "deadline"  # the challenge period is over
    NO_FRAUD = "no_fraud"  # the contract re-executed the step and the claimed root is right
    OTHER = "other"  # anything else: an RPC error in disguise, an unknown revert


_REASONS: tuple[tuple[str, Outcome], ...] = (
    ("no commitment for this challenge", Outcome.NO_COMMITMENT),
    ("commitment must be in an earlier block", Outcome.TOO_RECENT),
    ("no such pending batch", Outcome.NOT_PENDING),
    ("batch is not pending", Outcome.NOT_PENDING),
    ("challenge period over", Outcome.DEADLINE),
    ("no fraud", Outcome.NO_FRAUD),
)


def classify(reason: str | None) -> Outcome:
    """The :class:`Outcome` of a revert reason (``None``: no revert)."""
    if reason is None:
        return Outcome.OK
    text = reason.lower()
    for needle, outcome in _REASONS:
        if needle in text:
            return outcome
    return Outcome.OTHER


# -- what is recorded ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    """The journal's record of one challenge."""

    batch_id: int
    batch: int  # the batch index
    step: int
    stake: int
    deadline: int  # L1 timestamp; the reveal must be mined at or before it
    salt: bytes
    commit_nonce: int | None = None
    reveal_nonce: int | None = None
    attempts: int = 0  # transient failures in a row (for the backoff)


@dataclass(frozen=True)
class Sent:
    """One signed transaction of the challenge (recorded before it was broadcast)."""

    tx_hash: bytes
    action: str  # COMMIT or REVEAL
    nonce: int
    max_fee: int
    tip: int
    sent_at: float  # wall clock


# -- what was observed --------------------------------------------------------------------------
@dataclass(frozen=True)
class Receipt:
    status: int
    block: int
    gas_used: int
    reason: str | None = None  # a reverted transaction's reason, when it could be replayed


class TargetState(enum.StrEnum):
    """The challenged batch as the journal sees it on L1 (not the contract's own status enum,
    :class:`~watchtower.l1.rollup.OnChainStatus`: replaced and rejected are both GONE here)."""

    PENDING = "pending"
    GONE = "gone"  # rejected, or its index now holds another batch: someone proved it
    FINALIZED = "finalized"


@dataclass(frozen=True)
class ChainView:
    """One observation of L1, taken in this order: nonce, batch, receipts, the rest (so that a
    transaction of ours mined meanwhile shows up in the later reads, never as 'taken')."""

    l1_time: int = 0
    head: int = 0
    confirmed_nonce: int = 0  # eth_getTransactionCount(us, 'latest')
    batch: TargetState = TargetState.PENDING
    receipts: Mapping[bytes, Receipt] = field(default_factory=dict)
    commitment_block: int | None = None  # commitments(us, c); None: no commitment
    simulation: str | None = None  # the eth_call of the reveal: None = no revert, else reason
    simulated: bool = False  # whether the eth_call was made
    base_fee: int = 0
    tip: int = 10**9
    error: str | None = None  # the observation failed: nothing above can be trusted


# -- decisions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fees:
    max_fee: int
    tip: int


@dataclass(frozen=True)
class SendCommit:
    fees: Fees
    fresh_nonce: bool  # allocate a new nonce (first commit, or the old one was spent)


@dataclass(frozen=True)
class SendReveal:
    fees: Fees
    fresh_nonce: bool


@dataclass(frozen=True)
class Bump:
    action: str
    nonce: int
    fees: Fees
    urgent: bool
    capped: bool  # the fee cap limited this replacement


@dataclass(frozen=True)
class Rebroadcast:
    tx_hash: bytes


@dataclass(frozen=True)
class Simulate:
    """A transaction is due: observe again with an ``eth_call`` of the reveal, then decide.
    (The call is made only when something is to be sent, not on every tick.)"""


@dataclass(frozen=True)
class Wait:
    reason: str
    fee_cap_reached: bool = False


@dataclass(frozen=True)
class Retry:
    """A transient failure: try again after ``delay`` seconds (the backoff grows)."""

    reason: str
    delay: float


class End(enum.StrEnum):
    SUCCEEDED = "succeeded"
    ALREADY_REJECTED = "already_rejected"
    NO_FRAUD = "no_fraud"  # a failure that means a bug in our proof
    DEADLINE = "deadline"


@dataclass(frozen=True)
class Done:
    end: End
    detail: str
    tx_hash: bytes | None = None  # SUCCEEDED: our reveal
    receipt: Receipt | None = None


Decision = SendCommit | SendReveal | Bump | Rebroadcast | Simulate | Wait | Retry | Done


def backoff(attempts: int, policy: FeePolicy) -> float:
    """Seconds before the next try after ``attempts`` failures in a row (1, 2, 4, ... capped)."""
    return Backoff(base=policy.retry_base, cap=policy.retry_max).delay(attempts + 1)


def first_fees(view: ChainView, policy: FeePolicy) -> Fees:
    tip = max(view.tip, 1)
    max_fee = 2 * view.base_fee + tip
    if max_fee > policy.max_fee_cap:
        max_fee = policy.max_fee_cap
        tip = min(tip, max_fee)
    return Fees(max_fee, tip)


def bumped_fees(last: Sent, urgent: bool, policy: FeePolicy) -> tuple[Fees, bool] | None:
    """Fees of a replacement of ``last`` (both up by 12.5 %, or x2 when ``urgent``) and whether
    the cap limited them; ``None`` when the cap leaves no room for a valid replacement (+10 %)."""
    num, den = (2, 1) if urgent else (policy.bump_factor_num, policy.bump_factor_den)
    tip = last.tip * num // den + 1
    max_fee = last.max_fee * num // den + 1
    if max_fee <= policy.max_fee_cap:
        return Fees(max_fee, tip), False
    max_fee = policy.max_fee_cap
    if max_fee * 10 < last.max_fee * 11:  # not a valid replacement any more
        return None
    tip = min(tip, max_fee)
    if tip * 10 < last.tip * 11:
        return None
    return Fees(max_fee, tip), True


def _of(subs: Sequence[Sent], action: str, nonce: int | None) -> list[Sent]:
    return [s for s in subs if s.action == action and s.nonce == nonce]


def _in_flight(
    action: str, nonce: int | None, subs: Sequence[Sent], view: ChainView, *, now: float,
    deadline: int, policy: FeePolicy,
) -> Decision | None:  # fmt: skip
    """For an action whose nonce is allocated and has no receipt: the decision while it is in
    flight, or ``None`` when it must be (re)sent: with a fresh nonce when another transaction
    took it, with the same nonce when it was allocated but never signed (a crash)."""
    if nonce is None or view.confirmed_nonce > nonce:
        return None  # none yet, or the nonce was used by a transaction that is not ours
    mine = _of(subs, action, nonce)
    if not mine:
        return None  # allocated, never signed: sign now with that same nonce
    last = mine[-1]
    if now - last.sent_at < policy.bump_after:
        return Rebroadcast(last.tx_hash)
    urgent = deadline - view.l1_time < policy.urgent_window
    bumped = bumped_fees(last, urgent, policy)
    if bumped is None:
        return Wait(f"{action} at the fee cap {policy.max_fee_cap}", fee_cap_reached=True)
    fees, capped = bumped
    return Bump(action, nonce, fees, urgent, capped)


def decide(
    record: Record, subs: Sequence[Sent], view: ChainView, now: float, policy: FeePolicy
) -> Decision:
    """What to do next for ``record`` (see the module docstring for the rules)."""
    if view.error is not None:
        return Retry(f"observation failed: {view.error}", backoff(record.attempts, policy))
    for sub in subs:
        receipt = view.receipts.get(sub.tx_hash)
        if sub.action == REVEAL and receipt is not None and receipt.status == 1:
            return Done(End.SUCCEEDED, "rejected on chain", sub.tx_hash, receipt)
    if view.batch is TargetState.GONE:
        return Done(End.ALREADY_REJECTED, "rejected on chain by another party")
    if view.l1_time > record.deadline or view.batch is TargetState.FINALIZED:
        return Done(End.DEADLINE, "deadline passed")
    ended, reveal_spent = _reverted_reveal(record, subs, view, now, policy)
    if ended is not None:
        return ended
    if view.commitment_block is None:
        return _commit_phase(record, subs, view, now, policy)
    return _reveal_phase(record, subs, view, now, policy, reveal_spent=reveal_spent)


def _reverted_reveal(
    record: Record, subs: Sequence[Sent], view: ChainView, now: float, policy: FeePolicy
) -> tuple[Decision | None, bool]:
    """A reveal of ours that reverted at the current reveal nonce: a definite end ("no fraud",
    "challenge period over"), a wait before trying again, or ``(None, spent)``."""
    spent = False
    for sub in _of(subs, REVEAL, record.reveal_nonce):
        receipt = view.receipts.get(sub.tx_hash)
        if receipt is None:
            continue
        outcome = classify(receipt.reason)
        if outcome is Outcome.NO_FRAUD:
            return Done(End.NO_FRAUD, f"reveal reverted: {receipt.reason}"), True
        if outcome is Outcome.DEADLINE:
            return Done(End.DEADLINE, f"reveal reverted: {receipt.reason}"), True
        spent = True
        if outcome not in (Outcome.NO_COMMITMENT, Outcome.TOO_RECENT, Outcome.NOT_PENDING):
            # Not understood (out of gas? a node's quirk?): sent again with a fresh nonce, after
            # a wait that doubles with every reverted reveal.
            reverted = sum(
                1
                for s in subs
                if s.action == REVEAL and s.tx_hash in view.receipts
                and view.receipts[s.tx_hash].status == 0
            )  # fmt: skip
            wait = backoff(reverted - 1, policy)
            if now - sub.sent_at < wait:
                return Retry(f"reveal reverted: {receipt.reason}", wait - (now - sub.sent_at)), True
    return None, spent


def _commit_phase(
    record: Record, subs: Sequence[Sent], view: ChainView, now: float, policy: FeePolicy
) -> Decision:
    """No commitment of ours on chain: wait for the one in flight, or send one."""
    receipts = [
        view.receipts[s.tx_hash]
        for s in _of(subs, COMMIT, record.commit_nonce)
        if s.tx_hash in view.receipts
    ]
    if any(r.status == 1 for r in receipts):
        # Mined, yet not in the contract's state: a reorg under way, or our reveal took it
        # (its receipt and the batch's status say so on the next observation).
        return Wait("commit mined but the commitment is not in the state yet")
    if not receipts:  # (a reverted commit spent its nonce: it is sent again)
        flight = _in_flight(
            COMMIT, record.commit_nonce, subs, view,
            now=now, deadline=record.deadline, policy=policy,
        )  # fmt: skip
        if flight is not None:
            return flight
    # A commit is due: only for a proof the contract accepts up to the commitment check.
    if not view.simulated:
        return Simulate()
    outcome = classify(view.simulation)
    if outcome in (Outcome.NO_COMMITMENT, Outcome.OK, Outcome.TOO_RECENT):
        spent = record.commit_nonce is not None and (
            bool(receipts) or view.confirmed_nonce > record.commit_nonce
        )
        fresh = record.commit_nonce is None or spent
        return SendCommit(first_fees(view, policy), fresh_nonce=fresh)
    return _simulation_failed(outcome, view, record, policy)


def _reveal_phase(
    record: Record, subs: Sequence[Sent], view: ChainView, now: float, policy: FeePolicy,
    *, reveal_spent: bool,
) -> Decision:  # fmt: skip
    """Our commitment is on chain: wait for depth, follow the reveal in flight, or send it."""
    assert view.commitment_block is not None
    if view.head < view.commitment_block + policy.reveal_depth:
        return Wait(f"commitment in block {view.commitment_block}, waiting for depth")
    if not reveal_spent:
        flight = _in_flight(
            REVEAL, record.reveal_nonce, subs, view,
            now=now, deadline=record.deadline, policy=policy,
        )  # fmt: skip
        if flight is not None:
            return flight
    if not view.simulated:
        return Simulate()
    outcome = classify(view.simulation)
    if outcome in (Outcome.OK, Outcome.TOO_RECENT):
        # TOO_RECENT: every other check passed and the commitment exists; the reveal lands in
        # a later block than the one the call ran in.
        spent = record.reveal_nonce is not None and (
            reveal_spent or view.confirmed_nonce > record.reveal_nonce
        )
        fresh = record.reveal_nonce is None or spent
        return SendReveal(first_fees(view, policy), fresh_nonce=fresh)
    return _simulation_failed(outcome, view, record, policy)


def _simulation_failed(
    outcome: Outcome, view: ChainView, record: Record, policy: FeePolicy
) -> Decision:
    if outcome is Outcome.NO_FRAUD:
        return Done(End.NO_FRAUD, f"eth_call: {view.simulation}")
    if outcome is Outcome.DEADLINE:
        return Done(End.DEADLINE, f"eth_call: {view.simulation}")
    # NOT_PENDING while the batch reads as pending (two reads at different heads), a missing
    # commitment after ours was seen, an unknown revert or an RPC error: not an answer.
    return Retry(f"eth_call: {view.simulation}", backoff(record.attempts, policy))
