"""The honest transition of a run of batches, for auditors: ``replay --all`` and ``fill-roots``.

:func:`honest_run` applies every step of every batch with the rollup's transition, carrying the
*honest* state from one batch to the next (whatever roots the batches claim); nothing is
committed to the state database. :func:`bad_steps` compares the claims with it.

The rule of ``replay --all`` (docs/protocol.md §6): after a fraudulent batch the proposer's
state is unknown (only its roots are claimed), so no later step can be re-executed on the
proposer's claimed state. Every later step is instead checked against the honest state: a
step is *bad* when the root it claims differs from the root the honest chain has after it.
A bad step is *provable* when the root claimed before it (the batch's ``prev_root`` for step
0) equals the honest root before it: the verifier holds that state, so a fraud proof of that
step can be built and the rollup contract's re-execution would agree. The other bad steps
only inherit an earlier disagreement.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from watchtower.execute.replay import StepCallback, StepTrace, iter_steps
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet
from watchtower.rollup.types import Batch, InvalidReason, hex0x

__all__ = ["BadStep", "HonestBatch", "bad_steps", "honest_run"]


@dataclass(frozen=True)
class HonestBatch:
    """A batch and what the honest transition gives for it from ``prev_root``."""

    batch: Batch
    prev_root: bytes
    traces: tuple[StepTrace, ...]

    @property
    def final_root(self) -> bytes:
        return self.traces[-1].computed_root if self.traces else self.prev_root


@dataclass(frozen=True)
class BadStep:
    """A step whose claimed root differs from the honest chain's root after it."""

    batch: int
    step: int
    claimed_root: bytes
    honest_root: bytes
    valid: bool
    reason: InvalidReason | None
    provable: bool

    @property
    def why(self) -> str:
        kind = "valid transfer" if self.valid else f"invalid ({self.reason})"
        if self.provable:
            return f"{kind}; builds on the honest state, so its root is provably wrong"
        return f"{kind}; builds on an earlier disagreement (against the honest state)"

    def to_json(self) -> dict[str, object]:
        return {
            "batch": self.batch,
            "step": self.step,
            "claimed_root": hex0x(self.claimed_root),
            "honest_root": hex0x(self.honest_root),
            "transaction": "valid" if self.valid else "invalid",
            "invalid_reason": self.reason.value if self.reason is not None else None,
            "provable": self.provable,
        }


def honest_run(
    state_db: StateDB,
    batches: Iterable[Batch],
    start_root: bytes,
    *,
    on_step: StepCallback | None = None,
    rules: RuleSet = RuleSet.ROLLUP,
) -> Iterator[HonestBatch]:
    """Apply ``batches`` in order from the state at ``start_root`` (which ``state_db`` must
    hold), each from the honest root the previous one ended at; commits nothing.

    A step the transition cannot apply raises :class:`TransitionInvariantError`.
    """
    pending = PendingWrites(state_db)
    root = start_root
    try:
        for batch in batches:
            state = open_state(pending, root, batch.context)
            traces = []
            for trace in iter_steps(state, batch, rules=rules):
                if on_step is not None:
                    on_step(trace.step)
                traces.append(trace)
            state.persist()  # into the in-memory overlay: the next batch opens this root
            honest = HonestBatch(batch=batch, prev_root=root, traces=tuple(traces))
            root = honest.final_root
            yield honest
    finally:
        pending.discard()


def bad_steps(honest: HonestBatch) -> list[BadStep]:
    """Every step of ``honest.batch`` whose claimed root is not the honest one."""
    batch = honest.batch
    found = []
    for trace in honest.traces:
        k = trace.step
        claimed_before = batch.prev_root if k == 0 else batch.steps[k - 1].root
        honest_before = honest.prev_root if k == 0 else honest.traces[k - 1].computed_root
        if trace.claimed_root != trace.computed_root:
            found.append(
                BadStep(
                    batch=batch.index,
                    step=k,
                    claimed_root=trace.claimed_root,
                    honest_root=trace.computed_root,
                    valid=trace.valid,
                    reason=trace.reason,
                    provable=claimed_before == honest_before,
                )
            )
    return found
