"""The bridge (docs/protocol.md §8) for the adversarial tests: deposit steps in the independent
reference model, batches that mix deposits, transfers and withdrawals, and the raw calls an
outsider makes (``deposit``, ``claimWithdrawal``, a challenge of any step kind).

Deposit steps are applied here straight from §8.2, independently of both ``Step.sol`` and
``watchtower.execute``; every other step goes through ``contract_reference.execute``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import coincurve
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from tests.adversarial.kit import (
    ETHER,
    GAS_CHALLENGE,
    GAS_COMMIT,
    GAS_SUBMIT,
    Actor,
    Claimed,
    World,
    make_world,
    mine,
    ok,
)
from tests.contracts.contract_reference import (
    Account,
    State,
    execute,
    sign_transfer,
    state_proof,
    state_trie,
    touched,
)
from tests.contracts.test_rollup import BASE_FEE, CHAIN_ID, KEYS, USERS, genesis, witness

BRIDGE = bytes.fromhex("000000000000000000000000000000000000b41d")
DELAY = 3600
MAX_DEPOSIT = 10**24
#: What the genesis of ``genesis()`` holds: the value the constructor must be sent (§8.6).
SUPPLY = sum(a.balance for a in genesis().values())


def deposit_step(index: int, recipient: bytes, amount: int) -> bytes:
    """0x7e || BE_8(index) || recipient || BE_32(amount) (§8.2)."""
    return b"\x7e" + index.to_bytes(8, "big") + recipient + amount.to_bytes(32, "big")


def is_deposit_step(tx: bytes) -> bool:
    return len(tx) == 61 and tx[0] == 0x7E


def apply_step(state: State, tx: bytes, coinbase: bytes) -> State:
    """One step of protocol v2: a deposit step credits its recipient (§8.2); anything else is §3."""
    if is_deposit_step(tx):
        recipient, amount = tx[9:29], int.from_bytes(tx[29:61], "big")
        if amount == 0:
            return state
        post = dict(state)
        acct = post.get(recipient, Account())
        post[recipient] = replace(acct, balance=acct.balance + amount)
        return post
    return execute(state, tx, CHAIN_ID, BASE_FEE, coinbase)[2]


def step_touched(tx: bytes, coinbase: bytes) -> list[bytes]:
    if is_deposit_step(tx):
        return [tx[9:29]]
    return touched(tx, CHAIN_ID, BASE_FEE, coinbase)


class Users:
    """L2 signers (the keys of ``test_rollup``) with their next nonces."""

    def __init__(self) -> None:
        self.nonces = [0] * len(KEYS)

    def transfer(self, i: int, to: bytes, value: int) -> bytes:
        tx = sign_transfer(KEYS[i], CHAIN_ID, self.nonces[i], to, value)
        self.nonces[i] += 1
        return tx

    def withdraw(self, i: int, value: int) -> bytes:
        return self.transfer(i, BRIDGE, value)

    def unsigned_nonce_tx(self, i: int, to: bytes, value: int, nonce: int) -> bytes:
        """A transfer with an explicit nonce (the counter is not advanced): invalid if wrong."""
        return sign_transfer(KEYS[i], CHAIN_ID, nonce, to, value)


def user_key(i: int) -> coincurve.PrivateKey:
    return KEYS[i]


def bridge_world(w3: Web3, supply: int = SUPPLY, **kw: Any) -> World:
    """A rollup whose constructor was paid the genesis supply (the genesis of ``genesis()``)."""
    return make_world(w3, genesis_supply=supply, **kw)


def run(world: World, txs: list[bytes], claimed: dict[int, bytes] | None = None) -> Claimed:
    """The next batch of steps ``txs`` on the honest L2 state (which advances); the steps in
    ``claimed`` claim the given root instead of the honest one."""
    claimed = claimed or {}
    steps, pre, honest = [], [], []
    for k, tx in enumerate(txs):
        pre.append(world.l2.state)
        world.l2.state = apply_step(world.l2.state, tx, world.coinbase)
        root = state_trie(world.l2.state).root_hash
        honest.append(root)
        steps.append((tx, claimed.get(k, root)))
    index = world.next_index()
    world.honest_roots.update({(index, k): r for k, r in enumerate(honest)})
    return Claimed(index, world.tip_root(), steps, pre, sorted(claimed), honest)


def root_with(state: State, changes: dict[bytes, Account]) -> bytes:
    post = dict(state)
    post.update(changes)
    return bytes(state_trie(post).root_hash)


def deposit(world: World, who: Actor, recipient: bytes, amount: int, **kw: Any) -> HexBytes:
    return who.send(
        world.address,
        world.data("deposit", to_checksum_address(recipient)),
        value=amount,
        **kw,
    )


def queued(world: World, index: int) -> tuple[bytes, int, int]:
    recipient, amount, ts = world.fn.queuedDeposit(index).call()
    return bytes.fromhex(str(recipient)[2:]), int(amount), int(ts)


def claim_data(world: World, batch: Claimed, k: int, index: int | None = None) -> bytes:
    return world.data(
        "claimWithdrawal", batch.index if index is None else index, k, witness(batch.steps, k)
    )


def claim(world: World, who: Actor, batch: Claimed, k: int) -> HexBytes:
    return who.send(world.address, claim_data(world, batch, k), gas=GAS_SUBMIT)


def challenge(world: World, who: Actor, batch: Claimed, k: int) -> HexBytes:
    """Commit (mined) then reveal a challenge of step ``k`` with its honest post-root; returns the
    reveal's hash."""
    salt = os.urandom(32)
    ok(
        world.w3,
        who.send(world.address, world.commit_data(who, batch.index, k, salt), gas=GAS_COMMIT),
    )
    mine(world.w3)
    nodes = state_proof(batch.pre[k], step_touched(batch.steps[k][0], world.coinbase))
    data = world.data("challenge", batch.index, k, witness(batch.steps, k), nodes, salt)
    return who.send(world.address, data, value=ETHER, gas=GAS_CHALLENGE)


def l1_account_of(i: int, w3: Web3, balance: int = 10 * ETHER) -> Actor:
    """An L1 actor with the key of L2 user ``i`` (a withdrawal is paid to the same address)."""
    actor = Actor(w3, f"user{i}", balance=balance)
    from eth_account import Account as EthAccount

    actor.account = EthAccount.from_key(KEYS[i].secret)
    actor.address = actor.account.address
    assert bytes.fromhex(actor.address[2:]) == USERS[i]
    w3.provider.make_request("anvil_setBalance", [actor.address, hex(balance)])  # type: ignore[arg-type]
    return actor


def keccak_root(label: str) -> bytes:
    return bytes(keccak(label.encode()))
