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
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, cast

from eth_typing import ABIEvent, ChecksumAddress
from eth_utils.abi import event_abi_to_log_topic
from web3 import Web3
from web3._utils.events import get_event_data
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import EventData, FilterParams, LogReceipt, TxReceipt, Wei

from watchtower.channels.types import ChannelState, Cheque, Payment, Reward
from watchtower.l1.rollup import L1TransactionError, _base_tx, _sign_and_send, estimate_gas, reverts
from watchtower.l1.rollup import _reason as _revert_reason
from watchtower.rollup.artifacts import load_artifact
from watchtower.submit.signer import TxSigner

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

#: Every revert reason of each contract, in the order its functions check them (docs/channels.md
#: §2–§4, "Exact details"); an :class:`L1TransactionError`'s ``reason`` is one of these.
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
PAYMENT_CHANNEL_REVERTS: tuple[str, ...] = tuple(
    "PaymentChannel: " + r
    for r in (
        "recipient is zero",
        "recipient is the sender",
        "expiration not in the future",
        "not open",
        "expired",
        "bad signature",
        "bad reward",
        "not the sender",
        "not expired",
        "nothing owed",
        "transfer failed",
    )
)
CHEQUEBOOK_REVERTS: tuple[str, ...] = tuple(
    "Chequebook: " + r
    for r in (
        "issuer is zero",
        "bad signature",
        "nothing to cash",
        "bad reward",
        "not the issuer",
        "amount above the liquid balance",
        "nothing owed",
        "transfer failed",
    )
)

ZERO_ADDRESS = b"\x00" * 20
#: The empty reward (``amount = 0``): send it with an empty signature.
NO_REWARD = Reward(channel_id=0, nonce=0, amount=0, monitor=ZERO_ADDRESS)


def _addr(a: str | bytes) -> ChecksumAddress:
    """A checksum address from 20 bytes or a hex string."""
    if isinstance(a, bytes):
        if len(a) != 20:
            raise ValueError(f"an address is 20 bytes, got {len(a)}")
        return Web3.to_checksum_address(a)
    return Web3.to_checksum_address(a)


def _raw(a: Any) -> bytes:
    """20 bytes from an address the ABI decoder returned."""
    return bytes.fromhex(str(a)[2:])


def _reward_tuple(r: Reward) -> tuple[int, int, int, str]:
    return (r.channel_id, r.nonce, r.amount, _addr(r.monitor))


def _state_tuple(s: ChannelState) -> tuple[int, int, int, int]:
    return (s.channel_id, s.nonce, s.balance_a, s.balance_b)


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


# -- the shared client machinery ------------------------------------------------------------------


class _ChannelContract:
    """Sending, event decoding and ``owed``/``withdraw``, common to the three contracts."""

    CONTRACT_NAME = ""
    #: the events decoded into dataclasses (others, e.g. ``Withdrawn``, are skipped)
    EVENTS: tuple[str, ...] = ()

    def __init__(self, w3: Web3, address: str | bytes) -> None:
        self.w3 = w3
        self.address = _addr(address)
        abi: list[dict[str, Any]] = load_artifact(self.CONTRACT_NAME)["abi"]  # type: ignore[assignment]
        self.contract: Contract = w3.eth.contract(address=self.address, abi=abi)
        self._events: dict[bytes, tuple[str, ABIEvent]] = {}
        for entry in abi:
            if entry.get("type") == "event" and entry["name"] in self.EVENTS:
                event = cast(ABIEvent, entry)
                self._events[bytes(event_abi_to_log_topic(event))] = (entry["name"], event)

    @classmethod
    def _deploy_contract(
        cls, w3: Web3, deployer: TxSigner, args: tuple[Any, ...], value: int = 0
    ) -> str:
        artifact = load_artifact(cls.CONTRACT_NAME)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        params = _base_tx(w3, deployer)
        params["value"] = Wei(value)
        tx = factory.constructor(*args).build_transaction(params)
        receipt = _sign_and_send(w3, deployer, tx, f"deploy {cls.CONTRACT_NAME}")
        address = receipt["contractAddress"]
        if address is None:
            raise L1TransactionError(f"deploy {cls.CONTRACT_NAME}", "no contract address")
        return str(address)

    def _send(
        self, sender: TxSigner, fn: ContractFunction, action: str, value: int = 0
    ) -> TxReceipt:
        params = _base_tx(self.w3, sender)
        params["value"] = Wei(value)
        try:
            params["gas"] = estimate_gas(fn, params) * 5 // 4 + 25_000
            tx = fn.build_transaction(params)
        except reverts() as exc:
            raise L1TransactionError(action, _revert_reason(exc)) from None
        return _sign_and_send(self.w3, sender, tx, action)

    # -- events ---------------------------------------------------------------------------------
    def _decode_logs(self, logs: list[LogReceipt]) -> list[ChannelEvent]:
        out: list[ChannelEvent] = []
        for log in logs:
            if _addr(str(log["address"])) != self.address or not log["topics"]:
                continue
            known = self._events.get(bytes(log["topics"][0]))
            if known is None:
                continue
            name, abi = known
            out.append(_decode(name, get_event_data(self.w3.codec, abi, log)))
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out

    def events(self, from_block: int, to_block: int) -> list[ChannelEvent]:
        """This contract's events in blocks ``from_block`` .. ``to_block``, in chain order."""
        params: FilterParams = {
            "address": self.address,
            "fromBlock": from_block,
            "toBlock": to_block,
        }
        return self._decode_logs(list(self.w3.eth.get_logs(params)))

    def receipt_events(self, receipt: TxReceipt) -> list[ChannelEvent]:
        """This contract's events in a transaction receipt."""
        return self._decode_logs(list(receipt["logs"]))

    # -- common ---------------------------------------------------------------------------------
    def owed(self, account: str | bytes) -> int:
        return int(self.contract.functions.owed(_addr(account)).call())

    def domain_separator(self) -> bytes:
        return bytes(self.contract.functions.domainSeparator().call())

    def hash_reward(self, r: Reward) -> bytes:
        """The contract's EIP-712 digest of ``r`` (what the user signs)."""
        return bytes(self.contract.functions.hashReward(_reward_tuple(r)).call())

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)


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


# -- chequebook ---------------------------------------------------------------------------------


class ChequebookClient(_ChannelContract):
    """Read and write one issuer's Chequebook contract (docs/channels.md §4)."""

    CONTRACT_NAME = "Chequebook"
    EVENTS = ("ChequeCashed", "ChequeBounced", "IssuerWithdrew")

    @classmethod
    def deploy(
        cls, w3: Web3, deployer: TxSigner, issuer: str | bytes, balance: int = 0
    ) -> ChequebookClient:
        return cls(w3, cls._deploy_contract(w3, deployer, (_addr(issuer),), value=balance))

    def cash_cheque_function(
        self,
        cheque: Cheque,
        issuer_sig: bytes,
        *,
        reward: Reward = NO_REWARD,
        reward_sig: bytes = b"",
    ) -> ContractFunction:
        return self.contract.functions.cashCheque(
            _addr(cheque.beneficiary),
            cheque.cumulative_payout,
            issuer_sig,
            _reward_tuple(reward),
            reward_sig,
        )

    def cash_cheque(
        self,
        sender: TxSigner,
        cheque: Cheque,
        issuer_sig: bytes,
        *,
        reward: Reward = NO_REWARD,
        reward_sig: bytes = b"",
    ) -> TxReceipt:
        fn = self.cash_cheque_function(cheque, issuer_sig, reward=reward, reward_sig=reward_sig)
        return self._send(
            sender,
            fn,
            f"cash cheque of {cheque.cumulative_payout} for 0x{cheque.beneficiary.hex()}",
        )

    def deposit(self, sender: TxSigner, amount: int) -> TxReceipt:
        fn = self.contract.functions.deposit()
        return self._send(sender, fn, "deposit to chequebook", value=amount)

    def issuer_withdraw(self, issuer: TxSigner, amount: int) -> TxReceipt:
        """``withdraw(uint256)``: the issuer moves ``amount`` of the liquid balance to its owed."""
        fn = self.contract.get_function_by_signature("withdraw(uint256)")(amount)
        return self._send(issuer, fn, f"issuer withdraws {amount} from the chequebook")

    def withdraw(self, sender: TxSigner) -> TxReceipt:
        """``withdraw()``: pay the caller its ``owed``."""
        fn = self.contract.get_function_by_signature("withdraw()")()
        return self._send(sender, fn, "withdraw")

    # -- views ----------------------------------------------------------------------------------
    def issuer(self) -> bytes:
        return _raw(self.contract.functions.issuer().call())

    def paid_out(self, beneficiary: str | bytes) -> int:
        return int(self.contract.functions.paidOut(_addr(beneficiary)).call())

    def liquid_balance(self) -> int:
        return int(self.contract.functions.liquidBalance().call())

    def total_owed(self) -> int:
        return int(self.contract.functions.totalOwed().call())

    def hash_cheque(self, cheque: Cheque) -> bytes:
        """The contract's EIP-712 digest of ``cheque`` (what the issuer signs)."""
        fn = self.contract.functions.hashCheque(_addr(cheque.beneficiary), cheque.cumulative_payout)
        return bytes(fn.call())
