"""Hostile bytes never crash the decoder or the transition: a verdict or a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchtower.devtools.txgen import accounts, transfer
from watchtower.errors import MalformedBatchError
from watchtower.execute.replay import init_genesis
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import Mode, apply_step
from watchtower.rollup.codec import decode_batch, encode_batch
from watchtower.rollup.params import RollupParams
from watchtower.rollup.transactions import Rejected, check_transfer
from watchtower.rollup.types import BlockContext, GenesisAccount, Step

PARAMS = RollupParams()
VALID = transfer(accounts(1, b"fuzz")[0], b"\x22" * 20, nonce=0, value=1, chain_id=PARAMS.chain_id)


def _mutations() -> st.SearchStrategy[bytes]:
    flip = st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)).map(
        lambda p: VALID[: p[0]] + bytes([VALID[p[0]] ^ p[1]]) + VALID[p[0] + 1 :]
    )
    cut = st.integers(0, len(VALID)).map(lambda n: VALID[:n])
    return st.one_of(
        st.binary(max_size=300), flip, cut, st.binary(max_size=40).map(lambda b: VALID + b)
    )


@given(_mutations())
def test_transaction_rules_never_raise(raw: bytes) -> None:
    result = check_transfer(raw, PARAMS)
    if isinstance(result, Rejected):
        assert "\n" not in result.detail


@given(st.binary(max_size=400))
def test_batch_decoder_raises_only_malformed(raw: bytes) -> None:
    try:
        decode_batch(raw)
    except MalformedBatchError as exc:
        assert "\n" not in str(exc)


@given(st.lists(_mutations(), min_size=1, max_size=5))
def test_batch_roundtrip_of_hostile_transactions(txs: list[bytes]) -> None:
    steps = [Step(tx=t, root=b"\x01" * 32) for t in txs]
    assert list(decode_batch(encode_batch(3, b"\x02" * 32, steps)).steps) == steps


@pytest.fixture(scope="module")
def fuzz_state(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    store = StateDB(Path(tmp_path_factory.mktemp("fuzz")), sync=False)
    sender = accounts(1, b"fuzz")[0]
    root = init_genesis(store, {sender.address: GenesisAccount(balance=10**18)})
    yield store, root
    store.close()


@given(_mutations())
def test_step_on_hostile_bytes_is_a_verdict(fuzz_state, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    store, root = fuzz_state
    ctx = BlockContext(number=0, timestamp=0, coinbase=b"\x33" * 20, chain_id=PARAMS.chain_id)
    state = open_state(PendingWrites(store), root, ctx)
    outcome = apply_step(state, raw, Mode.ROLLUP, batch=0, step=0)
    if not outcome.valid:
        assert outcome.root == root
    else:
        assert outcome.root != root
