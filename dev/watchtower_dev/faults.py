"""Faulty proposers: honest batches with one named kind of fraud at a chosen step.

Each fault diverges at step ``k`` and, like a real faulty proposer, keeps building on its own
(wrong) state afterwards, so every later root it claims is also wrong except where noted.

| fault | at step k the proposer ... |
|---|---|
| ``wrong-root`` | claims an arbitrary root (and keeps claiming it) |
| ``skip-tx`` | does not apply the (valid) transaction, and continues without it |
| ``wrong-fee`` | credits the fee recipient one wei more than the tip |
| ``wrong-insert`` | creates the new recipient account with nonce 1 instead of 0 |
| ``copy-prev-root`` | claims the previous step's root, then continues honestly |
| ``garbage-valid`` | includes garbage bytes and claims they moved 1 wei to the fee recipient |
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from eth_typing import Address

from watchtower.execute.state import WatchtowerState, open_state
from watchtower.execute.statedb import PendingWrites
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.transactions import decode_signed
from watchtower.rollup.types import Batch, BlockContext, Step

ARBITRARY_ROOT = bytes.fromhex("de" * 32)
GARBAGE_TX = b"\x02\xc0\xff\xee"


class FaultKind(enum.StrEnum):
    WRONG_ROOT = "wrong-root"
    SKIP_TX = "skip-tx"
    WRONG_FEE = "wrong-fee"
    WRONG_INSERT = "wrong-insert"
    COPY_PREV_ROOT = "copy-prev-root"
    GARBAGE_VALID = "garbage-valid"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    step: int


class FaultNotApplicableError(ValueError):
    """The chosen step cannot carry this fault (e.g. ``skip-tx`` on an invalid transaction)."""


def build_faulty_batch(
    pending: PendingWrites,
    index: int,
    prev_root: bytes,
    context: BlockContext,
    txs: Sequence[bytes],
    *,
    fault: Fault,
) -> Batch:
    """Like :func:`~watchtower_dev.builder.build_batch`, with ``fault`` at its step.

    For ``garbage-valid`` the garbage transaction is inserted before transaction ``fault.step``.
    """
    txs = list(txs)
    if fault.kind is FaultKind.GARBAGE_VALID:
        txs.insert(fault.step, GARBAGE_TX)
    if not 0 <= fault.step < len(txs):
        raise FaultNotApplicableError(f"step {fault.step} is outside the batch")
    state = open_state(pending, prev_root, context)
    coinbase = Address(context.coinbase)
    steps: list[Step] = []
    diverged = False
    for k, tx in enumerate(txs):
        if k != fault.step:
            outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
            root = ARBITRARY_ROOT if diverged else outcome.root
            steps.append(Step(tx=tx, root=root))
            continue
        kind = fault.kind
        if kind is FaultKind.WRONG_ROOT:
            apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
            diverged = True
            steps.append(Step(tx=tx, root=ARBITRARY_ROOT))
        elif kind is FaultKind.SKIP_TX:
            probe = _would_be_valid(pending, state, tx, context, index=index, k=k)
            if not probe:
                raise FaultNotApplicableError(f"step {k}: skip-tx needs a valid transaction")
            steps.append(Step(tx=tx, root=bytes(state.make_state_root())))
        elif kind is FaultKind.WRONG_FEE:
            outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
            if not outcome.valid:
                raise FaultNotApplicableError(f"step {k}: wrong-fee needs a valid transaction")
            state.delta_balance(coinbase, 1)
            steps.append(Step(tx=tx, root=bytes(state.make_state_root())))
        elif kind is FaultKind.WRONG_INSERT:
            recipient = _recipient(tx)
            if recipient is None or state.account_exists(recipient):
                raise FaultNotApplicableError(f"step {k}: wrong-insert needs a new recipient")
            outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
            if not outcome.valid or not state.account_exists(recipient):
                raise FaultNotApplicableError(f"step {k}: the transaction creates no account")
            state.set_nonce(recipient, 1)
            steps.append(Step(tx=tx, root=bytes(state.make_state_root())))
        elif kind is FaultKind.COPY_PREV_ROOT:
            before = bytes(state.make_state_root())
            outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
            if outcome.root == before:
                raise FaultNotApplicableError(f"step {k}: the transaction changes nothing")
            steps.append(Step(tx=tx, root=before))
        else:  # GARBAGE_VALID
            state.delta_balance(coinbase, 1)
            steps.append(Step(tx=tx, root=bytes(state.make_state_root())))
    state.persist()
    return Batch(index=index, prev_root=prev_root, context=context, steps=tuple(steps))


def _recipient(tx: bytes) -> Address | None:
    try:
        decoded = decode_signed(tx)
    except ValueError:
        return None
    return Address(bytes(decoded.to)) if decoded.to else None


def _would_be_valid(
    pending: PendingWrites,
    state: WatchtowerState,
    tx: bytes,
    context: BlockContext,
    *,
    index: int,
    k: int,
) -> bool:
    """Whether ``tx`` is valid on the current state, decided on a throwaway copy of it."""
    root = bytes(state.make_state_root())
    state.persist()
    probe = open_state(pending, root, context)
    return apply_step(probe, tx, RuleSet.ROLLUP, batch=index, step=k).valid
