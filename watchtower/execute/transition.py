"""The state transition: apply one step (transaction bytes) to a state, in one of two modes.

* ``Mode.ROLLUP``: the rules of docs/protocol.md §3. Stateless rules (decoding, chain id,
  signature, shape, fees) come from :mod:`watchtower.rollup.transactions`; the stateful ones
  (sender code, nonce, balance, recipient code) are checked here; a valid transfer is then
  executed by py-evm's Cancun transaction executor. An invalid transaction changes nothing.
* ``Mode.ETHEREUM``: full EVM with Ethereum's own validity rules, used for conformance. py-evm
  0.12 accepts some transactions that Ethereum rejects; the missing rules are added here.

Both modes share one engine: :class:`~watchtower.execute.state.WatchtowerState`.
"""

from __future__ import annotations

import enum
from typing import Any

from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.forks.cancun.constants import GAS_PER_BLOB
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_typing import Address
from eth_utils.exceptions import ValidationError

from watchtower.errors import TransitionInvariantError
from watchtower.execute.state import WatchtowerState
from watchtower.rollup.params import EMPTY_CODE_HASH, TRANSFER_GAS, RollupParams, is_precompile
from watchtower.rollup.transactions import Rejected, check_transfer
from watchtower.rollup.types import InvalidReason, StepOutcome

_NONCE_LIMIT = 2**64 - 1
BLOB_TX_TYPE = 3


class Mode(enum.StrEnum):
    ROLLUP = "rollup"
    ETHEREUM = "ethereum"


def params_of(state: WatchtowerState) -> RollupParams:
    ctx = state.execution_context
    return RollupParams(
        chain_id=ctx.chain_id, base_fee=ctx.base_fee_per_gas or 0, gas_limit=ctx.gas_limit
    )


def apply_step(
    state: WatchtowerState,
    tx_bytes: bytes,
    mode: Mode = Mode.ROLLUP,
    *,
    batch: int | None = None,
    step: int | None = None,
) -> StepOutcome:
    """Apply one transaction to ``state`` and return the outcome with the new state root.

    ``state`` must have had its root made (``make_state_root``) before the call; on return it is
    at the returned root. ``batch`` and ``step`` only name the step in errors.
    """
    if mode is Mode.ROLLUP:
        return _apply_rollup(state, tx_bytes, batch, step)
    return _apply_ethereum(state, tx_bytes)


def _invalid(state: WatchtowerState, reason: InvalidReason, detail: str = "") -> StepOutcome:
    return StepOutcome(valid=False, root=bytes(state.state_root), reason=reason, detail=detail)


def _apply_rollup(
    state: WatchtowerState, tx_bytes: bytes, batch: int | None, step: int | None
) -> StepOutcome:
    checked = check_transfer(tx_bytes, params_of(state))
    if isinstance(checked, Rejected):
        return _invalid(state, checked.reason, checked.detail)
    sender, to = Address(checked.sender), Address(checked.to)
    if state.get_code_hash(sender) != EMPTY_CODE_HASH:
        return _invalid(state, InvalidReason.SENDER_HAS_CODE)
    nonce = state.get_nonce(sender)
    if checked.nonce != nonce or nonce >= _NONCE_LIMIT:
        return _invalid(
            state, InvalidReason.BAD_NONCE, f"tx nonce {checked.nonce}, account {nonce}"
        )
    balance = state.get_balance(sender)
    cost = checked.gas * checked.max_fee + checked.value
    if balance < cost:
        return _invalid(
            state,
            InvalidReason.INSUFFICIENT_BALANCE,
            f"balance {balance} < gas·fee cap+value {cost}",
        )
    if state.get_code_hash(to) != EMPTY_CODE_HASH or is_precompile(to):
        return _invalid(state, InvalidReason.RECIPIENT_HAS_CODE)

    state.lock_changes()
    try:
        computation = state.apply_transaction(checked.tx)
    except ValidationError as exc:
        raise TransitionInvariantError(batch, step, checked.tx_hash, str(exc)) from exc
    if computation.is_error:
        raise TransitionInvariantError(
            batch, step, checked.tx_hash, f"transfer failed in the EVM: {computation.error!r}"
        )
    return StepOutcome(
        valid=True, root=bytes(state.make_state_root()), sender=sender, gas_used=TRANSFER_GAS
    )


def _ethereum_precheck(state: WatchtowerState, tx: Any) -> str | None:
    """Ethereum validity rules that py-evm 0.12 does not enforce (geth's ``preCheck``)."""
    ctx = state.execution_context
    type_id = tx.type_id or 0
    if tx.gas > ctx.gas_limit:
        return f"gas {tx.gas} above block gas limit {ctx.gas_limit}"
    if tx.nonce >= _NONCE_LIMIT:
        return "nonce at 2^64-1 (EIP-2681)"
    if type_id >= 2 and tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        return "max priority fee above max fee"
    if type_id == BLOB_TX_TYPE and tx.to == CREATE_CONTRACT_ADDRESS:
        return "blob transaction without a recipient"
    sender = tx.sender
    if state.get_code_hash(sender) != EMPTY_CODE_HASH:
        return "sender has code (EIP-3607)"
    fee_cap = tx.max_fee_per_gas if type_id >= 2 else tx.gas_price
    cost = tx.gas * fee_cap + tx.value
    if type_id == BLOB_TX_TYPE:
        cost += GAS_PER_BLOB * len(tx.blob_versioned_hashes) * tx.max_fee_per_blob_gas
    if state.get_balance(sender) < cost:
        return "balance below gas·fee cap + value"
    return None


def _apply_ethereum(state: WatchtowerState, tx_bytes: bytes) -> StepOutcome:
    try:
        tx = CancunTransactionBuilder.decode(tx_bytes)
        tx.sender  # noqa: B018  (recover now: a bad signature makes the transaction undecodable)
    except Exception as exc:  # any decoding failure of untrusted bytes
        return _invalid(state, InvalidReason.UNDECODABLE, f"{type(exc).__name__}: {exc}"[:200])
    try:
        tx.validate()
    except (ValidationError, ValueError) as exc:
        return _invalid(state, InvalidReason.EVM_REJECTED, str(exc)[:200])
    problem = _ethereum_precheck(state, tx)
    if problem is not None:
        return _invalid(state, InvalidReason.EVM_REJECTED, problem)
    state.lock_changes()
    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(tx)
    except ValidationError as exc:
        state.revert(snapshot)
        return _invalid(state, InvalidReason.EVM_REJECTED, str(exc)[:200])
    state.commit(snapshot)
    gas_used = tx.gas - computation.get_gas_remaining()
    logs = tuple(
        (bytes(address), tuple(topics), bytes(data))
        for address, topics, data in computation.get_log_entries()
    )
    return StepOutcome(
        valid=True,
        root=bytes(state.make_state_root()),
        sender=bytes(tx.sender),
        gas_used=gas_used,
        logs=logs,
    )
