"""Hostile batch bytes against a transcription of the batch encoding (protocol.md §4.1).

Batches are generated valid and then corrupted where a malicious or broken proposer would: the
version byte, the step count (0, above ``MAX_STEPS``, more or fewer than the steps present, up to
``2^32 - 1``), a step's declared length (above ``MAX_TX_BYTES``, up to ``2^32 - 1``, one too many
or too few), truncation inside every region (header, length field, transaction, root), and
trailing bytes. ``decode_batch`` must decide exactly as the reference does: the same steps, or
:class:`MalformedBatchError` with one line naming the same problem and an offset inside the
input. Pathological declared lengths must not allocate or loop (each test has a time limit).

The long variant (≥ 10,000 cases over all fuzz targets) is in ``test_fuzz_long.py``.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchtower.errors import MalformedBatchError
from watchtower.rollup.codec import decode_batch, encode_batch
from watchtower.rollup.params import MAX_STEPS, MAX_TX_BYTES
from watchtower.rollup.types import Step

HEADER = 45  # version 1 + index 8 + prev_root 32 + count 4

# ---------------------------------------------------------------------------------------------
# The reference: §4.1 read top to bottom.


@dataclass(frozen=True)
class Decoded:
    index: int
    prev_root: bytes
    steps: tuple[Step, ...]


# The problem a malformed batch has, and a fragment of the one-line message that must name it.
PROBLEMS = {
    "short": "shorter than the header",
    "version": "version",
    "count": "step count",
    "tx_len": "tx length",
    "past_end": "past the end",
    "trailing": "trailing bytes",
}


def reference_decode(data: bytes) -> Decoded | str:
    """The decoded batch, or the name of its problem (a key of ``PROBLEMS``)."""
    if len(data) < HEADER:
        return "short"
    if data[0] != 1:
        return "version"
    index = int.from_bytes(data[1:9], "big")
    prev_root = data[9:41]
    count = int.from_bytes(data[41:45], "big")
    if not 1 <= count <= MAX_STEPS:
        return "count"
    position, steps = HEADER, []
    for _ in range(count):
        if position + 4 > len(data):
            return "past_end"
        length = int.from_bytes(data[position : position + 4], "big")
        if length > MAX_TX_BYTES:
            return "tx_len"
        tx_start = position + 4
        if tx_start + length + 32 > len(data):
            return "past_end"
        root_start = tx_start + length
        steps.append(Step(data[tx_start:root_start], data[root_start : root_start + 32]))
        position = root_start + 32
    if position != len(data):
        return "trailing"
    return Decoded(index, prev_root, tuple(steps))


def check_decoder(data: bytes) -> Decoded | str:
    """The property: ``decode_batch`` agrees with the reference and raises nothing else."""
    expected = reference_decode(data)
    if isinstance(expected, Decoded):
        got = decode_batch(data)
        assert (got.index, got.prev_root, got.steps) == (
            expected.index,
            expected.prev_root,
            expected.steps,
        )
        return expected
    with pytest.raises(MalformedBatchError) as info:
        decode_batch(data)
    message = str(info.value)
    assert "\n" not in message and message.startswith("malformed batch at byte ")
    assert PROBLEMS[expected] in message, (expected, message)
    assert 0 <= info.value.offset <= len(data)
    return expected


# ---------------------------------------------------------------------------------------------
# Near-valid batches, then one corruption.

tx_bodies = st.one_of(
    st.binary(max_size=48),
    st.just(b""),
    st.just(b"\xab" * MAX_TX_BYTES),
    st.binary(min_size=1, max_size=8).map(lambda b: b * 40),
)
roots = st.binary(min_size=32, max_size=32)
steps = st.builds(Step, tx=tx_bodies, root=roots)

CORRUPTIONS = [
    "none",
    "version",
    "count",
    "tx_len",
    "truncate_header",
    "truncate_length",
    "truncate_tx",
    "truncate_root",
    "trailing",
]


@dataclass(frozen=True)
class Layout:
    """Where each step's length field starts in an encoded batch."""

    data: bytes
    length_at: tuple[int, ...]


def layout(index: int, prev_root: bytes, batch_steps: list[Step]) -> Layout:
    data = encode_batch(index, prev_root, batch_steps)
    offsets, position = [], HEADER
    for step in batch_steps:
        offsets.append(position)
        position += 4 + len(step.tx) + 32
    assert position == len(data)
    return Layout(data, tuple(offsets))


def _set_u32(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + struct.pack(">I", value) + data[at + 4 :]


@st.composite
def hostile_batches(draw: st.DrawFn) -> bytes:
    batch_steps = draw(st.lists(steps, min_size=1, max_size=6))
    encoded = layout(draw(st.integers(0, 2**64 - 1)), draw(roots), batch_steps)
    return draw(corrupt_batch(encoded, batch_steps))


@st.composite
def corrupt_batch(draw: st.DrawFn, encoded: Layout, batch_steps: list[Step]) -> bytes:
    data, length_at = encoded.data, encoded.length_at
    count = len(batch_steps)
    k = draw(st.integers(0, count - 1))
    kind = draw(st.sampled_from(CORRUPTIONS))
    if kind == "version":
        return bytes([draw(st.integers(0, 255).filter(lambda v: v != 1))]) + data[1:]
    if kind == "count":
        wrong = draw(
            st.sampled_from([0, MAX_STEPS + 1, 2**31, 2**32 - 1, count + 1, count + 3])
            | st.integers(max(count - 2, 0), count + 2)
        )
        return _set_u32(data, 41, wrong)
    if kind == "tx_len":
        actual = len(batch_steps[k].tx)
        wrong = draw(
            st.sampled_from([MAX_TX_BYTES + 1, 2**16, 2**31, 2**32 - 1])
            | st.integers(max(actual - 40, 0), min(actual + 40, MAX_TX_BYTES))
        )
        return _set_u32(data, length_at[k], wrong)
    if kind == "truncate_header":
        return data[: draw(st.integers(0, HEADER - 1))]
    if kind == "truncate_length":
        return data[: length_at[k] + draw(st.integers(0, 3))]
    if kind == "truncate_tx":
        return data[: length_at[k] + 4 + draw(st.integers(0, max(len(batch_steps[k].tx) - 1, 0)))]
    if kind == "truncate_root":
        return data[: length_at[k] + 4 + len(batch_steps[k].tx) + draw(st.integers(0, 31))]
    if kind == "trailing":
        return data + draw(st.binary(min_size=1, max_size=40))
    return data


# ---------------------------------------------------------------------------------------------
# Default-run properties.


@pytest.mark.timeout(120)
@given(hostile_batches())
def test_decoder_agrees_with_the_reference_on_hostile_batches(data: bytes) -> None:
    check_decoder(data)


@pytest.mark.timeout(120)
@given(st.binary(max_size=200).map(lambda b: b"\x01" + b))
def test_decoder_agrees_with_the_reference_on_random_bytes(data: bytes) -> None:
    check_decoder(data)


@pytest.mark.timeout(60)
def test_largest_batch_decodes_and_one_more_step_or_byte_is_malformed() -> None:
    """``MAX_STEPS`` transactions of ``MAX_TX_BYTES`` each (17 MB) are a valid encoding; one
    more step, or one more byte in a transaction, is malformed."""
    big = Step(tx=b"\x5a" * MAX_TX_BYTES, root=b"\x01" * 32)
    data = encode_batch(7, b"\x02" * 32, [big] * MAX_STEPS)
    decoded = decode_batch(data)
    assert len(decoded.steps) == MAX_STEPS and decoded.steps[-1] == big
    one_more = _set_u32(data, 41, MAX_STEPS + 1) + data[HEADER : HEADER + 4 + MAX_TX_BYTES + 32]
    assert check_decoder(one_more) == "count"
    longer = _set_u32(data, HEADER, MAX_TX_BYTES + 1)
    assert check_decoder(longer[: HEADER + 4] + b"\x00" + longer[HEADER + 4 :]) == "tx_len"


HEADER_OF_ONE = b"\x01" + b"\x00" * 40 + b"\x00\x00\x00\x01"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(b"\x01" + b"\x00" * 40 + b"\xff" * 4, "count", id="2^32-1 steps declared"),
        pytest.param(
            b"\x01" + b"\x00" * 40 + struct.pack(">I", MAX_STEPS), "past_end", id="no steps present"
        ),
        pytest.param(HEADER_OF_ONE + b"\xff" * 4, "tx_len", id="4 GiB transaction declared"),
        pytest.param(
            HEADER_OF_ONE + struct.pack(">I", MAX_TX_BYTES), "past_end", id="length past the end"
        ),
    ],
)
def test_huge_declared_sizes_are_refused_at_once(data: bytes, problem: str) -> None:
    """Nothing is allocated or iterated from a declared size before it is checked against the
    input: each refusal takes microseconds, not a loop over 2^32."""
    started = time.perf_counter()
    for _ in range(1000):
        assert check_decoder(data) == problem
    assert time.perf_counter() - started < 5.0
