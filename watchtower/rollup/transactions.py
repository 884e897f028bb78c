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

from watchtower.rollup import rlpcodec
from watchtower.rollup.params import (
    MAX_TX_BYTES,
    SECP256K1_N,
    TRANSFER_GAS,
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


# Field layout of the two forms: "i" integer, "a" address or empty, "b" bytes, "l" access list.
_LEGACY_SHAPE = "iiiaibiii"
_DYNAMIC_FEE_SHAPE = "iiiiiaibliii"


#: The deepest list nesting of either form: type 2 > access list > entry > storage keys.
_MAX_LIST_DEPTH = 4


def _list_depth(payload: bytes) -> int:
    """How deeply lists nest in ``payload``, by a linear scan of the RLP prefixes.

    pyrlp decodes (and re-encodes) one Python call per level, so ~1,300 nested lists, which fit
    in ``MAX_TX_BYTES``, raise ``RecursionError`` under the interpreter's default limit: decoding
    must not depend on a process-wide setting that py-evm happens to raise at import. For
    well-formed RLP the result is exact; for malformed RLP it is only an estimate, and such bytes
    are refused by the strict decode anyway.
    """
    ends: list[int] = []  # where each open list ends
    position = peak = 0
    while position < len(payload):
        while ends and position >= ends[-1]:
            ends.pop()
        prefix = payload[position]
        if prefix < 0x80:
            position += 1
        elif prefix < 0xB8:
            position += 1 + prefix - 0x80
        elif prefix < 0xC0:
            size = prefix - 0xB7
            position += 1 + size + int.from_bytes(payload[position + 1 : position + 1 + size])
        else:
            if prefix < 0xF8:
                size, length = 0, prefix - 0xC0
            else:
                size = prefix - 0xF7
                length = int.from_bytes(payload[position + 1 : position + 1 + size])
            position += 1 + size
            ends.append(position + length)
            peak = max(peak, len(ends))
    return peak


def _check_shape(payload: bytes, shape: str) -> list[Any]:
    """Strict RLP (protocol.md §3): canonical encoding, exact field kinds and widths. Returns
    the fields as decoded (byte strings, and lists for the access list)."""
    if _list_depth(payload) > _MAX_LIST_DEPTH:
        raise ValueError(f"lists nested deeper than {_MAX_LIST_DEPTH} levels")
    try:
        fields = rlpcodec.decode_canonical(payload)  # canonical by construction
    except rlpcodec.NotCanonicalError:
        # pyrlp decides, and names the problem (canonical here means: re-encodes to the input)
        try:
            fields = rlp.decode(payload, strict=True)
        except rlp.exceptions.DecodingError as exc:
            raise ValueError(f"RLP: {_one_line(exc)}") from None
        if isinstance(fields, list) and len(fields) == len(shape) and rlp.encode(fields) != payload:
            raise ValueError("non-canonical RLP encoding") from None
    if not isinstance(fields, list) or len(fields) != len(shape):
        raise ValueError(f"expected a list of {len(shape)} fields")
    for position, (kind, field) in enumerate(zip(shape, fields, strict=True)):
        if kind == "l":
            _check_access_list(field)
            continue
        if not isinstance(field, bytes):
            raise ValueError(f"field {position} is a list, expected a byte string")
        if kind == "i" and (len(field) > 32 or field[:1] == b"\x00"):
            raise ValueError(f"field {position} is not a canonical integer of at most 32 bytes")
        if kind == "a" and len(field) not in (0, 20):
            raise ValueError(f"field {position} is {len(field)} bytes, not an address")
    return fields


def _check_access_list(value: object) -> None:
    if not isinstance(value, list):
        raise ValueError("access list is not a list")
    for entry in value:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise ValueError("access list entry is not [address, keys]")
        address, keys = entry
        if not (isinstance(address, bytes) and len(address) == 20):
            raise ValueError("access list address is not 20 bytes")
        if not isinstance(keys, list) or any(
            not isinstance(k, bytes) or len(k) != 32 for k in keys
        ):
            raise ValueError("access list storage keys are not 32-byte strings")


def decode_signed(tx_bytes: bytes) -> Any:
    """Decode bytes into a py-evm transaction, strictly (protocol.md §3).

    The structure is checked on the raw RLP first (canonical lengths, no leading zeros, integer
    widths, 20-byte addresses, a well-formed access list), independently of py-evm's sedes, which
    are laxer (an empty list decodes as the integer 0). Raises ``ValueError`` with the reason.
    """
    return _decode(tx_bytes)[0]


def _decode(tx_bytes: bytes) -> tuple[Any, list[Any]]:
    """:func:`decode_signed`, and the transaction's raw RLP fields (checked canonical)."""
    if not tx_bytes:
        raise ValueError("empty transaction")
    if len(tx_bytes) > MAX_TX_BYTES:
        raise ValueError(f"{len(tx_bytes)} bytes, above MAX_TX_BYTES={MAX_TX_BYTES}")
    first = tx_bytes[0]
    if first == DYNAMIC_FEE_TYPE:
        fields = _check_shape(tx_bytes[1:], _DYNAMIC_FEE_SHAPE)
    elif first >= 0xC0:
        fields = _check_shape(tx_bytes, _LEGACY_SHAPE)
    else:
        raise ValueError(f"transaction type 0x{first:02x} is not supported")
    try:
        return CancunTransactionBuilder.decode(tx_bytes), fields
    except (rlp.exceptions.RLPException, ValidationError, TypeError, IndexError) as exc:
        raise ValueError(f"RLP: {_one_line(exc)}") from exc


def check_transfer(tx_bytes: bytes, params: RollupParams) -> Transfer | Rejected:
    """Apply rules 1-9 of protocol.md §3.1 to transaction bytes."""
    try:
        tx, fields = _decode(tx_bytes)
    except ValueError as exc:
        return Rejected(InvalidReason.UNDECODABLE, str(exc))
    tx_type = DYNAMIC_FEE_TYPE if tx_bytes[0] == DYNAMIC_FEE_TYPE else LEGACY_TYPE

    fees = (
        (tx.max_fee_per_gas, tx.max_priority_fee_per_gas)
        if tx_type == DYNAMIC_FEE_TYPE
        else (tx.gas_price, tx.gas_price)
    )
    if tx_type == DYNAMIC_FEE_TYPE:
        if tx.y_parity not in (0, 1):
            return Rejected(InvalidReason.UNDECODABLE, f"y_parity {tx.y_parity} is not 0 or 1")
        if tx.chain_id != params.chain_id:
            return Rejected(InvalidReason.WRONG_CHAIN_ID, f"chain id {tx.chain_id}")
    elif tx.v not in (2 * params.chain_id + 35, 2 * params.chain_id + 36):
        return Rejected(InvalidReason.WRONG_CHAIN_ID, f"legacy v={tx.v}")

    if not (1 <= tx.r < SECP256K1_N and 1 <= tx.s <= SECP256K1_N // 2):
        return Rejected(InvalidReason.BAD_SIGNATURE, "r or s out of range (EIP-2 low s)")
    y_parity = tx.y_parity if tx_type == DYNAMIC_FEE_TYPE else tx.v - (2 * params.chain_id + 35)
    sender = recover_sender(signing_message(tx_type, fields, params.chain_id), y_parity, tx.r, tx.s)
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
        tx_hash=bytes(keccak(tx_bytes)),  # canonical bytes: what py-evm's tx.hash re-encodes
    )


def signing_message(tx_type: int, fields: list[Any], chain_id: int) -> bytes:
    """What the sender signed (its keccak), from the transaction's canonical RLP fields: py-evm's
    ``get_message_for_signing()`` without decoding and encoding through sedes again. Type 2:
    ``0x02 || rlp(fields[0:9])``; legacy with EIP-155 (the only legacy form accepted):
    ``rlp(fields[0:6] + [chain_id, 0, 0])``."""
    if tx_type == DYNAMIC_FEE_TYPE:
        return b"\x02" + rlpcodec.encode(fields[:9])
    return rlpcodec.encode([*fields[:6], _uint_bytes(chain_id), b"", b""])


def _uint_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


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
