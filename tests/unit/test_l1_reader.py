"""``Web3L1Reader``, the JSON-RPC implementation of the L1 reader port, over a stub provider:
logs become domain values, a refused range becomes :class:`LogRangeTooLargeError`, a missing
block ``None``, a log that does not decode the endpoint's fault."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.providers.base import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from watchtower.l1.reader import (
    BatchesRejected,
    DepositQueued,
    DisagreementError,
    L1Reader,
    LogRangeTooLargeError,
    Web3L1Reader,
    WithdrawalClaimed,
)
from watchtower.l1.rollup import BatchSubmitted, RollupClient

ROLLUP = "0x" + "ab" * 20
SUBMITTED = Web3.keccak(
    text="BatchSubmitted(uint256,address,bytes32,bytes32,bytes32,uint32,address,uint64,uint64)"
)
REJECTED = Web3.keccak(text="BatchesRejected(uint256,uint256,bytes32)")


def word(value: int | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.to_bytes(32, "big")
    return "0x" + raw.rjust(32, b"\0").hex()


def log(block: int, index: int, topics: list[str], data: bytes) -> dict[str, Any]:
    return {
        "address": Web3.to_checksum_address(ROLLUP),
        "blockNumber": hex(block),
        "blockHash": word(bytes([block]) * 32),
        "logIndex": hex(index),
        "transactionHash": word(bytes([block, index]) * 16),
        "transactionIndex": "0x0",
        "topics": topics,
        "data": "0x" + data.hex(),
        "removed": False,
    }


SUBMITTED_LOG = log(
    7,
    2,
    [SUBMITTED.to_0x_hex(), word(5), word(b"\x00" * 12 + b"\xcd" * 20)],
    abi_encode(
        ["bytes32", "bytes32", "bytes32", "uint32", "address", "uint64", "uint64"],
        [b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 4, "0x" + "c0" * 20, 1000, 2000],
    ),
)
REJECTED_LOG = log(
    7, 1, [REJECTED.to_0x_hex(), word(3)], abi_encode(["uint256", "bytes32"], [6, b"\x04" * 32])
)
FOREIGN_LOG = log(6, 0, [word(b"\x99" * 32)], b"")


class Stub(BaseProvider):
    """Answers from ``answers`` (method -> result, or an error dict under ``"error"``)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__()
        self.answers = answers
        self.endpoint_uri = "https://node.example:8545/v2/SECRET"

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        answer = self.answers[method]
        if callable(answer):
            answer = answer(params)
        if isinstance(answer, dict) and "error" in answer:
            return {"jsonrpc": "2.0", "id": 1, "error": answer["error"]}
        return {"jsonrpc": "2.0", "id": 1, "result": answer}


def reader(**answers: Any) -> Web3L1Reader:
    w3 = Web3(Stub(answers))
    return Web3L1Reader(RollupClient(w3, ROLLUP))


def test_logs_are_domain_values_in_chain_order() -> None:
    l1: L1Reader = reader(eth_getLogs=[SUBMITTED_LOG, FOREIGN_LOG, REJECTED_LOG])
    rejected, submitted = l1.rollup_logs(6, 7)
    assert rejected == BatchesRejected(3, 6, 7, bytes([7]) * 32, 1, bytes([7, 1]) * 16)
    assert isinstance(submitted, BatchSubmitted)
    assert (submitted.index, submitted.count, submitted.timestamp, submitted.deadline) == (
        5,
        4,
        1000,
        2000,
    )
    assert (submitted.prev_root, submitted.final_root, submitted.steps_root) == (
        b"\x01" * 32,
        b"\x02" * 32,
        b"\x03" * 32,
    )
    assert submitted.coinbase == b"\xc0" * 20
    assert (submitted.block_number, submitted.log_index) == (7, 2)
    assert submitted.tx_hash == bytes([7, 2]) * 16
    assert l1.label == "node.example:8545"  # never the path (API keys)


def test_a_refused_range_is_a_range_error_and_a_refused_block_is_not() -> None:
    refusal = {"error": {"code": -32005, "message": "query returned more than 10000 results"}}
    l1 = reader(eth_getLogs=refusal)
    with pytest.raises(LogRangeTooLargeError, match=r"blocks 1\.\.50 refused"):
        l1.rollup_logs(1, 50)
    with pytest.raises(Web3RPCError):
        l1.rollup_logs(9, 9)
    other = reader(eth_getLogs={"error": {"code": -32000, "message": "header not found"}})
    with pytest.raises(Web3RPCError):
        other.rollup_logs(1, 50)


def test_a_rollup_log_that_does_not_decode_is_a_disagreement() -> None:
    broken = dict(SUBMITTED_LOG, data="0x1234")
    with pytest.raises(DisagreementError, match="log 2 of block 7 does not decode as BatchSub"):
        reader(eth_getLogs=[broken]).rollup_logs(7, 7)


def test_blocks_heads_and_time() -> None:
    block = {
        "number": "0x2a",
        "hash": word(b"\x2a" * 32),
        "parentHash": word(0),
        "timestamp": "0x64",
    }
    l1 = reader(
        eth_blockNumber="0x2b",
        eth_getBlockByNumber=lambda params: None if params[0] == "0x63" else block,
        eth_chainId="0x7a69",
    )
    assert l1.head() == 43
    assert l1.block_hash(42) == b"\x2a" * 32
    assert l1.block_hash(99) is None
    assert l1.tagged_block("safe") == 42
    assert l1.l1_time() == 100
    assert l1.chain_id() == 31337
    assert l1.address == Web3.to_checksum_address(ROLLUP)


DEPOSITED = Web3.keccak(text="DepositQueued(uint256,address,address,uint256,uint64)")
CLAIMED = Web3.keccak(text="WithdrawalClaimed(uint256,uint256,address,uint256)")


def address_word(byte: int) -> str:
    return word(b"\x00" * 12 + bytes([byte]) * 20)


def test_the_bridge_events_are_domain_values() -> None:
    deposited = log(
        8,
        0,
        [DEPOSITED.to_0x_hex(), word(4), address_word(0xA1), address_word(0xB2)],
        abi_encode(["uint256", "uint64"], [10**18 + 1, 1_700_000_123]),
    )
    claimed = log(
        9,
        3,
        [CLAIMED.to_0x_hex(), word(2), word(5), address_word(0xC3)],
        abi_encode(["uint256"], [7 * 10**17]),
    )
    queued, paid = reader(eth_getLogs=[claimed, deposited]).rollup_logs(8, 9)
    assert queued == DepositQueued(
        4,
        b"\xa1" * 20,
        b"\xb2" * 20,
        10**18 + 1,
        1_700_000_123,
        8,
        bytes([8]) * 32,
        0,
        bytes([8, 0]) * 16,
    )
    assert queued.deposit().l1_timestamp == 1_700_000_123 and queued.deposit().l1_block == 8
    assert paid == WithdrawalClaimed(
        2, 5, b"\xc3" * 20, 7 * 10**17, 9, bytes([9]) * 32, 3, bytes([9, 3]) * 16
    )
    broken = log(8, 1, [DEPOSITED.to_0x_hex(), word(4)], b"\x01")
    with pytest.raises(DisagreementError, match="does not decode as DepositQueued"):
        reader(eth_getLogs=[broken]).rollup_logs(8, 8)
