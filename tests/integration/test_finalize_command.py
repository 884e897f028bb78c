"""`watchtower finalize` on anvil: a dry run lists what is due, --send finalizes in order."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from tests.integration.conftest import rpc
from watchtower.cli import main
from watchtower.l1.rollup import OnChainStatus
from watchtower_dev.devnet import Devnet

pytestmark = pytest.mark.integration


def test_finalize_lists_then_finalizes_the_batches_due(anvil_net: Devnet) -> None:
    net = anvil_net
    net.proposer.propose(2)
    net.proposer.propose(2)
    base = ["finalize", "--l1-rpc", str(net.rpc_url), "--rollup", net.client.address]
    runner = CliRunner()

    early = runner.invoke(main, base)
    assert early.exit_code == 0 and "nothing to finalize; batch 0's window ends in" in early.stdout

    period = int(net.client.contract.functions.challengePeriod().call())
    rpc(net, "evm_increaseTime", period + 1)
    rpc(net, "evm_mine")
    dry = runner.invoke(main, base)
    assert dry.exit_code == 0 and "2 batch(es) due: 0, 1 (dry run" in dry.stdout
    assert net.client.batch(0).status is OnChainStatus.PENDING  # a dry run sends nothing

    no_key = runner.invoke(main, [*base, "--send"])
    assert no_key.exit_code == 2 and "needs a key" in no_key.stderr

    env = {**os.environ, "FIN_KEY": net.challenger.key.hex()}
    sent = runner.invoke(main, [*base, "--send", "--key-env", "FIN_KEY"], env=env)
    assert sent.exit_code == 0, sent.output
    assert "finalized batch 0" in sent.stdout and "finalized batch 1" in sent.stdout
    assert [net.client.batch(i).status for i in (0, 1)] == [OnChainStatus.FINALIZED] * 2
    again = runner.invoke(main, base)
    assert again.exit_code == 0 and again.stdout.startswith("nothing to finalize")
