"""check-proof against the rollup contract on anvil (issue 10): a genuine proof built by
`watchtower prove` from the batches on chain is proven against the rollup; a proof whose
commitments are not the contract's (a forged coinbase, steps root, base fee or batch prev_root
that still re-executes consistently, or a naively edited file) is refused, naming the field."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.integration.conftest import anvil_net  # noqa: F401  (fixture)
from watchtower.cli import main
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.execute.statedb import StateDB
from watchtower.l1.rollup import OnChainStatus
from watchtower.proof.fraud import FraudProof, build_fraud_proof
from watchtower.rollup.bundle import Bundle, write_bundle
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import Batch, BlockContext
from watchtower_dev.builder import with_wrong_root
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration
STEPS = 6
FAULT_STEP = 3


def _onchain(net: Devnet, receipt: Any) -> Batch:
    block = receipt["blockNumber"]
    (event,) = net.client.batches_submitted(block, block)
    return net.client.fetch_batch(event, net.client.params())


def _check(net: Devnet, path: Path, *extra: str) -> tuple[int, str, str]:
    args = ["check-proof", str(path), "--l1-rpc", str(net.rpc_url), "--rollup", net.client.address]
    result = CliRunner().invoke(main, [*args, *extra])
    return result.exit_code, result.stdout, result.stderr


def _write(tmp_path: Path, name: str, proof: FraudProof | dict[str, Any]) -> Path:
    path = tmp_path / name
    document = proof.to_json() if isinstance(proof, FraudProof) else proof
    path.write_text(json.dumps(document))
    return path


def test_check_proof_against_l1(anvil_net: Devnet, tmp_path: Path) -> None:  # noqa: F811
    net = anvil_net
    params = net.client.params()
    _, r0 = net.proposer.propose(STEPS)
    _, r1 = net.proposer.propose(STEPS, Fault(FaultKind.WRONG_FEE, FAULT_STEP))
    honest, faulty = _onchain(net, r0), _onchain(net, r1)

    # `watchtower prove` on a bundle of what is on chain.
    bundle = tmp_path / "bundle.json"
    write_bundle(Bundle(params, devnet_genesis(), (honest, faulty)), bundle)
    genuine = tmp_path / "proof.json"
    result = CliRunner().invoke(main, ["prove", str(bundle), "--batch", "1", "-o", str(genuine)])
    assert result.exit_code == 0, result.output

    code, out, err = _check(net, genuine)
    assert code == 0, (out, err)
    assert f"FRAUD PROVEN against the rollup at {net.client.address}" in out
    assert f"batch 1 step {FAULT_STEP}" in out and "still challengeable" in out
    assert "L1 HAS" not in out and out.count("= L1") == 6
    code, out, _ = _check(net, genuine, "--json")
    facts = json.loads(out)
    assert code == 0 and facts["verdict"] == "proven_against_l1" and facts["proven_on_l1"]
    assert facts["l1"]["status"] == "pending" and facts["l1"]["challengeable"] is True
    assert facts["l1"]["coinbase"] == facts["coinbase"] and facts["mismatches"] == []
    # The contract's own verifier re-executes the step on the same witness to the same root.
    assert facts["l1"]["contract_computed_root"] == facts["computed_root"]

    # Forgeries that are consistent offline (they re-execute to their own computed root) but
    # whose commitments are not the contract's: refused with exit 3, every field named.
    with StateDB(tmp_path / "state", sync=False) as store:
        init_genesis(store, devnet_genesis())
        assert replay_batch(store, honest).kind.value == "valid"
        other = b"\x77" * 20
        forged_coinbase = dataclasses.replace(
            faulty, context=dataclasses.replace(faulty.context, coinbase=other)
        )
        fee = RollupParams(params.chain_id, params.base_fee + 1, params.gas_limit)
        forged_fee = dataclasses.replace(
            faulty,
            context=BlockContext.of_batch(
                faulty.index, faulty.context.timestamp, faulty.context.coinbase, fee
            ),
        )
        forged_steps = with_wrong_root(faulty, 0, b"\xab" * 32)  # other steps: other steps root
        # Step 0 of the faulty batch is honest: with another coinbase or base fee it
        # re-executes to another root, so these files "prove" an honest step wrong.
        forgeries = {
            "coinbase": build_fraud_proof(store, forged_coinbase, 0, params),
            "params.base_fee": build_fraud_proof(store, forged_fee, 0, fee),
            "steps_root": build_fraud_proof(store, forged_steps, 0, params),
        }
    for field, proof in forgeries.items():
        path = _write(tmp_path, f"forged-{field}.json", proof)
        offline = CliRunner().invoke(main, ["check-proof", str(path)])
        assert offline.exit_code == 0 and "FRAUD PROVEN" not in offline.stdout, field
        code, out, err = _check(net, path)
        assert code == 3, (field, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "FRAUD PROVEN" not in out
        assert f"does not match the rollup at {net.client.address}" in lines[0]
        assert f"{field}: the proof file says" in lines[0], lines[0]
        code, out, _ = _check(net, path, "--json")
        facts = json.loads(out)
        assert code == 3 and facts["verdict"] == "l1_mismatch" and not facts["proven_on_l1"]
        assert field in [m["field"] for m in facts["mismatches"]]
    on_chain = net.client.batch(1)
    assert "0x" + on_chain.coinbase.hex() in _check(net, tmp_path / "forged-coinbase.json")[2]

    # The batch's prev_root is not an input of step > 0: only L1 can refuse an edited one.
    document = json.loads(genuine.read_text())
    document["batch_prev_root"] = "0x" + "66" * 32
    code, _, err = _check(net, _write(tmp_path, "prev.json", document))
    assert code == 3 and "batch_prev_root: the proof file says 0x6666" in err
    assert "L1 gives 0x" + on_chain.prev_root.hex() in err

    # Naive edits of the genuine file are refused before L1 is asked (exit 2, field named).
    for field, value in (("steps_root", "0x" + "44" * 32), ("coinbase", "0x" + "33" * 20)):
        document = {**json.loads(genuine.read_text()), field: value}
        code, out, err = _check(net, _write(tmp_path, f"edited-{field}.json", document))
        assert code == 2 and err.startswith("error: ") and f"{field} {value}" in err, err
        assert "FRAUD PROVEN" not in out

    # Proven, and rejected on chain: still proven, no longer challengeable.
    net.client.challenge(net.challenger, FraudProof.read(genuine), net.config.min_stake)
    assert net.client.batch(1).status is OnChainStatus.REJECTED
    code, out, _ = _check(net, genuine)
    assert code == 0 and "FRAUD PROVEN" in out and "rejected: not challengeable" in out
