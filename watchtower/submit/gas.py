"""Gas of a challenge, from the size of its proof.

A reveal (``Rollup.challenge``) re-executes one L2 step over the state trie nodes it is given:
it walks the sender's and the recipient's paths to read them and again to write them, and the
coinbase's to write it, decoding and hashing every node on the way. Its gas follows the number
of node **visits** (:func:`reveal_visits`; paths that share nodes are still walked once per
role) and the calldata (16 gas a byte, plus the copies the contract makes: about 100 a byte in
all). Measured on anvil (``bench/bench_deep_trie.py``; grinding in
:mod:`watchtower_dev.deeptrie`), commit 45,867 gas in every case:

    nodes per path  random accounts  visits  calldata  reveal gas used
    5/5/5                         0      25    2,276        1,917,959
    9/9/9                         0      45    3,556        3,687,879
    7/7/6                     5,000      34    4,900        2,835,779
    9/9/9                     5,000      45    5,732        3,896,559

:func:`reveal_gas_limit` (base + per visit + per byte, then a margin) is the reveal's gas limit
when ``eth_estimateGas`` fails (before the commitment is old enough, or under RPC faults), and a
floor under the estimate: unused gas is not paid for, so the larger of the two costs only
balance headroom. ``tests/integration/test_deep_trie_gas.py`` checks a 9-node-per-path proof
against it and against :data:`CHALLENGE_GAS_RESERVE`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_hash.auto import keccak
from trie.hexary import HexaryTrie

from watchtower.rollup.transactions import Rejected, check_transfer

if TYPE_CHECKING:
    from watchtower.proof.fraud import FraudProof

#: Gas limit of ``commitChallenge`` (21,000 + one new storage slot + the event: 45,867 used).
COMMIT_GAS = 80_000
#: Reveal gas = BASE + PER_VISIT x node visits + PER_BYTE x calldata bytes, then the margin.
#: Fitted above the measurements (gas grows a little faster than linearly: memory).
REVEAL_BASE_GAS = 100_000
REVEAL_GAS_PER_VISIT = 80_000
REVEAL_GAS_PER_BYTE = 100
REVEAL_MARGIN_PERCENT = 25
#: Never ask for more than this per transaction (well under an L1 block's 30-36 M).
REVEAL_GAS_CEILING = 15_000_000
#: Gas set aside per challenge when checking the signer's balance (at twice the base fee, see
#: ``Watchtower._can_pay``): the commit plus the largest reveal we expect, 10 nodes on each of
#: the three paths in a crowded trie (50 visits, ~6,500 calldata bytes: 5.9 M by the formula;
#: the worst measured, 9/9/9 with 5,000 accounts, used 3.9 M).
CHALLENGE_GAS_RESERVE = COMMIT_GAS + 6_000_000


def reveal_gas_limit(visits: int, calldata_bytes: int) -> int:
    """The gas limit for a reveal that walks ``visits`` trie nodes (:func:`reveal_visits`) with
    ``calldata_bytes`` of calldata: the fitted cost with a margin, capped at the ceiling."""
    cost = REVEAL_BASE_GAS + REVEAL_GAS_PER_VISIT * visits + REVEAL_GAS_PER_BYTE * calldata_bytes
    return min(cost * (100 + REVEAL_MARGIN_PERCENT) // 100, REVEAL_GAS_CEILING)


def choose_reveal_gas(estimate: int | None, limit: int, margin_percent: int = 25) -> int:
    """The gas limit to sign with: the estimate plus ``margin_percent``, never below the
    proof-size ``limit`` and never above the ceiling; the ``limit`` when estimation failed."""
    if estimate is None:
        return limit
    return min(max(estimate * (100 + margin_percent) // 100, limit), REVEAL_GAS_CEILING)


def reveal_visits(proof: FraudProof) -> int:
    """Trie nodes the reveal walks: the path of the sender and of the recipient twice (read,
    then write) and the coinbase's once (write). Paths that share nodes are still walked once
    per role, so this, not the number of distinct nodes, is what the gas follows."""
    checked = check_transfer(proof.tx, proof.params)
    if isinstance(checked, Rejected):
        return 0  # an undecodable or invalid transaction is judged without the state
    db = {bytes(keccak(node)): node for node in proof.state_nodes}
    trie = HexaryTrie(db, proof.pre_root)

    def path(address: bytes) -> int:
        try:
            return len(trie.get_proof(keccak(address)))  # type: ignore[no-untyped-call]
        except Exception:  # a node missing from the witness: count what is there
            return len(proof.state_nodes)

    return 2 * path(checked.sender) + 2 * path(checked.to) + path(proof.coinbase)
