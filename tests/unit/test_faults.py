"""Every faulty proposer mode is caught at its step and proven from the witness alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.proof.fraud import build_fraud_proof, check_fraud_proof
from watchtower.rollup.bridge import claimed_withdrawals, decode_deposit, encode_deposit
from watchtower.rollup.bundle import load_bundle
from watchtower.rollup.types import VerdictKind
from watchtower_dev.builder import build_batch
from watchtower_dev.faults import (
    ATTACKER,
    STEP_FAULTS,
    Fault,
    FaultKind,
    FaultNotApplicableError,
    build_faulty_batch,
)
from watchtower_dev.txgen import accounts, transfer

NEW_ACCOUNT = bytes.fromhex("00000000000000000000000000000000000be111")


def _txs(chain_id: int) -> list[bytes]:
    keys = accounts(50, b"honest")
    out = []
    for i in range(6):
        to = NEW_ACCOUNT if i == 3 else keys[i + 10].address
        out.append(transfer(keys[i], to, nonce=0, value=10**15, chain_id=chain_id))
    return out


@pytest.mark.parametrize("kind", STEP_FAULTS)
def test_fault_is_detected_at_its_step_and_provable(tmp_path: Path, kind: FaultKind) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    context = bundle.batches[0].context
    step = 3
    with StateDB(tmp_path / "s", sync=False) as store:
        root = init_genesis(store, bundle.genesis)
        txs = _txs(bundle.params.chain_id)
        faulty = build_faulty_batch(
            PendingWrites(store), 0, root, context, txs, fault=Fault(kind, step)
        )
        honest = build_batch(PendingWrites(store), 0, root, context, txs)
        assert faulty.steps[:step] == honest.steps[:step]
        verdict = replay_batch(store, faulty, commit=False)
        assert verdict.kind is VerdictKind.FRAUD
        assert verdict.step == step
        proof = build_fraud_proof(store, faulty, step, bundle.params)
        check = check_fraud_proof(proof)
        assert check.fraud and check.computed_root != faulty.steps[step].root
        assert replay_batch(store, honest).kind is VerdictKind.VALID


def test_faults_refuse_steps_they_cannot_apply_to(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    with StateDB(tmp_path / "s", sync=False) as store:
        root = init_genesis(store, bundle.genesis)
        txs = _txs(bundle.params.chain_id)
        context = bundle.batches[0].context
        with pytest.raises(FaultNotApplicableError, match="new recipient"):
            build_faulty_batch(
                PendingWrites(store), 0, root, context, txs, fault=Fault(FaultKind.WRONG_INSERT, 1)
            )
        with pytest.raises(FaultNotApplicableError, match="outside"):
            build_faulty_batch(
                PendingWrites(store), 0, root, context, txs, fault=Fault(FaultKind.SKIP_TX, 99)
            )


DEPOSITOR = bytes.fromhex("00000000000000000000000000000000000de905")


def _bridge_txs(chain_id: int) -> list[bytes]:
    """Two deposit steps first (as the proposer orders a batch), then transfers."""
    deposits = [encode_deposit(i, DEPOSITOR, (i + 1) * 10**18) for i in range(2)]
    return deposits + _txs(chain_id)


@pytest.mark.parametrize(
    ("fault", "step"),
    [
        (Fault(FaultKind.INVENT_DEPOSIT, 3), 3),
        (Fault(FaultKind.WRONG_DEPOSIT_AMOUNT, 1), 1),
        (Fault(FaultKind.WRONG_DEPOSIT_AMOUNT, 9), 1),  # the last deposit step
        (Fault(FaultKind.FORGE_WITHDRAWAL, 4, amount=10**24), 4),
    ],
    ids=lambda v: v.kind.value if isinstance(v, Fault) else str(v),
)
def test_bridge_fault_is_detected_at_its_step_and_provable(
    tmp_path: Path, fault: Fault, step: int
) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    context = bundle.batches[0].context
    params = bundle.params
    with StateDB(tmp_path / "s", sync=False) as store:
        root = init_genesis(store, bundle.genesis)
        txs = _bridge_txs(params.chain_id)
        faulty = build_faulty_batch(PendingWrites(store), 0, root, context, txs, fault=fault)
        honest = build_batch(PendingWrites(store), 0, root, context, txs)
        assert faulty.steps[:step] == honest.steps[:step]
        # The contract's deposit check passes: the deposit steps are the queue's, in order.
        assert [s.tx for s in faulty.steps if decode_deposit(s.tx)] == txs[:2]
        verdict = replay_batch(store, faulty, commit=False)
        assert verdict.kind is VerdictKind.FRAUD
        assert verdict.step == step
        check = check_fraud_proof(build_fraud_proof(store, faulty, step, params))
        assert check.fraud and check.computed_root != faulty.steps[step].root
        withdrawals = claimed_withdrawals(faulty, params)
        if fault.kind is FaultKind.FORGE_WITHDRAWAL:
            # An invalid step claimed as applied: once final it would be claimable on L1.
            (forged,) = withdrawals
            assert (forged.step, forged.amount, forged.account) == (4, 10**24, ATTACKER.address)
            assert faulty.steps[4].root != faulty.steps[3].root
            assert check.computed_root == faulty.steps[3].root  # honest: a no-op
        else:
            assert withdrawals == ()


def test_bridge_faults_refuse_batches_they_cannot_apply_to(tmp_path: Path) -> None:
    bundle = load_bundle(FIXTURES / "honest.json")
    with StateDB(tmp_path / "s", sync=False) as store:
        root = init_genesis(store, bundle.genesis)
        txs = _txs(bundle.params.chain_id)  # no deposit steps
        context = bundle.batches[0].context
        for fault, match in (
            (Fault(FaultKind.WRONG_DEPOSIT_AMOUNT, 0), "pending deposit"),
            (Fault(FaultKind.FORGE_WITHDRAWAL, 0), "amount"),
            (Fault(FaultKind.SKIP_DEPOSIT, 0), "proposer"),
        ):
            with pytest.raises(FaultNotApplicableError, match=match):
                build_faulty_batch(PendingWrites(store), 0, root, context, txs, fault=fault)
