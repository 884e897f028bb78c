"""The watchtower service: follow L1, replay every batch, prove and challenge fraud.

One :meth:`Watchtower.tick` runs the pipeline once; ``watchtower run`` calls it on a schedule
(apscheduler) and the demo calls it inline. Each stage reads and writes the store, so a tick
interrupted anywhere (SIGKILL included) is simply run again after a restart:

    follow    reorg check against stored block hashes; scan new logs (cross-checked); a batch
              whose calldata cannot be read is recorded ``unreadable`` (``batch_unreadable``)
              and read again every tick
    replay    batches in index order into the state DB; a verdict per batch. An unreadable or
              undecidable batch halts verification (``verification_halted``): later batches
              wait (``skipped``) until it is readable, rejected on chain or reorged out
    challenge (challenge mode) for each fraudulent batch once it is confirmed: build the proof,
              check it locally and with eth_call, commit, then reveal it with the stake; one
              step of the journal per tick (watchtower.submit.challenger)

The service orchestrates; the policies live elsewhere: the verification rules in
:mod:`watchtower.execute.verify` (shared with ``watchtower replay`` and ``prove``), readiness and
stall detection in :mod:`watchtower.health` (clock injected: :mod:`watchtower.clock`), what a
challenge costs in :mod:`watchtower.submit.funds`, proofs in :mod:`watchtower.proof.fraud`, the
metrics behind :class:`~watchtower.metrics.NullMetrics` when there are none, every default in
:mod:`watchtower.defaults`.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from structlog.contextvars import bound_contextvars

from watchtower import defaults
from watchtower import status as status_meta
from watchtower.clock import SYSTEM_CLOCK, Clock
from watchtower.errors import InputError, WatchtowerError
from watchtower.execute.precheck import Prechecker
from watchtower.execute.prune import Retention, prune_state
from watchtower.execute.replay import init_genesis
from watchtower.execute.rootworker import RootWorker
from watchtower.execute.statedb import StateDB
from watchtower.execute.verify import Action, Candidate, Outcome, verify_chain
from watchtower.failpoints import failpoint
from watchtower.follow.guard import BridgeGuard
from watchtower.follow.scanner import (
    DisagreementError,
    EndpointBehindError,
    Follower,
    ScanOutcome,
)
from watchtower.follow.start import HISTORY_KINDS, deployment_block
from watchtower.health import STARTING, Readiness, StallDetector, readiness
from watchtower.l1.reader import L1Reader, NoBridgeError, Web3L1Reader
from watchtower.l1.rollup import RollupClient
from watchtower.metrics import Metrics, NullMetrics
from watchtower.proof.fraud import FraudProof, build_checked_proof
from watchtower.rollup.codec import decode_batch
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount, VerdictKind
from watchtower.store.bridge import value_at_risk
from watchtower.store.db import (
    BatchRow,
    BatchStatus,
    ChallengeState,
    Store,
    current_batches,
)
from watchtower.store.journal import SenderLock
from watchtower.submit.challenger import Challenger, FeePolicy
from watchtower.submit.funds import StakeCheck, challenge_cost, check_stake
from watchtower.submit.gas import CHALLENGE_GAS_RESERVE
from watchtower.submit.priority import challenge_order
from watchtower.submit.signer import TxSigner

__all__ = ["CHALLENGE_GAS_RESERVE", "ServiceConfig", "ServiceMode", "TickReport", "Watchtower"]

log = structlog.get_logger("watchtower.service")

Alert = Callable[..., None]


class ServiceMode(enum.StrEnum):
    WATCH = "watch"
    CHALLENGE = "challenge"


def log_alert(kind: str, **fields: Any) -> None:
    log.warning(kind, alert=True, **fields)


@dataclass(frozen=True)
class ServiceConfig:
    data_dir: Path
    mode: ServiceMode = ServiceMode.CHALLENGE  # defaults.SERVICE_MODE (test_defaults.py)
    confirmations: int | str = defaults.CONFIRMATIONS
    #: First L1 block to scan; None: the contract's deployment block, found on a first sync.
    start_block: int | None = defaults.START_BLOCK
    chunk: int = defaults.SCAN_CHUNK
    #: Endpoints that must answer each tick (``l1.quorum``; None: all of them).
    quorum: int | None = None
    max_chunks_per_tick: int = defaults.MAX_CHUNKS_PER_TICK
    stake: int | None = None  # default: the contract's minimum stake
    fee_policy: FeePolicy = field(default_factory=FeePolicy)
    stall_after: float = defaults.STALL_AFTER  # seconds without a new L1 block: 'stalled'
    prune_every: int = defaults.PRUNE_EVERY  # verified batches between state prunes (0: never)
    keep_recent: int = defaults.KEEP_RECENT  # recent batches a reorg may replace (states kept)
    #: Recover the next batch's senders in a worker process (``replay.worker``; that setting's
    #: default is on with two or more CPUs: defaults.REPLAY_WORKER). Off here so that a service
    #: built in a test starts no process unless asked.
    replay_worker: bool = False
    #: Compute the per-step state roots in a worker process while this one executes the steps
    #: (``replay.root_worker``; that setting's default: defaults.REPLAY_ROOT_WORKER). Off here
    #: for the same reason.
    root_worker: bool = False


@dataclass
class TickReport:
    scanned_to: int | None = None
    reorg_from: int | None = None
    verdicts: list[tuple[int, VerdictKind]] = field(default_factory=list)
    challenges: list[tuple[int, str]] = field(default_factory=list)
    disagreement: str | None = None


@dataclass(frozen=True)
class Startup:
    """What the service reads from L1 before it opens anything."""

    params: RollupParams
    chain_id: str
    genesis_root: bytes  # the rollup contract's
    stake_check: StakeCheck | None  # challenge mode: the stake against minStake and the balance
    genesis_supply: int | None = None  # what the deployment paid into the bridge (None: no bridge)


def read_startup(
    reader: L1Reader,
    client: RollupClient | None,
    config: ServiceConfig,
    signer: TxSigner | None,
) -> Startup:
    """The start-up reads (through the primary ``reader``; the stake check through the client
    that will send); a stake the contract refuses is an :class:`InputError` (every challenge
    would revert: refuse to start)."""
    params = reader.params()
    chain_id = str(reader.chain_id())
    genesis_root = reader.genesis_root()
    try:
        genesis_supply: int | None = reader.genesis_supply()
    except NoBridgeError:
        genesis_supply = None  # a v1 contract: no bridge to guard
    stake_check = None
    if config.mode is ServiceMode.CHALLENGE:
        assert signer is not None and client is not None
        stake_check = check_stake(
            config.stake,
            client.min_stake(),
            int(client.w3.eth.get_balance(signer.address)),
            CHALLENGE_GAS_RESERVE,
            _base_fee(client),
        )
        if stake_check.error is not None:
            raise InputError(stake_check.error)
    return Startup(params, chain_id, genesis_root, stake_check, genesis_supply)


def _base_fee(client: RollupClient) -> int:
    return int(client.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)


class Watchtower:
    """The service. Construct with the L1 clients (first = primary) and, to challenge, a signer.

    ``readers`` (one per endpoint, first = primary) replace what is read from L1 through the
    clients (by default a :class:`~watchtower.l1.reader.Web3L1Reader` over each client): with
    readers alone (no clients) the service watches, and cannot challenge."""

    #: The sender-recovery worker (``replay.worker``): made by the first replay, stopped by
    #: :meth:`close`; a worker that fails is logged and replaced, its results never trusted.
    prechecker: Prechecker | None = None
    #: The state-root worker (``replay.root_worker``): made by the first replay, stopped by
    #: :meth:`close`; a batch it cannot serve is replayed here (logged, same verdict).
    root_worker: RootWorker | None = None

    def __init__(
        self,
        config: ServiceConfig,
        clients: Sequence[RollupClient],
        genesis: Mapping[bytes, GenesisAccount],
        signer: TxSigner | None = None,
        *,
        alert: Alert = log_alert,
        metrics: Metrics | None = None,
        readers: Sequence[L1Reader] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if config.mode is ServiceMode.CHALLENGE and signer is None:
            raise InputError("challenge mode needs a signer key (see --key-env / --keystore)")
        if signer is not None and not clients:
            raise InputError("a signer needs an L1 client to send with (readers only read)")
        self.config = config
        self.clients = list(clients)
        self.readers: list[L1Reader] = (
            [Web3L1Reader(client) for client in self.clients] if readers is None else list(readers)
        )
        self.reader = self.readers[0]
        self.client: RollupClient
        if self.clients:
            self.client = self.clients[0]
        self.alert = alert
        self.signer = signer
        self.metrics = metrics if metrics is not None else NullMetrics()
        self.clock = clock
        self.ready: Readiness = STARTING
        self.stall = StallDetector(config.stall_after, clock)
        #: The batch the challenger is acting on: its alerts are tagged with the batch's tx.
        self._acting_on: BatchRow | None = None
        #: Halting batches (by tx) whose ``verification_halted`` this process has raised.
        self._halts_announced: set[bytes] = set()
        #: Conditions that end (stalled, rpc_disagreement, low_balance): when each began.
        self._episodes: dict[str, int] = {}
        #: Asked between batches of a replay: true once the process is stopping (a signal), so
        #: a long catch-up ends after the batch in hand (the next start resumes from there).
        self.stopping: Callable[[], bool] = lambda: False
        # Every L1 read of the start-up first: if the node fails here (the caller may retry),
        # no database has been opened yet.
        startup = read_startup(
            self.reader, self.clients[0] if self.clients else None, config, signer
        )
        self.params = startup.params
        self.chain_id = startup.chain_id
        self.stake_check = startup.stake_check
        config.data_dir.mkdir(parents=True, exist_ok=True)
        sending = signer is not None and config.mode is ServiceMode.CHALLENGE
        self._sender_lock = SenderLock(config.data_dir) if sending else None
        self.store = Store(config.data_dir / "watchtower.sqlite")
        self.state = StateDB(config.data_dir / "state")
        try:
            self.store.bind("rollup", self.reader.address)
            self.store.bind("l1_chain_id", startup.chain_id)
            genesis_root = init_genesis(self.state, genesis)
            if genesis_root != startup.genesis_root:
                raise InputError(
                    f"the genesis allocation has root 0x{genesis_root.hex()}, but the rollup "
                    f"contract was deployed with 0x{startup.genesis_root.hex()}"
                )
            #: Where the scan starts, and the head at the start of the first sync: events up to
            #: it are history (recorded and logged, not paged: :data:`HISTORY_KINDS`). Both are
            #: in the ``started`` line.
            self.start_block, self.history_before = self._first_sync()
        except BaseException:
            self.close()
            raise
        self.follower = Follower(self.readers, chunk=config.chunk, quorum=config.quorum)
        self.bridge = BridgeGuard(
            self.store,
            self.reader,
            self.params,
            genesis_supply=startup.genesis_supply,
            genesis=genesis,
            alert=self._unless_history,
            condition=self._condition,
            resolved=self._resolved,
            metrics=self.metrics,
        )
        self.bridge.check_genesis()
        self._missing_logged: list[str] = []
        #: Fraudulent batches (by tx) whose wait for confirmations this process has logged.
        self._waits_logged: set[bytes] = set()
        self.challenger = (
            Challenger(self.client, signer, self.store, config.fee_policy, self._challenger_alert)
            if signer is not None and config.mode is ServiceMode.CHALLENGE
            else None
        )
        if self.stake_check is not None and self.stake_check.warning is not None:
            # Short of money is not a reason to stop watching: say it now, keep running (every
            # tick checks again, and a fraud that cannot be paid raises deadline_at_risk).
            check = self.stake_check
            assert signer is not None
            self._condition(
                "low_balance",
                balance=check.balance,
                needed=check.needed,
                signer=signer.address,
                stake=check.stake,
                detail=check.warning,
            )

    def _first_sync(self) -> tuple[int, int]:
        """The first L1 block to scan and the history boundary, recorded in the store's meta on
        the first sync (a restart keeps them). The start block is ``l1.start_block`` if set, else
        the contract's deployment block (a binary search on its code over block numbers)."""
        if self.signer is not None:  # for `watchtower status`: the stakes owed to whom
            self.store.set_meta(status_meta.META_SIGNER, self.signer.address)
        self.store.set_meta(status_meta.META_CONFIRMATIONS, str(self.config.confirmations))
        self.store.set_meta(status_meta.META_MODE, self.config.mode.value)
        configured = self.config.start_block
        recorded_history = self.store.get_meta(status_meta.META_HISTORY_BEFORE)
        recorded_start = self.store.get_meta(status_meta.META_START_BLOCK)
        fresh = self.store.next_block(-1) == -1
        if not fresh:  # a store that has scanned: its position rules, its history is known
            start = configured if configured is not None else int(recorded_start or 0)
            return start, int(recorded_history) if recorded_history is not None else -1
        head = self.reader.head()
        history = int(recorded_history) if recorded_history is not None else head
        if recorded_history is None:
            self.store.set_meta(status_meta.META_HISTORY_BEFORE, str(history))
        if configured is not None:
            start = configured
        elif recorded_start is not None:
            start = int(recorded_start)
        else:
            try:
                start = deployment_block(self.reader.has_code, head)
            except Exception as exc:  # a node without old state: scan from 0, and say so
                log.warning(
                    "start_block_unknown",
                    error=f"{type(exc).__name__}: {exc}",
                    detail="scanning from L1 block 0; set l1.start_block to the contract's "
                    "deployment block to skip the blocks before it",
                )
                return 0, history
        self.store.set_meta(status_meta.META_START_BLOCK, str(start))
        return start, history

    def _unless_history(self, kind: str, **fields: Any) -> None:
        """Raise ``kind``, unless it is history: a kind of :data:`HISTORY_KINDS` about an L1
        block up to the head at the start of the first sync is logged (``history_event``) and
        not paged; whatever still needs action is never history."""
        l1_block = fields.get("l1_block")
        if kind in HISTORY_KINDS and isinstance(l1_block, int) and l1_block <= self.history_before:
            log.info("history_event", alert_kind=kind, **fields)
            return
        self.alert(kind, **fields)

    def status_document(self) -> dict[str, Any]:
        """What ``watchtower status --json`` prints, for ``GET /status``: built from a store
        connection of its own (it runs on the HTTP server's thread), with the L1 time and the
        signer's owed stakes read now (left out if L1 does not answer)."""
        l1_time = owed = None
        try:
            l1_time = self.reader.l1_time()
            if self.signer is not None and self.clients:
                owed = self.client.owed(self.signer.address)
        except Exception as exc:  # status still answers from the store
            log.info("status_l1_unreadable", error=f"{type(exc).__name__}: {exc}")
        with Store(self.config.data_dir / "watchtower.sqlite") as store:
            return status_meta.status_document(
                store,
                l1_time=l1_time,
                owed=owed,
                signer=None if self.signer is None else self.signer.address,
            )

    def close(self) -> None:
        if self.prechecker is not None:
            self.prechecker.close()
        if self.root_worker is not None:
            self.root_worker.close()
        self.store.close()
        self.state.close()
        if self._sender_lock is not None:
            self._sender_lock.release()

    def _challenger_alert(self, kind: str, **fields: Any) -> None:
        """The challenger's alerts, with the batch named by its L1 transaction (``batch_tx``):
        after a rejection another batch takes the same index, and is another event."""
        row = self._acting_on
        if row is not None and fields.get("batch") == row.idx and "batch_tx" not in fields:
            fields["batch_tx"] = _hex(row.tx_hash)
        self.alert(kind, **fields)

    def _condition(self, kind: str, **fields: Any) -> None:
        """Raise ``kind``, a condition that ends, for its current episode (one begins now if
        none is open): the outbox sends it once per episode, and a new episode pages again."""
        episode = self._episodes.setdefault(kind, int(self.clock.time()))
        self.alert(kind, episode=episode, **fields)

    def _resolved(self, kind: str, **fields: Any) -> None:
        """The condition ``kind`` ended: ``<kind>_resolved`` for its open episode, if any."""
        episode = self._episodes.pop(kind, None)
        if episode is not None:
            self.alert(f"{kind}_resolved", episode=episode, **fields)

    def _proposer(self, row: BatchRow) -> str | None:
        """Who proposed ``row`` (read from the contract; ``None`` if it cannot be read now or
        the index already holds another batch): the fraud alert must not wait on it."""
        try:
            batch = self.reader.batch(row.idx)
        except Exception as exc:  # an alert field only: never a reason to lose the alert
            log.warning("proposer_unknown", batch=row.idx, error=f"{type(exc).__name__}")
            return None
        return batch.proposer if batch.final_root == row.final_root else None

    # -- the pipeline ---------------------------------------------------------------------------
    def tick(self) -> TickReport:
        report = TickReport()
        try:
            self.follow(report)
        finally:
            self._log_missing()
        self.replay(report)
        if self.challenger is not None:
            self.challenge(report)
        if not self.stopping():  # every batch this tick could verify is verified
            self.bridge.check()
        self.prune()
        self._observe(report)
        return report

    def _log_missing(self) -> None:
        """One line when the set of endpoints left out under the quorum changes."""
        missing = sorted(set(self.follower.missing))
        if missing != self._missing_logged:
            if missing:
                log.warning(
                    "l1_endpoints_missing",
                    missing=missing,
                    answering=len(self.readers) - len(missing),
                    quorum=self.config.quorum,
                )
            else:
                log.info("l1_endpoints_back", endpoints=len(self.readers))
            self._missing_logged = missing

    def _check_stall(self, head: int | None, error: str | None = None) -> None:
        """Raise ``stalled`` once per episode when the L1 head has not moved (or could not be
        read: ``head`` is ``None`` after a failed tick) for ``stall_after`` seconds, and
        ``stalled_resolved`` when the head moves again."""
        was_stalled = self.stall.stalled
        stall = self.stall.observe(head)
        if was_stalled and not self.stall.stalled:
            self._resolved("stalled", l1_block=head)
        if stall is None:
            return
        fields: dict[str, Any] = {"seconds": stall.seconds}
        if error is not None:
            fields["error"] = error
        self._condition("stalled", l1_block=stall.l1_block, **fields)

    def tick_failed(self, error: str) -> None:
        """A tick did not complete (L1 unreachable, a bad answer): not ready, and a stall is
        still detected while every tick fails."""
        self.ready = (False, error)
        self._check_stall(None, error)
        self.metrics.ready.set(0)

    def _observe(self, report: TickReport) -> None:
        """Update readiness, the stall detector and the metrics after a tick."""
        head = self.follower.head()
        self._check_stall(head)
        scanned = self.store.next_block(self.start_block) - 1
        self.ready = readiness(
            scanned=scanned,
            head=head,
            disagreement=report.disagreement,
            stalled=self.stall.stalled,
        )
        balance = None
        if self.challenger is not None:  # warn before a fraud needs the money, not after
            assert self.signer is not None
            balance = int(self.client.w3.eth.get_balance(self.signer.address))
            self._can_pay(self.stake, balance)
        if self.metrics.live:  # what follows reads L1 and the disk for the metrics only
            self._measure(scanned, head, balance)

    def _measure(self, scanned: int, head: int, balance: int | None) -> None:
        m = self.metrics
        m.last_scanned_block.set(scanned)
        m.head_block.set(head)
        m.safe_block.set(self.follower.confirmed_head(self.config.confirmations))
        m.ready.set(1 if self.ready[0] else 0)
        m.last_tick.set(self.clock.time())
        if self.signer is not None:
            if balance is None:
                balance = int(self.client.w3.eth.get_balance(self.signer.address))
            m.signer_balance.set(balance)
        depth = getattr(self.alert, "depth", None)
        if callable(depth):
            m.outbox_depth.set(depth())
        m.state_db_bytes.set(self.state.disk_bytes())
        m.state_nodes.set(self.state.node_count())
        open_deadlines = []
        for row in self.store.batches((BatchStatus.PENDING,)):
            if row.verdict is not VerdictKind.FRAUD:
                continue
            challenge = self.store.challenge(row.id)
            if challenge is None or challenge.state in (
                ChallengeState.PREPARED,
                ChallengeState.SENT,
            ):
                open_deadlines.append(row.deadline)
        if open_deadlines:
            l1_time = self.reader.l1_time()
            m.seconds_to_deadline.set(min(open_deadlines) - l1_time)
        else:
            m.seconds_to_deadline.set(float("inf"))

    def follow(self, report: TickReport) -> None:
        """Read L1 (through the follower, which records nothing) and record what it found: a
        reorg rewinds the store, each scanned range is recorded after its alerts are raised."""
        reorg = self.follower.find_reorg(self.store.recent_blocks())
        if reorg is not None:
            depth = self.store.recent_blocks()[0][0] - reorg + 1
            removed = self.store.rewind(reorg)
            report.reorg_from = reorg
            log.warning(
                "reorg_detected", l1_block=reorg, depth=depth, removed=[r.idx for r in removed]
            )
            confirmations = self.config.confirmations
            if isinstance(confirmations, int) and depth > confirmations:
                # Deeper than what we wait for before acting: what we did on the old chain (a
                # challenge) is re-checked from the journal, and a human should know.
                self.alert(
                    "deep_reorg",
                    l1_block=reorg,
                    depth=depth,
                    confirmations=confirmations,
                    removed_batches=[r.idx for r in removed],
                )
        for _ in range(self.config.max_chunks_per_tick):
            try:
                outcome = self.follower.scan(self.store.next_block(self.start_block))
            except DisagreementError as exc:
                # Never act on disputed data: nothing of the range is recorded; retried next tick.
                report.disagreement = str(exc)
                self._condition("rpc_disagreement", detail=str(exc))
                break
            except EndpointBehindError as exc:
                log.info("endpoint_behind", detail=str(exc))  # not a fault: wait for it
                break
            if outcome is None:
                break
            self._announce(outcome)  # before recording: a crash in between raises them again
            failpoint("scan.fetched")
            self.store.record_scan(
                outcome.next_block,
                outcome.blocks,
                outcome.batches,
                outcome.rejections,
                deposits=outcome.deposits,
                claims=outcome.claims,
            )
            failpoint("scan.recorded")
            report.scanned_to = outcome.scanned_to
            for row in outcome.batches:
                log.info(
                    "batch_seen", batch=row.idx, step=None, l1_block=row.l1_block, steps=row.count
                )
        readable = []
        try:
            for row, data in self.follower.reread(self.store.unreadable_batches()):
                self.store.mark_readable(row.id, data)
                readable.append(self.store.batch_by_id(row.id))
        except DisagreementError as exc:
            report.disagreement = str(exc)
            self._condition("rpc_disagreement", detail=str(exc))
            return
        for row in readable:
            log.warning(
                "batch_readable", batch=row.idx, step=None, l1_block=row.l1_block, steps=row.count
            )
        if report.disagreement is None:
            self._resolved("rpc_disagreement")

    def _announce(self, outcome: ScanOutcome) -> None:
        """Alerts for a scanned range, raised *before* the range is recorded: a crash in between
        rescans it and raises them again (deduplicated), never loses them."""
        for row in outcome.unreadable:
            self.alert(
                "batch_unreadable",
                batch=row.idx,
                l1_block=row.l1_block,
                batch_tx=_hex(row.tx_hash),
                reason=row.reason,
                deadline=row.deadline,
            )
            self.metrics.batches_unreadable.inc()
        for rejection in outcome.rejections:
            first, last, l1_block = rejection.first, rejection.last, rejection.l1_block
            log.warning("batches_rejected", batch=first, step=None, l1_block=l1_block, last=last)
            self._unless_history(
                "proposer_slashed",
                batch=first,
                l1_block=l1_block,
                last_batch=last,
                rejection_log=f"{_hex(rejection.tx_hash)}:{rejection.log_index}",
            )

    def _current_batches(self) -> list[BatchRow]:
        """The live batch at each index (pending or finalized), in index order."""
        return current_batches(self.store.batches((BatchStatus.PENDING, BatchStatus.FINALIZED)))

    def replay(self, report: TickReport) -> None:
        """Verify the live batches with the driver (:func:`~watchtower.execute.verify.
        verify_chain`) and record what it decides."""
        candidates = (self._candidate(row) for row in self._current_batches())
        blocker: BatchRow | None = None  # the batch that blocked the ones after it
        halted = False
        waiting = 0
        if self.prechecker is None and self.config.replay_worker:
            self.prechecker = Prechecker(log=log.warning)
        if self.root_worker is None and self.config.root_worker:
            self.root_worker = RootWorker()
        for outcome in verify_chain(
            self.state, candidates, prechecker=self.prechecker, roots=self.root_worker
        ):
            row = outcome.candidate.ref
            if outcome.root_fallback is not None:
                assert self.root_worker is not None
                log.warning(
                    "root_worker_fallback",
                    batch=row.idx,
                    step=None,
                    l1_block=row.l1_block,
                    reason=outcome.root_fallback,
                    fallbacks=self.root_worker.fallbacks,
                )
            if outcome.action is Action.SKIPPED:
                waiting += 1
                if row.verdict is None:
                    self.store.set_verdict(
                        row.id, VerdictKind.SKIPPED, reason=outcome.verdict.reason
                    )
                continue
            if outcome.action is Action.ACCEPTED:
                self.bridge.accepted(row, partial(self.batch_of, row))
                if row.verdict is not VerdictKind.VALID:
                    self.store.set_verdict(row.id, VerdictKind.VALID)  # after a crash
                continue
            if outcome.action is Action.REPLAYED:
                with bound_contextvars(batch=row.idx, step=None, l1_block=row.l1_block):
                    self._record(row, outcome, report)
                row = self.store.batch_by_id(row.id)
                if self.stopping():
                    return  # shutting down: what is recorded stays; the rest on the next start
            if outcome.blocks:
                blocker, halted = row, outcome.halts
            else:
                self.prune()  # when due: a catch-up of many batches stays within the policy
        self.metrics.batches_waiting.set(waiting if halted else 0)
        if halted:
            assert blocker is not None
            self._announce_halt(blocker, waiting)

    def _candidate(self, row: BatchRow) -> Candidate[BatchRow]:
        unreadable = row.verdict is VerdictKind.UNREADABLE
        return Candidate(
            index=row.idx,
            prev_root=row.prev_root,
            final_root=row.final_root,
            steps=row.count,
            load=None if unreadable else partial(self.batch_of, row),
            ref=row,
            known=row.verdict,
            reason=row.reason,
        )

    def _announce_halt(self, row: BatchRow, waiting: int) -> None:
        """``verification_halted`` once per halting batch (unreadable or undecidable) in this
        process; the outbox deduplicates it across restarts. (``verification_halt`` in the
        store computes the same halt from the records alone, for ``watchtower status``.)"""
        if row.tx_hash in self._halts_announced:
            return
        self._halts_announced.add(row.tx_hash)
        self.alert(
            "verification_halted",
            batch=row.idx,
            l1_block=row.l1_block,
            batch_tx=_hex(row.tx_hash),
            verdict=row.verdict,
            reason=row.reason,
            waiting=waiting,
            deadline=row.deadline,
        )

    def _record(self, row: BatchRow, outcome: Outcome[BatchRow], report: TickReport) -> None:
        """Log, alert and record the verdict of a batch the driver replayed."""
        verdict = outcome.verdict
        elapsed = outcome.seconds
        self.metrics.replay_speed.set(row.count / elapsed if elapsed > 0 else 0.0)
        if verdict.kind is VerdictKind.VALID:
            self.metrics.batches_verified.inc()
        elif verdict.is_fraud:
            self.metrics.batches_fraudulent.inc()
        bound = log.bind(batch=row.idx, step=verdict.step, l1_block=row.l1_block)
        batch = self.batch_of(row)
        if verdict.is_fraud:
            # Raised before the verdict is stored: a crash in between replays the batch and
            # raises it again (the outbox keeps one per batch and step), never loses it.
            self.alert(
                "fraud_detected",
                batch=row.idx,
                step=verdict.step,
                l1_block=row.l1_block,
                deadline=row.deadline,
                batch_tx=_hex(row.tx_hash),
                claimed_root=_hex(verdict.claimed_root),
                computed_root=_hex(verdict.computed_root),
                proposer=self._proposer(row),
                rollup=self.reader.address,
                chain_id=self.chain_id,
                value_at_risk=self.bridge.fraud_value(row, batch),
            )
        elif verdict.kind is VerdictKind.VALID:
            bound.info("batch_verified", steps=row.count, root=_hex(row.final_root))
        else:
            bound.warning("batch_undecidable", reason=verdict.reason)
        self.bridge.replayed(row, verdict, batch)
        failpoint("service.replayed")
        self.store.set_verdict(
            row.id,
            verdict.kind,
            fraud_step=verdict.step,
            claimed_root=verdict.claimed_root,
            computed_root=verdict.computed_root,
            reason=verdict.reason,
        )
        report.verdicts.append((row.idx, verdict.kind))

    def prune(self) -> None:
        """Prune the state once ``prune_every`` batches were verified since the last run (the
        policy is in :mod:`watchtower.execute.prune`), drop the calldata of batches that left
        their window below the floor."""
        head = self.state.head()
        every = self.config.prune_every
        last = self.state.pruned_at()
        if every > 0 and head is not None and head.index - (-1 if last is None else last) >= every:
            try:
                l1_time = self.reader.l1_time()
                retention = Retention(self.store.oldest_provable(l1_time), self.config.keep_recent)
                pruned = prune_state(self.state, retention)
            except WatchtowerError as exc:
                # Pruning is housekeeping: replay and challenges of this tick are done, and a
                # failed tick would back off the next ones. Say it, try again next tick.
                log.error("state_prune_failed", error=str(exc))
                return
            dropped = self.store.drop_calldata(pruned.pruned_below - 1, l1_time)
            log.info("state_pruned", head=head.index, calldata_dropped=dropped, **pruned.fields())
            self.metrics.state_prune_seconds.set(pruned.seconds)

    def batch_of(self, row: BatchRow) -> Batch:
        encoded = decode_batch(row.data)
        context = BlockContext.of_batch(row.idx, row.timestamp, row.coinbase, self.params)
        return Batch(row.idx, encoded.prev_root, context, encoded.steps)

    def proof_for(self, row: BatchRow) -> FraudProof:
        if row.fraud_step is None:
            raise WatchtowerError(f"batch {row.idx} has no fraudulent step recorded")
        return build_checked_proof(
            self.state,
            self.batch_of(row),
            row.fraud_step,
            self.params,
            built=lambda: failpoint("service.proof_built"),
        )

    def challenge(self, report: TickReport) -> None:
        assert self.challenger is not None
        confirmed = self.follower.confirmed_head(self.config.confirmations)
        stake = self.stake
        frauds = [
            row
            for row in self.store.batches((BatchStatus.PENDING, BatchStatus.REJECTED))
            if row.verdict is VerdictKind.FRAUD
        ]
        # The most value at risk first, then the nearest deadline (the money goes there first).
        for row in challenge_order(frauds, lambda r: value_at_risk(self.store, r.id)):
            existing = self.store.challenge(row.id)
            if existing is not None and existing.state not in (
                ChallengeState.PREPARED,
                ChallengeState.SENT,
            ):
                continue
            sent = bool(self.store.submissions(row.id))
            if row.status is BatchStatus.REJECTED and not sent:
                # Rejected on chain before we sent anything: someone else proved it.
                self._acting_on = row
                try:
                    self.challenger.record_already_rejected(
                        row, "rejected on chain by another party"
                    )
                finally:
                    self._acting_on = None
                report.challenges.append((row.idx, ChallengeState.ALREADY_REJECTED.value))
                self.metrics.challenges.labels(state="already_rejected").inc()
                continue
            if existing is None and row.l1_block > confirmed:
                self._waiting(row, confirmed)
                continue  # not deep enough yet to act on
            self._acting_on = row
            try:
                with bound_contextvars(batch=row.idx, step=row.fraud_step, l1_block=row.l1_block):
                    if not sent and not self._can_pay(stake):
                        # Not a failure: a human can top the account up before the deadline,
                        # and the next tick tries again.
                        seconds_left = row.deadline - self.challenger.l1_time()
                        self.alert(
                            "deadline_at_risk",
                            batch=row.idx,
                            step=row.fraud_step,
                            batch_tx=_hex(row.tx_hash),
                            seconds_left=seconds_left,
                            reason="the signer cannot pay the stake and gas",
                        )
                        continue
                    state = self.challenger.step(row, partial(self.proof_for, row), stake)
            except WatchtowerError as exc:
                log.error(
                    "challenge_error",
                    batch=row.idx,
                    step=row.fraud_step,
                    l1_block=row.l1_block,
                    error=str(exc),
                )
                continue
            finally:
                self._acting_on = None
            report.challenges.append((row.idx, state.value))
            before = None if existing is None else existing.state
            if state is not before:
                self.metrics.challenges.labels(state=state.value).inc()

    def _waiting(self, row: BatchRow, confirmed: int) -> None:
        """Log once per wait that the challenge of ``row`` waits for confirmations: on a quiet
        chain (a devnet where nothing else is mined) it waits until blocks come."""
        if row.tx_hash in self._waits_logged:
            return
        self._waits_logged.add(row.tx_hash)
        log.warning(
            "waiting_for_confirmations",
            batch=row.idx,
            step=row.fraud_step,
            l1_block=row.l1_block,
            confirmed_head=confirmed,
            confirmations=self.config.confirmations,
            blocks_needed=row.l1_block - confirmed,
            deadline=row.deadline,
        )

    @functools.cached_property
    def stake(self) -> int:
        """The stake per challenge: configured, or the contract's (immutable) minimum."""
        if self.stake_check is not None:
            return self.stake_check.stake
        return self.config.stake if self.config.stake is not None else self.client.min_stake()

    def _l1_base_fee(self) -> int:
        return _base_fee(self.client)

    def _can_pay(self, stake: int, balance: int | None = None) -> bool:
        """Whether the signer can pay ``stake`` plus a challenge's gas (the commit and the largest
        reveal, :data:`~watchtower.submit.gas.CHALLENGE_GAS_RESERVE`) at twice the base fee; if
        not, raise ``low_balance`` (once per episode); ``low_balance_resolved`` once it can."""
        assert self.signer is not None
        if balance is None:
            balance = int(self.client.w3.eth.get_balance(self.signer.address))
        needed = challenge_cost(stake, CHALLENGE_GAS_RESERVE, self._l1_base_fee())
        signer = self.signer.address
        if balance >= needed:
            self._resolved("low_balance", balance=balance, needed=needed, signer=signer)
            return True
        self._condition("low_balance", balance=balance, needed=needed, signer=signer)
        return False


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()
