"""An in-memory L1 behind :class:`~watchtower.l1.reader.L1Reader`, for millisecond tests.

:class:`FakeChain` is the chain (blocks with the rollup's events, and the calldata of every
transaction ever mined); :class:`FakeL1` is one endpoint's view of it, with the faults a real
endpoint has: it lags, refuses large log ranges, serves wrong calldata for a transaction or
another hash for a block, forgets a transaction, or fails at the transport.

    chain = FakeChain(genesis_root=...)
    l1 = chain.endpoint()
    chain.mine(Submit(batch_bytes), Reject(3, 4))   # one block with two transactions
    chain.reorg(2, [Submit(other)], [])              # the last 2 blocks replaced by 2 others
    chain.mine(DepositTx(recipient, 10**18), Claim(0, 3, account, 5 * 10**17))  # the bridge

With ``genesis_supply`` set the chain has a bridge (protocol v2): its balance, queue and
``depositsConsumed()`` follow the transactions as the contract's would (a claim is not checked:
the fake contract pays whatever it is told, which is what a forged claim looks like). Without it,
the bridge's views raise :class:`~watchtower.l1.reader.NoBridgeError`, as on a v1 contract.

A transaction's hash depends only on what it is (its calldata and ``nonce``), so a transaction
mined again after a reorg keeps its hash, as on a real chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from eth_hash.auto import keccak

from watchtower.l1.reader import (
    BatchesRejected,
    DepositQueued,
    LogRangeTooLargeError,
    NoBridgeError,
    RollupEvent,
    TransactionUnavailableError,
    WithdrawalClaimed,
)
from watchtower.l1.rollup import BatchSubmitted, OnChainBatch, OnChainStatus
from watchtower.rollup.bridge import is_deposit_type
from watchtower.rollup.calldata import decode_submit_batch_calldata, encode_submit_batch_calldata
from watchtower.rollup.codec import decode_batch, steps_root
from watchtower.rollup.params import RollupParams

ADDRESS = "0x" + "Ab" * 20
PROPOSER = "0x" + "Cd" * 20
COINBASE = b"\xc0\xff\xee" + bytes(16) + b"\xc0"
BLOCK_TIME = 12
CHALLENGE_PERIOD = 7 * 24 * 3600


@dataclass(frozen=True)
class Submit:
    """A ``submitBatch`` transaction of the batch bytes ``data``. The event commits to what
    ``data`` decodes to unless ``commitment`` overrides fields of it (``index``, ``prev_root``,
    ``count``, ``final_root``, ``steps_root``); ``calldata`` replaces the transaction input
    (default: ``data`` ABI-encoded as ``submitBatch(bytes)``)."""

    data: bytes
    calldata: bytes | None = None
    commitment: dict[str, object] = field(default_factory=dict)
    timestamp: int | None = None  # default: the block's
    coinbase: bytes = COINBASE
    nonce: int = 0

    @property
    def input(self) -> bytes:
        return encode_submit_batch_calldata(self.data) if self.calldata is None else self.calldata

    @property
    def tx_hash(self) -> bytes:
        return bytes(keccak(b"submit" + self.input + self.nonce.to_bytes(8, "big")))


@dataclass(frozen=True)
class Reject:
    """A transaction whose ``BatchesRejected`` log rejects batches ``first`` … ``last``."""

    first: int
    last: int
    nonce: int = 0

    @property
    def tx_hash(self) -> bytes:
        return bytes(keccak(b"reject%d,%d,%d" % (self.first, self.last, self.nonce)))


@dataclass(frozen=True)
class DepositTx:
    """A ``deposit(recipient)`` of ``amount`` wei by ``sender``: a ``DepositQueued`` log at the
    next queue index."""

    recipient: bytes
    amount: int
    sender: bytes = b"\x5e" * 20
    nonce: int = 0

    @property
    def tx_hash(self) -> bytes:
        return bytes(
            keccak(b"deposit" + self.sender + self.recipient + b"%d,%d" % (self.amount, self.nonce))
        )


@dataclass(frozen=True)
class Claim:
    """A ``claimWithdrawal`` that paid withdrawal ``step`` of batch ``index``: a
    ``WithdrawalClaimed`` log (the fake contract checks nothing)."""

    index: int
    step: int
    account: bytes
    amount: int
    nonce: int = 0

    @property
    def tx_hash(self) -> bytes:
        return bytes(
            keccak(
                b"claim%d,%d," % (self.index, self.step)
                + self.account
                + b"%d,%d" % (self.amount, self.nonce)
            )
        )


Tx = Submit | Reject | DepositTx | Claim


@dataclass(frozen=True)
class FakeBlock:
    number: int
    hash: bytes
    timestamp: int
    events: tuple[RollupEvent, ...] = ()


class FakeChain:
    """The canonical chain: block 0 is empty, each :meth:`mine` adds one."""

    def __init__(
        self,
        *,
        genesis_root: bytes = bytes(32),
        params: RollupParams | None = None,
        chain_id: int = 31337,
        address: str = ADDRESS,
        start_time: int = 1_700_000_000,
        genesis_supply: int | None = None,
        deployed_at: int = 0,
    ) -> None:
        #: the block in which the rollup contract was deployed (it has code from there on)
        self.deployed_at = deployed_at
        self.genesis_root = genesis_root
        self.genesis_supply = genesis_supply
        self.params = params or RollupParams()
        self.chain_id = chain_id
        self.address = address
        self.inputs: dict[bytes, bytes] = {}  # tx hash -> input, for every tx ever mined
        self._fork = 0
        self.blocks: list[FakeBlock] = [FakeBlock(0, self._hash(0, b"", ()), start_time)]

    @property
    def head(self) -> int:
        return self.blocks[-1].number

    def endpoint(self, label: str = "fake-1:8545") -> FakeL1:
        return FakeL1(self, label)

    def mine(self, *txs: Tx, after: int = BLOCK_TIME) -> FakeBlock:
        """One block holding ``txs`` (one log each), in order, ``after`` seconds after its parent
        (more than ``BLOCK_TIME``: slots without a block)."""
        parent = self.blocks[-1]
        number, timestamp = parent.number + 1, parent.timestamp + after
        block_hash = self._hash(number, parent.hash, txs)
        events: list[RollupEvent] = []
        queued = self.deposit_count()
        for log_index, tx in enumerate(txs):
            if isinstance(tx, DepositTx):
                events.append(
                    DepositQueued(
                        queued,
                        tx.sender,
                        tx.recipient,
                        tx.amount,
                        timestamp,
                        number,
                        block_hash,
                        log_index,
                        tx.tx_hash,
                    )
                )
                queued += 1
                continue
            if isinstance(tx, Claim):
                events.append(
                    WithdrawalClaimed(
                        tx.index,
                        tx.step,
                        tx.account,
                        tx.amount,
                        number,
                        block_hash,
                        log_index,
                        tx.tx_hash,
                    )
                )
                continue
            if isinstance(tx, Reject):
                events.append(
                    BatchesRejected(tx.first, tx.last, number, block_hash, log_index, tx.tx_hash)
                )
                continue
            self.inputs[tx.tx_hash] = tx.input
            events.append(self._submitted(tx, number, block_hash, log_index, timestamp))
        block = FakeBlock(number, block_hash, timestamp, tuple(events))
        self.blocks.append(block)
        return block

    def mine_empty(self, count: int) -> None:
        for _ in range(count):
            self.mine()

    def reorg(self, depth: int, *replacements: Sequence[Tx]) -> None:
        """Replace the last ``depth`` blocks by blocks holding ``replacements`` (one sequence of
        transactions per block; empty blocks up to ``depth`` when fewer are given). Every new
        block has a new hash, even with the same transactions."""
        assert 0 < depth <= self.head, "block 0 is not reorged"
        del self.blocks[-depth:]
        self._fork += 1
        for txs in replacements:
            self.mine(*txs)
        self.mine_empty(max(0, depth - len(replacements)))

    # -- the bridge -----------------------------------------------------------------------------
    def events(self, upto: int | None = None) -> list[RollupEvent]:
        last = self.head if upto is None else min(upto, self.head)
        return [event for block in self.blocks[: last + 1] for event in block.events]

    def deposit_count(self, upto: int | None = None) -> int:
        return sum(isinstance(e, DepositQueued) for e in self.events(upto))

    def deposit_range(self, upto: int | None = None) -> tuple[int, dict[int, tuple[int, int]]]:
        """``depositsConsumed()`` at block ``upto`` and each live batch's (start, end)."""
        consumed, ranges = 0, {}
        for event in self.events(upto):
            if isinstance(event, BatchSubmitted):
                steps = decode_batch(self._data(event.tx_hash)).steps
                end = consumed + sum(is_deposit_type(step.tx) for step in steps)
                ranges[event.index] = (consumed, end)
                consumed = end
            elif isinstance(event, BatchesRejected) and event.first in ranges:
                consumed = ranges[event.first][0]
        return consumed, ranges

    def bridge_balance(self, upto: int | None = None) -> int:
        if self.genesis_supply is None:
            raise NoBridgeError("the fake rollup has no bridge")
        balance = self.genesis_supply
        for event in self.events(upto):
            if isinstance(event, DepositQueued):
                balance += event.amount
            elif isinstance(event, WithdrawalClaimed):
                balance -= event.amount
        return balance

    def _data(self, tx_hash: bytes) -> bytes:
        return decode_submit_batch_calldata(self.inputs[tx_hash])

    def batch(self, index: int) -> OnChainBatch:
        """The contract's record of batch ``index``: its latest submission, rejected if a later
        rejection covers it."""
        record: OnChainBatch | None = None
        for block in self.blocks:
            for event in block.events:
                if isinstance(event, BatchSubmitted) and event.index == index:
                    record = _record(event)
                elif (
                    isinstance(event, BatchesRejected)
                    and record is not None
                    and event.first <= index <= event.last
                ):
                    record = _replace_status(record, OnChainStatus.REJECTED)
        if record is not None:
            start, end = self.deposit_range()[1].get(index, (0, 0))
            return replace(record, deposit_start=start, deposit_end=end)
        none = OnChainStatus.NONE
        return OnChainBatch(index, bytes(32), bytes(32), bytes(32), "0x" + "00" * 20, 0,
                            bytes(20), 0, 0, none)  # fmt: skip

    def _hash(self, number: int, parent: bytes, txs: Sequence[Tx]) -> bytes:
        body = b"".join(tx.tx_hash for tx in txs)
        return bytes(keccak(b"%d/%d/" % (number, self._fork) + parent + body))

    def _submitted(
        self, tx: Submit, number: int, block_hash: bytes, log_index: int, timestamp: int
    ) -> BatchSubmitted:
        encoded = decode_batch(tx.data)
        fields: dict[str, object] = {
            "index": encoded.index,
            "prev_root": encoded.prev_root,
            "count": len(encoded.steps),
            "final_root": encoded.steps[-1].root,
            "steps_root": steps_root(encoded.steps),
        }
        fields.update(tx.commitment)
        ts = timestamp if tx.timestamp is None else tx.timestamp
        return BatchSubmitted(
            proposer=PROPOSER,
            coinbase=tx.coinbase,
            timestamp=ts,
            deadline=ts + CHALLENGE_PERIOD,
            block_number=number,
            block_hash=block_hash,
            tx_hash=tx.tx_hash,
            log_index=log_index,
            **fields,  # type: ignore[arg-type]
        )


class TransportError(OSError):
    """What a dropped connection looks like (requests' errors are OSErrors)."""


class FakeL1:
    """One endpoint of a :class:`FakeChain`, implementing :class:`~watchtower.l1.reader.L1Reader`.

    Faults (attributes, set by the test): ``lag`` blocks behind the chain; ``max_range`` blocks
    at most per log request; ``calldata`` overrides the input served for a transaction (a lying
    or broken endpoint); ``hashes`` overrides the hash served for a block number; ``missing``
    transactions are not returned; ``fail`` is raised by every call while set."""

    def __init__(self, chain: FakeChain, label: str) -> None:
        self.chain = chain
        self._label = label
        self.lag = 0
        self.max_range: int | None = None
        self.calldata: dict[bytes, bytes] = {}
        self.hashes: dict[int, bytes] = {}
        self.missing: set[bytes] = set()
        #: transactions whose logs this endpoint hides (a lying endpoint)
        self.hidden: set[bytes] = set()
        #: how many recent blocks' state the node keeps (None: an archive node)
        self.state_window: int | None = None
        self.fail: Exception | None = None
        self.calls: list[str] = []

    # -- L1Reader -------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        return self._label

    @property
    def address(self) -> str:
        return self.chain.address

    def head(self) -> int:
        self._call("head")
        return max(0, self.chain.head - self.lag)

    def block_hash(self, number: int) -> bytes | None:
        self._call("block_hash")
        block = self._block(number)
        if block is None:
            return None
        return self.hashes.get(number, block.hash)

    def tagged_block(self, tag: str) -> int:
        self._call("tagged_block")
        head = self.chain.head - self.lag
        behind = {"latest": 0, "safe": 32, "finalized": 64}[tag]
        return max(0, head - behind)

    def rollup_logs(self, first: int, last: int) -> list[RollupEvent]:
        self._call("rollup_logs")
        if self.max_range is not None and last - first + 1 > self.max_range and last > first:
            raise LogRangeTooLargeError(first, last, f"query exceeds max range {self.max_range}")
        events: list[RollupEvent] = []
        for number in range(first, last + 1):
            block = self._block(number)
            if block is not None:
                events.extend(e for e in block.events if e.tx_hash not in self.hidden)
        return events

    def has_code(self, block: int) -> bool:
        self._call("has_code")
        if block > self.chain.head:
            raise ValueError(f"block {block} is beyond the head {self.chain.head}")
        return block >= self.chain.deployed_at

    def batch_calldata(self, tx_hash: bytes) -> bytes:
        self._call("batch_calldata")
        if tx_hash in self.missing or tx_hash not in self.chain.inputs:
            raise TransactionUnavailableError(f"transaction 0x{tx_hash.hex()} not found")
        return decode_submit_batch_calldata(self.calldata.get(tx_hash, self.chain.inputs[tx_hash]))

    def batch(self, index: int) -> OnChainBatch:
        self._call("batch")
        return self.chain.batch(index)

    def l1_time(self) -> int:
        self._call("l1_time")
        return self.chain.blocks[self.head()].timestamp

    def chain_id(self) -> int:
        return self.chain.chain_id

    def params(self) -> RollupParams:
        return self.chain.params

    def genesis_root(self) -> bytes:
        return self.chain.genesis_root

    def bridge_balance(self, block: int | None = None) -> int:
        self._call("bridge_balance")
        window = self.state_window
        if window is not None and block is not None and block < self.head() - window:
            raise ValueError(f"missing trie node: state of block {block} is pruned")
        return self.chain.bridge_balance(block)

    def deposits_consumed(self, block: int | None = None) -> int:
        self._call("deposits_consumed")
        if self.chain.genesis_supply is None:
            raise NoBridgeError("the fake rollup has no bridge")
        return self.chain.deposit_range(block)[0]

    def genesis_supply(self) -> int:
        if self.chain.genesis_supply is None:
            raise NoBridgeError("the fake rollup has no bridge")
        return self.chain.genesis_supply

    # -- plumbing -------------------------------------------------------------------------------
    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail is not None:
            raise self.fail

    def _block(self, number: int) -> FakeBlock | None:
        if number < 0 or number > self.chain.head - self.lag:
            return None
        return self.chain.blocks[number]


def _record(event: BatchSubmitted) -> OnChainBatch:
    return OnChainBatch(
        index=event.index,
        prev_root=event.prev_root,
        final_root=event.final_root,
        steps_root=event.steps_root,
        proposer=event.proposer,
        count=event.count,
        coinbase=event.coinbase,
        timestamp=event.timestamp,
        deadline=event.deadline,
        status=OnChainStatus.PENDING,
    )


def _replace_status(record: OnChainBatch, status: OnChainStatus) -> OnChainBatch:
    return replace(record, status=status)
