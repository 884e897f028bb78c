"""The state transition: apply one step (transaction bytes) to a state, under a rule set.

* ``RuleSet.ROLLUP``: protocol v2, the rules of docs/protocol.md §3 plus deposit steps (§8.2: a
  61-byte step starting with ``0x7E`` credits its recipient, without py-evm's executor).
* ``RuleSet.ROLLUP_V1``: protocol v1, §3 alone (a ``0x7E`` step is undecodable).

  In both, the stateless rules (decoding, chain id, signature, shape, fees) come from
  :mod:`watchtower.rollup.transactions`; the stateful ones (sender code, nonce, balance,
  recipient code) are checked here; a valid transfer is then executed by py-evm's Cancun
  transaction executor. An invalid transaction changes nothing.
* ``RuleSet.ETHEREUM``: full EVM with Ethereum's own validity rules, used for conformance. py-evm
  0.12 accepts some transactions that Ethereum rejects, so every Cancun rule is checked first by
  :mod:`watchtower.execute.ethereum_rules` (one table row per rule; docs/protocol.md
  "Ethereum mode").

Both rule sets share one engine: :class:`~watchtower.execute.state.WatchtowerState`.
"""

from __future__ import annotations

import enum

from eth.exceptions import VMError
from eth_typing import Address
from eth_utils.exceptions import ValidationError

from watchtower.errors import TransitionInvariantError
from watchtower.execute import ethereum_rules
from watchtower.execute.ethereum_rules import EthRule
from watchtower.execute.state import WatchtowerState
from watchtower.rollup.bridge import DepositStep, decode_deposit
from watchtower.rollup.params import EMPTY_CODE_HASH, TRANSFER_GAS, RollupParams, is_precompile
from watchtower.rollup.transactions import Rejected, Transfer, check_transfer
from watchtower.rollup.types import InvalidReason, StepOutcome

_NONCE_LIMIT = 2**64 - 1


class RuleSet(enum.StrEnum):
    """Which validity rules a step is applied under (not the service's watch/challenge mode)."""

    ROLLUP = "rollup"  # protocol v2 (with deposit steps, §8.2)
    ROLLUP_V1 = "rollup-v1"  # protocol v1 (§3 alone): offline bundles of format version 1
    ETHEREUM = "ethereum"


def rules_of_protocol(protocol: int) -> RuleSet:
    """The rollup rule set of a protocol version (docs/protocol.md §8.7): 1 or 2."""
    if protocol == 1:
        return RuleSet.ROLLUP_V1
    if protocol == 2:
        return RuleSet.ROLLUP
    raise ValueError(f"protocol version {protocol} is not known (1 or 2)")


def params_of(state: WatchtowerState) -> RollupParams:
    ctx = state.execution_context
    return RollupParams(
        chain_id=ctx.chain_id, base_fee=ctx.base_fee_per_gas or 0, gas_limit=ctx.gas_limit
    )


def apply_step(
    state: WatchtowerState,
    tx_bytes: bytes,
    rules: RuleSet = RuleSet.ROLLUP,
    *,
    batch: int | None = None,
    step: int | None = None,
    block_gas_used: int = 0,
    blob_gas_used: int = 0,
    checked: Transfer | Rejected | None = None,
) -> StepOutcome:
    """Apply one transaction to ``state`` and return the outcome with the new state root.

    ``state`` must have had its root made (``make_state_root``) before the call; on return it is
    at the returned root. ``batch`` and ``step`` only name the step in errors. Ethereum mode
    only: ``block_gas_used`` and ``blob_gas_used`` are what the block's earlier transactions
    used (a transaction must fit in what is left). Rollup modes only: ``checked`` is
    ``check_transfer(tx_bytes, params_of(state))`` if the caller computed it already (the
    stateless checks of a batch, done ahead in a worker: :mod:`watchtower.execute.precheck`).
    """
    if rules is RuleSet.ROLLUP:
        deposit = decode_deposit(tx_bytes)
        if deposit is not None:
            return _apply_deposit(state, deposit)
        return _apply_rollup(state, tx_bytes, batch, step, checked)
    if rules is RuleSet.ROLLUP_V1:
        return _apply_rollup(state, tx_bytes, batch, step, checked)
    return _apply_ethereum(state, tx_bytes, block_gas_used, blob_gas_used)


def _invalid(state: WatchtowerState, reason: InvalidReason, detail: str = "") -> StepOutcome:
    return StepOutcome(valid=False, root=bytes(state.state_root), reason=reason, detail=detail)


def _apply_deposit(state: WatchtowerState, deposit: DepositStep) -> StepOutcome:
    """A deposit step (§8.2): credit the recipient (created if needed); nothing else changes.
    Always valid; an amount of 0 leaves the state (and its root) unchanged."""
    if deposit.amount:
        state.lock_changes()
        state.delta_balance(Address(deposit.recipient), deposit.amount)
    return StepOutcome(valid=True, root=bytes(state.make_state_root()), deposit=deposit)


def _apply_rollup(
    state: WatchtowerState,
    tx_bytes: bytes,
    batch: int | None,
    step: int | None,
    checked: Transfer | Rejected | None = None,
) -> StepOutcome:
    if checked is None:
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
        valid=True,
        root=bytes(state.make_state_root()),
        sender=sender,
        gas_used=TRANSFER_GAS,
        to=bytes(to),
        value=checked.value,
    )


def _apply_ethereum(
    state: WatchtowerState, tx_bytes: bytes, block_gas_used: int, blob_gas_used: int
) -> StepOutcome:
    decoded = ethereum_rules.decode(tx_bytes)
    if isinstance(decoded, str):
        detail = f"{EthRule.UNDECODABLE.value}: {decoded}"
        return _invalid(state, InvalidReason.UNDECODABLE, detail[:200])
    ctx = state.execution_context
    block = ethereum_rules.BlockEnv(
        chain_id=ctx.chain_id,
        base_fee=ctx.base_fee_per_gas or 0,
        gas_limit=ctx.gas_limit,
        excess_blob_gas=ctx.excess_blob_gas or 0,
        gas_used=block_gas_used,
        blob_gas_used=blob_gas_used,
    )
    violation, facts = ethereum_rules.check(decoded, block, state)
    if violation is not None:
        return _invalid(state, violation.reason, violation.describe()[:200])
    tx = decoded.tx
    state.lock_changes()
    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(tx)
    except (ValidationError, VMError) as exc:
        # Every rule passed, so py-evm should not refuse it: report the discrepancy by name.
        state.revert(snapshot)
        detail = f"{EthRule.ENGINE_REJECTED.value}: {exc}"
        return _invalid(state, InvalidReason.EVM_REJECTED, detail[:200])
    state.commit(snapshot)
    gas_used = tx.gas - computation.get_gas_remaining()
    logs = tuple(
        (bytes(address), tuple(topics), bytes(data))
        for address, topics, data in computation.get_log_entries()
    )
    return StepOutcome(
        valid=True,
        root=bytes(state.make_state_root()),
        sender=bytes(facts.sender or b""),
        gas_used=gas_used,
        logs=logs,
    )
