"""Scan the rollup contract's events on L1 and keep the store's view of them consistent.

* ``eth_getLogs`` over bounded block ranges, halving the range when a node refuses a large one;
* each batch's calldata fetched by transaction hash, decoded (as the contract's ABI decoder does,
  then as a batch, protocol.md §4.1), and checked against the commitment the contract emitted
  (index, previous root, step count, steps root, final root). A batch that fails this is recorded
  as ``unreadable`` with the reason (one batch never stops the scan: later batches and
  rejections are still recorded), and read again on later ticks (:meth:`Follower.retry_unreadable`);
* with several endpoints, scanning goes only as far as the lowest head among them (an endpoint
  that lags is waited for, not argued with), and a batch is recorded only when all of them agree
  on the block hash and the calldata (what each of them returns for the transaction, readable
  or not); otherwise nothing of the range is recorded and :class:`DisagreementError` says what
  differs: that is a lying endpoint, not an unreadable batch;
* recent block hashes are stored; a stored hash that is no longer canonical (also after a
  restart) is a reorg, and the store is rewound to the common ancestor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_hash.auto import keccak
from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3RPCError

from watchtower.defaults import SCAN_CHUNK, START_BLOCK
from watchtower.errors import MalformedBatchError, WatchtowerError, one_line
from watchtower.failpoints import failpoint
from watchtower.l1.instrumented import endpoint_label
from watchtower.l1.rollup import RollupClient
from watchtower.rollup.calldata import CalldataError
from watchtower.rollup.codec import decode_batch, steps_root
from watchtower.rollup.types import VerdictKind
from watchtower.store.db import BatchRow, BatchStatus, Rejection, Store

_TOO_MANY = ("too many", "more than", "limit", "range", "exceed", "response size")


class DisagreementError(WatchtowerError):
    """L1 endpoints disagree about data watchtower would act on."""


@dataclass(frozen=True)
class Commitment:
    """What the contract committed to for a batch (its ``BatchSubmitted`` event)."""

    index: int
    prev_root: bytes
    count: int
    final_root: bytes
    steps_root: bytes

    @classmethod
    def of_row(cls, row: BatchRow) -> Commitment:
        return cls(row.idx, row.prev_root, row.count, row.final_root, row.steps_root)

    def problem(self, data: bytes) -> str | None:
        """Why the batch bytes ``data`` are not this commitment's batch; ``None`` if they are."""
        try:
            encoded = decode_batch(data)
        except MalformedBatchError as exc:
            return f"batch bytes do not decode: {exc}"
        if not (
            encoded.index == self.index
            and encoded.prev_root == self.prev_root
            and len(encoded.steps) == self.count
            and encoded.steps[-1].root == self.final_root
            and steps_root(encoded.steps) == self.steps_root
        ):
            return "batch bytes do not match the commitment the contract emitted"
        return None


@dataclass(frozen=True)
class Reading:
    """What one endpoint gives for a batch transaction: the batch bytes (or, if the calldata
    does not ABI-decode, the raw input) and, when they are not the committed batch, why."""

    data: bytes
    problem: str | None

    @classmethod
    def of(cls, client: RollupClient, tx_hash: bytes, commitment: Commitment) -> Reading:
        try:
            data = client.batch_calldata(tx_hash)
        except CalldataError as exc:
            return cls(exc.calldata, f"calldata does not decode: {exc.problem}")
        except TransactionNotFound:
            # The endpoint logged the transaction but does not return it (a node behind a load
            # balancer, or a pruned one): unreadable for now, read again next tick.
            return cls(b"", f"transaction not found on {_endpoint(client)}")
        return cls(data, commitment.problem(data))

    def same_as(self, other: Reading) -> bool:
        return (self.problem is None, keccak(self.data)) == (
            other.problem is None,
            keccak(other.data),
        )


class EndpointBehindError(WatchtowerError):
    """An endpoint does not have a block yet that another one served: retried next tick."""


@dataclass
class ScanOutcome:
    scanned_from: int
    scanned_to: int
    batches: list[BatchRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    reorg_from: int | None = None
    removed: list[BatchRow] = field(default_factory=list)


@dataclass
class Follower:
    """Scans ``clients[0]`` and cross-checks with the others."""

    clients: Sequence[RollupClient]
    store: Store
    start_block: int = START_BLOCK
    chunk: int = SCAN_CHUNK
    min_chunk: int = 1

    @property
    def primary(self) -> RollupClient:
        return self.clients[0]

    def head(self) -> int:
        """The highest block every endpoint has (the primary's head with one endpoint)."""
        return min(int(client.w3.eth.block_number) for client in self.clients)

    def confirmed_head(self, confirmations: int | str) -> int:
        """The highest block considered final enough to act on."""
        if isinstance(confirmations, str):
            block = self.primary.w3.eth.get_block(confirmations)  # type: ignore[arg-type]
            return int(block["number"])
        return self.head() - confirmations

    # -- reorgs ---------------------------------------------------------------------------------
    def find_reorg(self) -> int | None:
        """The first block number whose stored hash is no longer canonical, or ``None``."""
        stored = self.store.recent_blocks()  # newest first
        if not stored:
            return None
        if self._canonical(*stored[0]):
            return None
        first_bad = stored[0][0]
        for number, block_hash in stored[1:]:
            if self._canonical(number, block_hash):
                return first_bad
            first_bad = number
        return first_bad  # nothing stored is canonical any more: rewind over the whole window

    def _canonical(self, number: int, block_hash: bytes) -> bool:
        """Whether the primary still has ``block_hash`` at ``number`` (asked of the primary
        alone: the common head of all endpoints may be lower while one of them lags)."""
        try:
            block = self.primary.w3.eth.get_block(number)
        except BlockNotFound:
            return False
        return bytes(block["hash"]) == block_hash

    # -- scanning -------------------------------------------------------------------------------
    def scan(
        self,
        to_block: int | None = None,
        *,
        before_record: Callable[[ScanOutcome], None] | None = None,
    ) -> ScanOutcome | None:
        """Scan the next range up to ``to_block`` (default: the head); ``None`` if up to date.

        ``before_record`` sees the outcome after every check and before it is recorded (what
        must not be lost to a crash between the two, such as alerts, goes there)."""
        first = self.store.next_block(self.start_block)
        last = self.head() if to_block is None else to_block
        if first > last:
            return None
        last = min(last, first + self.chunk - 1)
        failpoint("scan.before_get_logs")
        logs, last = self._get_logs(first, last)  # the node may accept a shorter range
        outcome = ScanOutcome(scanned_from=first, scanned_to=last)
        blocks: dict[int, bytes] = {}
        contract = self.primary.contract
        submitted = contract.events.BatchSubmitted()
        rejected = contract.events.BatchesRejected()
        for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
            topic = bytes(log["topics"][0])
            number, block_hash = int(log["blockNumber"]), bytes(log["blockHash"])
            blocks[number] = block_hash
            if topic == _topic(submitted):
                outcome.batches.append(self._batch_row(_decode_log(submitted, log)))
            elif topic == _topic(rejected):
                args = _decode_log(rejected, log)["args"]
                outcome.rejections.append(
                    Rejection(
                        int(args["fromIndex"]),
                        int(args["toIndex"]),
                        number,
                        int(log["logIndex"]),
                        bytes(log["transactionHash"]),
                    )
                )
        end = self.primary.w3.eth.get_block(last)
        blocks[last] = bytes(end["hash"])
        self._cross_check(outcome.batches, blocks)
        if before_record is not None:
            before_record(outcome)
        failpoint("scan.fetched")
        self.store.record_scan(
            last + 1, sorted(blocks.items()), outcome.batches, outcome.rejections
        )
        failpoint("scan.recorded")
        return outcome

    def _get_logs(self, first: int, last: int) -> tuple[list[Any], int]:
        """The contract's logs from ``first`` (filtered by topic here: not every node supports
        OR-lists of topics) and the last block they cover: ``last``, or less when the node said
        the range was too large and it was halved until accepted."""
        wanted = {
            _topic(self.primary.contract.events.BatchSubmitted()),
            _topic(self.primary.contract.events.BatchesRejected()),
        }
        while True:
            try:
                logs = self.primary.w3.eth.get_logs(
                    {"address": self.primary.address, "fromBlock": first, "toBlock": last}
                )
                return [entry for entry in logs if bytes(entry["topics"][0]) in wanted], last
            except (Web3RPCError, ValueError) as exc:
                text = str(exc).lower()
                if last > first and any(word in text for word in _TOO_MANY):
                    self.chunk = max(self.min_chunk, (last - first + 1) // 2)
                    last = first + self.chunk - 1
                    continue
                raise

    def _batch_row(self, event: Any) -> BatchRow:
        args = event["args"]
        tx_hash = bytes(event["transactionHash"])
        index = int(args["index"])
        commitment = Commitment(
            index,
            bytes(args["prevRoot"]),
            int(args["count"]),
            bytes(args["finalRoot"]),
            bytes(args["stepsRoot"]),
        )
        reading = Reading.of(self.primary, tx_hash, commitment)
        return BatchRow(
            id=0,
            idx=index,
            tx_hash=tx_hash,
            l1_block=int(event["blockNumber"]),
            l1_block_hash=bytes(event["blockHash"]),
            log_index=int(event["logIndex"]),
            prev_root=commitment.prev_root,
            final_root=commitment.final_root,
            steps_root=commitment.steps_root,
            count=commitment.count,
            coinbase=bytes.fromhex(str(args["coinbase"])[2:]),
            timestamp=int(args["timestamp"]),
            deadline=int(args["deadline"]),
            status=BatchStatus.PENDING,
            verdict=None if reading.problem is None else VerdictKind.UNREADABLE,
            fraud_step=None,
            claimed_root=None,
            computed_root=None,
            reason=reading.problem or "",
            data=reading.data,
        )

    def retry_unreadable(self) -> list[BatchRow]:
        """Read every live unreadable batch again (an endpoint may have served bad calldata
        for a while); those that now read the same on every endpoint and match their
        commitment become ordinary batches, waiting for replay. Returns them.

        :class:`DisagreementError` if the endpoints disagree about one (it stays unreadable:
        the ranges already scanned are not affected)."""
        readable = []
        for row in self.store.unreadable_batches():
            commitment = Commitment.of_row(row)
            reading = Reading.of(self.primary, row.tx_hash, commitment)
            if reading.problem is not None:
                continue
            for other in self.clients[1:]:
                if not Reading.of(other, row.tx_hash, commitment).same_as(reading):
                    raise DisagreementError(
                        f"batch {row.idx} tx 0x{row.tx_hash.hex()}: calldata differs between "
                        f"{_endpoint(self.primary)} and {_endpoint(other)}"
                    )
            self.store.mark_readable(row.id, reading.data)
            readable.append(self.store.batch_by_id(row.id))
        return readable

    def _cross_check(self, batches: list[BatchRow], blocks: dict[int, bytes]) -> None:
        for other in self.clients[1:]:
            for number, block_hash in blocks.items():
                try:
                    theirs = other.w3.eth.get_block(number)
                except BlockNotFound:
                    raise EndpointBehindError(
                        f"block {number}: not yet on {_endpoint(other)}; retried next tick"
                    ) from None
                if bytes(theirs["hash"]) != block_hash:
                    raise DisagreementError(
                        f"block {number}: {_endpoint(self.primary)} has "
                        f"0x{block_hash.hex()[:16]}…, {_endpoint(other)} has "
                        f"0x{bytes(theirs['hash']).hex()[:16]}…"
                    )
            for row in batches:
                mine = Reading(row.data, row.reason or None)
                if not Reading.of(other, row.tx_hash, Commitment.of_row(row)).same_as(mine):
                    raise DisagreementError(
                        f"batch {row.idx} tx 0x{row.tx_hash.hex()}: calldata differs between "
                        f"{_endpoint(self.primary)} and {_endpoint(other)}"
                    )


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


def _topic(event: Any) -> bytes:
    return bytes(Web3.keccak(text=_signature(event.abi)))


def _signature(abi: Any) -> str:
    return f"{abi['name']}({','.join(i['type'] for i in abi['inputs'])})"


def _endpoint(client: RollupClient) -> str:
    """host:port of the endpoint: never the path, which often carries an API key."""
    provider = client.w3.provider
    uri = getattr(provider, "endpoint_uri", None)
    return endpoint_label(str(uri)) if uri else type(provider).__name__
