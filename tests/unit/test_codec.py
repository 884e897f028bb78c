from __future__ import annotations

import pytest

from watchtower.errors import MalformedBatchError
from watchtower.rollup.codec import (
    decode_batch,
    encode_batch,
    step_proof,
    steps_root,
    verify_step_proof,
)
from watchtower.rollup.params import MAX_STEPS
from watchtower.rollup.types import Step

ROOT = bytes(range(32))


def _steps(n: int) -> list[Step]:
    return [Step(tx=bytes([k % 256]) * (k % 7), root=bytes([k % 256]) * 32) for k in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 17])
def test_roundtrip_and_every_step_proof(n: int) -> None:
    steps = _steps(n)
    data = encode_batch(9, ROOT, steps)
    decoded = decode_batch(data)
    assert decoded.index == 9
    assert decoded.prev_root == ROOT
    assert list(decoded.steps) == steps
    root = steps_root(steps)
    for k, step in enumerate(steps):
        proof = step_proof(steps, k)
        assert verify_step_proof(root, k, step, proof)
        # The proof binds the position, the transaction and the root.
        assert not verify_step_proof(root, (k + 1) % max(n, 2), step, proof) or n == 1
        assert not verify_step_proof(root, k, Step(step.tx + b"x", step.root), proof)
        assert not verify_step_proof(root, k, Step(step.tx, b"\xee" * 32), proof)


def test_single_step_root_is_its_leaf() -> None:
    steps = _steps(1)
    assert step_proof(steps, 0) == []
    assert verify_step_proof(steps_root(steps), 0, steps[0], [])


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: b"\x02" + d[1:], "version 2"),
        (lambda d: d[:20], "shorter than the header"),
        (lambda d: d + b"\x00", "trailing bytes"),
        (lambda d: d[:-1], "past the end"),
        (lambda d: d[:41] + (0).to_bytes(4, "big") + d[45:], "step count 0"),
        (lambda d: d[:41] + (MAX_STEPS + 1).to_bytes(4, "big") + d[45:], "outside"),
        (lambda d: d[:45] + (10**6).to_bytes(4, "big") + d[49:], "tx length"),
    ],
)
def test_malformed_batches_name_the_problem(mutate, fragment: str) -> None:  # type: ignore[no-untyped-def]
    data = encode_batch(1, ROOT, _steps(3))
    with pytest.raises(MalformedBatchError) as info:
        decode_batch(mutate(data))
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_encode_refuses_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"1\.\.4096 steps"):
        encode_batch(0, ROOT, [])
    with pytest.raises(ValueError, match="32 bytes"):
        encode_batch(0, b"\x00", _steps(1))
