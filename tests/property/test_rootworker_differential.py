"""Replay with a root worker against the reference replay on generated batches: transfers (valid
and every kind of invalid, zero-value, to new accounts, to the bridge), deposits (new accounts:
trie inserts) and near-deposits, under both rollup rule sets, with a wrong root anywhere or
none. The verdicts, the hooks and the stored state must be the reference's (``replay_both``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.test_deposit_steps import (
    DepositSpec,
    NearDeposit,
    _raw,
    model_deposit,
    step_specs,
)
from tests.property.test_transition_model import (
    CODE_HOLDER,
    KEYS,
    PARAMS,
    Acct,
    model_apply,
    specs,
)
from tests.unit.test_rootworker import replay_both
from watchtower.execute.replay import init_genesis
from watchtower.execute.rootworker import RootWorker
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet
from watchtower.rollup.bridge import encode_deposit
from watchtower.rollup.types import Batch, BlockContext, GenesisAccount, Step
from watchtower_dev.builder import build_batch

COINBASE = b"\xcb" * 20  # not in the genesis: created by the first tip (a trie insert)

# transfers that are mostly valid (the model's generator is mostly invalid ones)
likely_valid = specs.map(
    lambda s: dataclasses.replace(
        s, nonce_delta=0, chain_ok=True, gas=21_000, max_fee=max(s.max_fee, PARAMS.base_fee)
    )
)
mixed_steps = st.one_of(step_specs, likely_valid, likely_valid)


@pytest.fixture(scope="module")
def worker() -> Iterator[RootWorker]:
    with RootWorker(chunk=2) as roots:
        yield roots


def _txs(steps: list[object], model: dict[bytes, Acct]) -> list[bytes]:
    txs = []
    for drawn in steps:
        if isinstance(drawn, DepositSpec):
            txs.append(encode_deposit(drawn.index, drawn.recipient, drawn.amount))
            model = model_deposit(model, drawn)
        elif isinstance(drawn, NearDeposit):
            txs.append(drawn.raw)
        else:
            spec, raw = _raw(drawn, model)  # type: ignore[arg-type]
            _, model = model_apply(model, spec, COINBASE)
            txs.append(raw)
    return txs


@settings(max_examples=25)
@given(
    st.lists(st.sampled_from([21_000 * 8, 10**15, 10**15]), min_size=4, max_size=4),
    st.lists(mixed_steps, min_size=1, max_size=14),
    st.integers(0, 13),
    st.sampled_from([RuleSet.ROLLUP, RuleSet.ROLLUP_V1]),
    st.sampled_from(["none", "one", "from-there"]),
    st.integers(0, 20),
)
def test_pipelined_replay_matches_the_reference(
    tmp_path_factory: pytest.TempPathFactory,
    worker: RootWorker,
    funds: list[int],
    steps: list[object],
    split: int,
    rules: RuleSet,
    fraud: str,
    fraud_step: int,
) -> None:
    genesis = {k.address: GenesisAccount(balance=b) for k, b in zip(KEYS, funds, strict=True)}
    genesis[CODE_HOLDER] = GenesisAccount(balance=1, code=b"\x00")
    model = {a: Acct(nonce=g.nonce, balance=g.balance, code=g.code) for a, g in genesis.items()}
    txs = _txs(steps, model)
    # two batches: the second one builds on the first one's committed state
    parts = [txs[: max(1, min(split, len(txs)))], txs[max(1, min(split, len(txs))) :]]
    tmp = Path(tmp_path_factory.mktemp("pipelined"))
    batches: list[Batch] = []
    with StateDB(tmp / "builder", sync=False) as builder:
        root = init_genesis(builder, genesis)
        for index, part in enumerate(p for p in parts if p):
            ctx = BlockContext(
                index + 1, index + 1, COINBASE, PARAMS.base_fee, PARAMS.gas_limit, PARAMS.chain_id
            )
            pending = PendingWrites(builder)
            batch = build_batch(pending, index, root, ctx, part)
            builder.commit_nodes(pending)
            batches.append(batch)
            root = batch.final_root
    if fraud != "none":
        last = batches[-1]
        k = fraud_step % len(last.steps)
        wrong = b"\x42" * 32
        new_steps = list(last.steps)
        for j in range(k, len(new_steps) if fraud == "from-there" else k + 1):
            new_steps[j] = Step(tx=new_steps[j].tx, root=wrong)
        batches[-1] = dataclasses.replace(last, steps=tuple(new_steps))
    replay_both(tmp, genesis, batches, worker, rules)
    assert worker.last_fallback is None
