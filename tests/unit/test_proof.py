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
from watchtower_dev.builder import with_wrong_root

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


# ---------------------------------------------------------------------------------------------
# check-proof says what it checked (issue 10): offline, a proof is only "consistent with the
# commitments in the file"; a value re-execution does not reproduce is an error naming it.


@pytest.fixture(scope="module")
def proof_document(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("proof") / "proof.json"
    result = CliRunner().invoke(
        main, ["prove", str(FIXTURES / "fraud-wrong-root.json"), "--batch", "1", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    document: dict = json.loads(out.read_text())  # type: ignore[type-arg]
    return document


def _check(tmp_path: Path, document: dict, *args: str) -> tuple[int, str, str]:  # type: ignore[type-arg]
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    result = CliRunner().invoke(main, ["check-proof", *args, str(path)])
    return result.exit_code, result.stdout, result.stderr


def test_check_proof_offline_names_every_commitment_and_does_not_claim_proven(
    tmp_path: Path,
    proof_document: dict,  # type: ignore[type-arg]
) -> None:
    code, out, err = _check(tmp_path, proof_document)
    assert code == 0 and not err
    assert "FRAUD PROVEN" not in out and "proven" not in out.lower()
    assert "consistent with the commitments in the file" in out
    assert "not checked against L1 (pass --l1-rpc and --rollup)" in out
    d = proof_document
    for label, value in [
        ("steps root", d["steps_root"]),
        ("previous root", d["batch_prev_root"]),
        ("pre-state root", d["prev_root"]),  # step 7: the claimed root of step 6
        ("coinbase", d["coinbase"]),
        ("chain id", str(d["params"]["chain_id"])),
        ("base fee", str(d["params"]["base_fee"])),
        ("claimed root", d["post_root"]),
        ("computed root", d["computed_root"]),
    ]:
        assert any(line.strip().startswith(label) and value in line for line in out.splitlines())
    code, out, _ = _check(tmp_path, proof_document, "--json")
    facts = json.loads(out)
    assert facts["verdict"] == "consistent_with_file" and facts["fraud"] is True
    assert facts["checked_against_l1"] is False and facts["proven_on_l1"] is False
    assert facts["l1"] is None and facts["mismatches"] == []
    assert facts["steps_root"] == d["steps_root"] and facts["coinbase"] == d["coinbase"]
    assert facts["pre_state_root"] == d["prev_root"] and facts["base_fee"] == 10**9


def _edit(key: str, value: object):  # type: ignore[no-untyped-def]
    def apply(d: dict) -> None:  # type: ignore[type-arg]
        if key.startswith("params."):
            d["params"][key.removeprefix("params.")] = value
        else:
            d[key] = value

    return apply


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        # The builder's computed root, edited: re-execution does not reproduce it.
        (_edit("computed_root", "0x" + "11" * 32),
         ("computed_root", "0x" + "11" * 32, "re-execution gives 0xffff505d")),
        # The claimed root: no longer committed under the steps root.
        (_edit("post_root", "0x" + "22" * 32), ("post_root", "0x" + "22" * 32, "steps_root")),
        # Parameters: the step re-executes differently from the recorded computed root.
        (_edit("params.base_fee", 10**9 + 1),
         ("computed_root", "params.base_fee 1000000001", "re-execution gives 0x")),
        (_edit("params.chain_id", 1), ("computed_root", "params.chain_id 1", "re-execution")),
        # Another coinbase: the witness does not prove it under the pre-state root.
        (_edit("coinbase", "0x" + "33" * 20), ("coinbase 0x" + "33" * 20, "witness lacks")),
        (_edit("steps_root", "0x" + "44" * 32), ("steps_root 0x" + "44" * 32, "post_proof")),
        (_edit("prev_root", "0x" + "55" * 32), ("prev_root 0x" + "55" * 32, "prev_proof")),
        (_edit("count", 100), ("count 100", "inclusion proof")),
    ],
    ids=["computed_root", "claimed_root", "base_fee", "chain_id", "coinbase", "steps_root",
         "prev_root", "count"],
)  # fmt: skip
def test_check_proof_refuses_an_edited_field_in_one_line(
    tmp_path: Path,
    proof_document: dict,  # type: ignore[type-arg]
    edit,  # type: ignore[no-untyped-def]
    fragments: tuple[str, ...],
) -> None:
    document = json.loads(json.dumps(proof_document))
    edit(document)
    for args in ((), ("--json",)):
        code, out, err = _check(tmp_path, document, *args)
        assert code == 2, (code, out, err)
        assert err.count("\n") == 1 and err.startswith("error: "), err
        for fragment in fragments:
            assert fragment in err, (fragment, err)
        if args:  # --json: the same message as a JSON error object on stdout
            assert json.loads(out) == {"error": err.removeprefix("error: ").strip(), "status": 2}
        else:
            assert not out


def test_check_proof_cannot_see_an_edited_batch_prev_root_offline_and_says_so(
    tmp_path: Path,
    proof_document: dict,  # type: ignore[type-arg]
) -> None:
    """For a step > 0 the batch's prev_root is not an input of the step: only L1 can tell.
    The output names it and does not claim the fraud proven."""
    document = {**proof_document, "batch_prev_root": "0x" + "66" * 32}
    code, out, _ = _check(tmp_path, document)
    assert code == 0 and "FRAUD PROVEN" not in out and "not checked against L1" in out
    assert "0x" + "66" * 32 in out


def test_check_proof_l1_options_go_together(tmp_path: Path, proof_document: dict) -> None:  # type: ignore[type-arg]
    code, _, err = _check(tmp_path, proof_document, "--l1-rpc", "http://127.0.0.1:1")
    assert code == 2 and "--l1-rpc and --rollup go together" in err
    code, _, err = _check(tmp_path, proof_document, "--rollup", "0x" + "11" * 20)
    assert code == 2 and "--l1-rpc and --rollup go together" in err
    code, _, err = _check(
        tmp_path, proof_document, "--l1-rpc", "http://127.0.0.1:1", "--rollup", "0x" + "11" * 20
    )
    assert code == 2 and "cannot reach the L1 node" in err and err.count("\n") == 1


def test_check_proof_help_has_examples_and_exit_statuses() -> None:
    result = CliRunner().invoke(main, ["check-proof", "--help"])
    assert result.exit_code == 0
    for fragment in ("Examples:", "--l1-rpc", "--rollup", "Exit status", "3  with L1 only"):
        assert fragment in result.stdout, fragment
