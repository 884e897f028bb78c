"""Property tests of the deposit step (protocol.md §8.2) against the spec model of
tests/property/test_transition_model.py, extended by one rule: a 61-byte ``0x7E`` step credits
its recipient (created if needed; amount 0 changes nothing), and under the v1 rules it is
undecodable. Transfers, deposits and near-deposits (``0x7E`` of another length) are mixed in one
sequence; the root after every step is compared with the model's (unmodified py-trie)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.property.test_transition_model import (
    CODE_HOLDER,
    KEYS,
    NEW,
    PARAMS,
    PRECOMPILES,
    Acct,
    TxSpec,
    model_apply,
    model_root,
    specs,
)
from watchtower.execute.replay import init_genesis
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.bridge import DepositStep, encode_deposit, is_withdrawal
from watchtower.rollup.params import BRIDGE_ADDRESS, DEPOSIT_STEP_BYTES
from watchtower.rollup.types import BlockContext, GenesisAccount, InvalidReason
from watchtower_dev.txgen import legacy_transfer, transfer


@dataclass(frozen=True)
class DepositSpec:
    index: int
    recipient: bytes
    amount: int


@dataclass(frozen=True)
class NearDeposit:
    """``0x7E`` bytes of another length than 61: undecodable under both rule sets."""

    raw: bytes


recipients = st.sampled_from(
    [k.address for k in KEYS] + [CODE_HOLDER, NEW, BRIDGE_ADDRESS, b"\xcb" * 20, *PRECOMPILES]
)
deposits = st.builds(
    DepositSpec,
    index=st.integers(0, 2**64 - 1),
    recipient=recipients,
    amount=st.sampled_from([0, 1, 21_000 * 7, 10**18]) | st.integers(0, 2**200),
)
near = st.builds(
    NearDeposit,
    st.binary(max_size=80)
    .filter(lambda b: len(b) != DEPOSIT_STEP_BYTES - 1)
    .map(lambda b: b"\x7e" + b),
)
withdrawals = specs.map(lambda s: replace(s, to=BRIDGE_ADDRESS))
step_specs = st.one_of(specs, withdrawals, deposits, near)


def model_deposit(state: dict[bytes, Acct], spec: DepositSpec) -> dict[bytes, Acct]:
    if spec.amount == 0:
        return state
    new = dict(state)
    a = new.get(spec.recipient, Acct())
    new[spec.recipient] = replace(a, balance=a.balance + spec.amount)
    return new


def _raw(spec: TxSpec, model: dict[bytes, Acct]) -> tuple[TxSpec, bytes]:
    key = KEYS[spec.sender]
    current = model.get(key.address, Acct()).nonce
    nonce = max(0, current + spec.nonce_delta)
    spec = replace(spec, nonce_delta=nonce - current)
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
    return spec, raw


@given(
    st.lists(st.sampled_from([21_000 * 8, 10**9, 10**15]), min_size=4, max_size=4),
    st.lists(step_specs, min_size=1, max_size=10),
    st.sampled_from([RuleSet.ROLLUP, RuleSet.ROLLUP_V1]),
)
def test_deposits_and_transfers_match_the_model(
    tmp_path_factory,  # type: ignore[no-untyped-def]
    funds: list[int],
    steps: list[TxSpec | DepositSpec | NearDeposit],
    rules: RuleSet,
) -> None:
    genesis = {k.address: GenesisAccount(balance=b) for k, b in zip(KEYS, funds, strict=True)}
    genesis[CODE_HOLDER] = GenesisAccount(balance=1, code=b"\x00")
    model = {a: Acct(nonce=g.nonce, balance=g.balance, code=g.code) for a, g in genesis.items()}
    coinbase = b"\xcb" * 20
    ctx = BlockContext(1, 1, coinbase, PARAMS.base_fee, PARAMS.gas_limit, PARAMS.chain_id)
    with StateDB(Path(tmp_path_factory.mktemp("deposits")), sync=False) as store:
        root = init_genesis(store, genesis)
        state = open_state(PendingWrites(store), root, ctx)
        for k, drawn in enumerate(steps):
            before = model_root(model)
            if isinstance(drawn, DepositSpec):
                raw = encode_deposit(drawn.index, drawn.recipient, drawn.amount)
                outcome = apply_step(state, raw, rules, batch=0, step=k)
                if rules is RuleSet.ROLLUP:
                    model = model_deposit(model, drawn)
                    assert outcome.valid and outcome.reason is None
                    assert outcome.deposit == DepositStep(
                        drawn.index, drawn.recipient, drawn.amount
                    )
                    assert outcome.sender is None and outcome.to is None
                else:
                    assert outcome.reason is InvalidReason.UNDECODABLE
                    assert outcome.deposit is None
            elif isinstance(drawn, NearDeposit):
                outcome = apply_step(state, drawn.raw, rules, batch=0, step=k)
                assert outcome.reason is InvalidReason.UNDECODABLE and outcome.deposit is None
            else:
                spec, raw = _raw(drawn, model)
                reason, model = model_apply(model, spec, coinbase)
                outcome = apply_step(state, raw, rules, batch=0, step=k)
                assert (outcome.reason.value if outcome.reason else None) == reason
                if reason is None:
                    assert (outcome.to, outcome.value) == (spec.to, spec.value)
                    assert outcome.sender == KEYS[spec.sender].address
                    # a withdrawal exactly when to the bridge with value > 0 (§8.3)
                    assert is_withdrawal(outcome.to, outcome.value) == (
                        spec.to == BRIDGE_ADDRESS and spec.value > 0
                    )
            assert outcome.root == model_root(model), (k, drawn, rules)
            if not outcome.valid:
                assert outcome.root == before


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), recipients, st.integers(0, 2**128))
def test_the_deposit_index_does_not_affect_the_state(
    tmp_path_factory,  # type: ignore[no-untyped-def]
    i: int,
    j: int,
    recipient: bytes,
    amount: int,
) -> None:
    genesis = {KEYS[0].address: GenesisAccount(balance=5)}
    ctx = BlockContext(0, 0, b"\xcb" * 20, PARAMS.base_fee, PARAMS.gas_limit, PARAMS.chain_id)
    with StateDB(Path(tmp_path_factory.mktemp("index")), sync=False) as store:
        root = init_genesis(store, genesis)
        a = apply_step(
            open_state(PendingWrites(store), root, ctx), encode_deposit(i, recipient, amount)
        )
        b = apply_step(
            open_state(PendingWrites(store), root, ctx), encode_deposit(j, recipient, amount)
        )
        assert a.root == b.root
        assert (a.root == root) == (amount == 0)
