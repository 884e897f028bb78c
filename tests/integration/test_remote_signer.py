"""The service challenges with a key it never holds: anvil, a real signer process, signs the commit
and the reveal over ``eth_signTransaction`` for one of its unlocked accounts (issue 14)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.conftest import rpc
from tests.integration.service_process import ServiceProcess
from watchtower.cli import main
from watchtower.l1.rollup import OnChainStatus
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)
def test_a_fraud_is_challenged_through_a_remote_signer(anvil_net: Devnet, tmp_path: Path) -> None:
    net = anvil_net
    signer_account = net.w3.eth.accounts[7]  # unlocked in anvil, unknown to the service
    env = {
        **os.environ,
        "WATCHTOWER_SIGNER_REMOTE_URL": str(net.rpc_url),
        "WATCHTOWER_SIGNER_REMOTE_ADDRESS": signer_account,
    }
    args = [
        "run",
        "--l1-rpc", str(net.rpc_url),
        "--rollup", net.client.address,
        "--genesis", str(net.genesis_path),
        "--data-dir", str(tmp_path / "wt"),
        "--poll-interval", "0.2",
        "--confirmations", "1",
        "--log-format", "json",
    ]  # fmt: skip

    # `config check --strict` finds the remote signer and its account
    check = CliRunner().invoke(
        main,
        ["config", "check", "--strict"],
        env={
            **env,
            "WATCHTOWER_L1_RPC": str(net.rpc_url),
            "WATCHTOWER_L1_ROLLUP": net.client.address,
            "WATCHTOWER_SERVICE_GENESIS": str(net.genesis_path),
            "WATCHTOWER_SERVICE_DATA_DIR": str(tmp_path / "wt"),
        },
    )
    assert check.exit_code == 0, check.output

    net.proposer.propose(4, Fault(FaultKind.WRONG_ROOT, 2))
    service = ServiceProcess.with_args(args, env=env)
    try:
        service.wait_for("fraud_detected", batch=0, timeout=90)
        for _ in range(240):
            if net.client.batch(0).status is OnChainStatus.REJECTED:
                break
            rpc(net, "evm_mine")
            time.sleep(0.25)
        assert net.client.batch(0).status is OnChainStatus.REJECTED
        service.wait_for("challenge_succeeded", batch=0, timeout=60)
    finally:
        assert service.terminate() == 0
    # the reward went to the remote signer's account: it signed the reveal
    assert (
        net.client.owed(signer_account) == net.client.min_stake() + net.client.proposer_bond() // 2
    )
