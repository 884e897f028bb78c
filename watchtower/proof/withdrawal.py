"""The witness of a withdrawal claim (docs/protocol.md §8.5): pure, from the batch's steps.

``claimWithdrawal(index, step, w)`` proves step ``step`` (and, for ``step > 0``, the step before
it) under the batch's steps root exactly as a challenge does (§7.5), with the same
``StepWitness`` tuple and the same step-tree proofs (:mod:`watchtower.rollup.codec`).
"""

from __future__ import annotations

from typing import Any

from eth_hash.auto import keccak

from watchtower.rollup.codec import step_proof
from watchtower.rollup.types import Batch

ZERO32 = b"\x00" * 32


def claim_witness(batch: Batch, step: int) -> tuple[Any, ...]:
    """``StepWitness`` of step ``step`` of ``batch`` in ABI order: ``(tx, postRoot, postProof,
    prevTxHash, prevRoot, prevProof)``; for step 0 the previous-step fields are zero/empty (the
    contract uses the batch's ``prev_root``)."""
    if not 0 <= step < len(batch.steps):
        raise ValueError(f"batch {batch.index} has no step {step} (count {len(batch.steps)})")
    claimed = batch.steps[step]
    previous = batch.steps[step - 1] if step else None
    return (
        claimed.tx,
        claimed.root,
        step_proof(batch.steps, step),
        bytes(keccak(previous.tx)) if previous is not None else ZERO32,
        previous.root if previous is not None else ZERO32,
        step_proof(batch.steps, step - 1) if previous is not None else [],
    )
