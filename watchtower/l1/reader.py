"""What watchtower reads from L1, as a port: :class:`L1Reader`.

The follower (:mod:`watchtower.follow.scanner`) and the service read L1 only through this
protocol. :class:`Web3L1Reader` is the implementation over a JSON-RPC endpoint (it wraps a
:class:`~watchtower.l1.rollup.RollupClient`); the tests have an in-memory one (``tests/fakes``).

Everything returned is a domain value: block numbers and hashes, the rollup's events as frozen
dataclasses (:class:`~watchtower.l1.rollup.BatchSubmitted`, :class:`BatchesRejected`), the
batch bytes of a ``submitBatch`` transaction already decoded as Solidity's ABI decoder does. The
errors an implementation raises for what the follower handles are the ones defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3RPCError

from watchtower.errors import WatchtowerError, one_line
from watchtower.l1.instrumented import endpoint_label
from watchtower.l1.rollup import BatchSubmitted, OnChainBatch, RollupClient
from watchtower.rollup.bridge import Deposit
from watchtower.rollup.params import RollupParams

#: What nodes say when they refuse an ``eth_getLogs`` range (or its response) as too large.
_TOO_MANY = ("too many", "more than", "limit", "range", "exceed", "response size")


class DisagreementError(WatchtowerError):
    """L1 endpoints disagree about data watchtower would act on (or one of them returns what
    the chain cannot have produced)."""


class LogRangeTooLargeError(WatchtowerError):
    """The endpoint refused an ``eth_getLogs`` range of more than one block as too large: ask
    again with a shorter one."""

    def __init__(self, first: int, last: int, detail: str) -> None:
        self.first = first
        self.last = last
        super().__init__(f"logs of blocks {first}..{last} refused: {detail}")


class TransactionUnavailableError(WatchtowerError):
    """The endpoint does not return a transaction (that it logged, or another endpoint did)."""


class NoBridgeError(WatchtowerError):
    """The rollup contract has no bridge (a protocol v1 deployment): nothing of §8 to guard."""


class BlockUnavailableError(WatchtowerError):
    """The endpoint does not have a block at or below its head (it reorged under us)."""


@dataclass(frozen=True)
class BatchesRejected:
    """A ``BatchesRejected`` event (batches ``first`` … ``last``) with where it was logged."""

    first: int
    last: int
    block_number: int
    block_hash: bytes
    log_index: int
    tx_hash: bytes


@dataclass(frozen=True)
class DepositQueued:
    """A ``DepositQueued`` event (docs/protocol.md §8.4) with where it was logged."""

    index: int
    sender: bytes
    recipient: bytes
    amount: int
    timestamp: int  # the L1 block time the deposit was queued at
    block_number: int
    block_hash: bytes
    log_index: int
    tx_hash: bytes

    def deposit(self) -> Deposit:
        """The queue entry, as the pure core knows it."""
        return Deposit(
            self.index, self.sender, self.recipient, self.amount, self.timestamp, self.block_number
        )


@dataclass(frozen=True)
class WithdrawalClaimed:
    """A ``WithdrawalClaimed`` event (§8.5): withdrawal ``step`` of batch ``index`` paid
    ``amount`` to ``account`` on L1, with where it was logged."""

    index: int
    step: int
    account: bytes
    amount: int
    block_number: int
    block_hash: bytes
    log_index: int
    tx_hash: bytes


#: The bridge's events: followed like batches, and compared between endpoints.
BridgeEvent = DepositQueued | WithdrawalClaimed
RollupEvent = BatchSubmitted | BatchesRejected | DepositQueued | WithdrawalClaimed


class L1Reader(Protocol):
    """One L1 endpoint, as the follower and the service read it."""

    @property
    def label(self) -> str:
        """The endpoint for messages and metrics: host:port, never a path (API keys)."""
        ...

    @property
    def address(self) -> str:
        """The rollup contract's address (checksummed)."""
        ...

    def head(self) -> int:
        """The number of the latest block."""
        ...

    def block_hash(self, number: int) -> bytes | None:
        """The hash of the canonical block ``number``; ``None`` if the endpoint has none."""
        ...

    def tagged_block(self, tag: str) -> int:
        """The number of the block named by ``tag`` (``safe``, ``finalized``, ``latest``)."""
        ...

    def has_code(self, block: int) -> bool:
        """Whether the rollup contract had code at the end of block ``block`` (finding the
        deployment block, where a first sync starts)."""
        ...

    def rollup_logs(self, first: int, last: int) -> list[RollupEvent]:
        """The rollup's ``BatchSubmitted``, ``BatchesRejected``, ``DepositQueued`` and
        ``WithdrawalClaimed`` events in blocks ``first`` … ``last``, in chain order.
        :class:`LogRangeTooLargeError` when the endpoint refuses the range (only for ranges of
        more than one block); :class:`DisagreementError` for a log of the rollup's events that
        does not decode."""
        ...

    def batch_calldata(self, tx_hash: bytes) -> bytes:
        """The ``batchData`` argument of the ``submitBatch`` transaction ``tx_hash``, decoded
        as the contract's ABI decoder does; :class:`~watchtower.rollup.calldata.CalldataError`
        (with the raw input) where that decoder would revert; :class:`TransactionUnavailableError`
        when the endpoint does not return the transaction."""
        ...

    def batch(self, index: int) -> OnChainBatch:
        """The contract's record of batch ``index`` (with its on-chain status)."""
        ...

    def l1_time(self) -> int:
        """The timestamp of the latest block."""
        ...

    def chain_id(self) -> int: ...

    def params(self) -> RollupParams:
        """The L2 parameters the contract was deployed with."""
        ...

    def genesis_root(self) -> bytes: ...

    def bridge_balance(self, block: int | None = None) -> int:
        """``bridgeBalance()`` at block ``block`` (default: the latest)."""
        ...

    def deposits_consumed(self, block: int | None = None) -> int:
        """``depositsConsumed()`` at block ``block`` (default: the latest)."""
        ...

    def genesis_supply(self) -> int:
        """``genesisSupply()``: what the deployment paid into the bridge (§8.6)."""
        ...


class Web3L1Reader:
    """:class:`L1Reader` over a JSON-RPC endpoint, through ``client``."""

    def __init__(self, client: RollupClient) -> None:
        self.client = client
        w3 = client.w3
        self._w3 = w3
        submitted = client.contract.events.BatchSubmitted()
        rejected = client.contract.events.BatchesRejected()
        self._events: dict[bytes, Any] = {_topic(submitted): submitted, _topic(rejected): rejected}
        names = {
            entry.get("name")
            for entry in getattr(client.contract, "abi", ())
            if entry["type"] == "event"
        }
        for name in ("DepositQueued", "WithdrawalClaimed"):
            if name in names:  # a v1 contract has no bridge
                event = getattr(client.contract.events, name)()
                self._events[_topic(event)] = event

    @property
    def label(self) -> str:
        provider = self._w3.provider
        uri = getattr(provider, "endpoint_uri", None)
        return endpoint_label(str(uri)) if uri else type(provider).__name__

    @property
    def address(self) -> str:
        return self.client.address

    def head(self) -> int:
        return int(self._w3.eth.block_number)

    def block_hash(self, number: int) -> bytes | None:
        try:
            block = self._w3.eth.get_block(number)
        except BlockNotFound:
            return None
        return bytes(block["hash"])

    def tagged_block(self, tag: str) -> int:
        return int(self._w3.eth.get_block(tag)["number"])  # type: ignore[arg-type]

    def has_code(self, block: int) -> bool:
        return len(self._w3.eth.get_code(self.client.address, block)) > 0

    def rollup_logs(self, first: int, last: int) -> list[RollupEvent]:
        # Filtered by topic here: not every node supports OR-lists of topics.
        try:
            logs = self._w3.eth.get_logs(
                {"address": self.client.address, "fromBlock": first, "toBlock": last}
            )
        except (Web3RPCError, ValueError) as exc:
            text = str(exc).lower()
            if last > first and any(word in text for word in _TOO_MANY):
                raise LogRangeTooLargeError(first, last, one_line(exc)) from exc
            raise
        events: list[RollupEvent] = []
        for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
            event = self._events.get(bytes(log["topics"][0]))
            if event is None:
                continue
            args = _decode_log(event, log)["args"]
            number, block_hash = int(log["blockNumber"]), bytes(log["blockHash"])
            log_index, tx_hash = int(log["logIndex"]), bytes(log["transactionHash"])
            if event.abi["name"] == "BatchSubmitted":
                events.append(
                    BatchSubmitted(
                        index=int(args["index"]),
                        proposer=str(args["proposer"]),
                        prev_root=bytes(args["prevRoot"]),
                        final_root=bytes(args["finalRoot"]),
                        steps_root=bytes(args["stepsRoot"]),
                        count=int(args["count"]),
                        coinbase=bytes.fromhex(str(args["coinbase"])[2:]),
                        timestamp=int(args["timestamp"]),
                        deadline=int(args["deadline"]),
                        block_number=number,
                        block_hash=block_hash,
                        tx_hash=tx_hash,
                        log_index=log_index,
                    )
                )
            elif event.abi["name"] == "DepositQueued":
                events.append(
                    DepositQueued(
                        index=int(args["index"]),
                        sender=_address(args["sender"]),
                        recipient=_address(args["recipient"]),
                        amount=int(args["amount"]),
                        timestamp=int(args["timestamp"]),
                        block_number=number,
                        block_hash=block_hash,
                        log_index=log_index,
                        tx_hash=tx_hash,
                    )
                )
            elif event.abi["name"] == "WithdrawalClaimed":
                events.append(
                    WithdrawalClaimed(
                        index=int(args["index"]),
                        step=int(args["step"]),
                        account=_address(args["account"]),
                        amount=int(args["amount"]),
                        block_number=number,
                        block_hash=block_hash,
                        log_index=log_index,
                        tx_hash=tx_hash,
                    )
                )
            else:
                events.append(
                    BatchesRejected(
                        int(args["fromIndex"]),
                        int(args["toIndex"]),
                        number,
                        block_hash,
                        log_index,
                        tx_hash,
                    )
                )
        return events

    def batch_calldata(self, tx_hash: bytes) -> bytes:
        try:
            return self.client.batch_calldata(tx_hash)
        except TransactionNotFound:
            raise TransactionUnavailableError(
                f"transaction 0x{tx_hash.hex()} not found on {self.label}"
            ) from None

    def batch(self, index: int) -> OnChainBatch:
        return self.client.batch(index)

    def l1_time(self) -> int:
        return int(self._w3.eth.get_block("latest")["timestamp"])

    def chain_id(self) -> int:
        return int(self._w3.eth.chain_id)

    def params(self) -> RollupParams:
        return self.client.params()

    def genesis_root(self) -> bytes:
        return self.client.genesis_root()

    def bridge_balance(self, block: int | None = None) -> int:
        return int(self._view("bridgeBalance", block))

    def deposits_consumed(self, block: int | None = None) -> int:
        return int(self._view("depositsConsumed", block))

    def genesis_supply(self) -> int:
        return int(self._view("genesisSupply", None))

    def _view(self, name: str, block: int | None) -> Any:
        if not any(e.get("name") == name for e in self.client.contract.abi):
            raise NoBridgeError(f"the rollup contract at {self.address} has no {name}()")
        fn = getattr(self.client.contract.functions, name)()
        return fn.call() if block is None else fn.call(block_identifier=block)


def _decode_log(event: Any, log: Any) -> Any:
    """The event's arguments; a log of the rollup's own event that does not decode cannot come
    from the chain (the contract emitted it): the endpoint is wrong, nothing of it is used."""
    try:
        return event.process_log(log)
    except Exception as exc:  # web3 and eth-abi raise several kinds for bad log data
        raise DisagreementError(
            f"log {int(log['logIndex'])} of block {int(log['blockNumber'])} does not decode as "
            f"{event.abi['name']}: {one_line(exc)}"
        ) from exc


def _address(value: Any) -> bytes:
    return bytes.fromhex(str(value)[2:])


def _topic(event: Any) -> bytes:
    abi = event.abi
    return bytes(Web3.keccak(text=f"{abi['name']}({','.join(i['type'] for i in abi['inputs'])})"))
