"""What the channel guardian knows of a channel on L1, its two ports (the chain, the signer),
and the pure rules over those facts: the decision core's views, the journal's keys, and whether
an action is still needed or was done by someone else (docs/channels.md §6).

Kept apart from :mod:`watchtower.channels.guardian` (the executor) so that every rule here is a
plain function of values, tested without a chain.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from watchtower.channels import decide
from watchtower.channels.intake import ChainFacts, reward_signer
from watchtower.channels.intake import Status as IntakeStatus
from watchtower.channels.store import FAILED, MINED, OPEN, SUPERSEDED, ActionRow
from watchtower.channels.types import Kind, MonitoringRequest

UPDATE = "update"
SETTLE = "settle"
CLAIM = "claim"
CASH = "cash"
#: Where the contract's timing leaves no deadline (settle, cash): far enough to never expire.
NO_DEADLINE = 2**62
#: Reverted transactions of one action before it is given up (FAILED: the decision core then
#: raises channel_action_failed): a revert the chain keeps answering is not transient.
MAX_REVERTS = 3


class Status(enum.StrEnum):
    MISSING = "missing"  # no such channel
    OPEN = "open"
    CLOSING = "closing"  # state channel: unilateral close, window running
    SETTLED = "settled"  # state channel settled; payment channel claimed or reclaimed


@dataclass(frozen=True)
class Facts:
    """What L1 says about one guarded channel (or a chequebook beneficiary), as of one block."""

    status: Status
    nonce: int = 0  # state channel: the stored state's nonce
    deadline: int = 0  # state channel: end of the window; payment channel: expiration
    reward_monitor: bytes = b""  # state channel: who the stored reward pays
    reward: int = 0
    paid_out: int = 0  # chequebook: paidOut(beneficiary)
    liquid: int = 0  # chequebook: liquidBalance()
    victim_balance: int = 0  # state channel: the protected party's balance in the stored state
    #: state channel: (a, b); payment channel: (sender, recipient); chequebook: (issuer,)
    parties: tuple[bytes, ...] = ()
    closer: bytes = b""  # state channel, while closing
    deposit: int = 0  # payment channel


@dataclass(frozen=True)
class Head:
    number: int
    timestamp: int
    base_fee: int
    tip: int


@dataclass(frozen=True)
class TxReceipt:
    status: int
    block: int
    gas_used: int


@dataclass(frozen=True)
class ChannelEvent:
    """A followed event of a guarded contract (for alerts): ``name`` as in the ABI."""

    name: str
    contract: bytes
    channel_key: int
    block: int
    log_index: int
    fields: dict[str, Any] = field(default_factory=dict)


class ChannelChain(Protocol):
    """The guardian's view of L1 (an adapter over :mod:`watchtower.l1.channels` for a real node,
    an in-memory chain in the unit tests)."""

    def chain_id(self) -> int: ...
    def head(self) -> Head: ...
    def block_hash(self, number: int) -> bytes | None: ...
    def confirmed_nonce(self, address: str) -> int: ...
    def facts(self, kind: Kind, contract: bytes, channel_key: int) -> Facts: ...
    def intake_facts(self, kind: Kind, contract: bytes, channel_key: int) -> ChainFacts:
        """What intake (:func:`watchtower.channels.intake.check_request`) needs, as of the
        latest block."""
        ...

    def build(
        self, action: str, request: MonitoringRequest, sender: str, with_reward: bool
    ) -> dict[str, Any]:
        """The call of ``action`` for ``request``: ``{"to", "data", "gas"}``; raises when an
        ``eth_call`` of it reverts (:class:`ValueError` with the reason)."""
        ...

    def send_raw(self, raw: bytes) -> None: ...
    def receipt(self, tx_hash: bytes) -> TxReceipt | None: ...
    def events(self, contracts: Sequence[bytes], first: int, last: int) -> list[ChannelEvent]: ...


class Signer(Protocol):
    @property
    def address(self) -> Any: ...

    def sign_transaction(self, transaction_dict: Any) -> Any: ...


def _status(kind: Kind, facts: Facts) -> IntakeStatus:
    if facts.status is Status.MISSING:
        return IntakeStatus.NONE
    if facts.status is Status.SETTLED:
        return IntakeStatus.CLAIMED if kind is Kind.PAYMENT else IntakeStatus.SETTLED
    return IntakeStatus(facts.status.value)


def state_view(facts: Facts, now: int) -> decide.StateChannelView:
    """The decision core's view of a state channel (pure)."""
    return decide.StateChannelView(
        now=now, status=_status(Kind.STATE, facts), nonce=facts.nonce, deadline=facts.deadline,
        closer=facts.closer, reward_monitor=facts.reward_monitor, reward_amount=facts.reward,
    )  # fmt: skip


def payment_view(facts: Facts, now: int) -> decide.PaymentChannelView:
    return decide.PaymentChannelView(
        now=now, status=_status(Kind.PAYMENT, facts), expiration=facts.deadline
    )


def action_key(kind: Kind, row: ActionRow) -> str:
    """:func:`watchtower.channels.decide.action_key` of a journal row (pure)."""
    base = f"{kind.value}:{row.contract}:{row.channel_key:#x}:{row.action}"
    return f"{base}:{row.sequence}" if row.action in (UPDATE, CASH) else base


def journal_of(kind: Kind, rows: Sequence[ActionRow]) -> list[decide.Sent]:
    """The decision core's view of the journal: an open action is pending, ours mined or done
    by someone else is mined (nothing more to send), a failed one failed."""
    status = {
        OPEN: decide.SentStatus.PENDING,
        MINED: decide.SentStatus.MINED,
        SUPERSEDED: decide.SentStatus.MINED,
        FAILED: decide.SentStatus.FAILED,
    }
    return [decide.Sent(action_key(kind, r), status[r.state]) for r in rows]


def with_reward(action: str, request: MonitoringRequest, facts: Facts) -> bool:
    """Whether the reward goes with the transaction: the contract pays a state channel's only
    when signed by the party that did not close (docs/channels.md §2)."""
    if request.reward is None or request.reward.amount == 0 or action == SETTLE:
        return False
    if action == UPDATE:
        return reward_signer(request) != facts.closer
    return True


def still_needed(action: ActionRow, facts: Facts) -> bool:
    """The chain still asks for the action (pure): a reorg can take away the close an update
    answered, or bring it back."""
    if action.action == UPDATE:
        return facts.status is Status.CLOSING and facts.nonce < action.sequence
    if action.action == SETTLE:
        return facts.status is Status.CLOSING
    if action.action == CLAIM:
        return facts.status is Status.OPEN
    return facts.paid_out < action.sequence  # CASH


def done_by_others(action: ActionRow, facts: Facts) -> bool:
    """The chain shows the job done without a transaction of ours (pure)."""
    if action.action == UPDATE:
        return facts.status is Status.CLOSING and facts.nonce >= action.sequence
    if action.action == SETTLE:
        return facts.status is Status.SETTLED
    if action.action == CLAIM:
        return facts.status is not Status.OPEN
    return facts.paid_out >= action.sequence  # CASH


__all__ = [
    "CASH",
    "CLAIM",
    "MAX_REVERTS",
    "NO_DEADLINE",
    "SETTLE",
    "UPDATE",
    "ChannelChain",
    "ChannelEvent",
    "Facts",
    "Head",
    "Signer",
    "Status",
    "TxReceipt",
    "action_key",
    "done_by_others",
    "journal_of",
    "payment_view",
    "state_view",
    "still_needed",
    "with_reward",
]
