"""Hostile transactions against an independent transcription of protocol.md §3 (rules 1-9).

The reference below is written from the document alone: its own strict RLP decoder (§3: shortest
lengths, no leading zeros, exact field kinds and widths, no trailing bytes), its own signing
hashes, and signature recovery through eth_keys' pure-Python backend (the code under test uses
libsecp256k1 through coincurve). Transactions are built field by field and signed with the
deterministic keys of ``watchtower_dev.txgen``, then corrupted: fields replaced by
non-canonical integers, lists where strings belong (``0xc0`` for ``0x80``), deep nesting, wrong
widths, wrong access-list shapes, signatures out of range or with high ``s``; bytes truncated,
extended, re-prefixed with long or lying lengths, typed envelopes of unknown types. For every
input ``check_transfer`` must give exactly the reference's verdict: the same reason code, or a
valid transfer with the same sender and fields. Nothing may raise.

The long variant (≥ 10,000 cases over all fuzz targets) is in ``test_fuzz_long.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak
from eth_keys import KeyAPI
from eth_keys.backends import NativeECCBackend
from eth_keys.exceptions import BadSignature
from hypothesis import given
from hypothesis import strategies as st

from watchtower.rollup.params import MAX_TX_BYTES, SECP256K1_N, RollupParams
from watchtower.rollup.transactions import (
    DYNAMIC_FEE_TYPE,
    Rejected,
    Transfer,
    _decode,
    check_transfer,
    signing_message,
)
from watchtower.rollup.types import InvalidReason
from watchtower_dev.txgen import Account, accounts

PARAMS = RollupParams()
N = SECP256K1_N
KEYS = accounts(3, b"fuzz-tx")
NATIVE = KeyAPI(NativeECCBackend)
R = InvalidReason

# ---------------------------------------------------------------------------------------------
# The reference: protocol.md §3 and §3.1 rules 1-9, transcribed.


class UndecodableError(Exception):
    """Rule 1 fails."""


Item = bytes | list[Any]
_MAX_DEPTH = 8  # deeper than any transaction form; deeper input is undecodable either way


def _length(data: bytes, start: int, size: int) -> int:
    raw = data[start : start + size]
    if len(raw) != size:
        raise UndecodableError("length runs past the end")
    if raw[0] == 0:
        raise UndecodableError("length with a leading zero")
    length = int.from_bytes(raw, "big")
    if length <= 55:
        raise UndecodableError("long form for a short length")
    return length


def _item(data: bytes, position: int, end: int, depth: int) -> tuple[Item, int]:
    """One strict RLP item of ``data[position:end]``; returns it and where it ends."""
    if position >= end:
        raise UndecodableError("item runs past the end")
    prefix = data[position]
    if prefix < 0x80:
        return data[position : position + 1], position + 1
    if prefix < 0xC0:
        if prefix <= 0xB7:
            start, length = position + 1, prefix - 0x80
        else:
            size = prefix - 0xB7
            start, length = position + 1 + size, _length(data, position + 1, size)
        if start + length > end:
            raise UndecodableError("string runs past the end")
        value = data[start : start + length]
        if length == 1 and value[0] < 0x80:
            raise UndecodableError("a single byte below 0x80 is its own encoding")
        return value, start + length
    if depth >= _MAX_DEPTH:
        raise UndecodableError("nested too deeply")
    if prefix <= 0xF7:
        start, length = position + 1, prefix - 0xC0
    else:
        size = prefix - 0xF7
        start, length = position + 1 + size, _length(data, position + 1, size)
    if start + length > end:
        raise UndecodableError("list runs past the end")
    items: list[Any] = []
    cursor = start
    while cursor < start + length:
        item, cursor = _item(data, cursor, start + length, depth + 1)
        items.append(item)
    return items, start + length


def reference_rlp(data: bytes) -> Item:
    item, end = _item(data, 0, len(data), 0)
    if end != len(data):
        raise UndecodableError("trailing bytes")
    return item


def _integer(field: Item) -> int:
    if not isinstance(field, bytes):
        raise UndecodableError("a list where an integer belongs")
    if len(field) > 32 or field[:1] == b"\x00":
        raise UndecodableError("integer wider than 32 bytes or with a leading zero")
    return int.from_bytes(field, "big")


def _bytes(field: Item) -> bytes:
    if not isinstance(field, bytes):
        raise UndecodableError("a list where a byte string belongs")
    return field


def _to(field: Item) -> bytes:
    if len(_bytes(field)) not in (0, 20):
        raise UndecodableError("`to` is neither empty nor 20 bytes")
    return _bytes(field)


def _access_list(field: Item) -> list[Any]:
    if not isinstance(field, list):
        raise UndecodableError("access list is not a list")
    for entry in field:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise UndecodableError("access-list entry is not a pair")
        address, keys = entry
        if not (isinstance(address, bytes) and len(address) == 20):
            raise UndecodableError("access-list address is not 20 bytes")
        if not isinstance(keys, list) or any(
            not (isinstance(k, bytes) and len(k) == 32) for k in keys
        ):
            raise UndecodableError("access-list keys are not 32-byte strings")
    return field


@dataclass(frozen=True)
class Expected:
    """The reference verdict; the fields of a transaction that passed rule 3."""

    reason: InvalidReason | None
    sender: bytes | None = None
    legacy: bool = False
    nonce: int = 0
    gas: int = 0
    max_fee: int = 0
    tip: int = 0
    to: bytes = b""
    value: int = 0


def _recover(message: bytes, y_parity: int, r: int, s: int) -> bytes | None:
    try:
        key = NATIVE.Signature(vrs=(y_parity, r, s)).recover_public_key_from_msg_hash(
            keccak(message)
        )
    except (BadSignature, ValueError):
        return None
    return bytes(key.to_canonical_address())


def reference(raw: bytes, params: RollupParams = PARAMS) -> Expected:
    """protocol.md §3.1 rules 1-9 for ``raw``, in order."""
    try:
        if not 0 < len(raw) <= MAX_TX_BYTES:
            raise UndecodableError("size")
        legacy = raw[0] >= 0xC0
        if not legacy and raw[0] != 2:
            raise UndecodableError("unknown type")
        fields = reference_rlp(raw if legacy else raw[1:])
        if not isinstance(fields, list) or len(fields) != (9 if legacy else 12):
            raise UndecodableError("not a list of the form's fields")
        if legacy:
            nonce, gas_price, gas = (_integer(f) for f in fields[:3])
            to, value, data = _to(fields[3]), _integer(fields[4]), _bytes(fields[5])
            v, r, s = (_integer(f) for f in fields[6:])
            max_fee = tip = gas_price
            access: list[Any] = []
        else:
            chain_id, nonce, tip, max_fee, gas = (_integer(f) for f in fields[:5])
            to, value, data = _to(fields[5]), _integer(fields[6]), _bytes(fields[7])
            access = _access_list(fields[8])
            y_parity, r, s = (_integer(f) for f in fields[9:])
            if y_parity not in (0, 1):
                raise UndecodableError("y_parity is not 0 or 1")
    except UndecodableError:
        return Expected(R.UNDECODABLE)
    if legacy:
        if v not in (2 * params.chain_id + 35, 2 * params.chain_id + 36):
            return Expected(R.WRONG_CHAIN_ID)
        y_parity = v - 2 * params.chain_id - 35
        message = rlp.encode([*fields[:6], params.chain_id, 0, 0])
    else:
        if chain_id != params.chain_id:
            return Expected(R.WRONG_CHAIN_ID)
        message = b"\x02" + rlp.encode(fields[:9])
    if not (1 <= r < N and 1 <= s <= N // 2):
        return Expected(R.BAD_SIGNATURE)
    sender = _recover(message, y_parity, r, s)
    if sender is None:
        return Expected(R.BAD_SIGNATURE)
    passed = Expected(None, sender, legacy, nonce, gas, max_fee, tip, to, value)
    for broken, reason in (
        (to == b"", R.CONTRACT_CREATION),
        (data != b"", R.NONEMPTY_DATA),
        (access != [], R.NONEMPTY_ACCESS_LIST),
        (not 21_000 <= gas <= params.gas_limit, R.BAD_GAS_LIMIT),
        (tip > max_fee, R.TIP_ABOVE_FEE_CAP),
        (max_fee < params.base_fee, R.FEE_CAP_BELOW_BASE_FEE),
    ):
        if broken:
            return replace(passed, reason=reason)
    return passed


def check_against_reference(raw: bytes, params: RollupParams = PARAMS) -> Expected:
    """The property: ``check_transfer`` gives exactly the reference's verdict, never raises."""
    expected = reference(raw, params)
    got = check_transfer(raw, params)
    if expected.reason is None:
        assert isinstance(got, Transfer), (raw.hex(), got)
        assert (got.sender, got.nonce, got.gas, got.to, got.value) == (
            expected.sender,
            expected.nonce,
            expected.gas,
            expected.to,
            expected.value,
        ), raw.hex()
        assert (got.max_fee, got.max_priority_fee) == (expected.max_fee, expected.tip)
        assert got.tx_type == (0 if expected.legacy else 2)
    else:
        assert isinstance(got, Rejected), (raw.hex(), expected)
        assert got.reason is expected.reason, (raw.hex(), got, expected)
        assert "\n" not in got.detail
    return expected


# ---------------------------------------------------------------------------------------------
# Building and signing transactions field by field.


def integer(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass(frozen=True)
class Draft:
    """An unsigned transaction, any field value allowed."""

    key: Account
    legacy: bool
    chain_id: int
    nonce: int
    max_fee: int  # the gas price of a legacy transaction
    tip: int
    gas: int
    to: bytes
    value: int
    data: bytes = b""
    access_list: tuple[tuple[bytes, tuple[bytes, ...]], ...] = ()


def signed_fields(draft: Draft) -> list[Any]:
    """The RLP fields of ``draft`` signed by its key as protocol.md §3 says (low s)."""
    if draft.legacy:
        unsigned: list[Any] = [
            integer(draft.nonce),
            integer(draft.max_fee),
            integer(draft.gas),
            draft.to,
            integer(draft.value),
            draft.data,
        ]
        message = rlp.encode([*unsigned, integer(draft.chain_id), b"", b""])
    else:
        unsigned = [
            integer(draft.chain_id),
            integer(draft.nonce),
            integer(draft.tip),
            integer(draft.max_fee),
            integer(draft.gas),
            draft.to,
            integer(draft.value),
            draft.data,
            [[a, list(keys)] for a, keys in draft.access_list],
        ]
        message = b"\x02" + rlp.encode(unsigned)
    y_parity, r, s = draft.key.key.sign_msg_hash(keccak(message)).vrs
    assert s <= N // 2, "eth_keys signs with low s"
    v = 2 * draft.chain_id + 35 + y_parity if draft.legacy else y_parity
    return [*unsigned, integer(v), integer(r), integer(s)]


def encode(fields: list[Any], legacy: bool) -> bytes:
    body = rlp.encode(fields)
    return body if legacy else b"\x02" + body


def high_s(fields: list[Any], legacy: bool, chain_id: int = PARAMS.chain_id) -> list[Any]:
    """The same signature with ``s`` replaced by ``n - s`` and the parity flipped: it still
    recovers the same key, and only EIP-2's low-s rule refuses it."""
    v = int.from_bytes(fields[-3], "big")
    s = int.from_bytes(fields[-1], "big")
    flipped = 2 * chain_id + 35 + (1 - (v - 2 * chain_id - 35)) if legacy else 1 - v
    return [*fields[:-3], integer(flipped), fields[-2], integer(N - s)]


def _maybe_high_s(fields: list[Any], legacy: bool) -> list[Any]:
    """:func:`high_s` where the signature fields are still well-formed, else ``fields``."""
    if len(fields) < 3 or not all(isinstance(x, bytes) for x in fields[-3:]):
        return fields
    v, s = int.from_bytes(fields[-3], "big"), int.from_bytes(fields[-1], "big")
    if 0 < s < N and v in (LEGAL_V if legacy else (0, 1)):
        return high_s(fields, legacy)
    return fields


LEGAL_V = (2 * PARAMS.chain_id + 35, 2 * PARAMS.chain_id + 36)
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 2**64 - 1, 2**64, 2**255, 2**256 - 1]
GAS = [0, 20_999, 21_000, 21_001, PARAMS.gas_limit, PARAMS.gas_limit + 1, 2**256 - 1]
FEES = [0, 1, PARAMS.base_fee - 1, PARAMS.base_fee, 2 * PARAMS.base_fee, 2**128, 2**256 - 1]


def drafts(to: st.SearchStrategy[bytes] | None = None, keys: list[Account] = KEYS) -> Any:
    """Drafts that are mostly valid under the stateless rules, with edge values mixed in."""
    other_chains = st.sampled_from(
        [0, 1, PARAMS.chain_id - 1, PARAMS.chain_id + 1, 2**64 - 1, 2**64]
    )
    return st.builds(
        Draft,
        key=st.sampled_from(keys),
        legacy=st.booleans(),
        chain_id=st.one_of(st.just(PARAMS.chain_id), st.just(PARAMS.chain_id), other_chains),
        nonce=st.one_of(st.integers(0, 3), st.sampled_from(INTERESTING)),
        max_fee=st.one_of(st.just(2 * PARAMS.base_fee), st.sampled_from(FEES)),
        tip=st.one_of(st.just(PARAMS.base_fee // 10), st.sampled_from(FEES)),
        gas=st.one_of(st.just(21_000), st.sampled_from(GAS)),
        to=to
        if to is not None
        else st.one_of(st.binary(min_size=20, max_size=20), st.just(b""), st.just(b"\x22" * 20)),
        value=st.one_of(st.integers(0, 10**18), st.sampled_from(INTERESTING)),
        data=st.one_of(st.just(b""), st.just(b""), st.binary(min_size=1, max_size=8)),
        access_list=st.one_of(
            st.just(()),
            st.just(()),
            st.just(((b"\x11" * 20, ()),)),
            st.just(((b"\x11" * 20, (b"\x00" * 32,)),)),
        ),
    )


# Field-level corruption: what a malicious proposer can put in a field, RLP-encoded canonically.
def _nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_ACCESS_LISTS: list[Any] = [
    b"",
    b"\x01",
    [b""],
    [[]],
    [[b"\x11" * 20]],
    [[b"\x11" * 20, []], []],
    [[b"\x11" * 19, []]],
    [[b"\x11" * 21, []]],
    [[b"\x11" * 20, b""]],
    [[b"\x11" * 20, [b"\x00" * 31]]],
    [[b"\x11" * 20, [b"\x00" * 33]]],
    [[b"\x11" * 20, [[b"\x00" * 32]]]],
    [[b"\x11" * 20, [], b""]],
    [[[b"\x11" * 20], []]],
    _nest([], 6),
]


@st.composite
def corrupt_field(draw: st.DrawFn, fields: list[Any], legacy: bool) -> list[Any]:
    out = list(fields)
    position = draw(st.integers(0, len(out) - 1))
    current = out[position]
    signature = len(out) - 3  # v or y_parity, r, s
    kind = draw(
        st.sampled_from(
            [
                "leading_zero",
                "zero_byte",
                "empty_list",
                "nested",
                "wide",
                "random",
                "integer",
                "drop",
                "extra",
                "signature",
                "signature",
                "high_s",
                "access_list",
                "to",
                "chain_id",
            ]
        )
    )
    if kind == "leading_zero" and isinstance(current, bytes):
        out[position] = b"\x00" + current
    elif kind == "zero_byte":
        out[position] = b"\x00"
    elif kind == "empty_list":
        out[position] = []  # 0xc0 where 0x80 belongs
    elif kind == "nested":
        out[position] = _nest(current, draw(st.integers(1, 12)))
    elif kind == "wide":
        out[position] = b"\x01" + b"\x00" * draw(st.sampled_from([31, 32, 33, 64]))
    elif kind == "random":
        out[position] = draw(st.binary(max_size=40))
    elif kind == "integer":
        out[position] = integer(draw(st.sampled_from(INTERESTING)))
    elif kind == "drop":
        del out[position]
    elif kind == "extra":
        out.insert(position, draw(st.sampled_from([b"", b"\x01", []])))
    elif kind == "signature":
        which = signature + draw(st.integers(0, 2))
        chain = 2 * PARAMS.chain_id
        values = [0, 1, 2, 27, 28, chain + 34, chain + 35, chain + 36, chain + 37]
        values += [N // 2, N // 2 + 1, N - 1, N, N + 1, 2**256 - 1]
        out[which] = integer(draw(st.sampled_from(values)))
    elif kind == "high_s":
        out = _maybe_high_s(out, legacy)
    elif kind == "access_list" and not legacy and len(out) == 12:
        out[8] = draw(st.sampled_from(HOSTILE_ACCESS_LISTS))
    elif kind == "to":
        out[3 if legacy else 5] = draw(st.sampled_from([b"", b"\x22" * 19, b"\x22" * 21, [b""]]))
    elif kind == "chain_id" and not legacy:
        out[0] = integer(draw(st.sampled_from([0, 1, PARAMS.chain_id + 1, 2**64, 2**256 - 1])))
    return out


def _list_prefix(length: int) -> bytes:
    if length <= 55:
        return bytes([0xC0 + length])
    size = integer(length)
    return bytes([0xF7 + len(size)]) + size


def _string_prefix(length: int) -> bytes:
    if length <= 55:
        return bytes([0x80 + length])
    size = integer(length)
    return bytes([0xB7 + len(size)]) + size


def _non_canonical_item(item: Any) -> bytes:
    """``item`` encoded in a longer form than the shortest: what strict RLP refuses."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return b"\x81" + item  # a single small byte wrapped as a string
        if len(item) <= 55:
            return bytes([0xB8, len(item)]) + item  # long form for a short string
        return bytes([0xB9]) + len(item).to_bytes(2, "big") + item  # leading zero in length
    body = b"".join(rlp.encode(x) for x in item)
    if len(body) <= 55:
        return bytes([0xF8, len(body)]) + body
    return bytes([0xFA]) + len(body).to_bytes(3, "big") + body


@st.composite
def corrupt_bytes(draw: st.DrawFn, fields: list[Any], legacy: bool) -> bytes:
    raw = encode(fields, legacy)
    body = b"".join(rlp.encode(f) for f in fields)
    envelope = b"" if legacy else b"\x02"
    kind = draw(
        st.sampled_from(
            [
                "truncate",
                "trailing",
                "flip",
                "field_long_form",
                "outer_long_form",
                "outer_length",
                "type",
                "strip_type",
                "add_type",
                "pad_to_limit",
            ]
        )
    )
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "trailing":
        return raw + draw(st.binary(min_size=1, max_size=8))
    if kind == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    if kind == "field_long_form":
        at = draw(st.integers(0, len(fields) - 1))
        parts = [rlp.encode(f) for f in fields]
        parts[at] = _non_canonical_item(fields[at])
        new_body = b"".join(parts)
        return envelope + _list_prefix(len(new_body)) + new_body
    if kind == "outer_long_form":
        size = integer(len(body))
        if len(body) <= 55:
            return envelope + bytes([0xF8, len(body)]) + body
        return envelope + bytes([0xF8 + len(size)]) + b"\x00" + size + body
    if kind == "outer_length":
        # The list's length prefix lies: pointing past the end, or short of it.
        lie = len(body) + draw(st.sampled_from([-2, -1, 1, 2, 2**16, 2**32 - 1]))
        return envelope + _list_prefix(max(lie, 0)) + body
    if kind == "type":
        new_type = draw(st.sampled_from([0x00, 0x01, 0x03, 0x04, 0x05, 0x7F, 0x80, 0xB7, 0xBF]))
        return bytes([new_type]) + raw[len(envelope) :]
    if kind == "strip_type":
        return raw[len(envelope) :] if envelope else b"\x02" + raw
    if kind == "add_type":
        return bytes([draw(st.sampled_from([0x01, 0x02, 0x03, 0x7F]))]) + raw
    # pad a field so that the whole transaction is just at or just above MAX_TX_BYTES
    # (the length prefixes grow by a byte or two: the result lands within a few bytes of it).
    data = 5 if legacy else 7
    size = max(MAX_TX_BYTES - len(raw) + draw(st.sampled_from([-8, -3, 0, 1, 100])), 0)
    return encode([*fields[:data], b"\x01" * size, *fields[data + 1 :]], legacy)


@st.composite
def hostile_transactions(draw: st.DrawFn, to: st.SearchStrategy[bytes] | None = None) -> bytes:
    """A signed draft, then up to two field corruptions and maybe one byte-level corruption
    (weighted so that a fair share stays decodable and reaches the later rules)."""
    draft = draw(drafts(to))
    fields = signed_fields(draft)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        fields = draw(corrupt_field(fields, draft.legacy))
    if draw(st.sampled_from([True, True, False])):
        return encode(fields, draft.legacy)
    return draw(corrupt_bytes(fields, draft.legacy))


any_bytes = st.one_of(
    st.binary(max_size=64),
    st.binary(min_size=1, max_size=64).map(lambda b: b"\x02" + b),
    st.binary(min_size=1, max_size=64).map(lambda b: b"\xf8" + b),
)


# ---------------------------------------------------------------------------------------------
# Default-run properties (hypothesis profile "default": 60 examples each).


@pytest.mark.timeout(120)
@given(hostile_transactions())
def test_rules_agree_with_the_reference_on_hostile_transactions(raw: bytes) -> None:
    check_against_reference(raw)


@pytest.mark.timeout(120)
@given(any_bytes)
def test_rules_agree_with_the_reference_on_random_bytes(raw: bytes) -> None:
    check_against_reference(raw)


def _signed(draft: Draft) -> tuple[list[Any], bytes]:
    fields = signed_fields(draft)
    return fields, encode(fields, draft.legacy)


valid_drafts = st.builds(
    Draft,
    key=st.sampled_from(KEYS),
    legacy=st.booleans(),
    chain_id=st.just(PARAMS.chain_id),
    nonce=st.integers(0, 2**64 - 2),
    max_fee=st.integers(PARAMS.base_fee, 10**12),
    tip=st.just(0),
    gas=st.integers(21_000, PARAMS.gas_limit),
    to=st.binary(min_size=20, max_size=20),
    value=st.integers(0, 2**256 - 1),
)


@pytest.mark.timeout(120)
@given(valid_drafts, st.data())
def test_high_s_is_a_bad_signature(draft: Draft, data: st.DataObject) -> None:
    """EIP-2: ``s > n/2`` is refused (rule 3, ``bad_signature``) although, with the parity
    flipped, the signature recovers exactly the signer: only the low-s rule can refuse it."""
    draft = replace(draft, tip=data.draw(st.integers(0, draft.max_fee)))
    fields, raw = _signed(draft)
    assert isinstance(check_transfer(raw, PARAMS), Transfer)
    flipped = high_s(fields, draft.legacy)
    s = int.from_bytes(flipped[-1], "big")
    assert s > N // 2
    y_parity = int.from_bytes(flipped[-3], "big")
    if draft.legacy:
        y_parity -= 2 * PARAMS.chain_id + 35
        message = rlp.encode([*flipped[:6], PARAMS.chain_id, 0, 0])
    else:
        message = b"\x02" + rlp.encode(flipped[:9])
    r = int.from_bytes(flipped[-2], "big")
    assert _recover(message, y_parity, r, s) == draft.key.address
    result = check_transfer(encode(flipped, draft.legacy), PARAMS)
    assert isinstance(result, Rejected) and result.reason is R.BAD_SIGNATURE


@pytest.mark.timeout(120)
@given(valid_drafts, st.integers(1, 2**64 - 1))
def test_a_transaction_for_another_chain_is_wrong_chain_id(draft: Draft, chain_id: int) -> None:
    """Correctly signed, but for another chain: rule 2, before the signature is looked at."""
    if chain_id == PARAMS.chain_id:
        chain_id += 1
    _, raw = _signed(replace(draft, chain_id=chain_id))
    result = check_transfer(raw, PARAMS)
    assert isinstance(result, Rejected) and result.reason is R.WRONG_CHAIN_ID
    # ... and valid on its own chain.
    assert isinstance(check_transfer(raw, replace(PARAMS, chain_id=chain_id)), Transfer)


@pytest.mark.timeout(120)
@given(
    valid_drafts,
    st.sampled_from(["r", "s"]),
    st.sampled_from([0, N, N + 1, 2**256 - 1]) | st.integers(N, 2**256 - 1),
)
def test_r_or_s_zero_or_at_least_n_is_a_bad_signature(draft: Draft, which: str, value: int) -> None:
    fields, _ = _signed(draft)
    fields[-2 if which == "r" else -1] = integer(value)
    result = check_transfer(encode(fields, draft.legacy), PARAMS)
    assert isinstance(result, Rejected) and result.reason is R.BAD_SIGNATURE


@pytest.mark.timeout(120)
@given(valid_drafts, st.integers(0, 2**256 - 1) | st.sampled_from([0, 1, 2, 27, 28, 35, 36]))
def test_v_or_y_parity_out_of_range(draft: Draft, value: int) -> None:
    """A type-2 ``y_parity`` other than 0 or 1 does not decode (§3: rule 1); a legacy ``v``
    other than ``2·chain_id + 35/36`` is a transaction for another chain (rule 2)."""
    fields, _ = _signed(draft)
    if draft.legacy:
        if value in LEGAL_V:
            value += 2
        expected = R.WRONG_CHAIN_ID
    else:
        if value in (0, 1):
            value += 2
        expected = R.UNDECODABLE
    fields[-3] = integer(value)
    result = check_transfer(encode(fields, draft.legacy), PARAMS)
    assert isinstance(result, Rejected) and result.reason is expected


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda f: [*f[:1], b"\x00" + f[1], *f[2:]], R.UNDECODABLE),  # leading zero
        (lambda f: [[], *f[1:]], R.UNDECODABLE),  # 0xc0 where 0x80 (zero) belongs
        (lambda f: [b"\x00", *f[1:]], R.UNDECODABLE),  # zero as 0x00
        (lambda f: [*f[:5], [b""], *f[6:]], R.UNDECODABLE),  # list where `to` belongs
        (lambda f: [*f[:8], b"", *f[9:]], R.UNDECODABLE),  # string where the access list is
        (lambda f: [*f[:8], [[b"\x11" * 20]], *f[9:]], R.UNDECODABLE),  # entry is not a pair
        (lambda f: [*f[:8], [[b"\x11" * 20, [b"\x01"]]], *f[9:]], R.UNDECODABLE),
        (lambda f: [*f[:8], [[b"\x11" * 20, []]], *f[9:]], R.NONEMPTY_ACCESS_LIST),
        (lambda f: [*f[:8], _nest([], 40), *f[9:]], R.UNDECODABLE),  # deep nesting
        (lambda f: f[:-1], R.UNDECODABLE),  # 11 fields
        (lambda f: [*f, b""], R.UNDECODABLE),  # 13 fields
    ],
)
def test_malicious_rlp_in_a_type_2_transaction(
    mutate: Callable[[list[Any]], list[Any]], reason: InvalidReason
) -> None:
    """Each malicious shape of protocol.md §3 once, with the reason code the rules give."""
    fields = signed_fields(
        Draft(KEYS[0], False, PARAMS.chain_id, 1, 2 * 10**9, 10**8, 21_000, b"\x22" * 20, 5)
    )
    raw = encode(mutate(fields), legacy=False)
    assert reference(raw).reason is reason
    result = check_transfer(raw, PARAMS)
    assert isinstance(result, Rejected) and result.reason is reason


def test_the_reference_accepts_what_it_should() -> None:
    """Guards the oracle itself: a plain transfer of each form is valid, with the signer."""
    for legacy in (False, True):
        draft = Draft(KEYS[1], legacy, PARAMS.chain_id, 0, 2 * 10**9, 0, 21_000, b"\x33" * 20, 1)
        expected = check_against_reference(encode(signed_fields(draft), legacy))
        assert expected.reason is None and expected.sender == KEYS[1].address


def _nested_lists(limit: int) -> bytes:
    """Lists nested as deeply as ``limit`` bytes allow: ``[[[...[]...]]]``."""
    encoded = b"\xc0"
    while len(_list_prefix(len(encoded)) + encoded) <= limit:
        encoded = _list_prefix(len(encoded)) + encoded
    return encoded


@pytest.mark.timeout(60)
@pytest.mark.parametrize("legacy", [True, False])
def test_deep_nesting_is_undecodable_under_any_recursion_limit(legacy: bool) -> None:
    """Regression: ~1,300 nested lists fit in MAX_TX_BYTES, and pyrlp decodes one Python call
    per level. Decoding relied on py-evm raising the process's recursion limit at import; under
    the interpreter's default (1,000) it raised RecursionError out of ``check_transfer``."""
    nested = _nested_lists(MAX_TX_BYTES - 40)
    body = b"\x80" * (5 if legacy else 7) + nested + b"\x80" * (3 if legacy else 4)
    raw = (b"" if legacy else b"\x02") + _list_prefix(len(body)) + body
    assert len(raw) <= MAX_TX_BYTES and reference(raw).reason is R.UNDECODABLE
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        result = check_transfer(raw, PARAMS)
    finally:
        sys.setrecursionlimit(limit)
    assert isinstance(result, Rejected) and result.reason is R.UNDECODABLE


RULES = [
    R.WRONG_CHAIN_ID,
    R.BAD_SIGNATURE,
    R.CONTRACT_CREATION,
    R.NONEMPTY_DATA,
    R.NONEMPTY_ACCESS_LIST,
    R.BAD_GAS_LIMIT,
    R.TIP_ABOVE_FEE_CAP,
    R.FEE_CAP_BELOW_BASE_FEE,
]


@pytest.mark.timeout(120)
@given(valid_drafts, st.sets(st.sampled_from(RULES), min_size=1))
def test_the_first_broken_rule_names_the_reason(draft: Draft, broken: set[InvalidReason]) -> None:
    """protocol.md §3.1: "the checks run in this order; the first that fails names the reason".
    Rules 2-9 are broken in any combination; the reason is the first of them in the table."""
    if draft.legacy:  # a legacy transaction has no access list, and its tip is its fee cap
        broken -= {R.NONEMPTY_ACCESS_LIST, R.TIP_ABOVE_FEE_CAP}
        if not broken:
            broken = {R.CONTRACT_CREATION}
    max_fee = PARAMS.base_fee - 1 if R.FEE_CAP_BELOW_BASE_FEE in broken else draft.max_fee
    draft = replace(
        draft,
        chain_id=PARAMS.chain_id + 1 if R.WRONG_CHAIN_ID in broken else PARAMS.chain_id,
        to=b"" if R.CONTRACT_CREATION in broken else draft.to,
        data=b"\x01" if R.NONEMPTY_DATA in broken else b"",
        access_list=((b"\x11" * 20, ()),) if R.NONEMPTY_ACCESS_LIST in broken else (),
        gas=20_999 if R.BAD_GAS_LIMIT in broken else draft.gas,
        max_fee=max_fee,
        tip=max_fee + 1 if R.TIP_ABOVE_FEE_CAP in broken else 0,
    )
    fields = signed_fields(draft)
    if R.BAD_SIGNATURE in broken:
        fields = high_s(fields, draft.legacy, draft.chain_id)
    result = check_transfer(encode(fields, draft.legacy), PARAMS)
    first = next(rule for rule in RULES if rule in broken)
    assert isinstance(result, Rejected) and result.reason is first, (broken, result)


@pytest.mark.timeout(120)
@given(hostile_transactions())
def test_the_signing_message_and_hash_are_py_evms(raw: bytes) -> None:
    """check_transfer builds the signed message and the hash from the raw fields (no second
    pass through py-evm's sedes): for every transaction it accepts as decodable they must be
    exactly py-evm's own ``get_message_for_signing()`` and ``hash``."""
    try:
        tx, fields = _decode(raw)
    except ValueError:
        return  # undecodable: neither is computed
    tx_type = DYNAMIC_FEE_TYPE if raw[0] == DYNAMIC_FEE_TYPE else 0
    chain_id = tx.chain_id if tx_type == DYNAMIC_FEE_TYPE else (tx.v - 35) // 2
    if tx_type != DYNAMIC_FEE_TYPE and tx.v < 35:
        return  # pre-EIP-155 legacy: refused before a message is needed
    if not 1 <= chain_id < 2**64:
        return  # no rollup has that chain id (RollupParams refuses it): no message is needed
    assert signing_message(tx_type, fields, chain_id) == tx.get_message_for_signing()
    outcome = check_transfer(raw, replace(PARAMS, chain_id=chain_id))
    if isinstance(outcome, Transfer):
        assert outcome.tx_hash == tx.hash
