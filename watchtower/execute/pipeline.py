"""Replay one batch on two cores: steps executed here on a flat state, roots in a root worker.

:class:`PipelinedSteps` yields the same :class:`~watchtower.execute.replay.StepTrace` sequence as
:func:`~watchtower.execute.replay.iter_steps` (``replay_batch`` consumes either the same way), but
the computed roots come from a :class:`~watchtower.execute.rootworker.RootWorker`: steps run ahead
of the roots by up to a few chunks, and a trace is yielded once its root is back. An error a step
raises (``TransitionInvariantError``, a missing trie node) surfaces after the traces of the steps
before it, where the reference raises it. If the worker fails, or a step does something the
flat state does not handle, the batch is replayed from its ``prev_root`` by the reference path,
yielding only the traces not yielded yet (so every step's hooks run once).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from watchtower.errors import StateError
from watchtower.execute.flat import FlatAccountDB, FlatUnsupported, open_flat_state
from watchtower.execute.precheck import Prechecks
from watchtower.execute.replay import StepTrace, iter_steps, usable_checks
from watchtower.execute.rootworker import (
    BatchRoots,
    NodeItems,
    RootWorker,
    RootWorkerFailed,
    StepChanges,
)
from watchtower.execute.state import WatchtowerState, open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.types import Batch, StepOutcome

#: Poll the worker for roots every this many steps.
_POLL_EVERY = 8
#: Steps per message at the start of a batch (the worker waits for the first one).
_FIRST_CHUNKS = 10


class PipelinedSteps:
    """One batch's steps, replayed with a root worker (see the module docstring). Iterate once
    for the traces, then :meth:`new_nodes` (a valid batch to commit) or :meth:`close`."""

    def __init__(
        self,
        state_db: StateDB,
        batch: Batch,
        worker: RootWorker,
        *,
        rules: RuleSet,
        prechecked: Prechecks | None,
    ) -> None:
        if rules is RuleSet.ETHEREUM:
            raise ValueError("a root worker replays rollup batches only")
        self.state_db = state_db
        self.batch = batch
        self.worker = worker
        self.rules = rules
        self.prechecked = prechecked
        self._roots: BatchRoots | None = None
        #: Set when the batch was (or is being) replayed by the reference path.
        self._reference: PendingWrites | None = None
        self._reference_state: WatchtowerState | None = None
        self._yielded = 0
        self._accounts: FlatAccountDB | None = None
        worker.last_fallback = None

    def __iter__(self) -> Iterator[StepTrace]:
        try:
            yield from self._pipelined()
        except (RootWorkerFailed, FlatUnsupported) as exc:
            self.worker.fell_back(f"batch {self.batch.index}: {exc}")
            self._abandon()
            yield from self._fallback()

    def _pipelined(self) -> Iterator[StepTrace]:
        batch, chunk = self.batch, self.worker.chunk
        steps = batch.steps
        state = open_flat_state(PendingWrites(self.state_db), batch.prev_root, batch.context)
        accounts = self._accounts = state.flat_accounts
        accounts.use_known(self.worker.accounts.at(batch.prev_root))
        checks = usable_checks(self.prechecked, batch, self.rules)
        roots = self._roots = self.worker.begin(self.state_db.path, batch.prev_root)
        outcomes: list[StepOutcome] = []
        buffer: list[StepChanges] = []
        error: Exception | None = None
        for k in range(len(steps)):
            try:
                outcome = apply_step(
                    state,
                    steps[k].tx,
                    self.rules,
                    batch=batch.index,
                    step=k,
                    checked=None if checks is None else checks.check(k),
                )
            except FlatUnsupported:
                raise
            except Exception as exc:  # raised after the traces before it, as the reference does
                error = exc
                break
            outcomes.append(outcome)
            buffer.append(accounts.take_changes())
            if len(buffer) >= (chunk if k >= chunk else min(chunk, _FIRST_CHUNKS)):
                roots.send_steps(buffer)
                buffer = []
            if k % _POLL_EVERY == 0:
                roots.poll()
                while self._yielded < len(roots.roots):
                    yield self._trace(outcomes, roots.roots)
        if buffer:
            roots.send_steps(buffer)
        while self._yielded < len(outcomes):
            roots.wait_root(self._yielded)
            yield self._trace(outcomes, roots.roots)
        if error is not None:
            raise error

    def _trace(self, outcomes: list[StepOutcome], roots: list[bytes]) -> StepTrace:
        k = self._yielded
        outcome = dataclasses.replace(outcomes[k], root=roots[k])  # the flat state had no root
        self._yielded = k + 1
        return StepTrace(
            step=k,
            valid=outcome.valid,
            reason=outcome.reason,
            computed_root=roots[k],
            claimed_root=self.batch.steps[k].root,
            outcome=outcome,
        )

    def _fallback(self) -> Iterator[StepTrace]:
        """The reference replay of the whole batch; yields the traces not yielded yet."""
        pending = self._reference = PendingWrites(self.state_db)
        state = open_state(pending, self.batch.prev_root, self.batch.context)
        self._reference_state = state
        for trace in iter_steps(state, self.batch, rules=self.rules, prechecked=self.prechecked):
            if trace.step >= self._yielded:
                self._yielded = trace.step + 1
                yield trace

    def new_nodes(self) -> NodeItems:
        """The new nodes of the batch's final state (after iterating every step): from the
        worker, or, if it fails now, from a reference replay (silent: the traces were given)."""
        if self._reference is None and self._roots is not None:
            try:
                items = self._roots.finish()
                if self._accounts is not None:  # every root matched: the final state's accounts
                    self.worker.accounts.advance(self.batch.final_root, self._accounts.overlay)
                return items
            except RootWorkerFailed as exc:
                self.worker.fell_back(f"batch {self.batch.index}: {exc}")
                self._abandon()
                for _ in self._fallback():
                    pass
        if self._reference is None or self._reference_state is None:
            raise RuntimeError("new_nodes() before the steps were replayed")
        self._reference_state.persist()
        pending = self._reference
        final_root = bytes(self._reference_state.state_root)
        if final_root != self.batch.final_root:  # the worker's roots matched every claim
            raise StateError(
                f"batch {self.batch.index}: the reference replay ends at 0x{final_root.hex()}, "
                f"the root worker's roots at 0x{self.batch.final_root.hex()}"
            )
        pending.keep_reachable(final_root)
        return pending.drain()

    def _abandon(self) -> None:
        if self._roots is not None:
            self._roots.abort()
            self._roots = None

    def close(self) -> None:
        """Abandon the batch (fraud, an error, or no commit): nothing is written."""
        self._abandon()
        if self._reference is not None:
            self._reference.discard()


__all__ = ["PipelinedSteps"]
