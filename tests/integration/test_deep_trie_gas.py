"""Issue 10, point 5: the gas of a challenge, from the size of its proof.

Addresses are ground so that the sender, the recipient and the coinbase of an L2 transfer each
sit 9 nodes deep in the state trie (watchtower_dev.deeptrie), under 1,000 other accounts;
the rollup on anvil accepts the fraud proof (commit, then reveal), and the reveal's gas stays
below the limit computed from the proof (watchtower.submit.gas.reveal_gas_limit), which the
service uses when eth_estimateGas fails, and commit plus reveal stay below the balance reserve
(CHALLENGE_GAS_RESERVE). The figures at other depths: `python bench/bench_deep_trie.py`.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import require_anvil
from watchtower.submit.gas import CHALLENGE_GAS_RESERVE, COMMIT_GAS
from watchtower_dev.deeptrie import measure_challenge, shared_nibbles

pytestmark = pytest.mark.integration


def test_shared_nibbles() -> None:
    assert shared_nibbles(bytes.fromhex("abcd"), bytes.fromhex("abce")) == 3
    assert shared_nibbles(bytes.fromhex("abcd"), bytes.fromhex("1bcd")) == 0
    assert shared_nibbles(bytes.fromhex("abcd"), bytes.fromhex("abcd")) == 4


def test_a_nine_node_deep_proof_is_accepted_within_the_computed_gas() -> None:
    require_anvil()
    got = measure_challenge(9, crowd=1000)  # raises if the commit or the reveal reverts
    print("\n" + got.line())
    assert min(got.nodes_per_path) >= 9
    assert got.gas_used < got.gas_limit
    assert got.commit_gas_used < COMMIT_GAS
    assert got.commit_gas_used + got.gas_used < CHALLENGE_GAS_RESERVE
    assert got.gas_limit < CHALLENGE_GAS_RESERVE - COMMIT_GAS
