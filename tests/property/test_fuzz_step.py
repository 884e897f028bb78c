"""Hostile steps and whole hostile batches through the real engine, against the rules as a model.

The model is protocol.md §3 over a plain dict of accounts: the stateless rules 1-9 come from the
independent reference of ``test_fuzz_transactions``, rules 10-13 and the effect of §3.2 are
transcribed below, and the state root is computed with the unmodified py-trie. The engine under
test is the real one (``apply_step``: the rollup rules, py-evm, the LMDB state DB and the cached
trie; ``replay_batch`` on decoded batch bytes).

Inputs: signed transactions from the genesis accounts, valid or not, with the edge cases the
issue names (zero-value transfers, self transfers, transfers to the coinbase, to a precompile, to
a contract, from an account with code, at the nonce limit), many of them corrupted as in
``test_fuzz_transactions``; and whole batches of them with claimed roots honest or wrong, whose
encoding is then corrupted as in ``test_fuzz_batch``. The step must give the model's verdict (an
invalid step leaves the root unchanged); a batch must give the model's verdict, never an
exception other than :class:`MalformedBatchError` for bytes that do not decode.

The long variant (≥ 10,000 cases over all fuzz targets) is in ``test_fuzz_long.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak
from eth_typing import Address
from hypothesis import given
from hypothesis import strategies as st
from trie import HexaryTrie

from tests.property.test_fuzz_batch import Decoded, corrupt_batch, layout, reference_decode
from tests.property.test_fuzz_transactions import (
    PARAMS,
    Draft,
    corrupt_bytes,
    corrupt_field,
    encode,
    reference,
    signed_fields,
)
from watchtower.errors import MalformedBatchError
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.state import open_state
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.execute.transition import RuleSet, apply_step
from watchtower.rollup.bridge import (
    BridgeFlows,
    DepositStep,
    Withdrawal,
    claimed_flows,
    decode_deposit,
    encode_deposit,
)
from watchtower.rollup.codec import decode_batch
from watchtower.rollup.params import (
    BLANK_ROOT,
    BRIDGE_ADDRESS,
    EMPTY_CODE_HASH,
    MAX_TX_BYTES,
    is_precompile,
)
from watchtower.rollup.types import (
    Batch,
    BlockContext,
    GenesisAccount,
    InvalidReason,
    Step,
    Verdict,
    VerdictKind,
)
from watchtower_dev.txgen import accounts

R = InvalidReason
BASE_FEE = PARAMS.base_fee
RICH, MODEST, CODED, OLD = accounts(4, b"fuzz-step")
CONTRACT = bytes.fromhex("00000000000000000000000000000000000c0de1")
FRESH = bytes.fromhex("000000000000000000000000000000000000f8e5")
FRESH_COINBASE = bytes.fromhex("00000000000000000000000000000000000c01b5")
NONCE_LIMIT = 2**64 - 1

GENESIS = {
    RICH.address: GenesisAccount(balance=10**20),
    # Exactly enough for 21,000 gas at twice the base fee and a value of 5 wei.
    MODEST.address: GenesisAccount(balance=21_000 * 2 * BASE_FEE + 5),
    CODED.address: GenesisAccount(balance=10**20, code=b"\x60\x00"),  # EIP-3607
    OLD.address: GenesisAccount(balance=10**20, nonce=NONCE_LIMIT),  # EIP-2681
    CONTRACT: GenesisAccount(balance=1, code=b"\x00"),
}

# ---------------------------------------------------------------------------------------------
# The model: protocol.md §3.1 rules 10-13 and §3.2.


@dataclass(frozen=True)
class Acct:
    nonce: int = 0
    balance: int = 0
    code: bytes = b""


Model = dict[bytes, Acct]
GENESIS_MODEL: Model = {a: Acct(g.nonce, g.balance, g.code) for a, g in GENESIS.items()}


def model_root(model: Model) -> bytes:
    trie = HexaryTrie({})
    for address, account in model.items():
        code_hash = keccak(account.code) if account.code else EMPTY_CODE_HASH
        trie[keccak(address)] = rlp.encode([account.nonce, account.balance, BLANK_ROOT, code_hash])
    return bytes(trie.root_hash)


def model_step(
    model: Model, raw: bytes, coinbase: bytes
) -> tuple[InvalidReason | None, Model, bytes | None]:
    """(reason or None if valid, the state after, the sender if rule 3 passed)."""
    deposit = decode_deposit(raw)
    if deposit is not None:  # protocol v2 (§8.2): credit the recipient, nothing else
        if deposit.amount == 0:
            return None, model, None
        after = dict(model)
        credited = after.get(deposit.recipient, Acct())
        after[deposit.recipient] = replace(credited, balance=credited.balance + deposit.amount)
        return None, after, None
    tx = reference(raw)
    if tx.reason is not None:
        return tx.reason, model, tx.sender
    assert tx.sender is not None
    sender = model.get(tx.sender, Acct())
    if sender.code:
        return R.SENDER_HAS_CODE, model, tx.sender
    if tx.nonce != sender.nonce or sender.nonce >= NONCE_LIMIT:
        return R.BAD_NONCE, model, tx.sender
    if sender.balance < tx.gas * tx.max_fee + tx.value:
        return R.INSUFFICIENT_BALANCE, model, tx.sender
    if model.get(tx.to, Acct()).code or is_precompile(tx.to):
        return R.RECIPIENT_HAS_CODE, model, tx.sender
    tip = min(tx.tip, tx.max_fee - BASE_FEE)
    price = BASE_FEE + tip
    after = dict(model)
    after[tx.sender] = replace(
        sender, nonce=sender.nonce + 1, balance=sender.balance - 21_000 * price - tx.value
    )
    recipient = after.get(tx.to, Acct())
    after[tx.to] = replace(recipient, balance=recipient.balance + tx.value)
    miner = after.get(coinbase, Acct())
    after[coinbase] = replace(miner, balance=miner.balance + 21_000 * tip)
    for address in {tx.to, coinbase}:  # EIP-161: touched and empty afterwards -> not created
        if after[address] == Acct():
            del after[address]
    return None, after, tx.sender


# ---------------------------------------------------------------------------------------------
# Inputs.

SENDERS = [RICH, RICH, MODEST, CODED, OLD]
RECIPIENTS = [
    FRESH,
    CONTRACT,
    RICH.address,
    MODEST.address,
    b"\x00" * 20,
    (1).to_bytes(20, "big"),  # ecrecover: a precompile
    (10).to_bytes(20, "big"),  # the last Cancun precompile
    (11).to_bytes(20, "big"),  # not a precompile
]
COINBASES = [FRESH_COINBASE, RICH.address, MODEST.address, CONTRACT]


def context(coinbase: bytes, number: int = 0) -> BlockContext:
    return BlockContext(
        number=number,
        timestamp=1_700_000_000,
        coinbase=coinbase,
        base_fee=BASE_FEE,
        gas_limit=PARAMS.gas_limit,
        chain_id=PARAMS.chain_id,
    )


@st.composite
def step_transactions(draw: st.DrawFn, model: Model, coinbase: bytes) -> bytes:
    """A transaction from a genesis key: self, zero-value, to the coinbase, to the bridge
    (a withdrawal), ...; or (one in five) a deposit step or a near-deposit; at the
    sender's current nonce most of the time; then maybe corrupted. Weighted so that about a
    quarter are valid transfers and every rule of §3.1 is reached."""
    key = draw(st.sampled_from(SENDERS))
    nonce = model.get(key.address, Acct()).nonce
    kind = draw(st.sampled_from(["transaction"] * 8 + ["deposit", "near-deposit"]))
    if kind != "transaction":  # protocol v2 (§8.2): a deposit step, or 0x7E of another length
        step = encode_deposit(
            draw(st.sampled_from([0, 1, 2**64 - 1])),
            draw(st.sampled_from([*RECIPIENTS, key.address, coinbase, BRIDGE_ADDRESS])),
            draw(st.sampled_from([0, 1, 10**18, 2**200])),
        )
        if kind == "deposit":
            return step
        return draw(st.sampled_from([step[:-1], step + b"\x00", step[:1]]))
    to = draw(st.sampled_from([*RECIPIENTS, key.address, key.address, coinbase, BRIDGE_ADDRESS]))
    draft = Draft(
        key=key,
        legacy=draw(st.booleans()),
        chain_id=PARAMS.chain_id,
        nonce=draw(st.sampled_from([nonce, nonce, nonce, nonce + 1, max(nonce - 1, 0)])),
        max_fee=draw(st.sampled_from([2 * BASE_FEE] * 4 + [BASE_FEE, BASE_FEE - 1])),
        tip=draw(st.sampled_from([0, 1, BASE_FEE // 10, BASE_FEE, BASE_FEE, 3 * BASE_FEE])),
        gas=draw(st.sampled_from([21_000] * 4 + [21_001, 20_999])),
        to=to,
        value=draw(st.sampled_from([0, 0, 1, 5, 6, 10**18, 10**21])),
    )
    fields = signed_fields(draft)
    corruption = draw(st.sampled_from(["none"] * 5 + ["field", "bytes"]))
    if corruption == "field":
        return encode(draw(corrupt_field(fields, draft.legacy)), draft.legacy)
    if corruption == "bytes":
        return draw(corrupt_bytes(fields, draft.legacy))
    return encode(fields, draft.legacy)


@st.composite
def step_cases(draw: st.DrawFn) -> tuple[bytes, bytes]:
    coinbase = draw(st.sampled_from(COINBASES))
    return draw(step_transactions(GENESIS_MODEL, coinbase)), coinbase


@dataclass(frozen=True)
class BatchCase:
    coinbase: bytes
    data: bytes  # the batch as a proposer would submit it, maybe corrupted


@st.composite
def batch_cases(draw: st.DrawFn, genesis_root: bytes) -> BatchCase:
    """1-6 steps built on the model as it evolves (so later transactions can be valid too),
    honest claimed roots, then maybe wrong roots, then maybe a corrupted encoding."""
    coinbase = draw(st.sampled_from(COINBASES))
    model, txs, claimed = dict(GENESIS_MODEL), [], []
    for _ in range(draw(st.integers(1, 6))):
        # A batch cannot carry more than MAX_TX_BYTES per step (§4.1).
        raw = draw(step_transactions(model, coinbase))[:MAX_TX_BYTES]
        _, model, _ = model_step(model, raw, coinbase)
        txs.append(raw)
        claimed.append(model_root(model))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        k = draw(st.integers(0, len(claimed) - 1))
        previous = claimed[k - 1] if k else genesis_root
        claimed[k] = draw(st.sampled_from([previous, b"\xee" * 32, keccak(claimed[k])]))
    steps = [Step(tx=t, root=r) for t, r in zip(txs, claimed, strict=True)]
    # Rarely, a header that does not continue the verified chain: undecidable, not fraud.
    index = draw(st.sampled_from([0] * 10 + [1, 2**64 - 1]))
    prev_root = draw(st.sampled_from([genesis_root] * 10 + [claimed[0], b"\x00" * 32]))
    encoded = layout(index, prev_root, steps)
    if draw(st.sampled_from([False, False, True])):
        return BatchCase(coinbase, draw(corrupt_batch(encoded, steps)))
    return BatchCase(coinbase, encoded.data)


# ---------------------------------------------------------------------------------------------
# The properties.


@dataclass
class Genesis:
    store: StateDB
    root: bytes


@pytest.fixture(scope="module")
def genesis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Genesis]:
    store = StateDB(Path(tmp_path_factory.mktemp("fuzz-step")), sync=False)
    root = init_genesis(store, GENESIS)
    assert root == model_root(GENESIS_MODEL)
    yield Genesis(store, root)
    store.close()


def check_step(genesis: Genesis, raw: bytes, coinbase: bytes) -> InvalidReason | None:
    """apply_step gives the model's verdict and state; an invalid step changes nothing."""
    state = open_state(PendingWrites(genesis.store), genesis.root, context(coinbase))
    reason, after, sender = model_step(GENESIS_MODEL, raw, coinbase)
    outcome = apply_step(state, raw, RuleSet.ROLLUP, batch=0, step=0)
    assert outcome.reason is reason, (raw.hex(), outcome, reason)
    assert outcome.valid is (reason is None)
    assert "\n" not in outcome.detail
    if reason is not None:
        assert outcome.root == genesis.root
        return reason
    assert outcome.root == model_root(after), raw.hex()
    assert outcome.sender == sender
    if decode_deposit(raw) is not None:
        return reason
    # The accounts the step touched, read back from the engine's state: exact nonces and
    # balances, and an account that received nothing was not created (EIP-161).
    tx = reference(raw)
    for address in {sender, tx.to, coinbase}:
        assert address is not None
        expected = after.get(address)
        assert state.account_exists(Address(address)) is (expected is not None)
        if expected is not None:
            assert state.get_nonce(Address(address)) == expected.nonce
            assert state.get_balance(Address(address)) == expected.balance
    return reason


def expected_verdict(genesis: Genesis, data: bytes, coinbase: bytes) -> Verdict | None:
    """What replaying ``data`` must give, from the model; ``None`` if it does not decode."""
    decoded = _reference_batch(data)
    if decoded is None:
        return None
    index, prev_root, steps = decoded
    if index != 0 or prev_root != genesis.root:
        return Verdict(batch=index, kind=VerdictKind.UNDECIDABLE, steps=len(steps))
    model, root, invalid = GENESIS_MODEL, genesis.root, []
    deposits: list[DepositStep] = []
    withdrawals: list[Withdrawal] = []
    burned = 0
    for k, step in enumerate(steps):
        reason, model, sender = model_step(model, step.tx, coinbase)
        if reason is not None:
            invalid.append((k, reason))
        else:
            root = model_root(model)
            deposit = decode_deposit(step.tx)
            if deposit is not None:
                deposits.append(deposit)
            else:
                tx = reference(step.tx)
                assert sender is not None and tx.to is not None
                burned += 21_000 * BASE_FEE
                if tx.to == BRIDGE_ADDRESS and tx.value > 0:
                    withdrawals.append(Withdrawal(0, k, sender, tx.value))
        if root != step.root:
            return Verdict(
                batch=0,
                kind=VerdictKind.FRAUD,
                steps=len(steps),
                step=k,
                claimed_root=step.root,
                computed_root=root,
                invalid_steps=tuple(invalid),
            )
    return Verdict(
        batch=0,
        kind=VerdictKind.VALID,
        steps=len(steps),
        final_root=steps[-1].root,
        invalid_steps=tuple(invalid),
        flows=BridgeFlows(tuple(deposits), tuple(withdrawals), burned),
    )


def _reference_batch(data: bytes) -> tuple[int, bytes, tuple[Step, ...]] | None:
    decoded = reference_decode(data)
    if not isinstance(decoded, Decoded):
        return None
    return decoded.index, decoded.prev_root, decoded.steps


def check_replay(genesis: Genesis, case: BatchCase) -> VerdictKind | None:
    """Decoding and replaying hostile batch bytes gives the model's verdict or a one-line
    :class:`MalformedBatchError`; nothing is committed (``commit=False``)."""
    expected = expected_verdict(genesis, case.data, case.coinbase)
    try:
        decoded = decode_batch(case.data)
    except MalformedBatchError as exc:
        assert expected is None, exc
        assert "\n" not in str(exc)
        return None
    assert expected is not None
    batch = Batch(
        index=decoded.index,
        prev_root=decoded.prev_root,
        context=context(case.coinbase, decoded.index),
        steps=decoded.steps,
    )
    verdict = replay_batch(genesis.store, batch, commit=False)
    assert genesis.store.head_root() == genesis.root
    if verdict.kind is VerdictKind.VALID:  # a verified batch's flows, from its claims alone
        assert claimed_flows(batch, PARAMS) == verdict.flows
    assert verdict.kind is expected.kind, (verdict, expected)
    if verdict.kind is not VerdictKind.UNDECIDABLE:
        assert verdict == replace(expected, reason=verdict.reason), (verdict, expected)
    return verdict.kind


@pytest.mark.timeout(120)
@given(step_cases())
def test_step_on_hostile_and_edge_case_transactions(
    genesis: Genesis, case: tuple[bytes, bytes]
) -> None:
    check_step(genesis, *case)


@pytest.mark.timeout(120)
@given(st.data())
def test_replay_of_hostile_batches_is_a_verdict(genesis: Genesis, data: st.DataObject) -> None:
    check_replay(genesis, data.draw(batch_cases(genesis.root)))


@pytest.mark.timeout(120)
@given(
    st.sampled_from([RICH, MODEST]),
    st.booleans(),
    st.sampled_from([0, 1, 5]),  # MODEST can pay the fee and at most 5 wei
    st.sampled_from([0, 1, BASE_FEE, 2 * BASE_FEE]),
    st.sampled_from([FRESH_COINBASE, RICH.address]),
)
def test_a_self_transfer_changes_only_the_nonce_and_the_fee(
    genesis: Genesis, key: Any, legacy: bool, value: int, tip: int, coinbase: bytes
) -> None:
    """§3.2 with ``to = sender``: the value leaves and comes back; the sender pays
    ``21000 · price`` and its nonce grows by one; the coinbase gets ``21000 · tip``; nothing else
    changes (a coinbase that would receive zero is not created)."""
    max_fee = 2 * BASE_FEE
    raw = encode(
        signed_fields(
            Draft(key, legacy, PARAMS.chain_id, 0, max_fee, tip, 21_000, key.address, value)
        ),
        legacy,
    )
    assert check_step(genesis, raw, coinbase) is None
    effective_tip = max_fee if legacy else min(tip, max_fee)
    effective_tip = min(effective_tip, max_fee - BASE_FEE)
    before = GENESIS_MODEL[key.address]
    expected = dict(GENESIS_MODEL)
    paid = 21_000 * (BASE_FEE + effective_tip)
    expected[key.address] = Acct(before.nonce + 1, before.balance - paid)
    if coinbase == key.address:
        expected[key.address] = replace(
            expected[key.address], balance=before.balance - paid + 21_000 * effective_tip
        )
    elif effective_tip:
        miner = expected.get(coinbase, Acct())
        expected[coinbase] = replace(miner, balance=miner.balance + 21_000 * effective_tip)
    _, after, _ = model_step(GENESIS_MODEL, raw, coinbase)
    assert after == expected


@pytest.mark.timeout(120)
@given(st.booleans(), st.sampled_from([FRESH, RICH.address, MODEST.address, b"\x00" * 20]))
def test_a_zero_value_transfer_moves_only_the_fee(
    genesis: Genesis, legacy: bool, to: bytes
) -> None:
    """Zero value is valid: the sender's nonce and fee change, the recipient's balance does not,
    and a recipient that did not exist is not created (EIP-161)."""
    raw = encode(
        signed_fields(
            Draft(RICH, legacy, PARAMS.chain_id, 0, 2 * BASE_FEE, BASE_FEE, 21_000, to, 0)
        ),
        legacy,
    )
    assert check_step(genesis, raw, FRESH_COINBASE) is None
    _, after, _ = model_step(GENESIS_MODEL, raw, FRESH_COINBASE)
    if to not in GENESIS_MODEL:
        assert to not in after
    elif to != RICH.address:
        assert after[to] == GENESIS_MODEL[to]
    assert after[RICH.address].nonce == 1


@pytest.mark.parametrize(
    ("key", "to", "nonce", "value", "reason"),
    [
        (CODED, FRESH, 0, 1, R.SENDER_HAS_CODE),
        (OLD, FRESH, NONCE_LIMIT, 1, R.BAD_NONCE),
        (RICH, FRESH, 1, 1, R.BAD_NONCE),
        (MODEST, FRESH, 0, 6, R.INSUFFICIENT_BALANCE),
        (MODEST, FRESH, 0, 5, None),
        (RICH, CONTRACT, 0, 1, R.RECIPIENT_HAS_CODE),
        (RICH, (1).to_bytes(20, "big"), 0, 1, R.RECIPIENT_HAS_CODE),
        (RICH, (10).to_bytes(20, "big"), 0, 1, R.RECIPIENT_HAS_CODE),
        (RICH, (11).to_bytes(20, "big"), 0, 1, None),
    ],
)
def test_stateful_rules_give_their_reason_code(
    genesis: Genesis, key: Any, to: bytes, nonce: int, value: int, reason: InvalidReason | None
) -> None:
    """Rules 10-13 once each, at their boundaries, with the exact reason code."""
    raw = encode(
        signed_fields(
            Draft(key, False, PARAMS.chain_id, nonce, 2 * BASE_FEE, 0, 21_000, to, value)
        ),
        False,
    )
    assert check_step(genesis, raw, FRESH_COINBASE) is reason
