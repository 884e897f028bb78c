"""The typed client of the StateChannel contract (contracts/StateChannel.sol, docs/channels.md
§2): deploy, the writes, the views and the on-chain channel."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from watchtower.channels.types import ChannelState, Reward
from watchtower.l1.channel_contract import (
    NO_REWARD,
    _addr,
    _ChannelContract,
    _reward_tuple,
    _state_tuple,
)
from watchtower.l1.channel_events import ChannelOpened, _raw
from watchtower.submit.signer import TxSigner

__all__ = ["STATE_CHANNEL_REVERTS", "OnChainStateChannel", "StateChannelClient", "StateStatus"]

#: Every revert reason of StateChannel, in the order its functions check them (docs/channels.md
#: §2, "Exact details"); an :class:`L1TransactionError`'s ``reason`` is one of these.
STATE_CHANNEL_REVERTS: tuple[str, ...] = tuple(
    "StateChannel: " + r
    for r in (
        "counterparty is zero",
        "counterparty is the opener",
        "settlement window out of range",
        "not open",
        "deposit of zero",
        "not a party",
        "not closing",
        "window over",
        "nonce not higher",
        "wrong channel",
        "balances do not match the deposits",
        "bad signature",
        "bad reward",
        "window not over",
        "nothing owed",
        "transfer failed",
    )
)

# -- state channel ------------------------------------------------------------------------------


class StateStatus(enum.IntEnum):
    NONE = 0
    OPEN = 1
    CLOSING = 2
    SETTLED = 3


@dataclass(frozen=True)
class OnChainStateChannel:
    """``StateChannel.channels(id)``: the state fields are the stored state while closing, the
    settled one once settled; the reward fields the latest update's reward."""

    channel_id: int
    a: bytes
    b: bytes
    deposit_a: int
    deposit_b: int
    settlement_window: int
    deadline: int
    status: StateStatus
    closer: bytes
    nonce: int
    balance_a: int
    balance_b: int
    reward_monitor: bytes
    reward_payer: bytes
    reward_amount: int

    @property
    def total(self) -> int:
        return self.deposit_a + self.deposit_b


class StateChannelClient(_ChannelContract):
    """Read and write a StateChannel contract (docs/channels.md §2)."""

    CONTRACT_NAME = "StateChannel"
    EVENTS = (
        "ChannelOpened",
        "ChannelDeposit",
        "ChannelClosing",
        "ChannelUpdated",
        "ChannelSettled",
    )
    MIN_WINDOW = 60
    MAX_WINDOW = 30 * 24 * 3600

    @classmethod
    def deploy(cls, w3: Web3, deployer: TxSigner) -> StateChannelClient:
        return cls(w3, cls._deploy_contract(w3, deployer, ()))

    def open(
        self, sender: TxSigner, b: str | bytes, settlement_window: int, deposit: int = 0
    ) -> tuple[int, TxReceipt]:
        """Open a channel with ``b`` (sender = A); returns (channel id, receipt)."""
        fn = self.contract.functions.open(_addr(b), settlement_window)
        receipt = self._send(sender, fn, "open state channel", value=deposit)
        opened = [e for e in self.receipt_events(receipt) if isinstance(e, ChannelOpened)]
        return opened[0].channel_id, receipt

    def deposit(self, sender: TxSigner, channel_id: int, amount: int) -> TxReceipt:
        fn = self.contract.functions.deposit(channel_id)
        return self._send(sender, fn, f"deposit to state channel {channel_id}", value=amount)

    def cooperative_close(
        self, sender: TxSigner, state: ChannelState, sig_a: bytes, sig_b: bytes
    ) -> TxReceipt:
        fn = self.contract.functions.cooperativeClose(
            state.channel_id, _state_tuple(state), sig_a, sig_b
        )
        return self._send(sender, fn, f"cooperative close of state channel {state.channel_id}")

    def close(
        self, sender: TxSigner, state: ChannelState, sig_a: bytes = b"", sig_b: bytes = b""
    ) -> TxReceipt:
        fn = self.contract.functions.close(state.channel_id, _state_tuple(state), sig_a, sig_b)
        return self._send(
            sender, fn, f"close state channel {state.channel_id} at nonce {state.nonce}"
        )

    def update_function(
        self,
        state: ChannelState,
        sig_a: bytes,
        sig_b: bytes,
        *,
        reward: Reward = NO_REWARD,
        reward_sig: bytes = b"",
    ) -> ContractFunction:
        """The ``update`` call, unsent (for a journal that signs and sends itself)."""
        return self.contract.functions.update(
            state.channel_id,
            _state_tuple(state),
            sig_a,
            sig_b,
            _reward_tuple(reward),
            reward_sig,
        )

    def update(
        self,
        sender: TxSigner,
        state: ChannelState,
        sig_a: bytes,
        sig_b: bytes,
        *,
        reward: Reward = NO_REWARD,
        reward_sig: bytes = b"",
    ) -> TxReceipt:
        fn = self.update_function(state, sig_a, sig_b, reward=reward, reward_sig=reward_sig)
        return self._send(
            sender, fn, f"update state channel {state.channel_id} to nonce {state.nonce}"
        )

    def settle_function(self, channel_id: int) -> ContractFunction:
        return self.contract.functions.settle(channel_id)

    def settle(self, sender: TxSigner, channel_id: int) -> TxReceipt:
        return self._send(
            sender, self.settle_function(channel_id), f"settle state channel {channel_id}"
        )

    def withdraw(self, sender: TxSigner) -> TxReceipt:
        return self._send(sender, self.contract.functions.withdraw(), "withdraw")

    # -- views ----------------------------------------------------------------------------------
    def channel_count(self) -> int:
        return int(self.contract.functions.channelCount().call())

    def channel(self, channel_id: int) -> OnChainStateChannel:
        raw = self.contract.functions.channels(channel_id).call()
        a, b, dep_a, dep_b, window, deadline, status, closer, nonce, bal_a, bal_b = raw[:11]
        monitor, payer, amount = raw[11:]
        return OnChainStateChannel(
            channel_id=channel_id,
            a=_raw(a),
            b=_raw(b),
            deposit_a=int(dep_a),
            deposit_b=int(dep_b),
            settlement_window=int(window),
            deadline=int(deadline),
            status=StateStatus(int(status)),
            closer=_raw(closer),
            nonce=int(nonce),
            balance_a=int(bal_a),
            balance_b=int(bal_b),
            reward_monitor=_raw(monitor),
            reward_payer=_raw(payer),
            reward_amount=int(amount),
        )

    def hash_state(self, state: ChannelState) -> bytes:
        """The contract's EIP-712 digest of ``state`` (what both parties sign)."""
        return bytes(self.contract.functions.hashState(_state_tuple(state)).call())
