"""Strict decoding and the stateless rules of protocol.md §3.1."""

from __future__ import annotations

import rlp
from eth_hash.auto import keccak
from eth_keys.datatypes import Signature

from watchtower.rollup.params import RollupParams
from watchtower.rollup.transactions import Rejected, Transfer, check_transfer, recover_sender
from watchtower.rollup.types import InvalidReason
from watchtower_dev.txgen import accounts, legacy_transfer, transfer, with_high_s

P = RollupParams()
A, B = accounts(2, b"rules")
LEGACY = legacy_transfer(A, B.address, nonce=0, value=1, chain_id=P.chain_id)
DYNAMIC = transfer(A, B.address, nonce=0, value=1, chain_id=P.chain_id)


def _reason(raw: bytes) -> InvalidReason | None:
    result = check_transfer(raw, P)
    return result.reason if isinstance(result, Rejected) else None


def test_both_forms_are_valid_and_recover_the_signer() -> None:
    for raw in (LEGACY, DYNAMIC):
        result = check_transfer(raw, P)
        assert isinstance(result, Transfer)
        assert result.sender == A.address and result.to == B.address


def test_an_empty_list_is_not_the_integer_zero() -> None:
    """Regression: pyrlp's sedes read ``0xc0`` as 0 and re-encode from cache."""
    fields = rlp.decode(LEGACY)
    assert fields[0] == b""
    assert _reason(rlp.encode([[], *fields[1:]])) is InvalidReason.UNDECODABLE


def test_legacy_v_wider_than_32_bytes_is_undecodable() -> None:
    fields = rlp.decode(LEGACY)
    fields[6] = b"\x01" * 33
    assert _reason(rlp.encode(fields)) is InvalidReason.UNDECODABLE


def test_malformed_access_list_entry_is_undecodable() -> None:
    fields = rlp.decode(DYNAMIC[1:])
    fields[8] = [[b"", []]]
    assert _reason(b"\x02" + rlp.encode(fields)) is InvalidReason.UNDECODABLE
    fields[8] = [[B.address, []]]
    assert _reason(b"\x02" + rlp.encode(fields)) is InvalidReason.NONEMPTY_ACCESS_LIST


def test_non_canonical_encodings_are_undecodable() -> None:
    fields = rlp.decode(LEGACY)
    fields[1] = b"\x00" + fields[1]  # leading zero in gas price
    assert _reason(rlp.encode(fields)) is InvalidReason.UNDECODABLE
    body = LEGACY[LEGACY[0] - 0xF7 + 1 :]
    long_prefix = bytes((0xF9,)) + len(body).to_bytes(2, "big") + body
    assert _reason(long_prefix) is InvalidReason.UNDECODABLE
    assert _reason(LEGACY + b"\x00") is InvalidReason.UNDECODABLE


def test_signature_rules() -> None:
    assert _reason(with_high_s(DYNAMIC)) is InvalidReason.BAD_SIGNATURE
    fields = rlp.decode(DYNAMIC[1:])
    fields[10] = b""  # r = 0
    assert _reason(b"\x02" + rlp.encode(fields)) is InvalidReason.BAD_SIGNATURE
    pre_155 = legacy_transfer(A, B.address, nonce=0, value=1, chain_id=None)
    assert _reason(pre_155) is InvalidReason.WRONG_CHAIN_ID


def test_recover_sender_agrees_with_eth_keys() -> None:
    message = b"watchtower"
    for key in accounts(5, b"sig"):
        signature = key.key.sign_msg_hash(keccak(message))
        assert isinstance(signature, Signature)
        v, r, s = signature.vrs
        assert recover_sender(message, v, r, s) == key.address
    assert recover_sender(b"x", 0, 0, 0) is None
