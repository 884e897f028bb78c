"""Domain types of the rollup: block context, steps, batches, outcomes and verdicts."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from watchtower.rollup.bridge import BridgeFlows, DepositStep
from watchtower.rollup.params import DEFAULT_BASE_FEE, L2_GAS_LIMIT, RollupParams


def hex0x(value: bytes) -> str:
    return "0x" + value.hex()


@dataclass(frozen=True)
class BlockContext:
    """The L2 block a batch forms (protocol.md §4)."""

    number: int
    timestamp: int
    coinbase: bytes
    base_fee: int = DEFAULT_BASE_FEE
    gas_limit: int = L2_GAS_LIMIT
    chain_id: int = 1
    # Ethereum mode only (conformance): header fields the rollup never uses.
    prev_randao: bytes = b"\x00" * 32
    excess_blob_gas: int = 0
    difficulty: int = 0

    def __post_init__(self) -> None:
        if len(self.coinbase) != 20:
            raise ValueError(f"coinbase must be 20 bytes, got {len(self.coinbase)}")

    @classmethod
    def of_batch(
        cls, index: int, timestamp: int, coinbase: bytes, params: RollupParams
    ) -> BlockContext:
        """The L2 block of batch ``index``: number, time and coinbase as L1 recorded them
        (the time does not affect the state), the rest from the rollup's parameters."""
        return cls(
            number=index,
            timestamp=timestamp,
            coinbase=coinbase,
            base_fee=params.base_fee,
            gas_limit=params.gas_limit,
            chain_id=params.chain_id,
        )


@dataclass(frozen=True)
class GenesisAccount:
    """One account of a genesis allocation."""

    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: Mapping[int, int] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return self.balance == 0 and self.nonce == 0 and not self.code


@dataclass(frozen=True)
class Step:
    """One step of a batch: the transaction bytes and the state root claimed after them."""

    tx: bytes
    root: bytes


@dataclass(frozen=True)
class Batch:
    """A batch as submitted: index, the root it builds on, its block context and its steps."""

    index: int
    prev_root: bytes
    context: BlockContext
    steps: tuple[Step, ...]

    @property
    def final_root(self) -> bytes:
        return self.steps[-1].root if self.steps else self.prev_root


class InvalidReason(enum.StrEnum):
    """Why a transaction is a no-op step (protocol.md §3.1, in rule order)."""

    UNDECODABLE = "undecodable"
    WRONG_CHAIN_ID = "wrong_chain_id"
    BAD_SIGNATURE = "bad_signature"
    CONTRACT_CREATION = "contract_creation"
    NONEMPTY_DATA = "nonempty_data"
    NONEMPTY_ACCESS_LIST = "nonempty_access_list"
    BAD_GAS_LIMIT = "bad_gas_limit"
    TIP_ABOVE_FEE_CAP = "tip_above_fee_cap"
    FEE_CAP_BELOW_BASE_FEE = "fee_cap_below_base_fee"
    SENDER_HAS_CODE = "sender_has_code"
    BAD_NONCE = "bad_nonce"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    RECIPIENT_HAS_CODE = "recipient_has_code"
    # Ethereum mode only: a rule of Ethereum that the rollup rules make unreachable.
    EVM_REJECTED = "evm_rejected"


@dataclass(frozen=True)
class StepOutcome:
    """What applying one step did: valid or not (and why), and the state root after it."""

    valid: bool
    root: bytes
    reason: InvalidReason | None = None
    detail: str = ""
    sender: bytes | None = None
    gas_used: int = 0
    #: A valid transfer (rollup rules): its recipient and value (a withdrawal when ``to`` is
    #: BRIDGE_ADDRESS and ``value > 0``, protocol.md §8.3); None for a deposit step.
    to: bytes | None = None
    value: int = 0
    #: A deposit step (protocol v2, §8.2): what it credited.
    deposit: DepositStep | None = None
    # Ethereum mode only: (address, topics, data) of every log the transaction emitted.
    logs: tuple[tuple[bytes, tuple[int, ...], bytes], ...] = ()


class VerdictKind(enum.StrEnum):
    VALID = "valid"
    FRAUD = "fraud"
    UNDECIDABLE = "undecidable"
    SKIPPED = "skipped"  # built on a batch that is not valid: never replayed while it stands
    #: The service only: the batch's calldata does not decode (ABI or §4.1) or does not match
    #: the commitment the contract emitted; retried every tick, and it halts verification.
    UNREADABLE = "unreadable"


#: Verdicts after which no later batch can be verified: there is no trusted state to replay it
#: on (a fraudulent batch halts nothing for long: it is challenged and rejected with its
#: successors).
HALTING_VERDICTS = frozenset({VerdictKind.UNREADABLE, VerdictKind.UNDECIDABLE})


@dataclass(frozen=True)
class Verdict:
    """The result of replaying one batch. Fraud is a verdict, not an exception."""

    batch: int
    kind: VerdictKind
    steps: int
    final_root: bytes | None = None
    step: int | None = None
    claimed_root: bytes | None = None
    computed_root: bytes | None = None
    reason: str = ""
    invalid_steps: tuple[tuple[int, InvalidReason], ...] = field(default=())
    #: What a valid batch moved across the bridge (protocol.md §8); empty for other verdicts.
    flows: BridgeFlows = field(default=BridgeFlows())

    @property
    def is_fraud(self) -> bool:
        return self.kind is VerdictKind.FRAUD

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "batch": self.batch,
            "verdict": self.kind.value,
            "steps": self.steps,
        }
        if self.final_root is not None:
            out["final_root"] = hex0x(self.final_root)
        if self.step is not None:
            out["step"] = self.step
        if self.claimed_root is not None:
            out["claimed_root"] = hex0x(self.claimed_root)
        if self.computed_root is not None:
            out["computed_root"] = hex0x(self.computed_root)
        if self.reason:
            out["reason"] = self.reason
        out["invalid_steps"] = [{"step": i, "reason": r.value} for i, r in self.invalid_steps]
        return out
