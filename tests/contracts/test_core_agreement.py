"""Agreement of the Python core (``watchtower.rollup.transactions``) with the contract's reference.

``contract_reference`` is held to the Solidity code by test_step_differential.py; here the core's
rules 1–9 are held to the same reference, so the core and the contract agree transitively. The
deterministic cases are the two divergences found earlier (docs/protocol-notes-contract.md, Q2, Q3).
"""

from __future__ import annotations

import coincurve
import pytest
import rlp
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from tests.contracts.contract_reference import Reason, check_stateless, sign_transfer
from tests.contracts.test_step_differential import transactions

CHAIN_ID = 42069
BASE_FEE = 10**9
KEY = coincurve.PrivateKey(keccak(b"agreement"))


def _relist(fields: list[bytes]) -> bytes:
    body = b"".join(fields)
    assert len(body) < 256
    return (bytes([0xC0 + len(body)]) if len(body) <= 55 else bytes([0xF8, len(body)])) + body


def empty_list_nonce() -> bytes:
    """A valid legacy transfer whose nonce 0 (0x80) is replaced by an empty list (0xc0)."""
    raw = sign_transfer(KEY, CHAIN_ID, 0, b"\xa1" * 20, 5, typed=False)
    decoded = rlp.decode(raw)
    parts = [rlp.encode(x) for x in decoded]
    assert parts[0] == b"\x80"
    parts[0] = b"\xc0"
    return _relist(parts)


def wide_v() -> bytes:
    raw = sign_transfer(KEY, CHAIN_ID, 0, b"\xa1" * 20, 5, typed=False)
    parts = [rlp.encode(x) for x in rlp.decode(raw)]
    parts[6] = rlp.encode(2**256 + 2 * CHAIN_ID + 35)
    return _relist(parts)


CASES = {"empty-list-nonce": empty_list_nonce, "legacy-v-wider-than-32-bytes": wide_v}


@pytest.mark.parametrize("case", list(CASES))
def test_contract_and_reference_say_undecodable(step_harness: Contract, case: str) -> None:
    raw = CASES[case]()
    assert check_stateless(raw, CHAIN_ID, BASE_FEE)[0] == Reason.UNDECODABLE
    reason, _ = step_harness.functions.check(raw, CHAIN_ID, BASE_FEE).call()
    assert reason == Reason.UNDECODABLE


def test_core_rejects_empty_list_integer() -> None:
    tx_mod = pytest.importorskip("watchtower.rollup.transactions")
    params_mod = pytest.importorskip("watchtower.rollup.params")
    result = tx_mod.check_transfer(empty_list_nonce(), params_mod.RollupParams())
    assert isinstance(result, tx_mod.Rejected)
    assert result.reason.name == "UNDECODABLE"


def test_core_rejects_wide_v_as_undecodable() -> None:
    tx_mod = pytest.importorskip("watchtower.rollup.transactions")
    params_mod = pytest.importorskip("watchtower.rollup.params")
    result = tx_mod.check_transfer(wide_v(), params_mod.RollupParams())
    assert isinstance(result, tx_mod.Rejected)
    assert result.reason.name == "UNDECODABLE"


@settings(deadline=None, max_examples=300, suppress_health_check=list(HealthCheck))
@given(tx=transactions(), base_fee=st.sampled_from([BASE_FEE, 1, 7]))
def test_core_rules_1_to_9_match_reference(tx: tuple[bytes, int], base_fee: int) -> None:
    tx_mod = pytest.importorskip("watchtower.rollup.transactions")
    params_mod = pytest.importorskip("watchtower.rollup.params")
    expected, _, sender = check_stateless(tx[0], CHAIN_ID, base_fee)
    result = tx_mod.check_transfer(
        tx[0], params_mod.RollupParams(chain_id=CHAIN_ID, base_fee=base_fee)
    )
    if isinstance(result, tx_mod.Rejected):
        assert result.reason.name == expected.name, tx[0].hex()
    else:
        assert expected == Reason.VALID, tx[0].hex()
        assert bytes(result.sender) == sender
