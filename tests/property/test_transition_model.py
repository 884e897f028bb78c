"""Model-based differential test of the rollup transition (protocol.md §3).

The model is a direct transcription of the spec over a plain dict of accounts; its state root is
computed with the unmodified py-trie ``HexaryTrie``. The engine under test is the real one:
py-evm's Cancun executor behind the rollup rules, on the LMDB state DB and the cached trie.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import rlp
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st
from trie import HexaryTrie

from watchtower.execute.replay import init_genesis
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.params import BLANK_ROOT, EMPTY_CODE_HASH, RollupParams
from watchtower.rollup.types import BlockContext, GenesisAccount
from watchtower_dev.txgen import accounts, legacy_transfer, transfer

PARAMS = RollupParams(chain_id=777, base_fee=7, gas_limit=100_000)
KEYS = accounts(4, b"model")
CODE_HOLDER = bytes.fromhex("00000000000000000000000000000000000c0de1")
NEW = bytes.fromhex("0000000000000000000000000000000000000ee1")


@dataclass(frozen=True)
class Acct:
    nonce: int = 0
    balance: int = 0
    code: bytes = b""


def model_root(state: dict[bytes, Acct]) -> bytes:
    t = HexaryTrie({})
    for addr, a in state.items():
        code_hash = keccak(a.code) if a.code else EMPTY_CODE_HASH
        t[keccak(addr)] = rlp.encode([a.nonce, a.balance, BLANK_ROOT, code_hash])
    return bytes(t.root_hash)


@dataclass(frozen=True)
class TxSpec:
    sender: int
    to: bytes
    nonce_delta: int
    value: int
    gas: int
    max_fee: int
    tip: int
    legacy: bool
    chain_ok: bool


def model_apply(
    state: dict[bytes, Acct], spec: TxSpec, coinbase: bytes
) -> tuple[str | None, dict[bytes, Acct]]:
    """Returns (reason or None if valid, new state)."""
    sender = KEYS[spec.sender].address
    s = state.get(sender, Acct())
    max_fee = spec.max_fee
    tip_cap = spec.max_fee if spec.legacy else spec.tip
    if not spec.chain_ok:
        return "wrong_chain_id", state
    if not 21_000 <= spec.gas <= PARAMS.gas_limit:
        return "bad_gas_limit", state
    if tip_cap > max_fee:
        return "tip_above_fee_cap", state
    if max_fee < PARAMS.base_fee:
        return "fee_cap_below_base_fee", state
    if s.code:
        return "sender_has_code", state
    nonce = s.nonce + spec.nonce_delta
    if nonce != s.nonce:
        return "bad_nonce", state
    if s.balance < spec.gas * max_fee + spec.value:
        return "insufficient_balance", state
    if state.get(spec.to, Acct()).code or 1 <= int.from_bytes(spec.to, "big") <= 10:
        return "recipient_has_code", state
    tip = min(tip_cap, max_fee - PARAMS.base_fee)
    price = PARAMS.base_fee + tip
    new = dict(state)
    a = new.get(sender, Acct())
    new[sender] = replace(a, nonce=a.nonce + 1, balance=a.balance - 21_000 * price - spec.value)
    r = new.get(spec.to, Acct())
    new[spec.to] = replace(r, balance=r.balance + spec.value)
    c = new.get(coinbase, Acct())
    new[coinbase] = replace(c, balance=c.balance + 21_000 * tip)
    for addr in {spec.to, coinbase}:  # EIP-161: touched and empty -> not created
        acc = new[addr]
        if acc.nonce == 0 and acc.balance == 0 and not acc.code:
            del new[addr]
    return None, new


PRECOMPILES = [n.to_bytes(20, "big") for n in (1, 2, 4, 10)]
targets = st.sampled_from(
    [k.address for k in KEYS] + [CODE_HOLDER, NEW, b"\xcb" * 20, *PRECOMPILES]
)
specs = st.builds(
    TxSpec,
    sender=st.integers(0, len(KEYS) - 1),
    to=targets,
    nonce_delta=st.sampled_from([0, 0, 0, 0, 1, -1]),
    value=st.sampled_from([0, 1, 10**6, 10**9, 10**12]),
    gas=st.sampled_from([21_000, 21_000, 30_000, 20_999, 100_001]),
    max_fee=st.sampled_from([6, 7, 8, 20, 10**3]),
    tip=st.sampled_from([0, 1, 5, 30]),
    legacy=st.booleans(),
    chain_ok=st.booleans() | st.just(True),
)
balances = st.sampled_from([21_000 * 7, 21_000 * 8, 10**9, 10**15])


@given(
    st.lists(balances, min_size=4, max_size=4),
    st.lists(specs, min_size=1, max_size=8),
    st.sampled_from([b"\xcb" * 20, KEYS[0].address, KEYS[1].address]),
)
def test_engine_matches_spec_model(
    tmp_path_factory, funds: list[int], txs: list[TxSpec], coinbase: bytes
) -> None:  # type: ignore[no-untyped-def]
    genesis = {k.address: GenesisAccount(balance=b) for k, b in zip(KEYS, funds, strict=True)}
    genesis[CODE_HOLDER] = GenesisAccount(balance=1, code=b"\x00")
    model = {a: Acct(nonce=g.nonce, balance=g.balance, code=g.code) for a, g in genesis.items()}
    with StateDB(Path(tmp_path_factory.mktemp("model")), sync=False) as store:
        root = init_genesis(store, genesis)
        assert root == model_root(model)
        ctx = BlockContext(
            number=1,
            timestamp=1,
            coinbase=coinbase,
            base_fee=PARAMS.base_fee,
            gas_limit=PARAMS.gas_limit,
            chain_id=PARAMS.chain_id,
        )
        state = open_state(PendingWrites(store), root, ctx)
        for k, drawn in enumerate(txs):
            key = KEYS[drawn.sender]
            nonce = max(0, model.get(key.address, Acct()).nonce + drawn.nonce_delta)
            spec = replace(drawn, nonce_delta=nonce - model.get(key.address, Acct()).nonce)
            chain_id = PARAMS.chain_id if spec.chain_ok else PARAMS.chain_id + 1
            if spec.legacy:
                raw = legacy_transfer(
                    key,
                    spec.to,
                    nonce=nonce,
                    value=spec.value,
                    chain_id=chain_id,
                    gas_price=spec.max_fee,
                    gas=spec.gas,
                )
            else:
                raw = transfer(
                    key,
                    spec.to,
                    nonce=nonce,
                    value=spec.value,
                    chain_id=chain_id,
                    max_fee=spec.max_fee,
                    tip=spec.tip,
                    gas=spec.gas,
                )
            expected_reason, model = model_apply(model, spec, coinbase)
            outcome = apply_step(state, raw, RuleSet.ROLLUP, batch=0, step=k)
            assert (outcome.reason.value if outcome.reason else None) == expected_reason, (k, spec)
            assert outcome.valid == (expected_reason is None)
            assert outcome.root == model_root(model), (k, spec)
