"""Gas of a challenge, from the size of its proof.

A reveal (``Rollup.challenge``) re-executes one L2 step over the state trie nodes it is given, so
its gas grows with the number of nodes (each is RLP-decoded, hashed and walked) and with the
calldata (16 gas per non-zero byte, and the copies the contract makes of it). The constants below
were measured on anvil with proofs from 3 to 9 nodes per account path
(``bench/bench_challenge_gas.py``; ``tests/integration/test_challenge_gas.py`` checks that a
9-node-per-path proof is accepted and stays below :func:`reveal_gas_limit` and the reserve).

:func:`reveal_gas_limit` is the gas limit of a reveal when ``eth_estimateGas`` fails (it does
before the commitment is old enough), and a floor under the estimate: unused gas is not paid
for, so the larger of the two only costs balance headroom.
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
#: Reveal gas = BASE + PER_NODE x nodes + PER_BYTE x calldata bytes, then the margin.
REVEAL_BASE_GAS = 260_000
REVEAL_GAS_PER_NODE = 48_000
REVEAL_GAS_PER_BYTE = 80
REVEAL_MARGIN_PERCENT = 30
#: Never ask for more than this per transaction (well under an L1 block's 30-36 M).
REVEAL_GAS_CEILING = 15_000_000
#: Gas set aside per challenge when checking the signer's balance: the commit plus the largest
#: reveal we expect (a proof of 3 x 10 nodes of 532 bytes, about 5.5 M by the formula; the worst
#: measured, 3 x 9 nodes, used 4.4 M), at twice the base fee (see ``Watchtower._can_pay``).
CHALLENGE_GAS_RESERVE = COMMIT_GAS + 6_000_000


def reveal_gas_limit(nodes: int, calldata_bytes: int) -> int:
    """The gas limit for a reveal with ``nodes`` state trie nodes and ``calldata_bytes`` of
    calldata: the measured cost with a margin, capped at :data:`REVEAL_GAS_CEILING`."""
    cost = REVEAL_BASE_GAS + REVEAL_GAS_PER_NODE * nodes + REVEAL_GAS_PER_BYTE * calldata_bytes
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
