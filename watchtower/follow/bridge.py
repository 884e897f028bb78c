"""What the watchtower checks of the bridge (docs/protocol.md §8.8), as pure decisions.

Each function takes what the service read (the store's records, L1 views, the L1 time) and
returns what is wrong, named by batch, step, deposit index, addresses and amounts in wei; the
service (:mod:`watchtower.follow.guard`) raises the alerts and records the outcome:

* :func:`deposit_mismatches`: a batch's deposit steps against the L1 queue (``deposit_mismatch``:
  the contract refuses such a batch, so this means a lying endpoint or a broken contract);
* :func:`overdue_deposits`: pending deposits older than ``DEPOSIT_INCLUSION_DELAY`` by L1 time
  (``deposit_overdue``: no batch can be accepted until the oldest is included);
* :func:`judge_claim`: a ``WithdrawalClaimed`` on L1 against the withdrawals of the batches the
  watchtower verified (``withdrawal_forged`` when nothing verified backs it);
* :func:`conservation`: ``bridgeBalance ≥ L2 supply + (withdrawals made − claims backed)``
  (``conservation_violated``);
* :func:`genesis_shortfall`: the genesis supply paid into the bridge against the genesis
  balances;
* :func:`bridge_summary`: the figures of ``watchtower status`` and the metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from watchtower.rollup.bridge import Deposit, Withdrawal, decode_deposit, is_deposit_type
from watchtower.rollup.params import DEPOSIT_INCLUSION_DELAY

BACKED = "backed"
FORGED = "forged"


@dataclass(frozen=True)
class DepositMismatch:
    """Step ``step`` of batch ``batch`` is not what the L1 queue says it must be: ``expected``
    (from the queue) and ``actual`` (from the step), each as readable text."""

    batch: int
    step: int
    expected: str
    actual: str

    def fields(self) -> dict[str, object]:
        return {"batch": self.batch, "step": self.step, "expected": self.expected,
                "actual": self.actual}  # fmt: skip


def _entry(d: Deposit | None, index: int) -> str:
    if d is None:
        return f"deposit {index}: not in the L1 queue"
    return f"deposit {d.index}: {d.amount} wei to 0x{d.recipient.hex()}"


def deposit_mismatches(
    batch: int, txs: Sequence[bytes], queue: Mapping[int, Deposit], consumed: int
) -> list[DepositMismatch]:
    """The deposit steps of batch ``batch`` (step bytes ``txs``) that do not consume the queue
    (``queue``: entries by index) in order from ``consumed`` with matching contents (§8.4)."""
    found: list[DepositMismatch] = []
    expected = consumed
    for step, tx in enumerate(txs):
        if not is_deposit_type(tx):
            continue
        dep = decode_deposit(tx)
        entry = queue.get(expected)
        if dep is None:
            found.append(
                DepositMismatch(
                    batch,
                    step,
                    _entry(entry, expected),
                    f"a 0x7e step of {len(tx)} bytes (not a deposit step)",
                )
                if entry is not None
                else DepositMismatch(batch, step, "no 0x7e step", f"a 0x7e step of {len(tx)} bytes")
            )
            expected += 1
            continue
        actual = f"deposit {dep.index}: {dep.amount} wei to 0x{dep.recipient.hex()}"
        if (
            dep.index != expected
            or entry is None
            or ((entry.recipient, entry.amount) != (dep.recipient, dep.amount))
        ):
            found.append(DepositMismatch(batch, step, _entry(entry, expected), actual))
        expected = dep.index + 1
    return found


def overdue_deposits(pending: Iterable[Deposit], l1_time: int) -> list[Deposit]:
    """The pending deposits (not consumed by any live batch) that a batch can no longer leave
    waiting at L1 time ``l1_time`` (§8.4: overdue once ``l1_time > timestamp + delay``)."""
    return [d for d in pending if l1_time >= d.overdue_at()]


@dataclass(frozen=True)
class ClaimJudgement:
    verdict: str  # BACKED or FORGED
    reason: str


def judge_claim(
    batch: int,
    step: int,
    *,
    account: bytes,
    amount: int,
    verdict: str,
    withdrawal: Withdrawal | None,
    already_backed: bool,
) -> ClaimJudgement:
    """A claim of ``amount`` wei to ``account`` for withdrawal ``step`` of batch ``batch``,
    against the watchtower's own verdict of the live batch at that index (``verdict``:
    ``valid``, ``fraud``, another verdict, or ``unknown``) and the withdrawal its replay made at
    that step (``None``: none). Backed only by a verified-valid batch whose replay made exactly
    that withdrawal, claimed once (``already_backed``: an earlier claim took it)."""
    where = f"withdrawal {step} of batch {batch}"
    if verdict == "unknown":
        reason = f"batch {batch} was never verified by this watchtower"
    elif verdict != "valid":
        reason = f"batch {batch} was judged {verdict}"
    elif withdrawal is None:
        reason = f"step {step} of batch {batch} made no withdrawal in the replay"
    elif (withdrawal.account, withdrawal.amount) != (account, amount):
        reason = (
            f"{where} pays {withdrawal.amount} wei to 0x{withdrawal.account.hex()} in the "
            f"replay, the claim {amount} wei to 0x{account.hex()}"
        )
    elif already_backed:
        reason = f"{where} was already claimed"
    else:
        return ClaimJudgement(BACKED, "")
    return ClaimJudgement(FORGED, reason)


@dataclass(frozen=True)
class Conservation:
    """The conservation invariant (§8.6) at one L1 block, with its figures in wei."""

    bridge_balance: int
    l2_supply: int
    withdrawals_made: int  # by the live, verified-valid batches
    claims_backed: int  # the claims on L1 that those withdrawals back

    @property
    def required(self) -> int:
        return self.l2_supply + self.withdrawals_made - self.claims_backed

    @property
    def shortfall(self) -> int:
        """How much the bridge lacks (0 when the invariant holds)."""
        return max(0, self.required - self.bridge_balance)

    @property
    def holds(self) -> bool:
        return self.shortfall == 0

    def fields(self) -> dict[str, object]:
        return {
            "bridge_balance": self.bridge_balance,
            "l2_supply": self.l2_supply,
            "withdrawals_made": self.withdrawals_made,
            "claims_backed": self.claims_backed,
            "required": self.required,
            "shortfall": self.shortfall,
        }


def conservation(
    bridge_balance: int, l2_supply: int, withdrawals_made: int, claims_backed: int
) -> Conservation:
    return Conservation(bridge_balance, l2_supply, withdrawals_made, claims_backed)


def genesis_shortfall(genesis_supply: int, genesis_balances: int) -> int:
    """How much less than the genesis balances the deployment paid into the bridge (§8.6: a
    deployment backs its genesis when it paid their sum; more is harmless, less is unbacked
    money on L2)."""
    return max(0, genesis_balances - genesis_supply)


@dataclass(frozen=True)
class PendingWithdrawal:
    """A withdrawal of a verified batch, not claimed yet: ``seconds_left`` until its batch's
    window closes (≤ 0: past it, claimable once the batch is finalized)."""

    withdrawal: Withdrawal
    seconds_left: int

    @property
    def claimable(self) -> bool:
        return self.seconds_left < 0


@dataclass(frozen=True)
class BridgeSummary:
    """The bridge at a glance (``watchtower status``, the metrics)."""

    bridge_balance: int | None  # None: not read (no L1, or no bridge)
    l2_supply: int
    pending_deposits: int
    oldest_deposit_age: int | None  # seconds, by L1 time; None when none is pending
    awaiting: tuple[PendingWithdrawal, ...]  # inside their batch's window
    claimable: tuple[PendingWithdrawal, ...]  # past it, not claimed
    forged_claims: int

    @property
    def awaiting_value(self) -> int:
        return sum(p.withdrawal.amount for p in self.awaiting)

    @property
    def claimable_value(self) -> int:
        return sum(p.withdrawal.amount for p in self.claimable)


def bridge_summary(
    *,
    bridge_balance: int | None,
    l2_supply: int,
    pending: Sequence[Deposit],
    unclaimed: Iterable[tuple[Withdrawal, int]],
    l1_time: int,
    forged_claims: int,
) -> BridgeSummary:
    """The summary from the pending deposits, the unclaimed withdrawals of verified batches
    (each with its batch's deadline) and the L1 time."""
    rows = [PendingWithdrawal(w, deadline - l1_time) for w, deadline in unclaimed]
    oldest = min((d.l1_timestamp for d in pending), default=None)
    return BridgeSummary(
        bridge_balance=bridge_balance,
        l2_supply=l2_supply,
        pending_deposits=len(pending),
        oldest_deposit_age=None if oldest is None else max(0, l1_time - oldest),
        awaiting=tuple(p for p in rows if not p.claimable),
        claimable=tuple(p for p in rows if p.claimable),
        forged_claims=forged_claims,
    )


__all__ = [
    "BACKED",
    "DEPOSIT_INCLUSION_DELAY",
    "FORGED",
    "BridgeSummary",
    "ClaimJudgement",
    "Conservation",
    "DepositMismatch",
    "PendingWithdrawal",
    "bridge_summary",
    "conservation",
    "deposit_mismatches",
    "genesis_shortfall",
    "judge_claim",
    "overdue_deposits",
]
