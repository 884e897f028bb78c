"""Attack: a registered proposer hides a batch from the watchers with non-canonical calldata.

The contract decodes ``submitBatch(bytes)`` by following the offset word, while a watcher reads the
transaction input canonically (offset 0x20, length, payload, zero padding). Before the fix a batch
could be accepted whose bytes the watcher read differently or not at all, and a batch nobody can
read is never challenged: the fraud would finalize. Cost to the attacker: one transaction's gas.
What stops it: ``_requireCanonical`` (calldata length == 4 + 32 + 32 + ceil32(len), offset word
== 0x20, zero padding), checked before anything is stored.
"""

from __future__ import annotations

import pytest
from eth_abi.exceptions import InsufficientDataBytes
from hexbytes import HexBytes
from web3 import Web3

from tests.adversarial.kit import (
    GAS_SUBMIT,
    SUBMIT_SELECTOR,
    World,
    call_reason,
    events,
    failed,
    make_world,
    mined_reason,
    ok,
    receipt,
)
from watchtower.l1.rollup import RollupClient


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def padding(n: int) -> bytes:
    return b"\x00" * (-n % 32)


def canonical(payload: bytes) -> bytes:
    return SUBMIT_SELECTOR + word(0x20) + word(len(payload)) + payload + padding(len(payload))


def raw_submit(world: World, calldata: bytes) -> HexBytes:
    """Sends `calldata` to the rollup from the proposer's key, unmodified."""
    return world.proposer.send(world.address, calldata, gas=GAS_SUBMIT)


def non_canonical(payload: bytes) -> list[tuple[str, bytes, str | None]]:
    """(name, calldata, the rule that must stop it) for a payload whose length is not a multiple
    of 32. None: the compiler's ABI decoder refuses it first, with no reason string."""
    n = len(payload)
    assert n % 32 != 0
    good = canonical(payload)
    pad = len(padding(n))
    return [
        ("non-zero last padding byte", good[:-1] + b"\x01", "non-canonical calldata: padding"),
        (
            "non-zero first padding byte",
            good[:-pad] + b"\x80" + good[-pad + 1 :] if pad > 1 else good[:-1] + b"\x80",
            "non-canonical calldata: padding",
        ),
        (
            "padding left out",
            SUBMIT_SELECTOR + word(0x20) + word(n) + payload,
            "non-canonical calldata: length",
        ),
        (
            "offset 0x40, 32 junk bytes before the length",
            SUBMIT_SELECTOR + word(0x40) + b"\xee" * 32 + word(n) + payload + padding(n),
            "non-canonical calldata: length",
        ),
        (
            # the size is canonical, only the offset rule is left to stop it: the contract would
            # read the payload one byte further on than a watcher reading at 0x20
            "offset 0x21, the batch shifted by one byte",
            SUBMIT_SELECTOR + word(0x21) + b"\x00" + word(n) + payload + b"\x00" * (pad - 1),
            "non-canonical calldata: offset",
        ),
        ("trailing extra word", good + word(0), "non-canonical calldata: length"),
        ("trailing junk word", good + b"\xff" * 32, "non-canonical calldata: length"),
        (
            "length word 32 larger, 31 bytes appended",
            SUBMIT_SELECTOR + word(0x20) + word(n + 32) + payload + padding(n) + b"\x00" * 31,
            "non-canonical calldata: length",
        ),
        (
            # it would read past the end of the calldata: the decoder's bound check
            "length word larger than the calldata",
            SUBMIT_SELECTOR + word(0x20) + word(n + pad + 1) + payload + padding(n),
            None,
        ),
        (
            # the canonical encoding of payload || 00: not hidden from anyone; the batch
            # encoding rejects the extra byte
            "length word 1 larger, inside the padding",
            SUBMIT_SELECTOR + word(0x20) + word(n + 1) + payload + padding(n),
            "malformed batch: trailing bytes",
        ),
    ]


def assert_refused(world: World, calldata: bytes, rule: str | None) -> HexBytes:
    before = world.next_index()
    tx_hash = raw_submit(world, calldata)
    if rule is None:
        rcpt = receipt(world.w3, tx_hash)
        assert rcpt["status"] == 0
        assert mined_reason(world.w3, tx_hash) is None  # reverted without a reason string
    else:
        failed(world.w3, tx_hash, rule)
        reason = call_reason(world.w3, world.proposer.address, world.address, calldata)
        assert reason is not None and rule in reason, reason
    assert world.next_index() == before
    assert world.batch_status(before) == 0  # None: nothing stored
    assert world.free_bond() >= world.fn.proposerBond().call()  # nothing locked
    return tx_hash


def test_non_canonical_submit_batch_calldata_is_refused(w3: Web3) -> None:
    world = make_world(w3)
    # the batch a fraudulent proposer wants to hide: its last step claims a wrong root, chosen
    # to end in a zero byte, so that the one-byte shift below also passes the padding rule
    batch = world.build(2, wrong=(1,))
    tx, root = batch.steps[1]
    batch.steps[1] = (tx, root[:31] + b"\x00")
    payload = batch.data
    assert len(payload) % 32 not in (0, 31)  # room for a one-byte shift into the padding
    watcher = RollupClient(w3, world.address)
    for name, calldata, rule in non_canonical(payload):
        try:
            tx_hash = assert_refused(world, calldata, rule)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
        if "shifted" in name:
            # what the contract would have accepted without the offset rule, a strict ABI
            # decoder (web3's) cannot read at all: the fraud in it would never be challenged.
            # The watcher now reads it as Solidity does (tests/contracts/
            # test_calldata_differential.py): the bytes the length word and offset point at.
            with pytest.raises(InsufficientDataBytes):
                world.rollup.decode_function_input(calldata)
            offset = int.from_bytes(calldata[4:36], "big")
            length = int.from_bytes(calldata[4 + offset : 36 + offset], "big")
            start = 36 + offset
            assert watcher.batch_calldata(bytes(tx_hash)) == calldata[start : start + length]
    # the canonical encoding of the same batch is accepted, and a watcher reads exactly it
    tx_hash = raw_submit(world, canonical(payload))
    rcpt = ok(w3, tx_hash)
    (event,) = events(world, "BatchSubmitted", rcpt)
    assert event["args"]["index"] == 0 and bytes(event["args"]["finalRoot"]) == batch.final_root
    assert world.next_index() == 1
    assert watcher.batch_calldata(bytes(tx_hash)) == payload


@pytest.mark.parametrize("tx_len", [15, 47])
def test_batch_of_a_multiple_of_32_bytes_needs_no_padding(w3: Web3, tx_len: int) -> None:
    """A payload of 96 or 128 bytes: no padding at all is canonical; a zero word appended is
    not."""
    world = make_world(w3)
    root = world.tip_root()
    # one undecodable transaction (a no-op step): 45 + 4 + tx_len + 32 bytes
    payload = bytes([1]) + (0).to_bytes(8, "big") + root + (1).to_bytes(4, "big")
    payload += tx_len.to_bytes(4, "big") + b"\x01" * tx_len + root
    assert len(payload) % 32 == 0
    calldata = canonical(payload)
    assert len(calldata) == 4 + 64 + len(payload)
    assert_refused(world, calldata + word(0), "non-canonical calldata: length")
    assert_refused(world, calldata[:-1], None)  # the last byte cut: the decoder's bound check
    ok(w3, raw_submit(world, calldata))
    assert world.next_index() == 1 and world.batch_status(0) == 1
