"""The bridge's domain types and pure rules (docs/protocol.md §8): deposit steps, the deposit
queue, withdrawals, and what a batch moved across the bridge.

Nothing here does I/O: the L1 queue entries come from :mod:`watchtower.l1`, the replay outcomes
from :mod:`watchtower.execute`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from watchtower.rollup.params import (
    BRIDGE_ADDRESS,
    DEPOSIT_INCLUSION_DELAY,
    DEPOSIT_STEP_BYTES,
    DEPOSIT_TX_TYPE,
    TRANSFER_GAS,
    RollupParams,
)

if TYPE_CHECKING:  # types imports this module (Verdict.flows)
    from watchtower.rollup.types import Batch, GenesisAccount

_DEPOSIT = struct.Struct(">BQ20s32s")  # type, index, recipient, amount (BE_32)
assert _DEPOSIT.size == DEPOSIT_STEP_BYTES


@dataclass(frozen=True)
class Deposit:
    """An entry of the L1 deposit queue (``DepositQueued``)."""

    index: int
    sender: bytes
    recipient: bytes
    amount: int
    l1_timestamp: int
    l1_block: int = 0

    def overdue_at(self) -> int:
        """The first L1 time at which a batch that leaves this deposit pending is refused."""
        return self.l1_timestamp + DEPOSIT_INCLUSION_DELAY + 1


@dataclass(frozen=True)
class DepositStep:
    """The contents of a deposit step (§8.2)."""

    index: int
    recipient: bytes
    amount: int


@dataclass(frozen=True)
class Withdrawal:
    """A withdrawal made on L2 (§8.3): step ``step`` of batch ``batch`` sent ``amount`` to the
    bridge address; ``account`` (its sender) can claim it on L1 once the batch is final."""

    batch: int
    step: int
    account: bytes
    amount: int


def is_deposit_type(tx: bytes) -> bool:
    """Whether the step bytes start with the deposit type byte (the contract checks every such
    step against the queue, §8.4)."""
    return len(tx) > 0 and tx[0] == DEPOSIT_TX_TYPE


def encode_deposit(index: int, recipient: bytes, amount: int) -> bytes:
    if len(recipient) != 20:
        raise ValueError(f"recipient must be 20 bytes, got {len(recipient)}")
    if not 0 <= index < 2**64 or not 0 <= amount < 2**256:
        raise ValueError("deposit index or amount out of range")
    return _DEPOSIT.pack(DEPOSIT_TX_TYPE, index, recipient, amount.to_bytes(32, "big"))


def decode_deposit(tx: bytes) -> DepositStep | None:
    """The deposit a step carries, or None if its bytes are not a deposit step (§8.2)."""
    if len(tx) != DEPOSIT_STEP_BYTES or tx[0] != DEPOSIT_TX_TYPE:
        return None
    _, index, recipient, amount = _DEPOSIT.unpack(tx)
    return DepositStep(index, recipient, int.from_bytes(amount, "big"))


def deposit_step_problems(
    txs: Sequence[bytes], queue: Sequence[Deposit], consumed: int
) -> list[str]:
    """What the contract's deposit check (§8.4) would refuse in a batch whose step bytes are
    ``txs``, given the queue entries ``queue`` (any slice of the queue; entries are looked up by
    index) and ``consumed`` deposits consumed before the batch. Empty means the steps match."""
    by_index = {d.index: d for d in queue}
    problems: list[str] = []
    expected = consumed
    for k, tx in enumerate(txs):
        if not is_deposit_type(tx):
            continue
        dep = decode_deposit(tx)
        if dep is None:
            problems.append(f"step {k}: a 0x7e step of {len(tx)} bytes is not a deposit step")
            continue
        if dep.index != expected:
            problems.append(f"step {k}: deposit {dep.index} out of order (expected {expected})")
        entry = by_index.get(dep.index)
        if entry is None:
            problems.append(f"step {k}: deposit {dep.index} is not in the L1 queue")
        elif entry.recipient != dep.recipient or entry.amount != dep.amount:
            problems.append(
                f"step {k}: deposit {dep.index} credits {dep.amount} wei to "
                f"0x{dep.recipient.hex()}, the L1 queue says {entry.amount} wei to "
                f"0x{entry.recipient.hex()}"
            )
        expected = dep.index + 1
    return problems


def is_withdrawal(to: bytes, value: int) -> bool:
    return to == BRIDGE_ADDRESS and value > 0


@dataclass(frozen=True)
class BridgeFlows:
    """What one verified batch moved across the bridge, from its replay."""

    deposits: tuple[DepositStep, ...] = ()
    withdrawals: tuple[Withdrawal, ...] = ()
    #: base fees burned on L2 by the batch's valid transfers (21000 · L2_BASE_FEE each)
    burned: int = 0

    @property
    def deposited(self) -> int:
        return sum(d.amount for d in self.deposits)

    @property
    def withdrawn(self) -> int:
        return sum(w.amount for w in self.withdrawals)

    def to_json(self) -> dict[str, object]:
        """Counts and wei (exact integers), and each withdrawal (step, account, amount)."""
        return {
            "deposits": len(self.deposits),
            "deposited": self.deposited,
            "withdrawals": len(self.withdrawals),
            "withdrawn": self.withdrawn,
            "burned": self.burned,
            "withdrawal_list": [
                {"step": w.step, "account": "0x" + w.account.hex(), "amount": w.amount}
                for w in self.withdrawals
            ],
        }


def claimed_flows(batch: Batch, params: RollupParams) -> BridgeFlows:
    """What ``batch`` *claims* to move across the bridge, read from its steps and claimed roots
    alone (no state): every deposit step (§8.2: always valid), and every step whose claimed root
    differs from the root claimed before it (the batch's ``prev_root`` for step 0) and whose
    bytes pass the stateless rules (§3.1 rules 1–9) as a transfer: it burns ``21000 ·
    base_fee``, and is a withdrawal if it sends a non-zero value to ``BRIDGE_ADDRESS``.

    For a batch the replay found valid this equals the replay's flows (a valid transfer always
    changes the root, its sender's nonce; an invalid step never does), so a verified batch's
    flows can be recomputed without replaying it. For a fraudulent batch it is what the
    proposer claims: :func:`claimed_withdrawals`.
    """
    from watchtower.rollup.transactions import Transfer, check_transfer  # types ↔ bridge cycle

    deposits: list[DepositStep] = []
    withdrawals: list[Withdrawal] = []
    burned = 0
    before = batch.prev_root
    for k, step in enumerate(batch.steps):
        deposit = decode_deposit(step.tx)
        if deposit is not None:
            deposits.append(deposit)
        elif step.root != before:
            checked = check_transfer(step.tx, params)
            if isinstance(checked, Transfer):
                burned += TRANSFER_GAS * params.base_fee
                if is_withdrawal(checked.to, checked.value):
                    withdrawals.append(Withdrawal(batch.index, k, checked.sender, checked.value))
        before = step.root
    return BridgeFlows(tuple(deposits), tuple(withdrawals), burned)


def claimed_withdrawals(batch: Batch, params: RollupParams) -> tuple[Withdrawal, ...]:
    """The withdrawals ``batch`` *claims* (§8.5): what could be claimed on L1 if it became final.

    A step counts when its claimed root differs from the root claimed before it (the batch's
    ``prev_root`` for step 0: the contract's test for a valid step, §8.5 item 3) and its bytes
    pass the stateless rules (§3.1 rules 1–9) as a transfer to ``BRIDGE_ADDRESS`` with a
    non-zero value (item 4). No state is needed: for a fraudulent batch this is the value at
    risk, whatever the honest replay says.
    """
    return claimed_flows(batch, params).withdrawals


def genesis_supply(alloc: Mapping[bytes, GenesisAccount]) -> int:
    """The L2 supply of a genesis allocation (§8.3): every balance except ``BRIDGE_ADDRESS``'s
    (the start of the conservation invariant's right-hand side, §8.6)."""
    return sum(a.balance for address, a in alloc.items() if address != BRIDGE_ADDRESS)


def genesis_balance(alloc: Mapping[bytes, GenesisAccount]) -> int:
    """The sum of all genesis balances, ``BRIDGE_ADDRESS``'s included (§8.6: what the
    constructor must be sent)."""
    return sum(a.balance for a in alloc.values())


def supply_after(supply: int, flows: BridgeFlows) -> int:
    """The L2 supply after a verified batch with ``flows``, from the supply before it (§8.3):
    deposits add, withdrawals and burned base fees remove. (A deposit to ``BRIDGE_ADDRESS`` is
    refused by the contract, §8.4; a tip paid to a coinbase at ``BRIDGE_ADDRESS`` is not
    tracked here.)"""
    return supply + flows.deposited - flows.withdrawn - flows.burned
