"""Transaction decoding and the stateless validity rules of protocol.md §3.1 (rules 1-9).

The state-dependent rules (10-13: sender code, nonce, balance, recipient code) need the state and
live in :mod:`watchtower.execute.transition`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import coincurve
import rlp
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_hash.auto import keccak
from eth_utils.exceptions import ValidationError

from watchtower.rollup.params import (
    MAX_TX_BYTES,
    SECP256K1_N,
    TRANSFER_GAS,
    UINT256_MAX,
    RollupParams,
)
from watchtower.rollup.types import InvalidReason

LEGACY_TYPE = 0
DYNAMIC_FEE_TYPE = 2


@dataclass(frozen=True)
class Transfer:
    """A transaction that passed the stateless rules: a signed value transfer."""

    tx: Any  # py-evm SignedTransactionAPI (untyped library object)
    tx_type: int
    sender: bytes
    to: bytes
    nonce: int
    gas: int
    max_fee: int
    max_priority_fee: int
    value: int
    tx_hash: bytes


@dataclass(frozen=True)
class Rejected:
    """A transaction that is a no-op step, with the rule it broke."""

    reason: InvalidReason
    detail: str = ""


def decode_signed(tx_bytes: bytes) -> Any:
    """Decode bytes into a py-evm transaction, strictly: re-encoding must give the same bytes.

    Strict RLP (protocol.md §3) defines exactly one encoding for every value, so "decodes and
    re-encodes to the identical bytes" is the same test as "is the canonical encoding". Raises
    ``ValueError`` with the reason when the bytes are not one of the supported forms.
    """
    if not tx_bytes:
        raise ValueError("empty transaction")
    if len(tx_bytes) > MAX_TX_BYTES:
        raise ValueError(f"{len(tx_bytes)} bytes, above MAX_TX_BYTES={MAX_TX_BYTES}")
    first = tx_bytes[0]
    if first < 0xC0 and first != DYNAMIC_FEE_TYPE:
        raise ValueError(f"transaction type 0x{first:02x} is not supported")
    try:
        tx = CancunTransactionBuilder.decode(tx_bytes)
    except (rlp.exceptions.RLPException, ValidationError, TypeError, IndexError) as exc:
        raise ValueError(f"RLP: {_one_line(exc)}") from exc
    try:
        canonical = tx.encode() if first == DYNAMIC_FEE_TYPE else rlp.encode(tx)
    except (rlp.exceptions.RLPException, TypeError) as exc:
        raise ValueError(f"cannot re-encode: {_one_line(exc)}") from exc
    if canonical != tx_bytes:
        raise ValueError("non-canonical RLP encoding")
    return tx


def check_transfer(tx_bytes: bytes, params: RollupParams) -> Transfer | Rejected:
    """Apply rules 1-9 of protocol.md §3.1 to transaction bytes."""
    try:
        tx = decode_signed(tx_bytes)
    except ValueError as exc:
        return Rejected(InvalidReason.UNDECODABLE, str(exc))
    tx_type = DYNAMIC_FEE_TYPE if tx_bytes[0] == DYNAMIC_FEE_TYPE else LEGACY_TYPE

    ints = (tx.nonce, tx.gas, tx.value, tx.r, tx.s)
    fees = (
        (tx.max_fee_per_gas, tx.max_priority_fee_per_gas)
        if tx_type == DYNAMIC_FEE_TYPE
        else (tx.gas_price, tx.gas_price)
    )
    if any(v > UINT256_MAX for v in (*ints, *fees)):
        return Rejected(InvalidReason.UNDECODABLE, "integer field wider than 32 bytes")
    if tx_type == DYNAMIC_FEE_TYPE:
        if tx.chain_id > UINT256_MAX:
            return Rejected(InvalidReason.UNDECODABLE, "chain_id wider than 32 bytes")
        if tx.y_parity not in (0, 1):
            return Rejected(InvalidReason.UNDECODABLE, f"y_parity {tx.y_parity} is not 0 or 1")
        if tx.chain_id != params.chain_id:
            return Rejected(InvalidReason.WRONG_CHAIN_ID, f"chain id {tx.chain_id}")
    elif tx.v not in (2 * params.chain_id + 35, 2 * params.chain_id + 36):
        return Rejected(InvalidReason.WRONG_CHAIN_ID, f"legacy v={tx.v}")

    if not (1 <= tx.r < SECP256K1_N and 1 <= tx.s <= SECP256K1_N // 2):
        return Rejected(InvalidReason.BAD_SIGNATURE, "r or s out of range (EIP-2 low s)")
    y_parity = tx.y_parity if tx_type == DYNAMIC_FEE_TYPE else tx.v - (2 * params.chain_id + 35)
    sender = recover_sender(tx.get_message_for_signing(), y_parity, tx.r, tx.s)
    if sender is None:
        return Rejected(InvalidReason.BAD_SIGNATURE, "public key recovery failed")
    # py-evm caches the sender on the transaction; give it the one recovered here.
    tx.__dict__["sender"] = sender

    if tx.to == b"":
        return Rejected(InvalidReason.CONTRACT_CREATION)
    if tx.data:
        return Rejected(InvalidReason.NONEMPTY_DATA, f"{len(tx.data)} bytes of data")
    if tx_type == DYNAMIC_FEE_TYPE and tx.access_list:
        return Rejected(InvalidReason.NONEMPTY_ACCESS_LIST)
    if not TRANSFER_GAS <= tx.gas <= params.gas_limit:
        return Rejected(InvalidReason.BAD_GAS_LIMIT, f"gas {tx.gas}")
    max_fee, max_priority = fees
    if max_priority > max_fee:
        return Rejected(
            InvalidReason.TIP_ABOVE_FEE_CAP, f"priority fee {max_priority} > fee cap {max_fee}"
        )
    if max_fee < params.base_fee:
        return Rejected(
            InvalidReason.FEE_CAP_BELOW_BASE_FEE, f"fee cap {max_fee} < base fee {params.base_fee}"
        )
    return Transfer(
        tx=tx,
        tx_type=tx_type,
        sender=sender,
        to=bytes(tx.to),
        nonce=tx.nonce,
        gas=tx.gas,
        max_fee=max_fee,
        max_priority_fee=max_priority,
        value=tx.value,
        tx_hash=bytes(tx.hash),
    )


def recover_sender(message: bytes, y_parity: int, r: int, s: int) -> bytes | None:
    """The address that signed ``keccak(message)``, via libsecp256k1; ``None`` if unrecoverable."""
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,))
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature, keccak(message), hasher=None
        )
    except ValueError:
        return None
    return bytes(keccak(public_key.format(compressed=False)[1:])[12:])


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
