"""`watchtower export` (issue 14, auditors): a bundle exported from an anvil devnet replays
offline to the verdicts the service reached on the same rollup, and an interrupted export resumes
from what it fetched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.service_process import ServiceProcess
from watchtower.cli import main
from watchtower.cli.service import _genesis
from watchtower.execute.genesis import allocation_root
from watchtower.export import export_bundle
from watchtower.l1.rollup import RollupClient
from watchtower.rollup.bundle import load_bundle
from watchtower.store.db import BatchStatus, Store
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind

pytestmark = pytest.mark.integration


class StopExportError(Exception):
    pass


@pytest.mark.timeout(240)
def test_an_exported_bundle_replays_to_the_services_verdicts(
    anvil_net: Devnet, tmp_path: Path
) -> None:
    net = anvil_net
    for _ in range(3):
        net.proposer.propose(5)
    net.proposer.propose(5, Fault(FaultKind.WRONG_FEE, 2))  # batch 3: fraud, left pending
    service = ServiceProcess(net, tmp_path / "wt", "--mode", "watch", "--confirmations", "1")
    try:
        service.wait_for("fraud_detected", batch=3, timeout=90)
    finally:
        assert service.terminate() == 0
    with Store(tmp_path / "wt" / "watchtower.sqlite") as store:
        service_verdicts = {
            r.idx: r.verdict.value
            for r in store.batches((BatchStatus.PENDING,))
            if r.verdict is not None
        }
    assert service_verdicts == {0: "valid", 1: "valid", 2: "valid", 3: "fraud"}

    out = tmp_path / "rollup.json"
    args = [
        "export", "--l1-rpc", str(net.rpc_url), "--rollup", net.client.address,
        "--genesis", str(net.genesis_path), "-o", str(out), "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["batches"] == 4

    replay = CliRunner().invoke(main, ["replay", str(out), "--json"])
    assert replay.exit_code == 1, replay.output  # fraud found
    offline = {b["batch"]: b["verdict"] for b in json.loads(replay.stdout)["batches"]}
    assert offline == service_verdicts
    fraud = json.loads(replay.stdout)["fraud"]
    assert (fraud["batch"], fraud["step"]) == (3, 2)


@pytest.mark.timeout(240)
def test_an_interrupted_export_resumes_and_a_wrong_genesis_is_refused(
    anvil_net: Devnet, tmp_path: Path
) -> None:
    net = anvil_net
    for _ in range(4):
        net.proposer.propose(3)
    client = RollupClient(net.w3, net.client.address)
    genesis = _genesis(net.genesis_path)
    out = tmp_path / "rollup.json"

    def stop_after_two(done: int, _total: int, _fetched: bool) -> None:
        if done == 2:
            raise StopExportError

    with pytest.raises(StopExportError):
        export_bundle(client, genesis, allocation_root(genesis), out, progress=stop_after_two)
    partial = out.with_name("rollup.json.partial")
    assert not out.exists() and len(partial.read_text().splitlines()) == 2

    written, fetched = export_bundle(client, genesis, allocation_root(genesis), out)
    assert (len(written.batches), fetched) == (4, 2)  # two came from the partial file
    assert not partial.exists()
    assert load_bundle(out).batches == written.batches

    other = tmp_path / "other-genesis.json"
    other.write_text(json.dumps({"0x" + "ab" * 20: {"balance": "0x1"}}))
    refused = CliRunner().invoke(
        main,
        [
            "export", "--l1-rpc", str(net.rpc_url), "--rollup", net.client.address,
            "--genesis", str(other), "-o", str(tmp_path / "x.json"),
        ],
    )  # fmt: skip
    assert refused.exit_code == 2 and "not this rollup's genesis" in refused.stderr
    assert refused.stderr.count("\n") == 1
