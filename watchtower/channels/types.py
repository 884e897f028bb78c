"""Domain types of the channel schemes (docs/channels.md): the signed off-chain messages, the
reward offer, and the monitoring request a user hands to the guardian."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """Which scheme a monitoring request is for."""

    STATE = "state"  # bidirectional state channel (StateChannel.sol)
    PAYMENT = "payment"  # unidirectional payment channel (PaymentChannel.sol)
    CHEQUE = "cheque"  # chequebook (Chequebook.sol)


#: EIP-712 domain names of the three contracts (docs/channels.md §1); version "1".
DOMAIN_NAMES = {
    Kind.STATE: "WatchtowerStateChannel",
    Kind.PAYMENT: "WatchtowerPaymentChannel",
    Kind.CHEQUE: "WatchtowerChequebook",
}
DOMAIN_VERSION = "1"


@dataclass(frozen=True)
class Domain:
    """An EIP-712 domain: the contract and chain a message is valid for."""

    kind: Kind
    chain_id: int
    contract: bytes  # 20 bytes


@dataclass(frozen=True)
class ChannelState:
    """``State(channelId, nonce, balanceA, balanceB)``, signed by both parties."""

    channel_id: int
    nonce: int
    balance_a: int
    balance_b: int


@dataclass(frozen=True)
class Payment:
    """``Payment(channelId, amount)``: a cumulative amount, signed by the sender."""

    channel_id: int
    amount: int


@dataclass(frozen=True)
class Cheque:
    """``Cheque(beneficiary, cumulativePayout)``, signed by the issuer; the chequebook is the
    domain's contract."""

    beneficiary: bytes  # 20 bytes
    cumulative_payout: int


@dataclass(frozen=True)
class Reward:
    """``Reward(channelId, nonce, amount, monitor)``, signed by the user the guardian acts for:
    paid out of that user's money only when ``monitor``'s transaction carried it."""

    channel_id: int
    nonce: int
    amount: int
    monitor: bytes  # 20 bytes


Message = ChannelState | Payment | Cheque


@dataclass(frozen=True)
class MonitoringRequest:
    """What a user hands the guardian (docs/channels.md §5). ``signatures``: both parties' for a
    state (A's, then B's), the sender's for a payment, the issuer's for a cheque."""

    kind: Kind
    chain_id: int
    contract: bytes
    message: Message
    signatures: tuple[bytes, ...]
    reward: Reward | None = None
    reward_signature: bytes = b""

    @property
    def domain(self) -> Domain:
        return Domain(self.kind, self.chain_id, self.contract)

    @property
    def channel_key(self) -> int:
        """The channel the request is about (for a chequebook: the beneficiary as an integer):
        the guardian keeps one request per (contract, channel_key)."""
        if isinstance(self.message, Cheque):
            return int.from_bytes(self.message.beneficiary, "big")
        return self.message.channel_id

    @property
    def sequence(self) -> int:
        """What must strictly increase between two requests for the same channel: the state's
        nonce, the payment's or cheque's cumulative amount."""
        if isinstance(self.message, ChannelState):
            return self.message.nonce
        if isinstance(self.message, Payment):
            return self.message.amount
        return self.message.cumulative_payout
