"""Differential test: ``decode_submit_batch_calldata`` vs the ABI decoder solc 0.8.28 compiles.

``SubmitBatchHarness.submitBatch(bytes calldata)`` (contracts/test/Harness.sol) has the rollup's
selector and returns the keccak and length of what Solidity decoded; hand-made calldata is sent
with a raw ``eth_call`` to anvil, and the answer (or the revert) must be the Python decoder's.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError

from tests.contracts.conftest import load_test_artifact
from watchtower.rollup.calldata import (
    SUBMIT_BATCH_SELECTOR,
    CalldataError,
    decode_submit_batch_calldata,
    encode_submit_batch_calldata,
)

pytestmark = pytest.mark.integration

Answer = tuple[bytes, int] | None  # (keccak, length) of the payload, or None: refused


@pytest.fixture(scope="module")
def harness(deployer: Callable[..., Contract]) -> Contract:
    return deployer(load_test_artifact("SubmitBatchHarness"))


def solidity(w3: Web3, harness: Contract, calldata: bytes) -> Answer:
    try:
        out = w3.eth.call({"to": harness.address, "data": Web3.to_hex(calldata)})
    except (ContractLogicError, Web3RPCError) as exc:
        assert "revert" in str(exc).lower(), exc  # a revert, nothing else
        return None
    out = bytes(out)
    assert len(out) == 64, out.hex()
    return out[:32], int.from_bytes(out[32:], "big")


def python(calldata: bytes) -> Answer:
    try:
        payload = decode_submit_batch_calldata(calldata)
    except CalldataError as exc:
        assert exc.calldata == calldata
        return None
    return keccak(payload), len(payload)


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


PAYLOAD = bytes(range(1, 70))  # 69 bytes: 27 bytes of padding in the canonical form
CANONICAL = encode_submit_batch_calldata(PAYLOAD)
S = SUBMIT_BATCH_SELECTOR

CASES: dict[str, tuple[bytes, bool]] = {  # name: (calldata, Solidity accepts it)
    "canonical": (CANONICAL, True),
    "non-zero padding": (CANONICAL[:-27] + b"\xff" * 27, True),
    "missing padding": (CANONICAL[:-27], True),
    "half the padding": (CANONICAL[:-13], True),
    "truncated payload": (CANONICAL[:-28], False),
    "length one too long": (S + word(32) + word(len(PAYLOAD) + 28) + CANONICAL[68:], False),
    "offset 0x40, garbage between": (S + word(64) + b"\xee" * 32 + word(3) + b"abc", True),
    "offset past the end": (S + word(0x1000) + word(3) + b"abc", False),
    "offset inside the length word": (S + word(33) + word(3) + b"abc", False),
    "huge offset": (S + word(2**64 - 1) + word(3) + b"abc", False),
    "offset of 2**64": (S + word(2**64) + word(3) + b"abc", False),
    "offset 2**256 - 1": (S + word(2**256 - 1) + word(3) + b"abc", False),
    "huge length": (S + word(32) + word(2**64) + b"abc", False),
    "offset 0: the head is the length, 0": (S + word(0) + b"x" * 32, True),
    "offset 0 and nothing else": (S + word(0), True),
    "trailing bytes": (CANONICAL + b"trailing garbage", True),
    "empty payload": (encode_submit_batch_calldata(b""), True),
    "empty payload, no length word": (S + word(32), False),
    "selector only": (S, False),
    "short selector": (S[:3], False),
    "nothing": (b"", False),
    "another selector": (b"\x12\x34\x56\x78" + CANONICAL[4:], False),
    "head one byte short": (S + word(32)[:31], False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_named_cases_agree_with_solidity(w3: Web3, harness: Contract, name: str) -> None:
    calldata, accepted = CASES[name]
    theirs = solidity(w3, harness, calldata)
    assert python(calldata) == theirs
    assert (theirs is not None) == accepted, "the case's expectation is wrong"
    if name in ("canonical", "non-zero padding", "missing padding", "trailing bytes"):
        assert decode_submit_batch_calldata(calldata) == PAYLOAD


def _mutate(base: bytes, edits: list[tuple[int, int]], cut: int, extra: bytes) -> bytes:
    data = bytearray(base)
    for position, value in edits:
        if data:
            data[position % len(data)] = value
    return bytes(data[: max(0, len(data) - cut)]) + extra


interesting_words = st.sampled_from(
    [0, 1, 31, 32, 33, 63, 64, 96, 2**64 - 1, 2**64, 2**255, 2**256 - 1]
)


@st.composite
def calldatas(draw: st.DrawFn) -> bytes:
    payload = draw(st.binary(max_size=100))
    base = encode_submit_batch_calldata(payload)
    kind = draw(st.sampled_from(["bytes", "words", "random", "tail"]))
    if kind == "random":
        return S + draw(st.binary(max_size=200))
    if kind == "tail":  # the payload intact; padding and trailing bytes anything (or nothing)
        return S + word(32) + word(len(payload)) + payload + draw(st.binary(max_size=70))
    if kind == "words":  # a structured rewrite of the head and the length word
        offset = draw(st.one_of(interesting_words, st.integers(0, 300)))
        length = draw(st.one_of(interesting_words, st.integers(0, 300)))
        gap = draw(st.binary(max_size=70))
        body = draw(st.binary(max_size=200))
        return S + word(offset) + gap + word(length) + body
    edits = draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4))
    cut = draw(st.integers(0, 40))
    extra = draw(st.binary(max_size=40))
    return _mutate(base, edits, cut, extra)


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(calldata=calldatas())
def test_mutations_agree_with_solidity(w3: Web3, harness: Contract, calldata: bytes) -> None:
    assert python(calldata) == solidity(w3, harness, calldata)


def test_web3_is_stricter_than_solidity(w3: Web3, harness: Contract) -> None:
    """Why the decoder exists: web3 refuses calldata Solidity accepts (non-zero padding)."""
    calldata, _ = CASES["non-zero padding"]
    assert solidity(w3, harness, calldata) is not None
    with pytest.raises(Exception):  # noqa: B017 - any error: web3 refuses it
        harness.decode_function_input(calldata)
