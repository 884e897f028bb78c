"""Batch encoding v1 and the step commitment (docs/protocol.md §4.1, §4.2)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from eth_hash.auto import keccak

from watchtower.errors import MalformedBatchError
from watchtower.rollup.params import BATCH_VERSION, MAX_STEPS, MAX_TX_BYTES
from watchtower.rollup.types import Step

_HEADER = struct.Struct(">BQ32sI")  # version, index, prev_root, count
_U32 = struct.Struct(">I")
ZERO32 = b"\x00" * 32


@dataclass(frozen=True)
class EncodedBatch:
    """The fields of a batch that the proposer's bytes carry (the context comes from L1)."""

    index: int
    prev_root: bytes
    steps: tuple[Step, ...]


def encode_batch(index: int, prev_root: bytes, steps: tuple[Step, ...] | list[Step]) -> bytes:
    if not 1 <= len(steps) <= MAX_STEPS:
        raise ValueError(f"a batch has 1..{MAX_STEPS} steps, got {len(steps)}")
    if len(prev_root) != 32:
        raise ValueError("prev_root must be 32 bytes")
    parts = [_HEADER.pack(BATCH_VERSION, index, prev_root, len(steps))]
    for step in steps:
        if len(step.tx) > MAX_TX_BYTES:
            raise ValueError(f"transaction of {len(step.tx)} bytes exceeds MAX_TX_BYTES")
        if len(step.root) != 32:
            raise ValueError("step root must be 32 bytes")
        parts += [_U32.pack(len(step.tx)), step.tx, step.root]
    return b"".join(parts)


def decode_batch(data: bytes) -> EncodedBatch:
    """Decode batch bytes; raise :class:`MalformedBatchError` naming the offset and problem."""
    if len(data) < _HEADER.size:
        raise MalformedBatchError(len(data), f"{len(data)} bytes is shorter than the header")
    version, index, prev_root, count = _HEADER.unpack_from(data, 0)
    if version != BATCH_VERSION:
        raise MalformedBatchError(0, f"version {version} is not supported (expected 1)")
    if not 1 <= count <= MAX_STEPS:
        raise MalformedBatchError(41, f"step count {count} is outside 1..{MAX_STEPS}")
    offset = _HEADER.size
    steps = []
    for k in range(count):
        if offset + 4 > len(data):
            raise MalformedBatchError(offset, f"step {k}: length runs past the end")
        (tx_len,) = _U32.unpack_from(data, offset)
        if tx_len > MAX_TX_BYTES:
            raise MalformedBatchError(offset, f"step {k}: tx length {tx_len} > {MAX_TX_BYTES}")
        offset += 4
        end = offset + tx_len + 32
        if end > len(data):
            raise MalformedBatchError(offset, f"step {k}: transaction and root run past the end")
        steps.append(Step(tx=data[offset : offset + tx_len], root=data[offset + tx_len : end]))
        offset = end
    if offset != len(data):
        raise MalformedBatchError(
            offset, f"{len(data) - offset} trailing bytes after step {count - 1}"
        )
    return EncodedBatch(index=index, prev_root=prev_root, steps=tuple(steps))


def step_leaf(k: int, step: Step) -> bytes:
    return leaf_from_hash(k, bytes(keccak(step.tx)), step.root)


def leaf_from_hash(k: int, tx_hash: bytes, root: bytes) -> bytes:
    """``leaf_k`` from the transaction's hash (all a proof of the previous step carries)."""
    return bytes(keccak(_U32.pack(k) + tx_hash + root))


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    size = 1
    while size < len(leaves):
        size *= 2
    level = leaves + [ZERO32] * (size - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [bytes(keccak(level[i] + level[i + 1])) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def steps_root(steps: tuple[Step, ...] | list[Step]) -> bytes:
    """The Merkle root committing to every step (protocol.md §4.2)."""
    if not steps:
        raise ValueError("a batch has at least one step")
    return _levels([step_leaf(k, s) for k, s in enumerate(steps)])[-1][0]


def step_proof(steps: tuple[Step, ...] | list[Step], k: int) -> list[bytes]:
    """Sibling hashes from leaf ``k`` up to the root."""
    levels = _levels([step_leaf(i, s) for i, s in enumerate(steps)])
    proof = []
    index = k
    for level in levels[:-1]:
        proof.append(level[index ^ 1])
        index //= 2
    return proof


def verify_step_proof(root: bytes, k: int, step: Step, proof: list[bytes]) -> bool:
    return verify_leaf_proof(root, k, step_leaf(k, step), proof)


def verify_leaf_proof(root: bytes, k: int, leaf: bytes, proof: list[bytes]) -> bool:
    node = leaf
    index = k
    for sibling in proof:
        node = bytes(keccak(sibling + node if index & 1 else node + sibling))
        index //= 2
    return index == 0 and node == root
