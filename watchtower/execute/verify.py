"""Verify a chain of batches: the one driver behind the service, ``watchtower replay`` and
``watchtower prove``.

:func:`verify_chain` takes the state database and the batches in index order (one live batch per
index) and yields an :class:`Outcome` per batch. It does no I/O of its own beyond the state
database; recording the verdicts, alerting and logging are the caller's. The rules:

* a batch already in the state database with the same ``(prev_root, final_root)`` is accepted
  as valid without replaying it (resuming after a crash, or a later tick);
* a batch at an index at or below the state's head that is not that record (a replacement after
  a rejection or a reorg) rolls the state back to just before it, then is replayed;
* a batch with a verdict that is neither valid nor skipped (fraud, undecidable, unreadable)
  keeps it and is not replayed again;
* the first batch whose verdict is not valid blocks every later one: each is ``skipped``
  ("builds on batch N"); an unreadable or undecidable blocker halts verification
  (:attr:`Outcome.halts`).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from watchtower.execute.precheck import PendingChecks, Prechecker
from watchtower.execute.replay import StepCallback, replay_batch
from watchtower.execute.rootworker import RootWorker
from watchtower.execute.statedb import StateDB
from watchtower.execute.transition import RuleSet
from watchtower.rollup.types import HALTING_VERDICTS, Batch, Verdict, VerdictKind

__all__ = ["Action", "Candidate", "Outcome", "skip_reason", "verify_chain"]

T = TypeVar("T")


@dataclass(frozen=True)
class Candidate(Generic[T]):
    """One batch to verify: its claimed roots, how to get its steps (``None``: its data cannot
    be read), the verdict already recorded for it, and the caller's own handle (``ref``)."""

    index: int
    prev_root: bytes
    final_root: bytes
    steps: int
    load: Callable[[], Batch] | None
    ref: T
    known: VerdictKind | None = None
    reason: str = ""

    @classmethod
    def of(cls, batch: Batch, ref: T, known: VerdictKind | None = None) -> Candidate[T]:
        """A batch held in memory (a bundle, a test)."""
        return cls(
            index=batch.index,
            prev_root=batch.prev_root,
            final_root=batch.final_root,
            steps=len(batch.steps),
            load=lambda: batch,
            ref=ref,
            known=known,
        )


class Action(enum.Enum):
    REPLAYED = "replayed"  # replayed now: the verdict is new, record it
    ACCEPTED = "accepted"  # already in the state database with the same roots: valid
    KEPT = "kept"  # its recorded verdict (fraud, undecidable, unreadable) stands
    SKIPPED = "skipped"  # after a batch that is not valid: not replayed


@dataclass(frozen=True)
class Outcome(Generic[T]):
    candidate: Candidate[T]
    verdict: Verdict
    action: Action
    #: The blocking batch's index, for a skipped batch.
    builds_on: int | None = None
    #: Seconds spent replaying (0 unless replayed).
    seconds: float = 0.0
    #: Why the root worker was not used for this replayed batch (it was replayed by the
    #: reference path, same verdict): for the caller to log. None: it was used, or not asked.
    root_fallback: str | None = None

    @property
    def blocks(self) -> bool:
        """Whether later batches are skipped because of this one."""
        return self.action is not Action.SKIPPED and self.verdict.kind is not VerdictKind.VALID

    @property
    def halts(self) -> bool:
        """A blocker that halts verification (unreadable or undecidable)."""
        return self.blocks and self.verdict.kind in HALTING_VERDICTS


def skip_reason(blocker: Verdict) -> str:
    if blocker.kind is VerdictKind.FRAUD:
        return f"builds on fraudulent batch {blocker.batch}"
    return f"builds on {blocker.kind.value} batch {blocker.batch}"


def verify_chain(
    state_db: StateDB,
    candidates: Iterable[Candidate[T]],
    *,
    on_step: StepCallback | None = None,
    timer: Callable[[], float] = time.perf_counter,
    rules: RuleSet = RuleSet.ROLLUP,
    prechecker: Prechecker | None = None,
    roots: RootWorker | None = None,
) -> Iterator[Outcome[T]]:
    """Verify ``candidates`` (index order) on ``state_db``; one :class:`Outcome` per candidate.

    ``rules``: protocol v2 (``RuleSet.ROLLUP``, the service) or v1 (``RuleSet.ROLLUP_V1``,
    bundles of format version 1). A replayed valid batch's verdict carries its bridge flows; an
    *accepted* one (already in the state database) does not: it was not replayed.

    A replayed valid batch is committed to ``state_db`` before its outcome is yielded; a fraud or
    undecidable one leaves the state at the batch before it (what a proof is built on).

    ``prechecker``: a worker process that decodes each replayed batch's transactions and
    recovers their senders in chunks, ahead of the replay (the verdicts are the same). With it,
    the next candidate is loaded, and submitted to the worker, before the current one is
    replayed, if it will be replayed should the current one be valid (only a candidate after a
    batch found not valid is loaded for nothing); a load that fails raises in the candidate's
    turn, as without the worker. A worker that fails costs speed, never a verdict
    (:class:`~watchtower.execute.precheck.Prechecker`).

    ``roots``: a worker process that computes each replayed batch's per-step state roots while
    this process executes its steps (:class:`~watchtower.execute.rootworker.RootWorker`; rollup
    rule sets only; the same verdicts). A batch it could not serve is replayed by the reference
    path, and its outcome's :attr:`Outcome.root_fallback` says why.
    """
    blocker: Verdict | None = None
    worker = prechecker if prechecker is not None and rules is not RuleSet.ETHEREUM else None
    root_worker = roots if rules is not RuleSet.ETHEREUM else None
    upcoming = _Upcoming(candidates)
    ahead: _Ahead[T] | None = None  # the next candidate, loaded and submitted to the worker
    try:
        for c in upcoming:
            mine, ahead = (ahead if ahead is not None and ahead.candidate is c else None), None
            if blocker is not None:
                skipped = Verdict(
                    batch=c.index,
                    kind=VerdictKind.SKIPPED,
                    steps=c.steps,
                    reason=skip_reason(blocker),
                )
                _drop(mine)
                yield Outcome(c, skipped, Action.SKIPPED, builds_on=blocker.batch)
                continue
            if c.load is None or c.known is VerdictKind.UNREADABLE:
                blocker = Verdict(
                    batch=c.index, kind=VerdictKind.UNREADABLE, steps=c.steps, reason=c.reason
                )
                _drop(mine)
                yield Outcome(c, blocker, Action.KEPT)
                continue
            if _accepted(state_db, c):
                valid = Verdict(
                    batch=c.index, kind=VerdictKind.VALID, steps=c.steps, final_root=c.final_root
                )
                _drop(mine)
                yield Outcome(c, valid, Action.ACCEPTED)
                continue
            if _kept(c):
                assert c.known is not None
                blocker = Verdict(batch=c.index, kind=c.known, steps=c.steps, reason=c.reason)
                _drop(mine)
                yield Outcome(c, blocker, Action.KEPT)
                continue
            head = state_db.head()
            if head is not None and head.index >= c.index:
                state_db.rollback_to(c.index - 1 if c.index else None)
            started = timer()
            # A load done ahead raises what it raised then, here, as a load now would.
            batch = c.load() if mine is None else mine.batch()
            prechecked = None
            if worker is not None:
                prechecked = mine.checks if mine is not None else None
                if prechecked is None or prechecked.stale:  # not ahead, or on a failed worker
                    prechecked = worker.submit(batch, rules)
                following = upcoming.peek()
                if following is not None and _replayable(state_db, following):
                    ahead = _Ahead.of(following, worker, rules)
            verdict, fallback = _replay(
                state_db,
                batch,
                on_step=on_step,
                rules=rules,
                prechecked=prechecked,
                roots=root_worker,
            )
            elapsed = timer() - started
            if verdict.kind is not VerdictKind.VALID:
                blocker = verdict
            yield Outcome(c, verdict, Action.REPLAYED, seconds=elapsed, root_fallback=fallback)
    finally:
        _drop(ahead)  # the caller stopped early: the worker drops the next batch


def _replay(
    state_db: StateDB,
    batch: Batch,
    *,
    on_step: StepCallback | None,
    rules: RuleSet,
    prechecked: PendingChecks | None,
    roots: RootWorker | None,
) -> tuple[Verdict, str | None]:
    """Replay ``batch``; its verdict, and why the root worker did not serve it (or None)."""
    if roots is not None:
        roots.last_fallback = None  # replay_batch sets it only for a batch it gives the worker
    verdict = replay_batch(
        state_db, batch, on_step=on_step, rules=rules, prechecked=prechecked, roots=roots
    )
    return verdict, None if roots is None else roots.last_fallback


def _accepted(state_db: StateDB, c: Candidate[T]) -> bool:
    record = state_db.batch(c.index)
    return record is not None and (record.prev_root, record.final_root) == (
        c.prev_root,
        c.final_root,
    )


def _kept(c: Candidate[T]) -> bool:
    return c.known is not None and c.known not in (VerdictKind.VALID, VerdictKind.SKIPPED)


def _replayable(state_db: StateDB, c: Candidate[T]) -> bool:
    """Whether ``c`` will be replayed if the batch before it is valid (the one being replayed:
    the state is at the batch before that one, so no later record can accept ``c``)."""
    return (
        c.load is not None
        and c.known is not VerdictKind.UNREADABLE
        and not _kept(c)
        and not _accepted(state_db, c)
    )


class _Upcoming(Generic[T]):
    """The candidates, with a look at the next one."""

    def __init__(self, candidates: Iterable[Candidate[T]]) -> None:
        self._it = iter(candidates)
        self._next: list[Candidate[T]] = []

    def __iter__(self) -> Iterator[Candidate[T]]:
        return self

    def __next__(self) -> Candidate[T]:
        return self._next.pop() if self._next else next(self._it)

    def peek(self) -> Candidate[T] | None:
        if not self._next:
            try:
                self._next.append(next(self._it))
            except StopIteration:
                return None
        return self._next[0]


@dataclass(frozen=True)
class _Ahead(Generic[T]):
    """A candidate loaded one ahead, its checks submitted to the worker; a load that failed
    keeps its exception, raised when (and only if) the candidate is replayed."""

    candidate: Candidate[T]
    loaded: Batch | None
    error: Exception | None
    checks: PendingChecks | None

    @classmethod
    def of(cls, c: Candidate[T], worker: Prechecker, rules: RuleSet) -> _Ahead[T]:
        assert c.load is not None
        try:
            batch = c.load()
        except Exception as exc:  # raised again in its turn, if it is replayed
            return cls(c, None, exc, None)
        return cls(c, batch, None, worker.submit(batch, rules))

    def batch(self) -> Batch:
        if self.error is not None:
            raise self.error
        assert self.loaded is not None
        return self.loaded


def _drop(ahead: _Ahead[T] | None) -> None:
    if ahead is not None and ahead.checks is not None:
        ahead.checks.cancel()
