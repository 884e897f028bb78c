"""Issue 10 on the in-process chain: a batch nobody can read halts verification (and says so)
without stopping the scan; verification resumes when it is rejected on chain; a halt by an
undecidable batch is announced too; and a second fraud at a reused index pages again."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import watchtower.execute.verify as verify_module
from tests.alert.receiver import Receiver
from tests.integration.conftest import rpc
from watchtower.alert import Alerter, WebhookSink
from watchtower.cli import main
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.l1.rollup import RollupClient
from watchtower.metrics import Metrics
from watchtower.rollup.calldata import CalldataError
from watchtower.rollup.types import Batch, Verdict, VerdictKind
from watchtower.service import ServiceConfig, Watchtower
from watchtower.store.db import BatchStatus
from watchtower_dev.chain import fund
from watchtower_dev.devnet import Devnet, dev_key, start_devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration

Alerts = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def _tower(
    net: Devnet, data: Path, alerts: Alerts, client: RollupClient | None = None, **kw: Any
) -> Watchtower:
    return Watchtower(
        ServiceConfig(data, confirmations=0),
        [client or net.client],
        devnet_genesis(),
        net.challenger,
        alert=lambda kind, **fields: alerts.append((kind, fields)),
        **kw,
    )


def _other_tower(net: Devnet, data: Path) -> Watchtower:
    key = dev_key("other-challenger")
    fund(net.w3, key.address, 10 * 10**18)
    return Watchtower(ServiceConfig(data, confirmations=0), [net.client], devnet_genesis(), key)


def _serve_unreadable(client: RollupClient, tx_hash: bytes) -> None:
    """``client`` behaves like an endpoint whose answer for ``tx_hash`` does not ABI-decode."""
    real = client.batch_calldata

    def batch_calldata(asked: bytes) -> bytes:
        if asked == tx_hash:
            raise CalldataError("offset 0x1000: the length word is past the end", b"\x12garbage")
        return real(asked)

    client.batch_calldata = batch_calldata  # type: ignore[method-assign]


def _on_tip(net: Devnet) -> Batch:
    """A batch of one no-op step on the contract's tip, whatever that root is."""
    index, root = net.client.next_index(), net.client.tip_root()
    batch = net.proposer._build([b""], None, index, root)
    net.proposer.post(batch)
    return batch


def _status(data: Path) -> tuple[str, dict[str, Any]]:
    runner = CliRunner()
    text = runner.invoke(main, ["status", "--data-dir", str(data)])
    assert text.exit_code == 0, text.output
    as_json = runner.invoke(main, ["status", "--data-dir", str(data), "--json"])
    assert as_json.exit_code == 0, as_json.output
    return text.stdout, json.loads(as_json.stdout)


def test_an_unreadable_batch_halts_verification_until_it_is_rejected_on_chain(
    tmp_path: Path,
) -> None:
    with start_devnet("embedded") as net:
        alerts: Alerts = []
        metrics = Metrics()
        ours_client = RollupClient(net.w3, net.client.address)
        ours = _tower(net, tmp_path / "a", alerts, ours_client, metrics=metrics)
        theirs = _other_tower(net, tmp_path / "b")
        net.proposer.propose(3)
        bad, receipt = net.proposer.propose(4, Fault(FaultKind.WRONG_ROOT, 2))
        bad_tx = bytes(receipt["transactionHash"])
        _serve_unreadable(ours_client, bad_tx)
        later = _on_tip(net)  # builds on the bad root (one undecodable, no-op transaction)

        report = ours.tick()
        assert report.disagreement is None
        assert report.verdicts == [(0, "valid")]
        rows = [(r.idx, r.verdict) for r in ours.store.batches()]
        assert rows == [(0, "valid"), (bad.index, "unreadable"), (later.index, "skipped")]
        unreadable = ours.store.batches()[1]
        assert unreadable.data == b"\x12garbage" and "length word" in unreadable.reason
        assert [kind for kind, _ in alerts] == ["batch_unreadable", "verification_halted"]
        (_, raised), (_, halted) = alerts
        assert raised["batch"] == bad.index and raised["batch_tx"] == "0x" + bad_tx.hex()
        assert raised["l1_block"] == unreadable.l1_block and "length word" in raised["reason"]
        assert (halted["batch"], halted["verdict"], halted["waiting"]) == (1, "unreadable", 1)
        assert halted["batch_tx"] == "0x" + bad_tx.hex()
        assert metrics.batches_unreadable._value.get() == 1
        assert metrics.batches_waiting._value.get() == 1
        text, document = _status(tmp_path / "a")
        assert f"UNREADABLE batch 1 (tx 0x{bad_tx.hex()}" in text
        assert "VERIFICATION HALTED at batch 1 (unreadable: calldata does not decode" in text
        assert "1 later batch(es) waiting: [2]" in text
        assert document["verification_halted"]["waiting"] == [2]
        assert [u["batch"] for u in document["unreadable"]] == [1]

        ours.tick()  # read again, still unreadable: nothing new
        assert [kind for kind, _ in alerts] == ["batch_unreadable", "verification_halted"]

        theirs.tick()  # someone with an honest endpoint proves the fraud
        theirs.tick()
        assert net.client.batch(bad.index).status is OnChain.REJECTED
        ours.tick()
        assert [kind for kind, _ in alerts][2:] == ["proposer_slashed"]
        statuses = [(r.idx, r.status) for r in ours.store.batches()]
        assert statuses == [
            (0, BatchStatus.PENDING),
            (1, BatchStatus.REJECTED),
            (2, BatchStatus.REJECTED),
        ]
        assert metrics.batches_waiting._value.get() == 0
        text, document = _status(tmp_path / "a")
        assert "VERIFICATION HALTED" not in text and document["verification_halted"] is None

        net.client.deposit_bond(net.proposer.account, net.config.proposer_bond)
        replacement, _ = net.proposer.propose(3)
        assert replacement.index == bad.index
        report = ours.tick()  # verification resumes by itself
        assert report.verdicts == [(replacement.index, "valid")]
        assert ours.store.challenges() == [] and ours.store.submissions() == []
        ours.close()
        theirs.close()


def test_an_undecidable_batch_raises_verification_halted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = verify_module.replay_batch  # the verification driver replays every batch

    def replay(state: Any, batch: Batch, **kwargs: Any) -> Verdict:
        if batch.index == 1:
            return Verdict(1, VerdictKind.UNDECIDABLE, len(batch.steps), reason="py-evm broke")
        return real(state, batch, **kwargs)

    monkeypatch.setattr(verify_module, "replay_batch", replay)
    with start_devnet("embedded") as net:
        alerts: Alerts = []
        tower = _tower(net, tmp_path, alerts)
        for _ in range(3):
            net.proposer.propose(2)
        report = tower.tick()
        assert report.verdicts == [(0, "valid"), (1, "undecidable")]
        assert [kind for kind, _ in alerts] == ["verification_halted"]
        fields = alerts[0][1]
        assert (fields["batch"], fields["verdict"], fields["waiting"]) == (1, "undecidable", 1)
        assert fields["reason"] == "py-evm broke"
        net.proposer.propose(2)
        tower.tick()  # one more batch waits; the halt was announced already
        assert [kind for kind, _ in alerts] == ["verification_halted"]
        assert [r.verdict for r in tower.store.batches()] == [
            "valid",
            "undecidable",
            "skipped",
            "skipped",
        ]
        text, _ = _status(tmp_path)
        assert "VERIFICATION HALTED at batch 1 (undecidable: py-evm broke); 2 later" in text
        tower.close()


def test_a_second_fraud_at_a_reused_index_and_step_pages_again(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Fraud at batch 1 step 1, challenged and rejected; the proposer posts another fraud at
    index 1 step 1: two fraud_detected and two proposer_slashed reach the receiver."""
    secret = b"dedup-test-secret"
    with (
        start_devnet("embedded") as net,
        Alerter(tmp_path / "alerts.sqlite", [WebhookSink(receiver.url(), secret, 2.0)]) as alert,
    ):
        tower = Watchtower(
            ServiceConfig(tmp_path / "wt", confirmations=0),
            [net.client],
            devnet_genesis(),
            net.challenger,
            alert=alert,
        )
        net.proposer.propose(3)
        frauds = []
        for _ in range(2):
            fraud, receipt = net.proposer.propose(4, Fault(FaultKind.WRONG_FEE, 1))
            frauds.append((fraud, bytes(receipt["transactionHash"])))
            for _ in range(4):
                tower.tick()
                if net.client.batch(fraud.index).status is OnChain.REJECTED:
                    break
            tower.tick()  # the rejection is scanned
            assert net.client.batch(fraud.index).status is OnChain.REJECTED
            net.client.deposit_bond(net.proposer.account, net.config.proposer_bond)
        assert frauds[0][0].index == frauds[1][0].index == 1
        for _ in range(3):
            alert.deliver()
        tower.close()

    bodies = [json.loads(r.body) for r in receiver.accepted()]
    kinds = Counter(b["kind"] for b in bodies)
    assert kinds["fraud_detected"] == 2, kinds
    assert kinds["proposer_slashed"] == 2, kinds
    assert kinds["challenge_succeeded"] == 2, kinds
    detected = [b["fields"] for b in bodies if b["kind"] == "fraud_detected"]
    assert {(f["batch"], f["step"]) for f in detected} == {(1, 1)}
    assert {f["batch_tx"] for f in detected} == {"0x" + tx.hex() for _, tx in frauds}
    slashed = [b["fields"] for b in bodies if b["kind"] == "proposer_slashed"]
    assert [f["batch"] for f in slashed] == [1, 1]
    assert len({f["rejection_log"] for f in slashed}) == 2
    keys = [b["dedup_key"] for b in bodies]
    assert len(keys) == len(set(keys))  # every event once


def test_an_unreadable_batch_replaced_by_a_reorg_no_longer_halts(
    anvil_net: Devnet, tmp_path: Path
) -> None:
    net = anvil_net
    alerts: Alerts = []
    client = RollupClient(net.w3, net.client.address)
    tower = _tower(net, tmp_path, alerts, client)
    net.proposer.propose(3)
    tower.tick()
    snapshot = rpc(net, "evm_snapshot")
    gone, receipt = net.proposer.propose(3)
    _serve_unreadable(client, bytes(receipt["transactionHash"]))
    tower.tick()
    assert [(r.idx, r.verdict) for r in tower.store.batches()] == [(0, "valid"), (1, "unreadable")]
    assert [kind for kind, _ in alerts] == ["batch_unreadable", "verification_halted"]

    rpc(net, "evm_revert", snapshot)
    replacement, _ = net.proposer.propose(5)  # another batch at the same index
    for _ in range(3):
        rpc(net, "evm_mine")
    report = tower.tick()
    assert report.reorg_from is not None
    assert report.verdicts == [(replacement.index, "valid")]
    statuses = {r.final_root: (r.status, r.verdict) for r in tower.store.batches()}
    assert statuses[gone.final_root] == (BatchStatus.REMOVED, "unreadable")
    assert statuses[replacement.final_root] == (BatchStatus.PENDING, "valid")
    kinds = [kind for kind, _ in alerts]  # deeper than 0 confirmations: deep_reorg
    assert kinds == ["batch_unreadable", "verification_halted", "deep_reorg"]
    tower.close()
