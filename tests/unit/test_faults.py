"""Every faulty proposer mode is caught at its step and proven from the witness alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.statedb import PendingWrites, StateDB
from watchtower.proof.fraud import build_fraud_proof, check_fraud_proof
from watchtower.rollup.bundle import load_bundle
from watchtower.rollup.types import VerdictKind
from watchtower_dev.builder import build_batch
from watchtower_dev.faults import (
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


@pytest.mark.parametrize("kind", list(FaultKind))
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
