"""Build batches: run transactions through the rollup transition and record every root.

An honest proposer claims exactly the roots this computes. Faulty proposers (devnets, demos,
tests) start from the honest steps and change them in one named way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.types import Batch, BlockContext, Step, StepOutcome

OutcomeCallback = Callable[[int, StepOutcome], None]


def build_batch(
    pending: PendingWrites,
    index: int,
    prev_root: bytes,
    context: BlockContext,
    txs: Sequence[bytes],
    *,
    on_step: OutcomeCallback | None = None,
) -> Batch:
    """The honest batch for ``txs`` on ``prev_root``; its nodes are left in ``pending``."""
    state = open_state(pending, prev_root, context)
    steps = []
    for k, tx in enumerate(txs):
        outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
        if on_step is not None:
            on_step(k, outcome)
        steps.append(Step(tx=tx, root=outcome.root))
    state.persist()
    return Batch(index=index, prev_root=prev_root, context=context, steps=tuple(steps))


def with_wrong_root(batch: Batch, step: int, root: bytes) -> Batch:
    """The batch with the claimed root of ``step`` (and of every later step) replaced by ``root``.

    Later steps keep claiming the wrong root, as a proposer that diverged would.
    """
    if not 0 <= step < len(batch.steps):
        raise ValueError(f"step {step} is outside the batch (0..{len(batch.steps) - 1})")
    steps = list(batch.steps)
    for k in range(step, len(steps)):
        steps[k] = Step(tx=steps[k].tx, root=root)
    return Batch(batch.index, batch.prev_root, batch.context, tuple(steps))
