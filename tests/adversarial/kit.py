"""The adversary's toolkit: funded keys of its own, raw signed transactions with explicit nonce,
tip and gas, manual mining, the mempool as a bot reads it, and revert reasons of mined
transactions (anvil's ``debug_traceTransaction`` call tracer).

Nothing here goes through the project's proposer, challenger or ``RollupClient``: the contract
is driven the way an outsider would drive it. The batches and fraud proofs themselves are built
with the independent reference of tests/contracts (``contract_reference`` and the ``L2`` model).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import EventLogErrorFlags

from tests.contracts.contract_reference import (
    State,
    encode_batch,
    state_proof,
    state_trie,
    touched,
)
from tests.contracts.test_rollup import BASE_FEE, CHAIN_ID, L2, genesis, transfers, witness
from watchtower.rollup.artifacts import load_artifact

GWEI = 10**9
ETHER = 10**18
#: A fee cap far above anvil's base fee. Anvil orders its pool by the fee cap (then by arrival),
#: so a front-runner raises both the cap and the tip.
MAX_FEE = 500 * GWEI
#: Explicit gas limits (nothing is estimated: a reveal cannot be estimated before its commit).
GAS_SUBMIT = 2_000_000
GAS_COMMIT = 100_000
GAS_CHALLENGE = 6_000_000
GAS_SMALL = 200_000

#: An odd bond, so that "half to the challenger, the rest burned" is checked to the wei.
BOND = 2 * ETHER + 1
STAKE = ETHER
PERIOD = 600
SUBMIT_SELECTOR = keccak(b"submitBatch(bytes)")[:4]

_labels = itertools.count()


class Actor:
    """An externally owned account with a private key of its own, funded by ``anvil_setBalance``
    with exactly ``balance`` wei (so that balances can be accounted for to the wei)."""

    def __init__(self, w3: Web3, label: str, balance: int = 1_000 * ETHER) -> None:
        self.w3 = w3
        self.label = label
        seed = f"watchtower adversarial {label} {next(_labels)}".encode()
        self.account: LocalAccount = EthAccount.from_key(keccak(seed))
        self.address = self.account.address
        w3.provider.make_request("anvil_setBalance", [self.address, hex(balance)])  # type: ignore[arg-type]

    def balance(self) -> int:
        return int(self.w3.eth.get_balance(self.address))

    def nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.address, "pending"))

    def send(
        self,
        to: str,
        data: bytes,
        *,
        value: int = 0,
        gas: int = GAS_SMALL,
        tip: int = GWEI,
        max_fee: int = MAX_FEE,
        nonce: int | None = None,
    ) -> HexBytes:
        """Signs and sends a type-2 transaction; returns its hash (mined only if automine is on)."""
        tx = {
            "type": 2,
            "chainId": self.w3.eth.chain_id,
            "nonce": self.nonce() if nonce is None else nonce,
            "to": to_checksum_address(to),
            "value": value,
            "data": HexBytes(data),
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
        }
        signed = self.account.sign_transaction(tx)
        return HexBytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response.get("result")


def mine(w3: Web3) -> int:
    """Mines one block (with whatever is in the pool); returns its number."""
    rpc(w3, "evm_mine")
    return int(w3.eth.block_number)


@contextmanager
def manual_mining(w3: Web3) -> Iterator[None]:
    """Automine off for the block; on again (and the pool mined) whatever happens."""
    rpc(w3, "evm_setAutomine", False)
    try:
        yield
    finally:
        rpc(w3, "evm_setAutomine", True)
        rpc(w3, "evm_mine")


def receipt(w3: Web3, tx_hash: HexBytes) -> Any:
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)


def fee(rcpt: Any) -> int:
    return int(rcpt["gasUsed"]) * int(rcpt["effectiveGasPrice"])


def mined_reason(w3: Web3, tx_hash: HexBytes) -> str | None:
    """The revert reason of a mined transaction, replayed in its block by anvil's tracer."""
    trace = rpc(w3, "debug_traceTransaction", tx_hash.to_0x_hex(), {"tracer": "callTracer"})
    reason = trace.get("revertReason")
    return None if reason is None else str(reason)


def call_reason(w3: Web3, sender: str, to: str, data: bytes, value: int = 0) -> str | None:
    """The revert reason ``eth_call`` gives for a transaction (None if it would succeed)."""
    try:
        w3.eth.call(
            {"from": sender, "to": to_checksum_address(to), "data": HexBytes(data), "value": value}
        )
    except ContractLogicError as exc:
        return str(exc.message or exc)
    return None


def commitment(challenger: str, index: int, step: int, post_root: bytes, salt: bytes) -> bytes:
    """``challengeCommitment`` computed off-chain, as an adversary would; ``post_root`` is the
    root the step really produces."""
    return keccak(
        abi_encode(
            ["address", "uint256", "uint256", "bytes32", "bytes32"],
            [challenger, index, step, post_root, salt],
        )
    )


def deploy_rollup(
    w3: Web3,
    genesis_root: bytes,
    *,
    period: int = PERIOD,
    min_stake: int = STAKE,
    bond: int = BOND,
    chain_id: int = CHAIN_ID,
    base_fee: int = BASE_FEE,
    genesis_supply: int = 0,
) -> Contract:
    """A new rollup; ``genesis_supply`` wei are sent to the (payable) constructor, topped up on
    the deployer first so that the shared node's account never runs dry."""
    art = load_artifact("Rollup")
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    deployer = w3.eth.accounts[0]
    if genesis_supply:
        topped = int(w3.eth.get_balance(deployer)) + genesis_supply
        rpc(w3, "anvil_setBalance", deployer, hex(topped))
    tx = factory.constructor(period, min_stake, bond, chain_id, base_fee, genesis_root).transact(
        {"from": deployer, "value": genesis_supply}
    )
    rcpt = w3.eth.wait_for_transaction_receipt(tx)
    assert rcpt["status"] == 1
    return w3.eth.contract(address=rcpt["contractAddress"], abi=art["abi"])


Steps = list[tuple[bytes, bytes]]


@dataclass
class Claimed:
    """A batch as a proposer submits it: the claimed steps, with the honest pre-step states."""

    index: int
    prev_root: bytes
    steps: Steps
    pre: list[State]
    wrong: list[int] = field(default_factory=list)
    honest: list[bytes] = field(default_factory=list)  # the root each step really produces

    @property
    def data(self) -> bytes:
        return encode_batch(self.index, self.prev_root, self.steps)

    @property
    def final_root(self) -> bytes:
        return self.steps[-1][1]


@dataclass
class World:
    """A fresh rollup on the shared anvil, a registered proposer (raw transactions from its own
    key) and the honest L2 state the batches are built on."""

    w3: Web3
    rollup: Contract
    proposer: Actor
    coinbase: bytes
    l2: L2
    l2_nonce: int = 0
    honest_roots: dict[tuple[int, int], bytes] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return str(self.rollup.address)

    @property
    def fn(self) -> Any:
        return self.rollup.functions

    def data(self, name: str, *args: Any) -> bytes:
        return HexBytes(self.rollup.encode_abi(name, args=list(args)))

    def tip_root(self) -> bytes:
        return bytes(self.fn.tipRoot().call())

    def next_index(self) -> int:
        return int(self.fn.nextIndex().call())

    def free_bond(self, who: Actor | None = None) -> int:
        return int(self.fn.proposers((who or self.proposer).address).call()[0])

    def owed(self, who: Actor) -> int:
        return int(self.fn.owed(who.address).call())

    def burned(self) -> int:
        return int(self.fn.burned().call())

    def batch_bond(self, index: int) -> int:
        return int(self.fn.getBatch(index).call()[9])

    def batch_status(self, index: int) -> int:
        return int(self.fn.getBatch(index).call()[8])

    def build(self, n: int, wrong: tuple[int, ...] = (), prev_root: bytes | None = None) -> Claimed:
        """The next batch of `n` honest transfers; the steps in `wrong` claim a garbage root
        (later steps claim the honest roots again, so the final root is honest)."""
        txs = transfers(self.l2_nonce, n)
        self.l2_nonce += n
        steps, pre = self.l2.run(txs)
        claimed = [
            (tx, keccak(b"wrong root %d" % k) if k in wrong else root)
            for k, (tx, root) in enumerate(steps)
        ]
        index = self.next_index()
        prev = self.tip_root() if prev_root is None else prev_root
        honest = [root for _, root in steps]
        self.honest_roots.update({(index, k): root for k, root in enumerate(honest)})
        return Claimed(index, prev, claimed, pre, list(wrong), honest)

    def submit(self, batch: Claimed, sender: Actor | None = None, **kw: Any) -> HexBytes:
        return (sender or self.proposer).send(
            self.address, self.data("submitBatch", batch.data), gas=GAS_SUBMIT, **kw
        )

    def proof(self, batch: Claimed, k: int, salt: bytes) -> bytes:
        """Calldata of a genuine reveal of step k (a fraud proof if k is a wrong step)."""
        nodes = state_proof(
            batch.pre[k], touched(batch.steps[k][0], CHAIN_ID, BASE_FEE, self.coinbase)
        )
        return self.data("challenge", batch.index, k, witness(batch.steps, k), nodes, salt)

    def commit_data(
        self, who: Actor, index: int, step: int, salt: bytes, post_root: bytes | None = None
    ) -> bytes:
        """A ``commitChallenge`` of ``who`` to (index, step, salt) and, by default, the root the
        step really produces (what a verifier knows; pass ``post_root`` to commit to another)."""
        if post_root is None:
            post_root = self.honest_roots[(index, step)]
        return self.data("commitChallenge", commitment(who.address, index, step, post_root, salt))


def make_world(w3: Web3, proposer_bond_deposit: int = BOND, **deploy_kw: Any) -> World:
    state = genesis()
    rollup = deploy_rollup(w3, state_trie(state).root_hash, **deploy_kw)
    proposer = Actor(w3, "proposer", balance=proposer_bond_deposit + 1_000 * ETHER)
    coinbase = b"\xcb" * 20
    world = World(w3, rollup, proposer, coinbase, L2(state, coinbase))
    rcpt = receipt(
        w3,
        proposer.send(
            world.address,
            world.data("register", to_checksum_address(coinbase)),
            value=proposer_bond_deposit,
        ),
    )
    assert rcpt["status"] == 1
    return world


def ok(w3: Web3, tx_hash: HexBytes) -> Any:
    """The receipt of a transaction that must have succeeded."""
    rcpt = receipt(w3, tx_hash)
    assert rcpt["status"] == 1, mined_reason(w3, tx_hash)
    return rcpt


def failed(w3: Web3, tx_hash: HexBytes, reason: str) -> Any:
    """The receipt of a transaction that must have been mined and reverted with `reason`."""
    rcpt = receipt(w3, tx_hash)
    assert rcpt["status"] == 0, f"expected a revert with {reason!r}"
    got = mined_reason(w3, tx_hash)
    assert got is not None and reason in got, got
    return rcpt


def events(world: World, name: str, rcpt: Any) -> list[Any]:
    return list(
        getattr(world.rollup.events, name)().process_receipt(
            rcpt, errors=EventLogErrorFlags.Discard
        )
    )
