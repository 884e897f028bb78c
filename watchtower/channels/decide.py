"""The channel guardian's decisions (docs/channels.md §6): a pure function per watched channel of
the request held, one observation of the chain, the journal's record of what was already sent
for it, and the guardian's policy. Like :mod:`watchtower.submit.decide` for challenges: it reads
no clock (``now`` is the L1 time of the observation, in the view) and no network, so every rule
has a millisecond unit test (``tests/unit/test_channels_decide.py``).

A decision is a :data:`Plan`: zero or more :class:`Alert` first, then exactly one of
:class:`SendUpdate`, :class:`SendSettle`, :class:`SendClaim`, :class:`SendCash`, :class:`Wait` or
:class:`Done`. A ``Send*`` is returned only for an action the journal has no record of (its
:attr:`key`): once recorded, the journal owns it (re-broadcast, fee bumps, fresh nonce, reorgs),
so one action is never sent twice. A recorded action that *failed* (reverted for a reason the
journal does not retry) is not sent again: it is an alert (``channel_action_failed``) and
``Done``. ``Done`` is the answer for the chain as observed; the service keeps watching a channel
until its outcome is final (a reorg can undo a close, an update or a claim).

State channel (:func:`decide_state`):

* open, or not on chain: wait;
* closing with a stored nonce below the held one (a stale close): alert
  ``stale_close_detected`` and send ``update`` at once while ``now ≤ deadline`` (fees escalate
  with :attr:`SendUpdate.time_left`); after the deadline: alert ``channel_update_missed``, done.
  The reward goes with the update only when it is signed by the party that did not close (the
  contract refuses a reward of the closer: alert ``channel_reward_unpaid``);
* closing with a stored nonce ≥ the held one (ours or anyone's): done, unless the stored reward
  is ours: then wait for the deadline and send ``settle`` (it pays the reward);
* settled: done; alert ``channel_reward_unpaid`` when the settled state is ours and the reward
  paid (the contract keeps the capped amount in ``rewardAmount``) is below the one offered.

Payment channel (:func:`decide_payment`): claim at ``expiration − claim_margin`` (as late as is
safe, so an online recipient claims first; the margin is at least ``min_margin_blocks`` blocks),
never at or after ``expiration`` (alert ``channel_claim_missed``); done once claimed or
reclaimed.

Chequebook (:func:`decide_chequebook`, every held cheque of one chequebook): alert
``issuer_withdrew`` per withdrawal and ``cheque_bounced`` per bounce of a held beneficiary seen;
when the liquid balance is below the uncashed total of the held cheques, alert
``cheque_at_risk`` and cash the at-risk cheques whose beneficiary signed a reward, largest
uncashed amount first, as long as the liquid balance left pays them something.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from watchtower.channels.intake import Status, reward_signer
from watchtower.channels.types import ChannelState, Cheque, MonitoringRequest, Payment

# Alert kinds (the alert layer's incident keys are built from kind + channel).
STALE_CLOSE_DETECTED = "stale_close_detected"
CHANNEL_UPDATE_MISSED = "channel_update_missed"
CHANNEL_CLAIM_MISSED = "channel_claim_missed"
CHANNEL_REWARD_UNPAID = "channel_reward_unpaid"
CHANNEL_ACTION_FAILED = "channel_action_failed"
CHEQUE_AT_RISK = "cheque_at_risk"
ISSUER_WITHDREW = "issuer_withdrew"
CHEQUE_BOUNCED = "cheque_bounced"
ALERT_KINDS = (
    STALE_CLOSE_DETECTED,
    CHANNEL_UPDATE_MISSED,
    CHANNEL_CLAIM_MISSED,
    CHANNEL_REWARD_UNPAID,
    CHANNEL_ACTION_FAILED,
    CHEQUE_AT_RISK,
    ISSUER_WITHDREW,
    CHEQUE_BOUNCED,
)

#: docs/channels.md §6: claim an hour before expiration, and never less than 10 blocks before.
CLAIM_MARGIN = 3600
MIN_MARGIN_BLOCKS = 10
BLOCK_TIME = 12


class Action(enum.StrEnum):
    UPDATE = "update"
    SETTLE = "settle"
    CLAIM = "claim"
    CASH = "cash"


class SentStatus(enum.StrEnum):
    """Where a journaled action stands."""

    PENDING = "pending"  # recorded, signed or broadcast, no final receipt yet
    MINED = "mined"  # a receipt with status 1
    FAILED = "failed"  # reverted for good (the journal gave up on it)


@dataclass(frozen=True)
class Sent:
    """The journal's record of one action already started (matched by :attr:`key`)."""

    key: str
    status: SentStatus


@dataclass(frozen=True)
class DecidePolicy:
    guardian: bytes  # the address the guardian sends from (a reward's ``monitor``)
    claim_margin: int = CLAIM_MARGIN  # seconds before expiration a payment channel is claimed
    block_time: int = BLOCK_TIME  # seconds per L1 block
    min_margin_blocks: int = MIN_MARGIN_BLOCKS

    @property
    def effective_claim_margin(self) -> int:
        """``claim_margin``, and at least ``min_margin_blocks`` blocks' worth."""
        return max(self.claim_margin, self.min_margin_blocks * self.block_time)


# --- what the service observed ---------------------------------------------------------------


@dataclass(frozen=True)
class StateChannelView:
    """``StateChannel.channels(id)`` in one block."""

    now: int  # the L1 timestamp of the block read
    status: Status
    nonce: int = 0  # the stored state's nonce (closing or settled)
    deadline: int = 0
    closer: bytes = b""
    reward_monitor: bytes = b""  # the stored reward (the latest update's; an update without
    reward_amount: int = 0  # a reward clears it); once settled: the reward paid (capped)


@dataclass(frozen=True)
class PaymentChannelView:
    """``PaymentChannel.channels(id)`` in one block."""

    now: int
    status: Status
    expiration: int = 0


@dataclass(frozen=True)
class Withdrawal:
    """An ``IssuerWithdrew(amount, balance)`` event not yet alerted."""

    amount: int
    balance: int
    block: int = 0


@dataclass(frozen=True)
class Bounce:
    """A ``ChequeBounced(beneficiary, cumulativePayout, paid)`` event not yet alerted."""

    beneficiary: bytes
    cumulative_payout: int
    paid: int
    block: int = 0


@dataclass(frozen=True)
class ChequebookView:
    """One chequebook in one block: ``liquidBalance()``, ``paidOut(b)`` of every held
    beneficiary (a missing one is 0), the withdrawals and bounces seen since the last tick."""

    now: int
    liquid_balance: int
    paid_out: Mapping[bytes, int] = field(default_factory=dict)
    withdrawals: tuple[Withdrawal, ...] = ()
    bounced: tuple[Bounce, ...] = ()


# --- decisions -------------------------------------------------------------------------------


def _h(address: bytes) -> str:
    return "0x" + address.hex()


def action_key(request: MonitoringRequest, action: Action) -> str:
    """The journal key of one action: unique per contract, channel (or beneficiary), action and,
    for an update or a cash, the nonce or amount it carries. A claim and a settle happen once
    per channel (neither can be repeated on chain)."""
    base = f"{request.kind.value}:{_h(request.contract)}:{request.channel_key:#x}:{action.value}"
    if action in (Action.UPDATE, Action.CASH):
        return f"{base}:{request.sequence}"
    return base


@dataclass(frozen=True)
class SendUpdate:
    request: MonitoringRequest
    with_reward: bool  # the held reward goes with it (signed by the party that did not close)
    deadline: int
    time_left: int  # seconds from the observation to the deadline (fee escalation)

    @property
    def key(self) -> str:
        return action_key(self.request, Action.UPDATE)


@dataclass(frozen=True)
class SendSettle:
    request: MonitoringRequest  # names the contract and the channel

    @property
    def key(self) -> str:
        return action_key(self.request, Action.SETTLE)


@dataclass(frozen=True)
class SendClaim:
    request: MonitoringRequest
    with_reward: bool
    deadline: int  # the expiration: the claim must be in a block before it
    time_left: int

    @property
    def key(self) -> str:
        return action_key(self.request, Action.CLAIM)


@dataclass(frozen=True)
class CashOrder:
    request: MonitoringRequest
    uncashed: int  # cumulative payout minus paid out: the amount at risk
    expected_paid: int  # what the liquid balance left pays it, if the orders mine in order

    @property
    def key(self) -> str:
        return action_key(self.request, Action.CASH)


@dataclass(frozen=True)
class SendCash:
    """Cash these cheques, in this order (largest uncashed amount first): one action each."""

    orders: tuple[CashOrder, ...]


@dataclass(frozen=True)
class Alert:
    kind: str
    fields: Mapping[str, str | int]


@dataclass(frozen=True)
class Wait:
    until: int | None  # the L1 time to look again at the latest; None: the next tick
    reason: str


@dataclass(frozen=True)
class Done:
    reason: str


Send = SendUpdate | SendSettle | SendClaim | SendCash
Decision = Send | Alert | Wait | Done
Plan = tuple[Decision, ...]


def _journal(sent: Sequence[Sent]) -> dict[str, SentStatus]:
    return {s.key: s.status for s in sent}


def _failed(request: MonitoringRequest, action: Action, key: str) -> Alert:
    return Alert(
        CHANNEL_ACTION_FAILED,
        {
            "contract": _h(request.contract),
            "channel": request.channel_key,
            "action": action.value,
            "sequence": request.sequence,
            "key": key,
        },
    )


def decide_state(
    held: MonitoringRequest, view: StateChannelView, sent: Sequence[Sent], policy: DecidePolicy
) -> Plan:
    """What to do for one state channel (the module's docstring lists the rules)."""
    assert isinstance(held.message, ChannelState)
    nonce, channel = held.message.nonce, held.message.channel_id
    journal = _journal(sent)
    where: dict[str, str | int] = {"contract": _h(held.contract), "channel": channel}
    if view.status is Status.NONE:
        return (Wait(None, f"channel {channel} is not on chain (reorged out?)"),)
    if view.status is Status.OPEN:
        return (Wait(None, f"channel {channel} is open: nothing to do until a close"),)
    reward = held.reward if held.reward is not None and held.reward.amount > 0 else None
    if view.status is Status.SETTLED:
        alerts: list[Decision] = []
        ours = view.reward_monitor == policy.guardian and view.nonce == nonce
        if ours and reward is not None and view.reward_amount < reward.amount:
            alerts.append(
                Alert(
                    CHANNEL_REWARD_UNPAID,
                    {
                        **where,
                        "nonce": view.nonce,
                        "offered": reward.amount,
                        "paid": view.reward_amount,
                        "reason": "the payer's balance did not cover it",
                    },
                )
            )
        return (*alerts, Done(f"channel {channel} is settled at nonce {view.nonce}"))
    # closing
    if view.nonce >= nonce:
        ours = view.reward_monitor == policy.guardian and view.reward_amount > 0
        if not ours:
            return (
                Done(
                    f"channel {channel}: the state on chain has nonce {view.nonce} ≥ the held "
                    f"nonce {nonce}; no reward of ours to settle"
                ),
            )
        if view.now <= view.deadline:
            return (Wait(view.deadline + 1, f"channel {channel}: settle after {view.deadline}"),)
        key = action_key(held, Action.SETTLE)
        status = journal.get(key)
        if status is SentStatus.FAILED:
            return (_failed(held, Action.SETTLE, key), Done(f"channel {channel}: settle failed"))
        if status is not None:
            return (Wait(None, f"channel {channel}: settle {status.value}"),)
        return (SendSettle(held),)
    stale = Alert(
        STALE_CLOSE_DETECTED,
        {
            **where,
            "closer": _h(view.closer),
            "closing_nonce": view.nonce,
            "held_nonce": nonce,
            "deadline": view.deadline,
        },
    )
    if view.now > view.deadline:
        missed = Alert(
            CHANNEL_UPDATE_MISSED,
            {**where, "closing_nonce": view.nonce, "held_nonce": nonce, "deadline": view.deadline},
        )
        return (
            stale,
            missed,
            Done(f"channel {channel}: the window ended at {view.deadline} (now {view.now})"),
        )
    key = action_key(held, Action.UPDATE)
    status = journal.get(key)
    if status is SentStatus.FAILED:
        return (
            stale,
            _failed(held, Action.UPDATE, key),
            Done(f"channel {channel}: update to nonce {nonce} failed"),
        )
    if status is not None:
        return (stale, Wait(None, f"channel {channel}: update to nonce {nonce} {status.value}"))
    with_reward = reward is not None and reward_signer(held) != view.closer
    plan: list[Decision] = [stale]
    if reward is not None and not with_reward:
        plan.append(
            Alert(
                CHANNEL_REWARD_UNPAID,
                {
                    **where,
                    "nonce": nonce,
                    "offered": reward.amount,
                    "paid": 0,
                    "reason": "the reward is signed by the party that closed",
                },
            )
        )
    plan.append(SendUpdate(held, with_reward, view.deadline, view.deadline - view.now))
    return tuple(plan)


def claim_time(view: PaymentChannelView, policy: DecidePolicy) -> int:
    """When a payment channel is claimed: ``expiration − claim_margin`` (as late as is safe)."""
    return view.expiration - policy.effective_claim_margin


def decide_payment(
    held: MonitoringRequest, view: PaymentChannelView, sent: Sequence[Sent], policy: DecidePolicy
) -> Plan:
    """What to do for one payment channel (the module's docstring lists the rules)."""
    assert isinstance(held.message, Payment)
    channel, amount = held.message.channel_id, held.message.amount
    if view.status is Status.NONE:
        return (Wait(None, f"payment channel {channel} is not on chain (reorged out?)"),)
    if view.status in (Status.CLAIMED, Status.RECLAIMED):
        return (Done(f"payment channel {channel} is {view.status.value}"),)
    key = action_key(held, Action.CLAIM)
    status = _journal(sent).get(key)
    if view.now >= view.expiration:
        if status in (SentStatus.PENDING, SentStatus.MINED):  # sent in time: the chain decides
            return (Wait(None, f"payment channel {channel}: claim {status.value}"),)
        missed = Alert(
            CHANNEL_CLAIM_MISSED,
            {
                "contract": _h(held.contract),
                "channel": channel,
                "amount": amount,
                "expiration": view.expiration,
            },
        )
        return (missed, Done(f"payment channel {channel} expired at {view.expiration}"))
    if status is SentStatus.FAILED:
        return (
            _failed(held, Action.CLAIM, key),
            Done(f"payment channel {channel}: claim failed"),
        )
    if status is not None:
        return (Wait(None, f"payment channel {channel}: claim {status.value}"),)
    at = claim_time(view, policy)
    if view.now < at:
        return (Wait(at, f"payment channel {channel}: claim at {at}, as late as is safe"),)
    with_reward = held.reward is not None and held.reward.amount > 0
    return (SendClaim(held, with_reward, view.expiration, view.expiration - view.now),)


def decide_chequebook(
    held: Sequence[MonitoringRequest],
    view: ChequebookView,
    sent: Sequence[Sent],
    policy: DecidePolicy,
) -> Plan:
    """What to do for one chequebook, given every cheque held for it (one per beneficiary)."""
    del policy  # the same signature as the others; nothing of it matters here yet
    journal = _journal(sent)
    plan: list[Decision] = []
    contract = _h(held[0].contract) if held else ""
    uncashed: list[tuple[int, bytes, MonitoringRequest]] = []
    for request in held:
        assert isinstance(request.message, Cheque)
        beneficiary = request.message.beneficiary
        due = request.message.cumulative_payout - view.paid_out.get(beneficiary, 0)
        if due > 0:
            uncashed.append((due, beneficiary, request))
    total = sum(due for due, _, _ in uncashed)
    for w in view.withdrawals:
        plan.append(
            Alert(
                ISSUER_WITHDREW,
                {
                    "contract": contract,
                    "amount": w.amount,
                    "liquid_balance": w.balance,
                    "uncashed": total,
                    "block": w.block,
                },
            )
        )
    ours = {r.message.beneficiary for r in held if isinstance(r.message, Cheque)}
    for b in view.bounced:
        if b.beneficiary in ours:
            plan.append(
                Alert(
                    CHEQUE_BOUNCED,
                    {
                        "contract": contract,
                        "beneficiary": _h(b.beneficiary),
                        "cumulative_payout": b.cumulative_payout,
                        "paid": b.paid,
                        "block": b.block,
                    },
                )
            )
    if not uncashed:
        return (*plan, Done("every cheque held for the chequebook is cashed"))
    if view.liquid_balance >= total:
        return (
            *plan,
            Wait(None, f"liquid balance {view.liquid_balance} covers the uncashed {total}"),
        )
    plan.append(
        Alert(
            CHEQUE_AT_RISK,
            {
                "contract": contract,
                "liquid_balance": view.liquid_balance,
                "uncashed": total,
                "shortfall": total - view.liquid_balance,
                "cheques": len(uncashed),
            },
        )
    )
    uncashed.sort(key=lambda item: (-item[0], item[1]))
    left = view.liquid_balance
    orders: list[CashOrder] = []
    for due, beneficiary, request in uncashed:
        if left <= 0:
            break
        key = action_key(request, Action.CASH)
        status = journal.get(key)
        pays = min(due, left)
        if status is SentStatus.PENDING:  # will take its share of the balance when it mines
            left -= pays
            continue
        if status is SentStatus.FAILED:
            plan.append(_failed(request, Action.CASH, key))
            continue
        if status is SentStatus.MINED:  # mined but not in paid_out yet (a lagging view)
            continue
        if request.reward is None or request.reward.amount == 0:
            continue  # the beneficiary did not ask for (and pays for) cashing
        left -= pays
        orders.append(CashOrder(request, due, pays))
        if pays < request.reward.amount:
            plan.append(
                Alert(
                    CHANNEL_REWARD_UNPAID,
                    {
                        "contract": contract,
                        "beneficiary": _h(beneficiary),
                        "offered": request.reward.amount,
                        "paid": pays,
                        "reason": "the payout is below the reward (the contract caps it)",
                    },
                )
            )
    if orders:
        return (*plan, SendCash(tuple(orders)))
    return (*plan, Wait(None, "no cheque at risk that this guardian may cash"))
