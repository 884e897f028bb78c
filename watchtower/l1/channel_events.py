"""The events of the channel contracts (docs/channels.md §2–§4) decoded into frozen dataclasses
that say where they were logged (addresses are 20 raw bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.types import EventData

__all__ = [
    "ChannelClosing",
    "ChannelDeposit",
    "ChannelEvent",
    "ChannelOpened",
    "ChannelSettled",
    "ChannelUpdated",
    "ChequeBounced",
    "ChequeCashed",
    "IssuerWithdrew",
    "PaymentChannelClaimed",
    "PaymentChannelOpened",
    "PaymentChannelReclaimed",
]


def _raw(a: Any) -> bytes:
    """20 bytes from an address the ABI decoder returned."""
    return bytes.fromhex(str(a)[2:])


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Logged:
    """Where an event was logged (the fields every event dataclass ends with)."""

    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True)
class ChannelOpened(_Logged):
    channel_id: int
    a: bytes
    b: bytes
    deposit_a: int
    settlement_window: int


@dataclass(frozen=True)
class ChannelDeposit(_Logged):
    channel_id: int
    party: bytes
    amount: int
    #: the party's deposit after this one
    total: int


@dataclass(frozen=True)
class ChannelClosing(_Logged):
    channel_id: int
    closer: bytes
    nonce: int
    balance_a: int
    balance_b: int
    deadline: int


@dataclass(frozen=True)
class ChannelUpdated(_Logged):
    channel_id: int
    updater: bytes
    nonce: int
    balance_a: int
    balance_b: int
    #: the reward the update carried (0: none; capped only at settle)
    reward: int


@dataclass(frozen=True)
class ChannelSettled(_Logged):
    channel_id: int
    #: the final balances, the reward already taken from the payer's
    balance_a: int
    balance_b: int
    monitor: bytes
    reward: int


@dataclass(frozen=True)
class PaymentChannelOpened(_Logged):
    channel_id: int
    sender: bytes
    recipient: bytes
    deposit: int
    expiration: int


@dataclass(frozen=True)
class PaymentChannelClaimed(_Logged):
    channel_id: int
    #: the signed cumulative amount (the recipient got min(amount, deposit) - reward)
    amount: int
    monitor: bytes
    reward: int


@dataclass(frozen=True)
class PaymentChannelReclaimed(_Logged):
    channel_id: int


@dataclass(frozen=True)
class ChequeCashed(_Logged):
    beneficiary: bytes
    cumulative_payout: int
    paid: int
    monitor: bytes
    reward: int


@dataclass(frozen=True)
class ChequeBounced(_Logged):
    beneficiary: bytes
    cumulative_payout: int
    paid: int


@dataclass(frozen=True)
class IssuerWithdrew(_Logged):
    amount: int
    #: the liquid balance after the withdrawal
    balance: int


ChannelEvent = (
    ChannelOpened
    | ChannelDeposit
    | ChannelClosing
    | ChannelUpdated
    | ChannelSettled
    | PaymentChannelOpened
    | PaymentChannelClaimed
    | PaymentChannelReclaimed
    | ChequeCashed
    | ChequeBounced
    | IssuerWithdrew
)


def _where(log: EventData) -> dict[str, Any]:
    return {
        "block_number": int(log["blockNumber"]),
        "block_hash": bytes(log["blockHash"]),
        "tx_hash": bytes(log["transactionHash"]),
        "log_index": int(log["logIndex"]),
    }


def _decode(name: str, log: EventData) -> ChannelEvent:
    a = log["args"]
    w = _where(log)
    if name == "ChannelOpened":
        return ChannelOpened(
            channel_id=int(a["channelId"]),
            a=_raw(a["a"]),
            b=_raw(a["b"]),
            deposit_a=int(a["depositA"]),
            settlement_window=int(a["settlementWindow"]),
            **w,
        )
    if name == "ChannelDeposit":
        return ChannelDeposit(
            channel_id=int(a["channelId"]),
            party=_raw(a["party"]),
            amount=int(a["amount"]),
            total=int(a["total"]),
            **w,
        )
    if name == "ChannelClosing":
        return ChannelClosing(
            channel_id=int(a["channelId"]),
            closer=_raw(a["closer"]),
            nonce=int(a["nonce"]),
            balance_a=int(a["balanceA"]),
            balance_b=int(a["balanceB"]),
            deadline=int(a["deadline"]),
            **w,
        )
    if name == "ChannelUpdated":
        return ChannelUpdated(
            channel_id=int(a["channelId"]),
            updater=_raw(a["updater"]),
            nonce=int(a["nonce"]),
            balance_a=int(a["balanceA"]),
            balance_b=int(a["balanceB"]),
            reward=int(a["reward"]),
            **w,
        )
    if name == "ChannelSettled":
        return ChannelSettled(
            channel_id=int(a["channelId"]),
            balance_a=int(a["balanceA"]),
            balance_b=int(a["balanceB"]),
            monitor=_raw(a["monitor"]),
            reward=int(a["reward"]),
            **w,
        )
    if name == "PaymentChannelOpened":
        return PaymentChannelOpened(
            channel_id=int(a["channelId"]),
            sender=_raw(a["sender"]),
            recipient=_raw(a["recipient"]),
            deposit=int(a["deposit"]),
            expiration=int(a["expiration"]),
            **w,
        )
    if name == "PaymentChannelClaimed":
        return PaymentChannelClaimed(
            channel_id=int(a["channelId"]),
            amount=int(a["amount"]),
            monitor=_raw(a["monitor"]),
            reward=int(a["reward"]),
            **w,
        )
    if name == "PaymentChannelReclaimed":
        return PaymentChannelReclaimed(channel_id=int(a["channelId"]), **w)
    if name == "ChequeCashed":
        return ChequeCashed(
            beneficiary=_raw(a["beneficiary"]),
            cumulative_payout=int(a["cumulativePayout"]),
            paid=int(a["paid"]),
            monitor=_raw(a["monitor"]),
            reward=int(a["reward"]),
            **w,
        )
    if name == "ChequeBounced":
        return ChequeBounced(
            beneficiary=_raw(a["beneficiary"]),
            cumulative_payout=int(a["cumulativePayout"]),
            paid=int(a["paid"]),
            **w,
        )
    if name == "IssuerWithdrew":
        return IssuerWithdrew(amount=int(a["amount"]), balance=int(a["balance"]), **w)
    raise ValueError(f"not a channel event: {name}")
