"""`watchtower challenge --batch N`, the operator's command: a dry run sends nothing; --send is
refused while a service sends from the same data directory, and otherwise commits and reveals
through the service's own journal (one stake, and a service started afterwards finds it done)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from watchtower.cli import main
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.service import ServiceConfig, ServiceMode, Watchtower
from watchtower.store.db import ChallengeState
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration


def test_operator_challenge_command_dry_run_refusal_and_send(
    anvil_net: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`watchtower challenge --batch N`: a dry run sends nothing; --send is refused while a
    service sends from the same data directory; then it commits and reveals through the
    journal, and the service started afterwards finds the challenge done (one stake)."""
    net = anvil_net
    data = tmp_path / "wt"
    watch = ServiceConfig(data, mode=ServiceMode.WATCH, confirmations=0)
    tower = Watchtower(watch, [net.client], devnet_genesis(), None)
    net.proposer.propose(3)
    fraud, _ = net.proposer.propose(4, Fault(FaultKind.WRONG_FEE, 2))
    tower.tick()
    tower.close()
    monkeypatch.setenv("WT_OPERATOR_KEY", net.challenger.key.hex())
    args = [
        "challenge", "--batch", str(fraud.index), "--l1-rpc", str(net.rpc_url),
        "--rollup", net.client.address, "--data-dir", str(data),
        "--genesis", str(net.genesis_path),
        "--key-env", "WT_OPERATOR_KEY",
    ]  # fmt: skip
    nonce = net.w3.eth.get_transaction_count(net.challenger.address)

    dry = CliRunner().invoke(main, args)
    assert dry.exit_code == 0, dry.output
    assert f"batch {fraud.index} step 2: the contract accepts the proof" in dry.stdout
    assert "reveal limit" in dry.stdout and "dry run: nothing sent" in dry.stdout
    assert net.w3.eth.get_transaction_count(net.challenger.address) == nonce

    running = Watchtower(
        ServiceConfig(data, confirmations=0), [net.client], devnet_genesis(), net.challenger
    )  # a service in challenge mode holds the data directory
    refused = CliRunner().invoke(main, [*args, "--send"])
    running.close()
    assert refused.exit_code == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "another watchtower process" in line and "is sending challenges" in line

    sent = CliRunner().invoke(main, [*args, "--send"])
    assert sent.exit_code == 0, sent.output
    assert f"challenge of batch {fraud.index}: succeeded" in sent.stdout
    assert net.client.batch(fraud.index).status is OnChain.REJECTED
    stake, reward = net.config.min_stake, net.config.proposer_bond // 2
    assert net.client.owed(net.challenger.address) == stake + reward
    assert net.w3.eth.get_transaction_count(net.challenger.address) == nonce + 2

    service = Watchtower(
        ServiceConfig(data, confirmations=0), [net.client], devnet_genesis(), net.challenger
    )
    service.tick()
    (challenge,) = service.store.challenges()
    assert challenge.state is ChallengeState.SUCCEEDED
    assert net.w3.eth.get_transaction_count(net.challenger.address) == nonce + 2  # nothing more
    service.close()
