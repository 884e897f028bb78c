"""Typed clients of the channel contracts (docs/channels.md §2–§4) over web3.py.

:class:`StateChannelClient` (contracts/StateChannel.sol), :class:`PaymentChannelClient`
(contracts/PaymentChannel.sol) and :class:`ChequebookClient` (contracts/Chequebook.sol): deploy,
the write methods (each takes a :class:`~watchtower.submit.signer.TxSigner`, signs locally and
sends raw, like :class:`~watchtower.l1.rollup.RollupClient`; a revert raises
:class:`~watchtower.l1.rollup.L1TransactionError` with the contract's reason), the views, and the
events decoded into frozen dataclasses that say where they were logged.

Messages and rewards are the domain types of :mod:`watchtower.channels.types`; addresses in the
returned dataclasses are 20 raw bytes, like theirs. A missing reward is :data:`NO_REWARD` with an
empty signature.

The clients live in :mod:`watchtower.l1.state_channel_client`,
:mod:`watchtower.l1.payment_channel_client` and :mod:`watchtower.l1.chequebook_client` (what they
share in :mod:`watchtower.l1.channel_contract`), the events in :mod:`watchtower.l1.channel_events`;
this module gathers their public names.
"""

from __future__ import annotations

from watchtower.l1.channel_contract import NO_REWARD
from watchtower.l1.channel_events import (
    ChannelClosing,
    ChannelDeposit,
    ChannelEvent,
    ChannelOpened,
    ChannelSettled,
    ChannelUpdated,
    ChequeBounced,
    ChequeCashed,
    IssuerWithdrew,
    PaymentChannelClaimed,
    PaymentChannelOpened,
    PaymentChannelReclaimed,
)
from watchtower.l1.chequebook_client import CHEQUEBOOK_REVERTS, ChequebookClient
from watchtower.l1.payment_channel_client import (
    PAYMENT_CHANNEL_REVERTS,
    OnChainPaymentChannel,
    PaymentChannelClient,
    PaymentStatus,
)
from watchtower.l1.state_channel_client import (
    STATE_CHANNEL_REVERTS,
    OnChainStateChannel,
    StateChannelClient,
    StateStatus,
)

__all__ = [
    "CHEQUEBOOK_REVERTS",
    "NO_REWARD",
    "PAYMENT_CHANNEL_REVERTS",
    "STATE_CHANNEL_REVERTS",
    "ChannelClosing",
    "ChannelDeposit",
    "ChannelEvent",
    "ChannelOpened",
    "ChannelSettled",
    "ChannelUpdated",
    "ChequeBounced",
    "ChequeCashed",
    "ChequebookClient",
    "IssuerWithdrew",
    "OnChainPaymentChannel",
    "OnChainStateChannel",
    "PaymentChannelClaimed",
    "PaymentChannelClient",
    "PaymentChannelOpened",
    "PaymentChannelReclaimed",
    "PaymentStatus",
    "StateChannelClient",
    "StateStatus",
]
