"""Attack: arithmetic at the extremes of time and money.

A deployer (or a proposer choosing its moment) could pick parameters that make
``block.timestamp + challengePeriod`` wrap when stored as uint64 — a deadline in the past makes a
fraudulent batch unchallengeable and finalizable at once — or amounts whose sums overflow.
Cost: nothing but a deployment or a transaction. What stops it: constructor bounds (period
10 s .. 365 days, stakes and bonds <= 1e24, bond >= 2, chain id and base fee 1 .. 2^64-1) and the
deadline computed in uint256 and checked <= 2^64-1 before anything is stored. The block
timestamps here are moved by ``evm_setNextBlockTimestamp`` on a node of the test's own.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3

from tests.adversarial.kit import (
    BOND,
    GAS_CHALLENGE,
    STAKE,
    Actor,
    call_reason,
    deploy_rollup,
    events,
    failed,
    make_world,
    mine,
    ok,
    rpc,
)
from tests.contracts.test_rollup import BASE_FEE, CHAIN_ID
from watchtower.rollup.artifacts import load_artifact

YEAR = 365 * 86400
U64 = 2**64 - 1
MAX_AMOUNT = 10**24
ZERO = b"\x00" * 32


def test_deadline_beyond_uint64_is_refused_and_nothing_is_stored(fresh_w3: Web3) -> None:
    w3 = fresh_w3
    world = make_world(w3, proposer_bond_deposit=2 * BOND, period=YEAR)
    assert world.fn.challengePeriod().call() == world.fn.MAX_CHALLENGE_PERIOD().call() == YEAR
    last_ok = U64 - YEAR  # timestamp + period == 2^64 - 1 exactly
    batch = world.build(1, wrong=(0,))
    snapshot = rpc(w3, "evm_snapshot")

    # one second later the deadline would be 2^64: refused, nothing stored, no bond locked
    rpc(w3, "evm_setNextBlockTimestamp", last_ok + 1)
    rcpt = failed(w3, world.submit(batch), "Rollup: deadline out of range")
    assert w3.eth.get_block(rcpt["blockNumber"])["timestamp"] == last_ok + 1
    assert world.next_index() == 0 and world.batch_status(0) == 0
    assert world.fn.getBatch(0).call()[7] == 0  # no deadline stored
    assert world.free_bond() == 2 * BOND  # nothing locked
    rpc(w3, "evm_revert", snapshot)

    # at the last second the deadline is exactly 2^64 - 1
    rpc(w3, "evm_setNextBlockTimestamp", last_ok)
    rcpt = ok(w3, world.submit(batch))
    (event,) = events(world, "BatchSubmitted", rcpt)
    assert event["args"]["timestamp"] == last_ok
    assert event["args"]["deadline"] == last_ok + YEAR == U64
    assert world.fn.getBatch(0).call()[7] == U64
    # the next batch, a second later, is refused and leaves batch 0 the tip
    rpc(w3, "evm_setNextBlockTimestamp", last_ok + 1)
    follow = world.build(1)
    failed(w3, world.submit(follow), "Rollup: deadline out of range")
    assert world.next_index() == 1 and world.batch_status(1) == 0

    # the batch stays challengeable to the end of time (and can never be finalized)
    honest = Actor(w3, "honest")
    salt = keccak(b"salt")
    ok(w3, honest.send(world.address, world.commit_data(honest, 0, 0, salt)))
    reason = call_reason(w3, honest.address, world.address, world.data("finalize", 0))
    assert reason is not None and "challenge period not over" in reason
    ok(w3, honest.send(world.address, world.proof(batch, 0, salt), value=STAKE, gas=GAS_CHALLENGE))
    assert world.next_index() == 0
    assert world.owed(honest) == STAKE + BOND // 2


def test_largest_bond_and_stake_are_paid_without_overflow(w3: Web3) -> None:
    world = make_world(w3, proposer_bond_deposit=MAX_AMOUNT, bond=MAX_AMOUNT, min_stake=MAX_AMOUNT)
    batch = world.build(2, wrong=(1,))
    ok(w3, world.submit(batch))
    assert world.free_bond() == 0 and world.batch_bond(0) == MAX_AMOUNT
    honest = Actor(w3, "honest", balance=3 * MAX_AMOUNT)
    salt = keccak(b"salt")
    ok(w3, honest.send(world.address, world.commit_data(honest, 0, 1, salt)))
    mine(w3)
    failed(
        w3,
        honest.send(
            world.address, world.proof(batch, 1, salt), value=MAX_AMOUNT - 1, gas=GAS_CHALLENGE
        ),
        "stake below minStake",
    )
    proof = world.proof(batch, 1, salt)
    ok(w3, honest.send(world.address, proof, value=MAX_AMOUNT, gas=GAS_CHALLENGE))
    assert world.owed(honest) == MAX_AMOUNT + MAX_AMOUNT // 2
    assert world.burned() == MAX_AMOUNT // 2


def deploy_call(w3: Web3, args: tuple[Any, ...]) -> str | None:
    """The revert reason of a deployment with `args` (init code + ABI-encoded arguments)."""
    init = HexBytes(load_artifact("Rollup")["bytecode"])
    data = init + abi_encode(["uint256"] * 5 + ["bytes32"], list(args))
    try:
        w3.eth.call({"from": w3.eth.accounts[0], "data": data})
    except Exception as exc:  # ContractLogicError with the reason
        return str(exc)
    return None


def params(**kw: int) -> tuple[Any, ...]:
    p = {"period": 0, "stake": 0, "bond": 2, "chain": CHAIN_ID, "fee": BASE_FEE} | kw
    return (p["period"], p["stake"], p["bond"], p["chain"], p["fee"], ZERO)


INSIDE = [
    (params(period=10), {"challengePeriod": 10}),
    (params(period=YEAR), {"challengePeriod": YEAR}),
    (params(period=0), {"challengePeriod": 7 * 86400}),
    (params(stake=MAX_AMOUNT), {"minStake": MAX_AMOUNT}),
    (params(stake=1), {"minStake": 1}),
    (params(stake=0), {"minStake": 10**18}),
    (params(bond=2), {"proposerBond": 2}),
    (params(bond=MAX_AMOUNT), {"proposerBond": MAX_AMOUNT}),
    (params(chain=1, fee=1), {"l2ChainId": 1, "l2BaseFee": 1}),
    (params(chain=U64, fee=U64), {"l2ChainId": U64, "l2BaseFee": U64}),
]

OUTSIDE = [
    (params(period=9), "challengePeriod out of range"),
    (params(period=1), "challengePeriod out of range"),
    (params(period=YEAR + 1), "challengePeriod out of range"),
    (params(period=2**64 - 1), "challengePeriod out of range"),
    (params(stake=MAX_AMOUNT + 1), "minStake above MAX_AMOUNT"),
    (params(stake=2**256 - 1), "minStake above MAX_AMOUNT"),
    (params(bond=0), "proposerBond out of range"),
    (params(bond=1), "proposerBond out of range"),
    (params(bond=MAX_AMOUNT + 1), "proposerBond out of range"),
    (params(bond=2**256 - 1), "proposerBond out of range"),
    (params(chain=0), "l2ChainId out of range"),
    (params(chain=2**64), "l2ChainId out of range"),
    (params(chain=2**256 - 1), "l2ChainId out of range"),
    (params(fee=0), "l2BaseFee out of range"),
    (params(fee=2**64), "l2BaseFee out of range"),
    (params(fee=2**256 - 1), "l2BaseFee out of range"),
]


@pytest.mark.parametrize(("args", "expected"), INSIDE, ids=lambda v: str(v)[:40])
def test_constructor_accepts_each_bound_exactly(
    w3: Web3, args: tuple[Any, ...], expected: dict[str, int]
) -> None:
    rollup = deploy_rollup(
        w3,
        ZERO,
        period=args[0],
        min_stake=args[1],
        bond=args[2],
        chain_id=args[3],
        base_fee=args[4],
    )
    for getter, value in expected.items():
        assert getattr(rollup.functions, getter)().call() == value


@pytest.mark.parametrize(("args", "message"), OUTSIDE, ids=lambda v: str(v)[:40])
def test_constructor_refuses_one_past_each_bound(
    w3: Web3, args: tuple[Any, ...], message: str
) -> None:
    reason = deploy_call(w3, args)
    assert reason is not None and message in reason, reason
