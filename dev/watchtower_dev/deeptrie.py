"""Deep state tries, to measure the gas of a challenge whose proof is as long as it gets.

An account's node path in the state trie follows the nibbles of ``keccak(address)``; with random
addresses a path has about ``log16(accounts) + 1`` nodes. To make the sender, the recipient and
the coinbase of one L2 transfer each ``n`` nodes deep we grind addresses:

* a **pair** whose hashes share at least 7 nibbles (found by the birthday effect: a few tens of
  thousands of candidates, not 16^7): the sender (a key) with the recipient, and the coinbase
  with a partner account. Under the shared prefix the pair sits below an extension node and a
  branch at nibble 7 or deeper;
* **fillers**: for each level ``j < n - 4`` an account sharing exactly ``j`` nibbles with the
  pair, so that the path has a branch at every level above the extension.

A path then has ``(n - 3)`` branches, one extension, one branch and the leaf: ``n`` nodes. The
whole construction is deterministic (seeded), and costs a few seconds of keccak for ``n = 9``.
:func:`measure_challenge` deploys the rollup on anvil with that genesis, posts a batch whose only
step claims a wrong root, and commits and reveals the fraud proof: ``bench/bench_deep_trie.py``
prints the figures and ``tests/integration/test_deep_trie_gas.py`` checks them against
:mod:`watchtower.submit.gas`.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from eth_hash.auto import keccak
from trie.hexary import HexaryTrie

from watchtower.execute.replay import init_genesis
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.l1.rollup import RollupClient, RollupConfig
from watchtower.proof.fraud import FraudProof, build_fraud_proof
from watchtower.rollup.bridge import genesis_balance
from watchtower.rollup.codec import encode_batch
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import BlockContext, GenesisAccount
from watchtower.submit.gas import reveal_gas_limit, reveal_visits
from watchtower_dev.chain import fund, start_anvil
from watchtower_dev.devnet import dev_key
from watchtower_dev.faults import Fault, FaultKind, build_faulty_batch
from watchtower_dev.txgen import Account, transfer

ETHER = 10**18
PAIR_NIBBLES = 7
SEED = b"watchtower-deep-trie"


def shared_nibbles(a: bytes, b: bytes) -> int:
    """How many leading nibbles ``a`` and ``b`` have in common."""
    for i in range(min(len(a), len(b)) * 2):
        if _nibble(a, i) != _nibble(b, i):
            return i
    return min(len(a), len(b)) * 2


def _nibble(value: bytes, i: int) -> int:
    byte = value[i // 2]
    return byte >> 4 if i % 2 == 0 else byte & 0x0F


def _prefix(hashed: bytes, nibbles: int) -> str:
    return hashed.hex()[:nibbles]


@functools.cache
def key_pair(seed: bytes = SEED, nibbles: int = PAIR_NIBBLES) -> tuple[Account, Account]:
    """Two keyed accounts whose ``keccak(address)`` share at least ``nibbles`` nibbles."""
    seen: dict[str, Account] = {}
    for i in itertools.count():
        account = Account(seed + b"/keys", i)
        prefix = _prefix(keccak(account.address), nibbles)
        if prefix in seen:
            return seen[prefix], account
        seen[prefix] = account
    raise AssertionError("unreachable")


@functools.cache
def address_pair(seed: bytes = SEED, nibbles: int = PAIR_NIBBLES) -> tuple[bytes, bytes]:
    """Two addresses (no keys) whose hashes share at least ``nibbles`` nibbles."""
    seen: dict[str, bytes] = {}
    for i in itertools.count():
        address = keccak(seed + b"/addresses" + i.to_bytes(8, "big"))[:20]
        prefix = _prefix(keccak(address), nibbles)
        if prefix in seen:
            return seen[prefix], address
        seen[prefix] = address
    raise AssertionError("unreachable")


@functools.cache
def fillers(targets: tuple[bytes, ...], levels: int, seed: bytes = SEED) -> tuple[bytes, ...]:
    """Addresses such that, for each hashed target and each level ``j < levels``, one shares
    exactly ``j`` nibbles with it (levels already covered by another target's filler count)."""
    wanted = {(t, j) for t in targets for j in range(levels)}
    found: list[bytes] = []
    for i in itertools.count():
        if not wanted:
            return tuple(found)
        address = keccak(seed + b"/fillers" + i.to_bytes(8, "big"))[:20]
        hashed = keccak(address)
        hits = {(t, j) for t, j in wanted if shared_nibbles(hashed, t) == j}
        if hits:
            found.append(address)
            wanted -= hits
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class DeepState:
    sender: Account
    recipient: bytes
    coinbase: bytes
    genesis: dict[bytes, GenesisAccount]


def deep_state(nodes_per_path: int, seed: bytes = SEED, crowd: int = 0) -> DeepState:
    """A genesis where the sender, recipient and coinbase paths have ``nodes_per_path`` nodes
    (5 to 9), plus ``crowd`` random accounts: with thousands, the top levels of the trie are
    full 17-item branch nodes (532 bytes each), as on a busy rollup."""
    if not 5 <= nodes_per_path <= PAIR_NIBBLES + 2:
        raise ValueError(f"nodes per path must be 5 .. {PAIR_NIBBLES + 2}")
    sender, recipient = key_pair(seed)
    coinbase, partner = address_pair(seed)
    levels = nodes_per_path - 3  # branches at levels 0 .. n-4
    targets = (keccak(sender.address), keccak(coinbase))
    extra = fillers(targets, levels, seed)
    genesis = {sender.address: GenesisAccount(balance=1000 * ETHER)}
    crowded = [keccak(seed + b"/crowd" + i.to_bytes(8, "big"))[:20] for i in range(crowd)]
    for address in (recipient.address, coinbase, partner, *extra, *crowded):
        genesis[address] = GenesisAccount(balance=1)
    return DeepState(sender, recipient.address, coinbase, genesis)


@dataclass(frozen=True)
class Measurement:
    nodes_per_path: tuple[int, int, int]  # sender, recipient, coinbase
    proof_nodes: int  # distinct nodes in the proof
    visits: int  # trie nodes the reveal walks (watchtower.submit.gas.reveal_visits)
    calldata_bytes: int
    gas_used: int  # of the reveal
    commit_gas_used: int
    gas_limit: int  # reveal_gas_limit for this proof

    def line(self) -> str:
        depth = "/".join(str(n) for n in self.nodes_per_path)
        return (
            f"{depth:>8} nodes per path, {self.proof_nodes:>2} proof nodes, "
            f"{self.visits:>2} visits, "
            f"{self.calldata_bytes:>6} calldata bytes: reveal {self.gas_used:>9,} gas "
            f"(limit {self.gas_limit:,}), commit {self.commit_gas_used:,}"
        )


def path_lengths(proof: FraudProof, addresses: list[bytes]) -> list[int]:
    db = {bytes(keccak(node)): node for node in proof.state_nodes}
    trie = HexaryTrie(db, proof.pre_root)
    return [len(trie.get_proof(keccak(a))) for a in addresses]  # type: ignore[no-untyped-call]


def measure_challenge(nodes_per_path: int, seed: bytes = SEED, crowd: int = 0) -> Measurement:
    """Deploy the rollup on a fresh anvil with a :func:`deep_state` genesis, post a batch whose
    only step (sender -> recipient, tip to the coinbase) claims a wrong root, commit and reveal
    its fraud proof; the reveal's gas."""
    deep = deep_state(nodes_per_path, seed, crowd)
    params = RollupParams()
    with TemporaryDirectory(prefix="wt-deep-") as tmp:
        node = start_anvil()
        w3 = node.web3()
        store = StateDB(Path(tmp) / "state", sync=False)
        try:
            root = init_genesis(store, deep.genesis)
            proposer, challenger = dev_key("proposer"), dev_key("challenger")
            for account in (proposer, challenger):
                fund(w3, account.address, 100 * ETHER)
            supply = genesis_balance(deep.genesis)  # the deployment backs the genesis (§8.6)
            fund(w3, proposer.address, supply)
            config = RollupConfig(
                genesis_root=root,
                chain_id=params.chain_id,
                base_fee=params.base_fee,
                genesis_supply=supply,
            )
            client = RollupClient.deploy(w3, proposer, config)
            client.register(proposer, deep.coinbase, config.proposer_bond)
            tx = transfer(deep.sender, deep.recipient, nonce=0, value=1, chain_id=params.chain_id)
            context = BlockContext.of_batch(0, 0, deep.coinbase, params)
            batch = build_faulty_batch(
                PendingWrites(store), 0, root, context, [tx],
                fault=Fault(FaultKind.WRONG_ROOT, 0),
            )  # fmt: skip
            client.submit_batch(proposer, encode_batch(0, root, batch.steps))
            on_chain = client.batch(0)
            context = BlockContext.of_batch(0, on_chain.timestamp, deep.coinbase, params)
            batch = type(batch)(batch.index, batch.prev_root, context, batch.steps)
            proof = build_fraud_proof(store, batch, 0, params)
            lengths = path_lengths(proof, [deep.sender.address, deep.recipient, deep.coinbase])
            receipt = client.challenge(challenger, proof, client.min_stake())
            commits = client.contract.events.ChallengeCommitted().get_logs(from_block=0)
            commit = w3.eth.get_transaction_receipt(commits[0]["transactionHash"])
            args = [*proof.challenge_args(), bytes(32)]
            calldata = (len(client.contract.encode_abi("challenge", args=args)) - 2) // 2
            return Measurement(
                nodes_per_path=(lengths[0], lengths[1], lengths[2]),
                proof_nodes=len(proof.state_nodes),
                visits=reveal_visits(proof),
                calldata_bytes=calldata,
                gas_used=int(receipt["gasUsed"]),
                commit_gas_used=int(commit["gasUsed"]),
                gas_limit=reveal_gas_limit(reveal_visits(proof), calldata),
            )
        finally:
            store.close()
            node.stop()
