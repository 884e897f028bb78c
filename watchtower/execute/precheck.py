"""The stateless checks of a batch's steps, done ahead of replay (and in another process).

Decoding a transaction and recovering its sender (protocol.md §3.1 rules 1-9) do not depend on
the state, so they can run for the next batch while the current one executes: a
:class:`Prechecker` does them in a worker process (the replay itself stays on one core: every
step needs the root of the step before it). Replay then uses the results as if it had computed
them (:func:`watchtower.execute.replay.replay_batch`, ``prechecked``); results that are not for
the batch's steps (other transactions, parameters or rule set) are ignored and the checks are
done in place.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import wait
from typing import Protocol

from watchtower.execute.transition import RuleSet
from watchtower.hashing import use_fast_keccak
from watchtower.rollup.bridge import decode_deposit
from watchtower.rollup.params import RollupParams
from watchtower.rollup.transactions import Rejected, Transfer, check_transfer
from watchtower.rollup.types import Batch

Check = Transfer | Rejected | None  # None: a deposit step (no stateless check)


class Prechecks(Protocol):
    """The stateless checks of one batch's steps (done, or being done by a worker)."""

    def fits(self, batch: Batch, rules: RuleSet) -> bool:
        """Whether these are the checks of ``batch``'s steps under ``rules``."""
        ...

    def check(self, step: int) -> Check:
        """``check_transfer`` of step ``step`` (None for a deposit step)."""
        ...


def _fits(
    rules: RuleSet, params: RollupParams, txs: tuple[bytes, ...], batch: Batch, asked: RuleSet
) -> bool:
    return (
        rules is asked
        and params == _params(batch)
        and len(txs) == len(batch.steps)
        and all(a == b.tx for a, b in zip(txs, batch.steps, strict=True))
    )


def _params(batch: Batch) -> RollupParams:
    ctx = batch.context
    return RollupParams(chain_id=ctx.chain_id, base_fee=ctx.base_fee, gas_limit=ctx.gas_limit)


def _check_all(txs: tuple[bytes, ...], params: RollupParams, rules: RuleSet) -> tuple[Check, ...]:
    results: list[Check] = []
    for tx in txs:
        if rules is RuleSet.ROLLUP and decode_deposit(tx) is not None:
            results.append(None)
        else:
            results.append(check_transfer(tx, params))
    return tuple(results)


@dataclass(frozen=True)
class Prechecked:
    """``check_transfer`` of every step of one batch, under one rule set."""

    rules: RuleSet
    params: RollupParams
    txs: tuple[bytes, ...]  # the steps' bytes the results are for
    results: tuple[Check, ...]

    def fits(self, batch: Batch, rules: RuleSet) -> bool:
        return _fits(self.rules, self.params, self.txs, batch, rules)

    def check(self, step: int) -> Check:
        return self.results[step]


def precheck(batch: Batch, rules: RuleSet = RuleSet.ROLLUP) -> Prechecked:
    """The stateless checks of ``batch``'s steps (rollup rule sets only)."""
    if rules is RuleSet.ETHEREUM:
        raise ValueError("the Ethereum rule set has no separate stateless checks")
    params = _params(batch)
    txs = tuple(step.tx for step in batch.steps)
    return Prechecked(rules, params, txs, _check_all(txs, params, rules))


class PendingChecks:
    """A batch's checks being done by a worker, in chunks of steps: replay waits only for the
    chunk of the step it is at, so it overlaps with the worker even on the first batch.

    The worker is an optimisation, never a point of failure: a chunk that does not come (the
    worker died, the pool broke, nothing within the prechecker's ``timeout``) is computed in
    place, as are the chunks after it, and the prechecker is told (it logs one line and starts
    a fresh worker for later batches). The results are the same either way."""

    def __init__(
        self,
        rules: RuleSet,
        params: RollupParams,
        txs: tuple[bytes, ...],
        chunks: list[Future[tuple[Check, ...]]],
        *,
        chunk: int,
        owner: Prechecker | None = None,
        pool: ProcessPoolExecutor | None = None,
        batch: int | None = None,
    ) -> None:
        self.rules, self.params, self.txs = rules, params, txs
        self.batch = batch  # the batch's index, for the log line of a failure
        self._chunks = chunks
        self._chunk = chunk
        self._owner = owner
        self._pool = pool  # the worker pool the chunks were submitted to
        self._results: list[tuple[Check, ...] | None] = [None] * -(-len(txs) // chunk)
        #: Chunks whose results came from the worker (the others were checked in place).
        self.from_worker = 0
        #: Why the worker's results were given up for this batch (None: they were not; a batch
        #: submitted while the worker is off or broken has no chunks, and a reason).
        self.failure: str | None = None if chunks or not txs else "no worker"

    def fits(self, batch: Batch, rules: RuleSet) -> bool:
        return _fits(self.rules, self.params, self.txs, batch, rules)

    def check(self, step: int) -> Check:
        i = step // self._chunk
        results = self._results[i]
        if results is None:
            results = self._results[i] = self._result(i)
        return results[step % self._chunk]

    @property
    def stale(self) -> bool:
        """Whether the worker these checks were submitted to has since been given up."""
        return self._owner is not None and self._owner._pool is not self._pool

    def cancel(self) -> None:
        """Drop the checks (a batch that is not replayed after all)."""
        for future in self._chunks:
            future.cancel()

    def _result(self, i: int) -> tuple[Check, ...]:
        txs = self.txs[i * self._chunk : (i + 1) * self._chunk]
        owner = self._owner
        if self.failure is None and owner is not None and not self._chunks[i].done():
            starting = owner._starting(self._pool)
            if starting is not None and starting <= owner.start_timeout:
                # The worker is still starting (a spawned interpreter importing py-evm): this
                # chunk in place rather than wait for it; its later results are used.
                return _check_all(txs, self.params, self.rules)
            if starting is not None:
                self.failure = f"the worker did not start within {owner.start_timeout:g} s"
        if self.failure is None:
            timeout = None if owner is None else owner.timeout
            try:
                got = self._chunks[i].result(timeout=timeout)
            except FutureTimeout:
                self.failure = f"no result within {timeout:g} s"
            except BrokenProcessPool as exc:
                self.failure = f"the worker process died ({exc})"
            except CancelledError:
                self.failure = "the worker's task was cancelled"
            except Exception as exc:  # whatever went wrong in the worker: check in place
                self.failure = f"{type(exc).__name__}: {exc}"
            else:
                if isinstance(got, tuple) and len(got) == len(txs):
                    self.from_worker += 1
                    if owner is not None:
                        owner.chunks_from_worker += 1
                    return got
                self.failure = f"a result for {len(got)} steps, not {len(txs)}"
        if self.failure is not None and self._chunks:  # reported once, by the failing chunk
            for future in self._chunks[i:]:
                future.cancel()
            self._chunks = []
            if owner is not None:
                owner._failed(self._pool, self.failure, batch=self.batch, step=i * self._chunk)
        return _check_all(txs, self.params, self.rules)


def _exit_with_parent() -> None:
    # A worker whose parent is gone (SIGKILL, OOM) exits: the executor's call queue never
    # reaches EOF in the worker (it holds both ends of the pipe), the parent's sentinel does.
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    wait([parent.sentinel])
    os._exit(0)


def worker_process_setup(fast_keccak: bool) -> None:
    """What a replay worker process (this one, the root worker) does first. Ctrl-C (the
    terminal's process group) or a SIGTERM to the service's group stops the parent, which stops
    the worker: the worker itself ignores them (no traceback, no batch lost mid-way)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if fast_keccak:
        use_fast_keccak()


def _init_worker(fast_keccak: bool) -> None:
    worker_process_setup(fast_keccak)
    threading.Thread(target=_exit_with_parent, name="exit-with-parent", daemon=True).start()


def _worker_pid() -> int:
    return os.getpid()


#: How the prechecker reports its worker's failures: ``log(event, **fields)`` (a structlog
#: method in the service and the CLI; this module does no I/O of its own).
EventLog = Callable[..., object]


class Prechecker:
    """A worker process that prechecks batches ahead of replay. ``submit`` a batch before (or
    while) replaying the one before it; pass what it returns to ``replay_batch``.

    The worker is started on the first ``submit`` (spawn: it inherits no LMDB or sqlite handle,
    and no thread) and exits with its parent, even a SIGKILLed one. A worker that fails (dies,
    breaks the pool, gives no result within ``timeout`` seconds, does not start within
    ``start_timeout``) is logged once (``precheck_worker_failed``) and replaced on the next
    ``submit``; after ``max_restarts`` replacements the prechecker is off
    (``precheck_worker_off``) and ``submit`` returns checks done in place. A worker that is still
    starting is not waited for: those chunks are checked in place (:meth:`ready` waits)."""

    def __init__(
        self,
        *,
        fast_keccak: bool = True,
        chunk: int = 100,
        timeout: float = 30.0,
        start_timeout: float = 60.0,
        max_restarts: int = 3,
        log: EventLog | None = None,
    ) -> None:
        self._fast_keccak = fast_keccak
        self._chunk = chunk
        self.timeout = timeout  # seconds a started worker may take for one chunk
        self.start_timeout = start_timeout  # seconds a worker may take to start
        self.max_restarts = max_restarts
        self._log = log
        self._pool: ProcessPoolExecutor | None = None
        self._started_at = 0.0  # when the current worker was started (monotonic)
        self._ready: ProcessPoolExecutor | None = None  # the worker, once it answered
        #: Workers given up so far, started so far; chunks whose checks came from a worker.
        self.failures = 0
        self.started = 0
        self.chunks_from_worker = 0
        self._closed = False

    @property
    def off(self) -> bool:
        """Whether the worker was given up for good (or the prechecker closed)."""
        return self._closed or self.failures > self.max_restarts

    def _live(self) -> ProcessPoolExecutor | None:
        if self.off:
            return None
        if self._pool is None:
            # spawn: the worker must not inherit the parent's open LMDB environment or threads
            context = multiprocessing.get_context("spawn")
            try:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=context,
                    initializer=_init_worker,
                    initargs=(self._fast_keccak,),
                )
            except Exception as exc:  # no semaphores (a read-only /dev/shm), no processes
                self.failures = self.max_restarts + 1
                if self._log is not None:
                    self._log(
                        "precheck_worker_off",
                        failures=self.failures,
                        detail=f"cannot start the sender-recovery worker "
                        f"({type(exc).__name__}: {exc}): replay checks in place",
                    )
                return None
            self.started += 1
            self._started_at = time.monotonic()
        return self._pool

    def _starting(self, pool: ProcessPoolExecutor | None) -> float | None:
        """Seconds since ``pool`` (the current worker) was started, while it has not answered
        yet; None once it has (or for a worker given up)."""
        if pool is None or pool is not self._pool or self._ready is pool:
            return None
        return time.monotonic() - self._started_at

    def _answered(self, pool: ProcessPoolExecutor, future: Future[tuple[Check, ...]]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._ready = pool

    def submit(self, batch: Batch, rules: RuleSet = RuleSet.ROLLUP) -> PendingChecks:
        """Start the checks of ``batch``'s steps (done in place, as replay needs them, if the
        worker is off or cannot take them)."""
        if rules is RuleSet.ETHEREUM:
            raise ValueError("the Ethereum rule set has no separate stateless checks")
        params = _params(batch)
        txs = tuple(step.tx for step in batch.steps)
        pool = self._live()
        chunks: list[Future[tuple[Check, ...]]] = []
        try:
            if pool is not None:
                chunks = [
                    pool.submit(_check_all, txs[i : i + self._chunk], params, rules)
                    for i in range(0, len(txs), self._chunk)
                ]
            if pool is not None and chunks and self._ready is not pool:
                chunks[0].add_done_callback(partial(self._answered, pool))
        except Exception as exc:  # a pool broken since the last batch: this one in place
            for future in chunks:
                future.cancel()
            self._failed(pool, f"{type(exc).__name__}: {exc}", batch=batch.index)
            chunks, pool = [], None
        return PendingChecks(
            rules, params, txs, chunks, chunk=self._chunk, owner=self, pool=pool, batch=batch.index
        )

    def ready(self) -> bool:
        """Start the worker if it is not running and wait until it answers (at most
        ``start_timeout`` seconds): whether it did. Until a worker answers, replay checks in place
        rather than wait for it."""
        pool = self._live()
        if pool is None:
            return False
        if self._ready is not pool:
            try:
                pool.submit(_worker_pid).result(timeout=self.start_timeout)
            except Exception as exc:
                self._failed(pool, f"the worker did not start: {type(exc).__name__}: {exc}")
                return False
            if pool is self._pool:
                self._ready = pool
        return self._ready is pool

    def pid(self) -> int | None:
        """The worker's process id (None before the first ``submit`` or once it is off)."""
        pool = self._pool
        if pool is None:
            return None
        processes = pool._processes  # no public accessor
        if processes:
            return next(iter(processes))
        try:
            return pool.submit(_worker_pid).result(timeout=self.start_timeout)
        except Exception as exc:
            self._failed(pool, f"{type(exc).__name__}: {exc}")
            return None

    def _failed(self, pool: ProcessPoolExecutor | None, reason: str, **fields: object) -> None:
        if pool is None or pool is not self._pool:
            return  # that worker was already given up (and reported)
        self._pool = None
        self.failures += 1
        _teardown(pool, kill=True)
        if self._log is not None:
            restarts_left = max(self.max_restarts - self.failures + 1, 0)
            self._log(
                "precheck_worker_failed",
                reason=reason,
                detail="checking in place; a fresh worker for the next batch"
                if restarts_left
                else "checking in place",
                restarts_left=restarts_left,
                **fields,
            )
            if self.off:
                self._log(
                    "precheck_worker_off",
                    failures=self.failures,
                    detail="the sender-recovery worker failed too often: replay checks in place",
                )

    def close(self) -> None:
        """Stop the worker (killed: it holds nothing, what it was doing is dropped)."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            _teardown(pool, kill=True)  # it holds nothing worth finishing

    def __enter__(self) -> Prechecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _teardown(pool: ProcessPoolExecutor, *, kill: bool, grace: float = 5.0) -> None:
    """Shut ``pool`` down without waiting on a hung worker: killed at once (``kill``) or after
    ``grace`` seconds."""
    processes = list((pool._processes or {}).values())
    if kill:
        for process in processes:
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(grace)
        if process.is_alive():
            process.kill()
            process.join(grace)


__all__ = [
    "Check",
    "EventLog",
    "PendingChecks",
    "Prechecked",
    "Prechecker",
    "Prechecks",
    "precheck",
    "worker_process_setup",
]
