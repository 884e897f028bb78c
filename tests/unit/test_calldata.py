"""``decode_submit_batch_calldata`` without a node (the differential test against the compiled
decoder is tests/contracts/test_calldata_differential.py)."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode

from watchtower.rollup.calldata import (
    SUBMIT_BATCH_SELECTOR,
    CalldataError,
    decode_submit_batch_calldata,
    encode_submit_batch_calldata,
)

S = SUBMIT_BATCH_SELECTOR


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


@pytest.mark.parametrize("payload", [b"", b"\x01", bytes(range(32)), bytes(range(200))])
def test_canonical_round_trip_and_matches_eth_abi(payload: bytes) -> None:
    calldata = encode_submit_batch_calldata(payload)
    assert calldata == S + abi_encode(["bytes"], [payload])
    assert decode_submit_batch_calldata(calldata) == payload


def test_padding_and_trailing_bytes_are_ignored() -> None:
    calldata = encode_submit_batch_calldata(b"abc")
    assert decode_submit_batch_calldata(calldata[:-29] + b"\xff" * 29) == b"abc"
    assert decode_submit_batch_calldata(calldata[:-29]) == b"abc"
    assert decode_submit_batch_calldata(calldata + b"more") == b"abc"
    assert decode_submit_batch_calldata(S + word(64) + b"\xee" * 32 + word(3) + b"abc") == b"abc"


@pytest.mark.parametrize(
    ("calldata", "problem"),
    [
        (b"", "shorter than a function selector"),
        (b"\x12\x34\x56\x78" + word(32) + word(0), "is not submitBatch"),
        (S + b"\0" * 31, "no 32-byte head"),
        (S + word(2**64) + word(0), "does not fit in 64 bits"),
        (S + word(64) + word(0), "the length word is past the end"),
        (S + word(32) + word(2**64), "length 0x10000000000000000 does not fit"),
        (S + word(32) + word(4) + b"abc", "runs past the end"),
    ],
)
def test_what_solidity_refuses_is_refused(calldata: bytes, problem: str) -> None:
    with pytest.raises(CalldataError, match=problem) as info:
        decode_submit_batch_calldata(calldata)
    assert info.value.calldata == calldata
    assert "\n" not in str(info.value)
