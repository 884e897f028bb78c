"""RLP for byte strings and nested lists, without pyrlp's type dispatch: a strict canonical
decoder and an encoder.

pyrlp decodes through generic sedes and, to check that an encoding is canonical, has to encode
the result again and compare. Trie nodes, accounts and transactions are only ever byte strings
and lists, so one pass over the bytes decides canonical form directly: the decoder accepts
exactly the canonical encodings (a single byte below 0x80 as itself, shortest lengths, no leading
zeros in a length, no trailing bytes) and raises :class:`NotCanonicalError` for anything else, on
which callers fall back to pyrlp (so error messages and edge cases stay pyrlp's).
"""

from __future__ import annotations

from typing import Any

Item = Any  # bytes, or a list of items

_STRING_PREFIX = [bytes((0x80 + n,)) for n in range(56)]
_LIST_PREFIX = [bytes((0xC0 + n,)) for n in range(56)]


class NotCanonicalError(ValueError):
    """The bytes are not one canonical RLP item (also: truncated, or followed by more bytes)."""


def encode_bytes(item: bytes) -> bytes:
    """The RLP encoding of one byte string."""
    length = len(item)
    if length == 1 and item[0] < 0x80:
        return item
    if length <= 55:
        return _STRING_PREFIX[length] + item
    length_bytes = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0xB7 + len(length_bytes),)) + length_bytes + item


def encode(item: Item) -> bytes:
    """The RLP encoding of a byte string or a (nested) list of them."""
    if type(item) is bytes:
        return encode_bytes(item)
    payload = b"".join(
        [
            b"\xa0" + child
            if len(child) == 32 and type(child) is bytes  # a hash: the common case in tries
            else (b"\x80" if child == b"" else encode(child))
            for child in item
        ]
    )
    return list_header(len(payload)) + payload


def list_header(length: int) -> bytes:
    """The prefix of a list whose items' encodings are ``length`` bytes long."""
    if length <= 55:
        return _LIST_PREFIX[length]
    length_bytes = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(length_bytes),)) + length_bytes


def encode_uint(value: int) -> bytes:
    """The RLP encoding of a non-negative integer (big-endian, no leading zeros)."""
    if value < 0x80:
        return b"\x80" if value == 0 else bytes((value,))
    length = (value.bit_length() + 7) // 8
    if length <= 55:
        return _STRING_PREFIX[length] + value.to_bytes(length, "big")
    return encode_bytes(value.to_bytes(length, "big"))


def _item(data: bytes, start: int) -> tuple[Item, int]:
    """One canonical RLP item of ``data`` at ``start``: (item, end)."""
    prefix = data[start]
    if prefix < 0x80:
        return data[start : start + 1], start + 1
    if prefix < 0xB8:
        end = start + 1 + prefix - 0x80
        if (prefix == 0x81 and data[start + 1] < 0x80) or end > len(data):
            raise NotCanonicalError("a short string is not in its shortest form, or truncated")
        return data[start + 1 : end], end
    if prefix < 0xC0:
        size = prefix - 0xB7
        length = int.from_bytes(data[start + 1 : start + 1 + size], "big")
        if length <= 55 or data[start + 1] == 0:
            raise NotCanonicalError("a long string's length is not in its shortest form")
        begin = start + 1 + size
        if begin + length > len(data):
            raise NotCanonicalError("a long string is truncated")
        return data[begin : begin + length], begin + length
    if prefix < 0xF8:
        begin, end = start + 1, start + 1 + prefix - 0xC0
    else:
        size = prefix - 0xF7
        length = int.from_bytes(data[start + 1 : start + 1 + size], "big")
        if length <= 55 or data[start + 1] == 0:
            raise NotCanonicalError("a long list's length is not in its shortest form")
        begin = start + 1 + size
        end = begin + length
    if end > len(data):
        raise NotCanonicalError("a list is truncated")
    items = []
    position = begin
    while position < end:
        item, position = _item(data, position)
        items.append(item)
    if position != end:
        raise NotCanonicalError("a list's items overrun it")
    return items, end


def decode_canonical(data: bytes) -> Item:
    """The item ``data`` encodes, if ``data`` is exactly one canonical RLP item; otherwise
    :class:`NotCanonicalError`. Recursive: the caller bounds the nesting of untrusted input."""
    try:
        item, end = _item(data, 0)
    except IndexError:
        raise NotCanonicalError("truncated") from None
    if end != len(data):
        raise NotCanonicalError("trailing bytes after the item")
    return item


__all__ = [
    "Item",
    "NotCanonicalError",
    "decode_canonical",
    "encode",
    "encode_bytes",
    "encode_uint",
    "list_header",
]
