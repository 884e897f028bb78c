"""The typed client of the PaymentChannel contract (contracts/PaymentChannel.sol,
docs/channels.md §3): deploy, the writes, the views and the on-chain channel."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from watchtower.channels.types import Payment, Reward
from watchtower.l1.channel_contract import (
    NO_REWARD,
    _addr,
    _ChannelContract,
    _reward_tuple,
)
from watchtower.l1.channel_events import PaymentChannelOpened, _raw
from watchtower.submit.signer import TxSigner

__all__ = [
    "PAYMENT_CHANNEL_REVERTS",
    "OnChainPaymentChannel",
    "PaymentChannelClient",
    "PaymentStatus",
]

#: Every revert reason of PaymentChannel, in the order its functions check them (docs/channels.md
#: §3, "Exact details"); an :class:`L1TransactionError`'s ``reason`` is one of these.
PAYMENT_CHANNEL_REVERTS: tuple[str, ...] = tuple(
    "PaymentChannel: " + r
    for r in (
        "recipient is zero",
        "recipient is the sender",
        "expiration not in the future",
        "not open",
        "expired",
        "bad signature",
        "only the recipient or its monitor may claim",
        "bad reward",
        "not the sender",
        "not expired",
        "nothing owed",
        "transfer failed",
    )
)

# -- payment channel ----------------------------------------------------------------------------


class PaymentStatus(enum.IntEnum):
    NONE = 0
    OPEN = 1
    CLAIMED = 2
    RECLAIMED = 3


@dataclass(frozen=True)
class OnChainPaymentChannel:
    channel_id: int
    sender: bytes
    recipient: bytes
    deposit: int
    expiration: int
    status: PaymentStatus


class PaymentChannelClient(_ChannelContract):
    """Read and write a PaymentChannel contract (docs/channels.md §3)."""

    CONTRACT_NAME = "PaymentChannel"
    EVENTS = ("PaymentChannelOpened", "PaymentChannelClaimed", "PaymentChannelReclaimed")

    @classmethod
    def deploy(cls, w3: Web3, deployer: TxSigner) -> PaymentChannelClient:
        return cls(w3, cls._deploy_contract(w3, deployer, ()))

    def open(
        self, sender: TxSigner, recipient: str | bytes, expiration: int, deposit: int
    ) -> tuple[int, TxReceipt]:
        """Open a channel to ``recipient``; returns (channel id, receipt)."""
        fn = self.contract.functions.open(_addr(recipient), expiration)
        receipt = self._send(sender, fn, "open payment channel", value=deposit)
        opened = [e for e in self.receipt_events(receipt) if isinstance(e, PaymentChannelOpened)]
        return opened[0].channel_id, receipt

    def claim_function(
        self,
        payment: Payment,
        sender_sig: bytes,
        *,
        reward: Reward = NO_REWARD,
        reward_sig: bytes = b"",
    ) -> ContractFunction:
        return self.contract.functions.claim(
            payment.channel_id, payment.amount, sender_sig, _reward_tuple(reward), reward_sig
        )

    def claim(
        self,
        sender: TxSigner,
        payment: Payment,
        sender_sig: bytes,
        *,
        reward: Reward = NO_REWARD,
        reward_sig: bytes = b"",
    ) -> TxReceipt:
        fn = self.claim_function(payment, sender_sig, reward=reward, reward_sig=reward_sig)
        return self._send(
            sender,
            fn,
            f"claim payment channel {payment.channel_id} with amount {payment.amount}",
        )

    def reclaim(self, sender: TxSigner, channel_id: int) -> TxReceipt:
        fn = self.contract.functions.reclaim(channel_id)
        return self._send(sender, fn, f"reclaim payment channel {channel_id}")

    def withdraw(self, sender: TxSigner) -> TxReceipt:
        return self._send(sender, self.contract.functions.withdraw(), "withdraw")

    # -- views ----------------------------------------------------------------------------------
    def channel_count(self) -> int:
        return int(self.contract.functions.channelCount().call())

    def channel(self, channel_id: int) -> OnChainPaymentChannel:
        sender, recipient, deposit, expiration, status = self.contract.functions.channels(
            channel_id
        ).call()
        return OnChainPaymentChannel(
            channel_id=channel_id,
            sender=_raw(sender),
            recipient=_raw(recipient),
            deposit=int(deposit),
            expiration=int(expiration),
            status=PaymentStatus(int(status)),
        )

    def hash_payment(self, payment: Payment) -> bytes:
        """The contract's EIP-712 digest of ``payment`` (what the sender signs)."""
        fn = self.contract.functions.hashPayment(payment.channel_id, payment.amount)
        return bytes(fn.call())
