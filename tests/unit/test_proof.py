"""Fraud proofs: built for every kind of step, checked from their witness alone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES
from watchtower.cli import main
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.statedb import StateDB
from watchtower.proof.fraud import (
    FraudProof,
    NoFraudError,
    ProofError,
    build_fraud_proof,
    check_fraud_proof,
)
from watchtower.rollup.bundle import load_bundle
from watchtower.sequencer.builder import with_wrong_root

WRONG = b"\xab" * 32


def _stored(tmp_path: Path, name: str, upto: int) -> tuple[StateDB, object]:
    bundle = load_bundle(FIXTURES / f"{name}.json")
    store = StateDB(tmp_path / "s", sync=False)
    init_genesis(store, bundle.genesis)
    for batch in bundle.batches[:upto]:
        replay_batch(store, batch)
    return store, bundle


def test_every_step_of_every_kind_can_be_proven(tmp_path: Path) -> None:
    """A wrong root at any step of the invalid-kinds bundle (every invalid kind, every aliasing
    case, an account insertion) gives a proof that checks with nothing but its witness."""
    bundle = load_bundle(FIXTURES / "invalid-kinds.json")
    with StateDB(tmp_path / "s", sync=False) as store:
        init_genesis(store, bundle.genesis)
        for batch in bundle.batches:
            for k in range(len(batch.steps)):
                faulty = with_wrong_root(batch, k, WRONG)
                proof = build_fraud_proof(store, faulty, k, bundle.params)
                result = check_fraud_proof(FraudProof.from_json(proof.to_json()))
                assert result.fraud
                assert result.computed_root == batch.steps[k].root == proof.computed_root
                # An honest claim cannot be proven wrong.
                with pytest.raises(NoFraudError):
                    build_fraud_proof(store, batch, k, bundle.params)
            assert replay_batch(store, batch).kind.value == "valid"


def test_a_proof_with_the_correct_root_shows_no_fraud(tmp_path: Path) -> None:
    store, bundle = _stored(tmp_path, "fraud-wrong-root", 1)
    with store:
        proof = build_fraud_proof(store, bundle.batches[1], 7, bundle.params)  # type: ignore[attr-defined]
    honest_root = proof.computed_root
    # Same witness, but the claim is the true root: the step inclusion proof no longer matches
    # the committed steps, so the checker refuses the proof instead of calling it "no fraud".
    with pytest.raises(ProofError, match="inclusion proof"):
        check_fraud_proof(dataclasses.replace(proof, post_root=honest_root))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: dataclasses.replace(p, state_nodes=p.state_nodes[1:]), "witness lacks"),
        (lambda p: dataclasses.replace(p, post_proof=p.post_proof[:-1]), "inclusion proof"),
        (lambda p: dataclasses.replace(p, prev_root=b"\x01" * 32), "inclusion proof"),
        (lambda p: dataclasses.replace(p, tx=p.tx + b"\x00"), "inclusion proof"),
        (lambda p: dataclasses.replace(p, step=p.count), "outside the batch"),
    ],
)
def test_tampered_proofs_are_refused(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    store, bundle = _stored(tmp_path, "fraud-wrong-root", 1)
    with store:
        proof = build_fraud_proof(store, bundle.batches[1], 7, bundle.params)  # type: ignore[attr-defined]
    with pytest.raises(ProofError, match=message):
        check_fraud_proof(change(proof))


def test_prove_and_check_proof_commands(tmp_path: Path) -> None:
    out = tmp_path / "proof.json"
    runner = CliRunner()
    result = runner.invoke(
        main, ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["step"] == 7 and document["batch"] == 1
    result = runner.invoke(main, ["check-proof", "--json", str(out)])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["fraud"] is True

    assert (
        runner.invoke(main, ["prove", str(FIXTURES / "honest.json"), "--batch", "1"]).exit_code == 1
    )
    result = runner.invoke(main, ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "2"])
    assert result.exit_code == 2 and "prove batch 1 instead" in result.stderr
    out.write_text('{"format": "something else", "version": 1}')
    result = runner.invoke(main, ["check-proof", str(out)])
    assert result.exit_code == 2 and "not a watchtower-fraud-proof" in result.stderr


def test_prove_refuses_a_bundle_whose_batches_do_not_chain(tmp_path: Path) -> None:
    document = json.loads((FIXTURES / "fraud-wrong-root.json").read_text())
    document["batches"][1]["prev_root"] = "0x" + "ab" * 32
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    result = CliRunner().invoke(main, ["prove", str(broken), "--batch", "1"])
    assert result.exit_code == 2
    assert "bundle batch 1 builds on 0xabab" in result.stderr
