"""Read the ``batchData`` argument of a ``submitBatch(bytes)`` call exactly as Solidity does.

A watcher must accept every calldata the contract accepted: if the contract took a batch, its
bytes are what ``abi.decode`` gave the contract, and refusing to read them would let the batch
finalize unchallenged. web3's decoder is stricter than Solidity's (it refuses non-zero padding,
missing padding, and an offset other than 0x20), so this module mirrors the decoder solc 0.8
generates for an external function with one ``bytes calldata`` parameter
(``abi_decode_tuple_t_bytes_calldata_ptr`` / ``abi_decode_t_bytes_calldata_ptr``), rule for rule:

1. at least 4 bytes, and the first 4 are the selector of ``submitBatch(bytes)``;
2. at least 32 bytes after the selector (the head);
3. the head word (the payload's offset, relative to the byte after the selector) is at most
   ``2**64 - 1``;
4. the length word is inside the calldata: ``4 + offset + 32 <= len(calldata)``;
5. the length is at most ``2**64 - 1``;
6. the payload is inside the calldata: ``4 + offset + 32 + length <= len(calldata)``.

Anything else is accepted as Solidity accepts it: padding bytes after the payload are never read
(non-zero or missing), bytes between the head and the offset are ignored, and so are bytes after
the payload. ``tests/contracts/test_calldata_differential.py`` holds this to the compiled decoder.
"""

from __future__ import annotations

from eth_hash.auto import keccak

from watchtower.errors import InputError

SUBMIT_BATCH_SIGNATURE = "submitBatch(bytes)"
SUBMIT_BATCH_SELECTOR = keccak(SUBMIT_BATCH_SIGNATURE.encode())[:4]
_U64_MAX = 2**64 - 1


class CalldataError(InputError):
    """Transaction input that Solidity's ABI decoder would refuse for ``submitBatch(bytes)``.

    ``calldata`` is the whole input as read (kept as evidence)."""

    def __init__(self, problem: str, calldata: bytes) -> None:
        self.problem = problem
        self.calldata = calldata
        super().__init__(f"submitBatch calldata ({len(calldata)} bytes): {problem}")


def _word(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 32], "big")


def decode_submit_batch_calldata(calldata: bytes) -> bytes:
    """The ``bytes`` argument of a ``submitBatch(bytes)`` call; :class:`CalldataError` where
    Solidity 0.8's decoder reverts (the rules are in the module docstring)."""
    data = bytes(calldata)
    size = len(data)
    if size < 4:
        raise CalldataError("shorter than a function selector", data)
    if data[:4] != SUBMIT_BATCH_SELECTOR:
        raise CalldataError(
            f"selector 0x{data[:4].hex()} is not {SUBMIT_BATCH_SIGNATURE} "
            f"(0x{SUBMIT_BATCH_SELECTOR.hex()})",
            data,
        )
    head = 4
    if size - head < 32:
        raise CalldataError("no 32-byte head after the selector", data)
    offset = _word(data, head)
    if offset > _U64_MAX:
        raise CalldataError(f"offset {offset:#x} does not fit in 64 bits", data)
    length_at = head + offset
    if length_at + 32 > size:
        raise CalldataError(f"offset {offset:#x}: the length word is past the end", data)
    length = _word(data, length_at)
    if length > _U64_MAX:
        raise CalldataError(f"length {length:#x} does not fit in 64 bits", data)
    start = length_at + 32
    if start + length > size:
        raise CalldataError(
            f"payload of {length} bytes at {start} runs past the end ({size} bytes)", data
        )
    return data[start : start + length]


def encode_submit_batch_calldata(payload: bytes) -> bytes:
    """The canonical encoding (offset 0x20, length, payload zero-padded to 32 bytes)."""
    padding = b"\0" * (-len(payload) % 32)
    return (
        SUBMIT_BATCH_SELECTOR
        + (32).to_bytes(32, "big")
        + len(payload).to_bytes(32, "big")
        + payload
        + padding
    )
