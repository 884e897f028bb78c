"""Scan the rollup contract's events on L1, checked, for the service to record.

The follower reads L1 only through :class:`~watchtower.l1.reader.L1Reader` (the first is the
primary, the others cross-check it) and writes nothing: :meth:`Follower.scan` returns a
:class:`ScanOutcome`, :meth:`Follower.find_reorg` the first replaced block, and
:meth:`Follower.reread` the batches readable again; the service records them in the store.

* ``eth_getLogs`` over bounded block ranges, halving the range when a node refuses a large one;
* each batch's calldata fetched by transaction hash, decoded (as the contract's ABI decoder does,
  then as a batch, protocol.md §4.1), and checked against the commitment the contract emitted
  (index, previous root, step count, steps root, final root). A batch that fails this is recorded
  as ``unreadable`` with the reason (one batch never stops the scan: later batches and
  rejections are still recorded), and read again on later ticks (:meth:`Follower.reread`);
* with several endpoints, scanning goes only as far as the lowest head among them (an endpoint
  that lags is waited for, not argued with), and a batch is recorded only when all of them agree
  on the block hash and the calldata (what each of them returns for the transaction, readable
  or not); otherwise nothing of the range is recorded and :class:`DisagreementError` says what
  differs: that is a lying endpoint, not an unreadable batch;
* recent block hashes are stored; a stored hash that is no longer canonical (also after a
  restart) is a reorg: the service rewinds the store to the common ancestor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from eth_hash.auto import keccak

from watchtower.defaults import SCAN_CHUNK
from watchtower.errors import MalformedBatchError, WatchtowerError
from watchtower.failpoints import failpoint
from watchtower.l1.reader import (
    BatchesRejected,
    BlockUnavailableError,
    BridgeEvent,
    DepositQueued,
    DisagreementError,
    L1Reader,
    LogRangeTooLargeError,
    RollupEvent,
    TransactionUnavailableError,
    WithdrawalClaimed,
)
from watchtower.l1.rollup import BatchSubmitted
from watchtower.rollup.calldata import CalldataError
from watchtower.rollup.codec import decode_batch, steps_root
from watchtower.rollup.types import VerdictKind
from watchtower.store.db import BatchRow, BatchStatus, Rejection

__all__ = [
    "Commitment",
    "DisagreementError",
    "EndpointBehindError",
    "Follower",
    "Reading",
    "ScanOutcome",
]


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
    def of(cls, reader: L1Reader, tx_hash: bytes, commitment: Commitment) -> Reading:
        try:
            data = reader.batch_calldata(tx_hash)
        except CalldataError as exc:
            return cls(exc.calldata, f"calldata does not decode: {exc.problem}")
        except TransactionUnavailableError:
            # The endpoint logged the transaction but does not return it (a node behind a load
            # balancer, or a pruned one): unreadable for now, read again next tick.
            return cls(b"", f"transaction not found on {reader.label}")
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
    """One scanned range, checked, for the service to record (atomically, with
    :meth:`~watchtower.store.db.Store.record_scan`): blocks ``scanned_from`` … ``scanned_to``,
    the batches logged there (an unreadable one with its verdict and reason), the rejections,
    the bridge's deposits and claims, and the block hashes to remember for reorg detection."""

    scanned_from: int
    scanned_to: int
    batches: list[BatchRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    blocks: list[tuple[int, bytes]] = field(default_factory=list)
    deposits: list[DepositQueued] = field(default_factory=list)
    claims: list[WithdrawalClaimed] = field(default_factory=list)

    @property
    def next_block(self) -> int:
        return self.scanned_to + 1

    @property
    def unreadable(self) -> list[BatchRow]:
        return [row for row in self.batches if row.verdict is VerdictKind.UNREADABLE]


@dataclass
class Follower:
    """Scans ``readers[0]`` (the primary) and cross-checks with the others. Reads L1 only, and
    returns what it found: the service records it."""

    readers: Sequence[L1Reader]
    chunk: int = SCAN_CHUNK
    min_chunk: int = 1
    #: How many endpoints must answer each tick (``l1.quorum``; None: all of them). With a
    #: quorum, an endpoint other than the primary whose request fails is left out of this
    #: tick's cross-checks (named in :attr:`missing`) as long as the quorum still answers.
    quorum: int | None = None
    #: Labels of the endpoints left out in the current tick (always empty without a quorum).
    missing: list[str] = field(default_factory=list)
    _live: list[L1Reader] = field(default_factory=list, repr=False)

    @property
    def primary(self) -> L1Reader:
        return self.readers[0]

    def _others(self) -> list[L1Reader]:
        return (self._live or list(self.readers))[1:]

    def _drop(self, reader: L1Reader, exc: Exception) -> None:
        """Leave ``reader`` out of this tick, or re-raise ``exc`` without a quorum to spare."""
        live = self._live or list(self.readers)
        if self.quorum is None or reader is self.primary or len(live) - 1 < self.quorum:
            raise exc
        self._live = [r for r in live if r is not reader]
        self.missing.append(reader.label)

    def head(self) -> int:
        """The highest block every endpoint has (the primary's head with one endpoint); with a
        quorum, every endpoint that answers (this starts a tick: all are asked again)."""
        self._live, self.missing = list(self.readers), []
        heads = [self.primary.head()]
        for reader in list(self.readers[1:]):
            try:
                heads.append(reader.head())
            except Exception as exc:  # with a quorum, an endpoint down this tick is left out
                self._drop(reader, exc)
        return min(heads)

    def confirmed_head(self, confirmations: int | str) -> int:
        """The highest block considered final enough to act on."""
        if isinstance(confirmations, str):
            return self.primary.tagged_block(confirmations)
        return self.head() - confirmations

    # -- reorgs ---------------------------------------------------------------------------------
    def find_reorg(self, stored: Sequence[tuple[int, bytes]]) -> int | None:
        """The first block number whose hash in ``stored`` (newest first, as the store keeps
        them) is no longer canonical, or ``None``."""
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
        return self.primary.block_hash(number) == block_hash

    # -- scanning -------------------------------------------------------------------------------
    def scan(self, first: int, to_block: int | None = None) -> ScanOutcome | None:
        """Scan from block ``first`` up to ``to_block`` (default: the common head), at most
        ``chunk`` blocks; ``None`` if up to date. Nothing is recorded: the service records the
        outcome (after raising its alerts, so that a crash in between loses none)."""
        last = self.head() if to_block is None else to_block
        if first > last:
            return None
        last = min(last, first + self.chunk - 1)
        failpoint("scan.before_get_logs")
        events, last = self._get_logs(first, last)  # the node may accept a shorter range
        outcome = ScanOutcome(scanned_from=first, scanned_to=last)
        blocks: dict[int, bytes] = {}
        for event in events:
            blocks[event.block_number] = event.block_hash
            if isinstance(event, BatchSubmitted):
                outcome.batches.append(self._batch_row(event))
            elif isinstance(event, DepositQueued):
                outcome.deposits.append(event)
            elif isinstance(event, WithdrawalClaimed):
                outcome.claims.append(event)
            else:
                outcome.rejections.append(_rejection(event))
        end = self.primary.block_hash(last)
        if end is None:
            raise BlockUnavailableError(f"block {last}: not on {self.primary.label} any more")
        blocks[last] = end
        bridge: list[BridgeEvent] = [*outcome.deposits, *outcome.claims]
        self._cross_check(outcome.batches, blocks, (first, last, bridge))
        outcome.blocks = sorted(blocks.items())
        return outcome

    def _get_logs(self, first: int, last: int) -> tuple[list[RollupEvent], int]:
        """The rollup's events from ``first`` and the last block they cover: ``last``, or less
        when the node said the range was too large and it was halved until accepted."""
        while True:
            try:
                return self.primary.rollup_logs(first, last), last
            except LogRangeTooLargeError:
                if last <= first:
                    raise
                self.chunk = max(self.min_chunk, (last - first + 1) // 2)
                last = first + self.chunk - 1

    def _batch_row(self, event: BatchSubmitted) -> BatchRow:
        commitment = Commitment(
            event.index, event.prev_root, event.count, event.final_root, event.steps_root
        )
        reading = Reading.of(self.primary, event.tx_hash, commitment)
        return BatchRow(
            id=0,
            idx=event.index,
            tx_hash=event.tx_hash,
            l1_block=event.block_number,
            l1_block_hash=event.block_hash,
            log_index=event.log_index,
            prev_root=commitment.prev_root,
            final_root=commitment.final_root,
            steps_root=commitment.steps_root,
            count=commitment.count,
            coinbase=event.coinbase,
            timestamp=event.timestamp,
            deadline=event.deadline,
            status=BatchStatus.PENDING,
            verdict=None if reading.problem is None else VerdictKind.UNREADABLE,
            fraud_step=None,
            claimed_root=None,
            computed_root=None,
            reason=reading.problem or "",
            data=reading.data,
        )

    def reread(self, rows: Sequence[BatchRow]) -> Iterator[tuple[BatchRow, bytes]]:
        """Read unreadable batches ``rows`` again (an endpoint may have served bad calldata for
        a while); yields each that now reads the same on every endpoint and matches its
        commitment, with its batch bytes (the service marks it readable before the next one is
        read).

        :class:`DisagreementError` if the endpoints disagree about one (it stays unreadable:
        the ranges already scanned are not affected)."""
        for row in rows:
            commitment = Commitment.of_row(row)
            reading = Reading.of(self.primary, row.tx_hash, commitment)
            if reading.problem is not None:
                continue
            for other in self._others():
                if not Reading.of(other, row.tx_hash, commitment).same_as(reading):
                    raise DisagreementError(
                        f"batch {row.idx} tx 0x{row.tx_hash.hex()}: calldata differs between "
                        f"{self.primary.label} and {other.label}"
                    )
            yield row, reading.data

    def _cross_check(
        self,
        batches: list[BatchRow],
        blocks: dict[int, bytes],
        bridge: tuple[int, int, list[BridgeEvent]] | None = None,
    ) -> None:
        for other in self._others():
            try:
                self._check_against(other, batches, blocks)
                if bridge is not None:
                    _same_bridge_events(self.primary, other, *bridge)
            except (DisagreementError, EndpointBehindError):
                raise
            except Exception as exc:  # with a quorum, an endpoint down this tick is left out
                self._drop(other, exc)

    def _check_against(
        self, other: L1Reader, batches: list[BatchRow], blocks: dict[int, bytes]
    ) -> None:
        for number, block_hash in blocks.items():
            theirs = other.block_hash(number)
            if theirs is None:
                raise EndpointBehindError(
                    f"block {number}: not yet on {other.label}; retried next tick"
                )
            if theirs != block_hash:
                raise DisagreementError(
                    f"block {number}: {self.primary.label} has "
                    f"0x{block_hash.hex()[:16]}…, {other.label} has "
                    f"0x{theirs.hex()[:16]}…"
                )
        for row in batches:
            mine = Reading(row.data, row.reason or None)
            if not Reading.of(other, row.tx_hash, Commitment.of_row(row)).same_as(mine):
                raise DisagreementError(
                    f"batch {row.idx} tx 0x{row.tx_hash.hex()}: calldata differs between "
                    f"{self.primary.label} and {other.label}"
                )


def _same_bridge_events(
    primary: L1Reader, other: L1Reader, first: int, last: int, mine: list[BridgeEvent]
) -> None:
    """The bridge's events of blocks ``first`` … ``last`` are the same on ``other``: a deposit
    or a claim one endpoint invents or hides is a lying endpoint (nothing is recorded)."""
    theirs = _bridge_logs(other, first, last)
    if sorted(mine, key=_order) == sorted(theirs, key=_order):
        return
    mine_set, theirs_set = set(mine), set(theirs)
    only = sorted(mine_set - theirs_set, key=_order) or sorted(theirs_set - mine_set, key=_order)
    where = primary.label if only and only[0] in mine_set else other.label
    detail = _describe(only[0]) if only else "the same events in another order"
    raise DisagreementError(
        f"blocks {first}..{last}: bridge events differ between {primary.label} and "
        f"{other.label} ({detail} only on {where})"
    )


def _bridge_logs(reader: L1Reader, first: int, last: int) -> list[BridgeEvent]:
    """The bridge's events of blocks ``first`` … ``last`` on ``reader`` (in halves when it
    refuses the range)."""
    try:
        events = reader.rollup_logs(first, last)
    except LogRangeTooLargeError:
        if last <= first:
            raise
        middle = (first + last) // 2
        return _bridge_logs(reader, first, middle) + _bridge_logs(reader, middle + 1, last)
    return [e for e in events if isinstance(e, DepositQueued | WithdrawalClaimed)]


def _order(event: BridgeEvent) -> tuple[int, int]:
    return event.block_number, event.log_index


def _describe(event: BridgeEvent) -> str:
    if isinstance(event, DepositQueued):
        return (
            f"deposit {event.index} of {event.amount} wei to 0x{event.recipient.hex()} in block "
            f"{event.block_number}, tx 0x{event.tx_hash.hex()}"
        )
    return (
        f"claim of withdrawal {event.step} of batch {event.index}, {event.amount} wei to "
        f"0x{event.account.hex()} in block {event.block_number}, tx 0x{event.tx_hash.hex()}"
    )


def _rejection(event: BatchesRejected) -> Rejection:
    return Rejection(event.first, event.last, event.block_number, event.log_index, event.tx_hash)
