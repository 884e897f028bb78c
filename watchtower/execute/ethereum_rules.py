"""Ethereum mode's transaction validity rules: Cancun's, one table row per rule.

py-evm 0.12 enforces most of Cancun's rules but not all of them, and some only by accident (a
negative message gas, an ``OutOfGas`` raised before the EVM starts). Ethereum mode does not rely
on it: every rule of the execution specs (``src/ethereum/cancun/transactions.py``
``validate_transaction``/``recover_sender`` and ``src/ethereum/cancun/fork.py``
``check_transaction``) is a row of :data:`RULES`, checked here before py-evm sees the transaction,
in the spec's order. A transaction that breaks a rule changes nothing; its outcome names the rule
(``EthRule``, the first word of the detail). docs/protocol.md §3.3 lists the rules.

The rollup's own rules (protocol.md §3) are elsewhere and do not use this module.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_typing import Address

from watchtower.execute.state import WatchtowerState
from watchtower.rollup.params import EMPTY_CODE_HASH, SECP256K1_N, UINT256_MAX
from watchtower.rollup.types import InvalidReason

# cancun/transactions.py
TX_BASE_COST = 21_000
TX_DATA_COST_PER_NON_ZERO = 16
TX_DATA_COST_PER_ZERO = 4
TX_CREATE_COST = 32_000
TX_ACCESS_LIST_ADDRESS_COST = 2_400
TX_ACCESS_LIST_STORAGE_KEY_COST = 1_900
# cancun/vm/gas.py and cancun/vm/interpreter.py (EIP-3860, EIP-4844)
INIT_CODE_WORD_COST = 2
MAX_INIT_CODE_SIZE = 2 * 24_576
GAS_PER_BLOB = 2**17
MIN_BLOB_GASPRICE = 1
BLOB_BASE_FEE_UPDATE_FRACTION = 3_338_477
# cancun/fork.py
MAX_BLOB_GAS_PER_BLOCK = 786_432
VERSIONED_HASH_VERSION_KZG = 0x01
NONCE_LIMIT = 2**64 - 1  # EIP-2681: a nonce must be below it

LEGACY_TYPE, ACCESS_LIST_TYPE, FEE_MARKET_TYPE, BLOB_TYPE = 0, 1, 2, 3


class EthRule(enum.StrEnum):
    """The reason code of each Ethereum-mode rule (the first word of an invalid step's detail)."""

    UNDECODABLE = "undecodable"
    INTRINSIC_GAS = "intrinsic_gas_too_low"
    NONCE_OVERFLOW = "nonce_overflow"
    INITCODE_TOO_LARGE = "initcode_too_large"
    GAS_ABOVE_BLOCK_LIMIT = "gas_above_block_limit"
    BLOB_GAS_ABOVE_BLOCK_LIMIT = "blob_gas_above_block_limit"
    SIGNATURE_R = "signature_r_out_of_range"
    SIGNATURE_S = "signature_s_out_of_range"
    LEGACY_V = "legacy_v_invalid"
    Y_PARITY = "y_parity_invalid"
    WRONG_CHAIN_ID = "wrong_chain_id"
    UNRECOVERABLE = "signature_unrecoverable"
    PRIORITY_FEE_ABOVE_MAX_FEE = "priority_fee_above_max_fee"
    MAX_FEE_BELOW_BASE_FEE = "max_fee_below_base_fee"
    GAS_PRICE_BELOW_BASE_FEE = "gas_price_below_base_fee"
    BLOB_TX_CREATE = "blob_tx_contract_creation"
    BLOB_TX_NO_BLOBS = "blob_tx_without_blobs"
    BLOB_HASH_VERSION = "blob_hash_bad_version"
    BLOB_FEE_TOO_LOW = "max_fee_per_blob_gas_below_blob_base_fee"
    NONCE_MISMATCH = "nonce_mismatch"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    SENDER_HAS_CODE = "sender_has_code"
    # Not a rule: py-evm refused a transaction that every rule accepts (an engine discrepancy).
    ENGINE_REJECTED = "engine_rejected"


def intrinsic_gas(
    is_create: bool, data: bytes, access_list: Sequence[tuple[Any, Sequence[Any]]]
) -> int:
    """``calculate_intrinsic_cost``: base, calldata, creation (with EIP-3860's initcode words)
    and access list. py-evm 0.12 leaves the initcode words out (it charges them in the EVM)."""
    zeros = data.count(0)
    cost = TX_BASE_COST + zeros * TX_DATA_COST_PER_ZERO
    cost += (len(data) - zeros) * TX_DATA_COST_PER_NON_ZERO
    if is_create:
        cost += TX_CREATE_COST + INIT_CODE_WORD_COST * ((len(data) + 31) // 32)
    for _address, keys in access_list:
        cost += TX_ACCESS_LIST_ADDRESS_COST + TX_ACCESS_LIST_STORAGE_KEY_COST * len(keys)
    return cost


def blob_base_fee(excess_blob_gas: int) -> int:
    """``calculate_blob_gas_price``: EIP-4844's ``fake_exponential``."""
    denominator = BLOB_BASE_FEE_UPDATE_FRACTION
    i, output, accum = 1, 0, MIN_BLOB_GASPRICE * denominator
    while accum > 0:
        output += accum
        accum = (accum * excess_blob_gas) // (denominator * i)
        i += 1
    return output // denominator


@dataclass(frozen=True)
class EthTx:
    """A decoded transaction, the same fields for every type (py-evm's objects differ by type)."""

    tx: Any  # the py-evm transaction (untyped library object), executed if every rule passes
    type: int
    chain_id: int | None  # typed: the field; legacy: None (v carries it, see ``v``)
    nonce: int
    gas: int
    fee_cap: int  # gas_price (types 0, 1) or max_fee_per_gas (2, 3)
    priority_fee: int  # gas_price (types 0, 1) or max_priority_fee_per_gas (2, 3)
    to: bytes | None  # None: contract creation
    value: int
    data: bytes
    access_list: tuple[tuple[bytes, tuple[int, ...]], ...]
    max_fee_per_blob_gas: int
    blob_hashes: tuple[bytes, ...]
    v: int  # legacy v, or the y parity of typed transactions
    r: int
    s: int

    @property
    def blob_gas(self) -> int:
        return GAS_PER_BLOB * len(self.blob_hashes)


def decode(tx_bytes: bytes) -> EthTx | str:
    """The transaction, or why the bytes are not a Cancun transaction (``decode_transaction``
    and the field types: integers are at most 256 bits)."""
    if not tx_bytes:
        return "empty transaction"
    try:
        tx = CancunTransactionBuilder.decode(tx_bytes)
        type_id = tx.type_id or LEGACY_TYPE
        typed = type_id != LEGACY_TYPE
        blob = type_id == BLOB_TYPE
        decoded = EthTx(
            tx=tx,
            type=type_id,
            chain_id=tx.chain_id if typed else None,
            nonce=tx.nonce,
            gas=tx.gas,
            fee_cap=tx.max_fee_per_gas,
            priority_fee=tx.max_priority_fee_per_gas,
            to=None if tx.to == CREATE_CONTRACT_ADDRESS else bytes(tx.to),
            value=tx.value,
            data=bytes(tx.data),
            access_list=tuple((bytes(address), tuple(keys)) for address, keys in tx.access_list),
            max_fee_per_blob_gas=tx.max_fee_per_blob_gas if blob else 0,
            blob_hashes=tuple(bytes(h) for h in tx.blob_versioned_hashes) if blob else (),
            v=tx.y_parity if typed else getattr(tx, "v"),  # noqa: B009  (legacy only)
            r=tx.r,
            s=tx.s,
        )
    except Exception as exc:  # any decoding failure of untrusted bytes
        return f"{type(exc).__name__}: {exc}"
    integers = {
        "chain_id": decoded.chain_id or 0,
        "nonce": decoded.nonce,
        "gas": decoded.gas,
        "fee_cap": decoded.fee_cap,
        "priority_fee": decoded.priority_fee,
        "value": decoded.value,
        "max_fee_per_blob_gas": decoded.max_fee_per_blob_gas,
        "v": decoded.v,
        "r": decoded.r,
        "s": decoded.s,
    }
    for name, value in integers.items():
        if value > UINT256_MAX:
            return f"{name} does not fit in 256 bits"
    return decoded


@dataclass(frozen=True)
class BlockEnv:
    """What the rules read of the block: its header and the gas its earlier transactions used."""

    chain_id: int
    base_fee: int
    gas_limit: int
    excess_blob_gas: int
    gas_used: int = 0
    blob_gas_used: int = 0


class Facts:
    """A transaction with its block and, once the signature is checked, its sender's account."""

    def __init__(self, tx: EthTx, block: BlockEnv, state: WatchtowerState) -> None:
        self.tx, self.block, self._state = tx, block, state

    @cached_property
    def sender(self) -> Address | None:
        try:
            return Address(self.tx.tx.sender)
        except Exception:  # the public key does not recover
            return None

    @property
    def _address(self) -> Address:
        if self.sender is None:  # pragma: no cover - the signature rules come first
            raise AssertionError("account rule checked before the sender was recovered")
        return self.sender

    @cached_property
    def nonce(self) -> int:
        return int(self._state.get_nonce(self._address))

    @cached_property
    def balance(self) -> int:
        return int(self._state.get_balance(self._address))

    @cached_property
    def has_code(self) -> bool:
        return bytes(self._state.get_code_hash(self._address)) != EMPTY_CODE_HASH


Check = Callable[[Facts], str | None]


@dataclass(frozen=True)
class Rule:
    code: EthRule
    source: str  # where the rule is in ethereum/execution-specs (or the EIP)
    summary: str
    reason: InvalidReason  # the closest code of the shared outcome type
    check: Check  # None when the rule holds, else what is wrong


def _intrinsic(f: Facts) -> str | None:
    t = f.tx
    need = intrinsic_gas(t.to is None, t.data, t.access_list)
    return f"gas {t.gas} below intrinsic gas {need}" if t.gas < need else None


def _nonce_overflow(f: Facts) -> str | None:
    return f"nonce {f.tx.nonce} not below 2^64-1" if f.tx.nonce >= NONCE_LIMIT else None


def _initcode(f: Facts) -> str | None:
    size = len(f.tx.data)
    if f.tx.to is None and size > MAX_INIT_CODE_SIZE:
        return f"initcode of {size} bytes above {MAX_INIT_CODE_SIZE}"
    return None


def _gas_limit(f: Facts) -> str | None:
    available = f.block.gas_limit - f.block.gas_used
    return f"gas {f.tx.gas} above the block's {available}" if f.tx.gas > available else None


def _blob_gas_limit(f: Facts) -> str | None:
    available = MAX_BLOB_GAS_PER_BLOCK - f.block.blob_gas_used
    if f.tx.blob_gas > available:
        return f"{len(f.tx.blob_hashes)} blobs: blob gas {f.tx.blob_gas} above {available}"
    return None


def _r(f: Facts) -> str | None:
    return None if 0 < f.tx.r < SECP256K1_N else "r not in 1..n-1"


def _s(f: Facts) -> str | None:
    return None if 0 < f.tx.s <= SECP256K1_N // 2 else "s not in 1..n/2 (EIP-2)"


def _legacy_v(f: Facts) -> str | None:
    if f.tx.type != LEGACY_TYPE:
        return None
    eip155 = 35 + 2 * f.block.chain_id
    if f.tx.v in (27, 28, eip155, eip155 + 1):
        return None
    return (
        f"v {f.tx.v} is neither 27/28 nor {eip155}/{eip155 + 1} (EIP-155, chain {f.block.chain_id})"
    )


def _y_parity(f: Facts) -> str | None:
    if f.tx.type != LEGACY_TYPE and f.tx.v not in (0, 1):
        return f"y parity {f.tx.v}"
    return None


def _chain_id(f: Facts) -> str | None:
    if f.tx.type != LEGACY_TYPE and f.tx.chain_id != f.block.chain_id:
        return f"chain id {f.tx.chain_id}, block's {f.block.chain_id}"
    return None


def _recoverable(f: Facts) -> str | None:
    return "no public key recovers from the signature" if f.sender is None else None


def _priority_fee(f: Facts) -> str | None:
    t = f.tx
    if t.type >= FEE_MARKET_TYPE and t.priority_fee > t.fee_cap:
        return f"max priority fee {t.priority_fee} above max fee {t.fee_cap}"
    return None


def _max_fee(f: Facts) -> str | None:
    if f.tx.type >= FEE_MARKET_TYPE and f.tx.fee_cap < f.block.base_fee:
        return f"max fee {f.tx.fee_cap} below base fee {f.block.base_fee}"
    return None


def _gas_price(f: Facts) -> str | None:
    if f.tx.type < FEE_MARKET_TYPE and f.tx.fee_cap < f.block.base_fee:
        return f"gas price {f.tx.fee_cap} below base fee {f.block.base_fee}"
    return None


def _blob_create(f: Facts) -> str | None:
    return "no recipient" if f.tx.type == BLOB_TYPE and f.tx.to is None else None


def _blob_count(f: Facts) -> str | None:
    return "no blob hash" if f.tx.type == BLOB_TYPE and not f.tx.blob_hashes else None


def _blob_version(f: Facts) -> str | None:
    for index, versioned in enumerate(f.tx.blob_hashes):
        if versioned[:1] != bytes([VERSIONED_HASH_VERSION_KZG]):
            return f"blob hash {index} starts with 0x{versioned[:1].hex()}, not 0x01"
    return None


def _blob_fee(f: Facts) -> str | None:
    if f.tx.type != BLOB_TYPE:
        return None
    price = blob_base_fee(f.block.excess_blob_gas)
    if f.tx.max_fee_per_blob_gas < price:
        return f"max fee per blob gas {f.tx.max_fee_per_blob_gas} below {price}"
    return None


def _nonce(f: Facts) -> str | None:
    return None if f.tx.nonce == f.nonce else f"tx nonce {f.tx.nonce}, account {f.nonce}"


def _balance(f: Facts) -> str | None:
    t = f.tx
    cost = t.gas * t.fee_cap + t.blob_gas * t.max_fee_per_blob_gas + t.value
    return f"balance {f.balance} below {cost}" if f.balance < cost else None


def _sender_code(f: Facts) -> str | None:
    return "the sender has code (EIP-3607)" if f.has_code else None


_TX = "cancun/transactions.py"
_FORK = "cancun/fork.py check_transaction"
_R = InvalidReason

#: Every rule, in the order of the execution specs (``process_transaction`` runs
#: ``validate_transaction``, then ``check_transaction``, which recovers the sender first).
RULES: tuple[Rule, ...] = (
    Rule(
        EthRule.INTRINSIC_GAS,
        f"{_TX} validate_transaction, calculate_intrinsic_cost",
        "gas ≥ 21000 + 4/16 per zero/non-zero data byte + 32000 and 2 per initcode word for a "
        "creation (EIP-3860) + 2400 per access-list address and 1900 per key",
        _R.BAD_GAS_LIMIT,
        _intrinsic,
    ),
    Rule(
        EthRule.NONCE_OVERFLOW,
        f"{_TX} validate_transaction (EIP-2681)",
        "nonce < 2^64-1",
        _R.BAD_NONCE,
        _nonce_overflow,
    ),
    Rule(
        EthRule.INITCODE_TOO_LARGE,
        f"{_TX} validate_transaction (EIP-3860)",
        "a creation's data is at most 49152 bytes",
        _R.EVM_REJECTED,
        _initcode,
    ),
    Rule(
        EthRule.GAS_ABOVE_BLOCK_LIMIT,
        _FORK,
        "gas ≤ block gas limit − gas used by the block's earlier transactions",
        _R.BAD_GAS_LIMIT,
        _gas_limit,
    ),
    Rule(
        EthRule.BLOB_GAS_ABOVE_BLOCK_LIMIT,
        _FORK,
        "blob gas ≤ 786432 − blob gas used earlier in the block (at most 6 blobs)",
        _R.EVM_REJECTED,
        _blob_gas_limit,
    ),
    Rule(EthRule.SIGNATURE_R, f"{_TX} recover_sender", "0 < r < secp256k1n", _R.BAD_SIGNATURE, _r),
    Rule(
        EthRule.SIGNATURE_S,
        f"{_TX} recover_sender (EIP-2)",
        "0 < s ≤ secp256k1n/2",
        _R.BAD_SIGNATURE,
        _s,
    ),
    Rule(
        EthRule.LEGACY_V,
        f"{_TX} recover_sender (EIP-155)",
        "legacy v is 27, 28, 35 + 2·chain id or 36 + 2·chain id",
        _R.BAD_SIGNATURE,
        _legacy_v,
    ),
    Rule(
        EthRule.Y_PARITY,
        f"{_TX} recover_sender",
        "typed transactions: y parity is 0 or 1",
        _R.BAD_SIGNATURE,
        _y_parity,
    ),
    Rule(
        EthRule.WRONG_CHAIN_ID,
        "EIP-2930, EIP-1559, EIP-4844 (signed chain id)",
        "typed transactions: chain id = the chain's",
        _R.WRONG_CHAIN_ID,
        _chain_id,
    ),
    Rule(
        EthRule.UNRECOVERABLE,
        f"{_TX} recover_sender (secp256k1_recover)",
        "a public key recovers from the signature",
        _R.BAD_SIGNATURE,
        _recoverable,
    ),
    Rule(
        EthRule.PRIORITY_FEE_ABOVE_MAX_FEE,
        _FORK,
        "types 2, 3: max priority fee ≤ max fee",
        _R.TIP_ABOVE_FEE_CAP,
        _priority_fee,
    ),
    Rule(
        EthRule.MAX_FEE_BELOW_BASE_FEE,
        _FORK,
        "types 2, 3: max fee ≥ base fee",
        _R.FEE_CAP_BELOW_BASE_FEE,
        _max_fee,
    ),
    Rule(
        EthRule.GAS_PRICE_BELOW_BASE_FEE,
        _FORK,
        "types 0, 1: gas price ≥ base fee",
        _R.FEE_CAP_BELOW_BASE_FEE,
        _gas_price,
    ),
    Rule(
        EthRule.BLOB_TX_CREATE,
        f"{_FORK} (EIP-4844)",
        "type 3: has a recipient (no creation)",
        _R.CONTRACT_CREATION,
        _blob_create,
    ),
    Rule(
        EthRule.BLOB_TX_NO_BLOBS,
        f"{_FORK} (EIP-4844)",
        "type 3: at least one blob hash",
        _R.EVM_REJECTED,
        _blob_count,
    ),
    Rule(
        EthRule.BLOB_HASH_VERSION,
        f"{_FORK} (EIP-4844)",
        "type 3: every blob hash starts with 0x01",
        _R.EVM_REJECTED,
        _blob_version,
    ),
    Rule(
        EthRule.BLOB_FEE_TOO_LOW,
        f"{_FORK} (EIP-4844)",
        "type 3: max fee per blob gas ≥ the blob base fee",
        _R.EVM_REJECTED,
        _blob_fee,
    ),
    Rule(EthRule.NONCE_MISMATCH, _FORK, "nonce = the sender's nonce", _R.BAD_NONCE, _nonce),
    Rule(
        EthRule.INSUFFICIENT_BALANCE,
        _FORK,
        "balance ≥ gas × fee cap + blob gas × max fee per blob gas + value",
        _R.INSUFFICIENT_BALANCE,
        _balance,
    ),
    Rule(
        EthRule.SENDER_HAS_CODE,
        f"{_FORK} (EIP-3607)",
        "the sender has no code",
        _R.SENDER_HAS_CODE,
        _sender_code,
    ),
)


@dataclass(frozen=True)
class Violation:
    rule: EthRule
    reason: InvalidReason
    detail: str

    def describe(self) -> str:
        return f"{self.rule.value}: {self.detail}"


def check(tx: EthTx, block: BlockEnv, state: WatchtowerState) -> tuple[Violation | None, Facts]:
    """The first rule ``tx`` breaks (None if it is valid), with the facts it was judged on."""
    facts = Facts(tx, block, state)
    for rule in RULES:
        problem = rule.check(facts)
        if problem is not None:
            return Violation(rule.code, rule.reason, problem), facts
    return None, facts
