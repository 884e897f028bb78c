"""Replay batches into the persistent state and decide a verdict for each.

A batch is replayed step by step from its ``prev_root``; after every step the computed root is
compared with the claimed one. A batch whose steps all match is committed to the state database
(nodes and root pointer in one transaction); the first mismatch gives a ``fraud`` verdict and
nothing is committed, so the stored chain only ever holds verified roots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from watchtower.errors import InputError, StateError, TransitionInvariantError
from watchtower.execute.precheck import Prechecks
from watchtower.execute.rootworker import RootWorker
from watchtower.execute.state import WatchtowerState, build_genesis, open_state
from watchtower.execute.statedb import BatchRecord, PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.failpoints import failpoint
from watchtower.rollup.bridge import BridgeFlows, DepositStep, Withdrawal, is_withdrawal
from watchtower.rollup.bundle import Bundle
from watchtower.rollup.params import TRANSFER_GAS
from watchtower.rollup.types import (
    Batch,
    GenesisAccount,
    InvalidReason,
    StepOutcome,
    Verdict,
    VerdictKind,
)

if TYPE_CHECKING:
    from watchtower.execute.pipeline import PipelinedSteps

StepCallback = Callable[[int], None]


def init_genesis(state_db: StateDB, alloc: Mapping[bytes, GenesisAccount]) -> bytes:
    """Write the genesis state (protocol.md §2) and record its root; idempotent."""
    pending = PendingWrites(state_db)
    root = build_genesis(pending, alloc)
    state_db.commit_genesis(pending, root)
    return root


def init_bundle(state_db: StateDB, bundle: Bundle) -> bytes:
    """Write a bundle's genesis and check that its first batch builds on it (protocol.md §6)."""
    root = init_genesis(state_db, bundle.genesis)
    if bundle.batches and bundle.batches[0].prev_root != root:
        raise InputError(
            f"bundle batch 0 builds on 0x{bundle.batches[0].prev_root.hex()}, but the "
            f"genesis allocation has root 0x{root.hex()}"
        )
    return root


@dataclass(frozen=True)
class StepTrace:
    """The computed outcome of one step (for provers and auditors)."""

    step: int
    valid: bool
    reason: InvalidReason | None
    computed_root: bytes
    claimed_root: bytes
    #: The full outcome (sender, recipient and value of a valid transfer, a deposit's credit).
    outcome: StepOutcome | None = None


def replay_batch(
    state_db: StateDB,
    batch: Batch,
    *,
    on_step: StepCallback | None = None,
    commit: bool = True,
    rules: RuleSet = RuleSet.ROLLUP,
    prechecked: Prechecks | None = None,
    roots: RootWorker | None = None,
) -> Verdict:
    """Replay one batch on top of the stored head and return its verdict.

    The batch must build on the stored head root (``batch.prev_root``); otherwise the verdict is
    ``undecidable`` with the reason. With ``commit`` a valid batch becomes the new head. A valid
    verdict carries the batch's bridge flows (protocol.md §8). ``rules``: ``RuleSet.ROLLUP``
    (protocol v2) or ``RuleSet.ROLLUP_V1`` (bundles of format version 1). ``prechecked``: the
    batch's stateless checks done ahead (:func:`watchtower.execute.precheck.precheck`, e.g. in a
    worker process); used only if they are this batch's under these rules. ``roots``: a
    :class:`~watchtower.execute.rootworker.RootWorker` for this database, to compute the
    per-step roots in another process (rollup rule sets; the same verdict; if the worker fails
    the batch is replayed here and ``roots.last_fallback`` says why).
    """
    head = state_db.head_root()
    if head is None:
        raise StateError("the state database has no genesis: initialise it first")
    expected_index = 0 if state_db.head() is None else state_db.head().index + 1  # type: ignore[union-attr]
    if batch.index != expected_index:
        return Verdict(
            batch=batch.index,
            kind=VerdictKind.UNDECIDABLE,
            steps=len(batch.steps),
            reason=f"expected batch {expected_index} next, got {batch.index}",
        )
    if batch.prev_root != head:
        return Verdict(
            batch=batch.index,
            kind=VerdictKind.UNDECIDABLE,
            steps=len(batch.steps),
            reason=(
                f"batch builds on 0x{batch.prev_root.hex()} but the verified chain ends at "
                f"0x{head.hex()}"
            ),
        )
    pending = PendingWrites(state_db)
    state = open_state(pending, batch.prev_root, batch.context)
    pipelined: PipelinedSteps | None = None
    traces: Iterable[StepTrace]
    if roots is not None and rules is not RuleSet.ETHEREUM and batch.steps:
        from watchtower.execute.pipeline import PipelinedSteps  # (it imports this module)

        traces = pipelined = PipelinedSteps(
            state_db, batch, roots, rules=rules, prechecked=prechecked
        )
    else:
        traces = iter_steps(state, batch, rules=rules, prechecked=prechecked)
    fraud: Verdict | None = None
    invalid: list[tuple[int, InvalidReason]] = []
    flows = FlowsBuilder(batch.index, batch.context.base_fee)
    try:
        for trace in traces:
            failpoint("replay.step")
            if on_step is not None:
                on_step(trace.step)
            if not trace.valid and trace.reason is not None:
                invalid.append((trace.step, trace.reason))
            if trace.outcome is not None and rules is RuleSet.ROLLUP:  # v1 has no bridge
                flows.add(trace.step, trace.outcome)
            if trace.computed_root != trace.claimed_root:
                fraud = Verdict(
                    batch=batch.index,
                    kind=VerdictKind.FRAUD,
                    steps=len(batch.steps),
                    step=trace.step,
                    claimed_root=trace.claimed_root,
                    computed_root=trace.computed_root,
                    reason=(
                        f"step {trace.step} "
                        + ("valid transfer" if trace.valid else f"invalid ({trace.reason})")
                        + " gives a different root"
                    ),
                    invalid_steps=tuple(invalid),
                )
                break
    except TransitionInvariantError as exc:
        pending.discard()
        if pipelined is not None:
            pipelined.close()
        return Verdict(
            batch=batch.index,
            kind=VerdictKind.UNDECIDABLE,
            steps=len(batch.steps),
            reason=str(exc),
        )
    if fraud is not None or not commit:
        pending.discard()
        if pipelined is not None:
            pipelined.close()
    if fraud is not None:
        return fraud
    if commit:
        _commit(state_db, batch, state, pending, pipelined)
    return Verdict(
        batch=batch.index,
        kind=VerdictKind.VALID,
        steps=len(batch.steps),
        final_root=batch.final_root,
        invalid_steps=tuple(invalid),
        flows=flows.build(),
    )


def _commit(
    state_db: StateDB,
    batch: Batch,
    state: WatchtowerState,
    pending: PendingWrites,
    pipelined: PipelinedSteps | None,
) -> None:
    record = BatchRecord(index=batch.index, prev_root=batch.prev_root, final_root=batch.final_root)
    items = None
    if pipelined is not None:
        items = pipelined.new_nodes()  # the root worker's (or a reference replay's)
    else:
        state.persist()
    failpoint("replay.before_commit")
    if items is not None:
        state_db.commit_batch_items(items, record)
    else:
        state_db.commit_batch(pending, record)


class FlowsBuilder:
    """Collects the bridge flows (protocol.md §8) of one batch from its step outcomes."""

    def __init__(self, batch: int, base_fee: int) -> None:
        self.batch = batch
        self.base_fee = base_fee
        self.deposits: list[DepositStep] = []
        self.withdrawals: list[Withdrawal] = []
        self.burned = 0

    def add(self, step: int, outcome: StepOutcome) -> None:
        if not outcome.valid:
            return
        if outcome.deposit is not None:
            self.deposits.append(outcome.deposit)
            return
        if outcome.to is None or outcome.sender is None:
            return
        self.burned += TRANSFER_GAS * self.base_fee
        if is_withdrawal(outcome.to, outcome.value):
            self.withdrawals.append(
                Withdrawal(self.batch, step, bytes(outcome.sender), outcome.value)
            )

    def build(self) -> BridgeFlows:
        return BridgeFlows(tuple(self.deposits), tuple(self.withdrawals), self.burned)


def usable_checks(prechecked: Prechecks | None, batch: Batch, rules: RuleSet) -> Prechecks | None:
    """``prechecked`` if it holds the checks of ``batch``'s steps under ``rules``; otherwise
    None (the steps are checked in place)."""
    return prechecked if prechecked is not None and prechecked.fits(batch, rules) else None


def iter_steps(
    state: WatchtowerState,
    batch: Batch,
    until: int | None = None,
    *,
    rules: RuleSet = RuleSet.ROLLUP,
    prechecked: Prechecks | None = None,
) -> Iterator[StepTrace]:
    """Apply the batch's steps to ``state`` (at ``batch.prev_root``), yielding each outcome.

    Stops after step ``until`` if given. The caller decides whether to persist the state.
    ``prechecked``: see :func:`replay_batch`.
    """
    last = len(batch.steps) - 1 if until is None else min(until, len(batch.steps) - 1)
    checks = usable_checks(prechecked, batch, rules)
    for k in range(last + 1):
        step = batch.steps[k]
        outcome = apply_step(
            state,
            step.tx,
            rules,
            batch=batch.index,
            step=k,
            checked=None if checks is None else checks.check(k),
        )
        yield StepTrace(
            step=k,
            valid=outcome.valid,
            reason=outcome.reason,
            computed_root=outcome.root,
            claimed_root=step.root,
            outcome=outcome,
        )
