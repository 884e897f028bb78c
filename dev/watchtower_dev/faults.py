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

The bridge faults (protocol.md §8) attack the deposit queue and the withdrawals:

| fault | the proposer ... | on chain |
|---|---|---|
| ``invent-deposit`` | inserts a no-op step at k (empty bytes) and claims it credited ``amount`` \
(default 1,000 ether) to the attacker: a deposit with no L1 entry behind it. A real ``0x7E`` \
step not in the queue is refused by the contract (``deposit step not in the queue``), so this is \
the variant it accepts | accepted, fraudulent at k |
| ``skip-deposit`` | leaves the pending deposits out of the batch (honest roots otherwise) | \
accepted while the oldest is young; refused once overdue (``oldest pending deposit is overdue``) |
| ``wrong-deposit-amount`` | includes the queue's deposits as they are, but the root it claims \
after deposit step min(k, deposits − 1) credits ``amount`` (default 100 ether) more | accepted, \
fraudulent at that deposit step |
| ``forge-withdrawal`` | inserts at k a withdrawal of ``amount`` (the proposer picks 90 % of the \
bridge's balance) signed by the attacker, who cannot afford it, and claims it applied: the \
claimed root changes, so once final it would be claimable (§8.5) | accepted, fraudulent at k |

``skip-deposit`` is the proposer's choice of steps and never reaches :func:`build_faulty_batch`
(see :meth:`watchtower_dev.proposer.Proposer.propose`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from eth_typing import Address

from watchtower.execute.state import WatchtowerState, open_state
from watchtower.execute.statedb import PendingWrites
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.bridge import decode_deposit
from watchtower.rollup.transactions import decode_signed
from watchtower.rollup.types import Batch, BlockContext, Step
from watchtower_dev.txgen import Account, withdrawal

ARBITRARY_ROOT = bytes.fromhex("de" * 32)
GARBAGE_TX = b"\x02\xc0\xff\xee"
#: The step an invented deposit hides behind: empty bytes, undecodable, a no-op (§3.1 rule 1).
INVENTED_DEPOSIT_TX = b""
#: Who profits from the bridge faults: a development key with no L2 funds of its own.
ATTACKER = Account(b"watchtower-attacker", 0)
ETHER = 10**18
DEFAULT_INVENTED_DEPOSIT = 1000 * ETHER
DEFAULT_DEPOSIT_EXCESS = 100 * ETHER


class FaultKind(enum.StrEnum):
    WRONG_ROOT = "wrong-root"
    SKIP_TX = "skip-tx"
    WRONG_FEE = "wrong-fee"
    WRONG_INSERT = "wrong-insert"
    COPY_PREV_ROOT = "copy-prev-root"
    GARBAGE_VALID = "garbage-valid"
    INVENT_DEPOSIT = "invent-deposit"
    SKIP_DEPOSIT = "skip-deposit"
    WRONG_DEPOSIT_AMOUNT = "wrong-deposit-amount"
    FORGE_WITHDRAWAL = "forge-withdrawal"


#: The faults of one step's root (section 5), and those that attack the bridge (§8).
STEP_FAULTS = (
    FaultKind.WRONG_ROOT,
    FaultKind.SKIP_TX,
    FaultKind.WRONG_FEE,
    FaultKind.WRONG_INSERT,
    FaultKind.COPY_PREV_ROOT,
    FaultKind.GARBAGE_VALID,
)
BRIDGE_FAULTS = (
    FaultKind.INVENT_DEPOSIT,
    FaultKind.SKIP_DEPOSIT,
    FaultKind.WRONG_DEPOSIT_AMOUNT,
    FaultKind.FORGE_WITHDRAWAL,
)
#: The faults whose batch the contract accepts although a step's claimed root is wrong.
FRAUDULENT_FAULTS = tuple(k for k in FaultKind if k is not FaultKind.SKIP_DEPOSIT)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    step: int
    #: invent-deposit, wrong-deposit-amount, forge-withdrawal: the wei at stake (0: the default;
    #: forge-withdrawal needs one, the proposer gives 90 % of the bridge's balance).
    amount: int = 0


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

    For ``garbage-valid``, ``invent-deposit`` and ``forge-withdrawal`` the step is inserted
    before transaction ``fault.step``; ``wrong-deposit-amount`` hits deposit step
    ``min(fault.step, deposits - 1)``.
    """
    txs, target = _place(pending, index, prev_root, context, txs, fault)
    state = open_state(pending, prev_root, context)
    steps: list[Step] = []
    diverged = False
    for k, tx in enumerate(txs):
        if k != target:
            outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
            root = ARBITRARY_ROOT if diverged else outcome.root
            steps.append(Step(tx=tx, root=root))
            continue
        diverged = fault.kind is FaultKind.WRONG_ROOT
        root = _faulty_root(pending, state, tx, context, fault, index=index, k=k)
        steps.append(Step(tx=tx, root=root))
    state.persist()
    return Batch(index=index, prev_root=prev_root, context=context, steps=tuple(steps))


def _place(  # noqa: PLR0917
    pending: PendingWrites,
    index: int,
    prev_root: bytes,
    context: BlockContext,
    txs: Sequence[bytes],
    fault: Fault,
) -> tuple[list[bytes], int]:
    """The batch's transactions with the fault's own step inserted, and the faulty step."""
    out = list(txs)
    target = fault.step
    kind = fault.kind
    if kind is FaultKind.SKIP_DEPOSIT:
        raise FaultNotApplicableError(
            "skip-deposit leaves the deposits out of the batch: the proposer does it"
        )
    if kind is FaultKind.GARBAGE_VALID:
        out.insert(fault.step, GARBAGE_TX)
    elif kind is FaultKind.INVENT_DEPOSIT:
        out.insert(fault.step, INVENTED_DEPOSIT_TX)
    elif kind is FaultKind.FORGE_WITHDRAWAL:
        if fault.amount <= 0:
            raise FaultNotApplicableError("forge-withdrawal needs the amount to forge")
        before = out[: fault.step]
        forged = _forged_withdrawal(pending, prev_root, context, before, fault.amount, index)
        out.insert(fault.step, forged)
    elif kind is FaultKind.WRONG_DEPOSIT_AMOUNT:
        deposit_steps = [k for k, tx in enumerate(out) if decode_deposit(tx) is not None]
        if not deposit_steps:
            raise FaultNotApplicableError(
                "wrong-deposit-amount needs a pending deposit in the batch (make one first)"
            )
        target = deposit_steps[min(fault.step, len(deposit_steps) - 1)]
    if not 0 <= target < len(out):
        raise FaultNotApplicableError(f"step {fault.step} is outside the batch")
    return out, target


def _faulty_root(
    pending: PendingWrites,
    state: WatchtowerState,
    tx: bytes,
    context: BlockContext,
    fault: Fault,
    *,
    index: int,
    k: int,
) -> bytes:
    """The root the faulty proposer claims after step ``k``; ``state`` becomes its state."""
    kind = fault.kind
    coinbase = Address(context.coinbase)
    if kind is FaultKind.WRONG_ROOT:
        apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
        return ARBITRARY_ROOT
    if kind is FaultKind.SKIP_TX:
        probe = _would_be_valid(pending, state, tx, context, index=index, k=k)
        if not probe:
            raise FaultNotApplicableError(f"step {k}: skip-tx needs a valid transaction")
    elif kind is FaultKind.WRONG_FEE:
        outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
        if not outcome.valid:
            raise FaultNotApplicableError(f"step {k}: wrong-fee needs a valid transaction")
        state.delta_balance(coinbase, 1)
    elif kind is FaultKind.WRONG_INSERT:
        recipient = _recipient(tx)
        if recipient is None or state.account_exists(recipient):
            raise FaultNotApplicableError(f"step {k}: wrong-insert needs a new recipient")
        outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
        if not outcome.valid or not state.account_exists(recipient):
            raise FaultNotApplicableError(f"step {k}: the transaction creates no account")
        state.set_nonce(recipient, 1)
    elif kind is FaultKind.COPY_PREV_ROOT:
        before = bytes(state.make_state_root())
        outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
        if outcome.root == before:
            raise FaultNotApplicableError(f"step {k}: the transaction changes nothing")
        return before
    elif kind is FaultKind.GARBAGE_VALID:
        state.delta_balance(coinbase, 1)
    elif kind is FaultKind.INVENT_DEPOSIT:
        state.delta_balance(Address(ATTACKER.address), fault.amount or DEFAULT_INVENTED_DEPOSIT)
    elif kind is FaultKind.WRONG_DEPOSIT_AMOUNT:
        deposit = decode_deposit(tx)
        if deposit is None:
            raise FaultNotApplicableError(f"step {k}: wrong-deposit-amount needs a deposit step")
        apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
        state.delta_balance(Address(deposit.recipient), fault.amount or DEFAULT_DEPOSIT_EXCESS)
    else:  # FORGE_WITHDRAWAL: applied as if the attacker could afford it
        sender = Address(ATTACKER.address)
        shortfall = fault.amount + _max_fee(tx) - state.get_balance(sender)
        state.delta_balance(sender, max(shortfall, 0))
        outcome = apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
        if not outcome.valid:
            raise FaultNotApplicableError(f"step {k}: the forged withdrawal does not apply")
    return bytes(state.make_state_root())


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


def _max_fee(tx: bytes) -> int:
    decoded = decode_signed(tx)
    return int(decoded.gas) * int(decoded.max_fee_per_gas)


def _forged_withdrawal(  # noqa: PLR0917
    pending: PendingWrites,
    prev_root: bytes,
    context: BlockContext,
    before: Sequence[bytes],
    amount: int,
    index: int,
) -> bytes:
    """The attacker's withdrawal of ``amount``, signed with its nonce after the steps ``before``
    (on a throwaway state: nothing is persisted)."""
    state = open_state(pending, prev_root, context)
    for k, tx in enumerate(before):
        apply_step(state, tx, RuleSet.ROLLUP, batch=index, step=k)
    nonce = state.get_nonce(Address(ATTACKER.address))
    return withdrawal(ATTACKER, nonce=nonce, value=amount, chain_id=context.chain_id)
