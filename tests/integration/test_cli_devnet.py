"""The devnet and propose commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.conftest import require_anvil
from watchtower.cli import main
from watchtower_dev.devnet import start_devnet

pytestmark = pytest.mark.integration


def test_devnet_posts_batches_and_a_faulty_one() -> None:
    result = CliRunner().invoke(
        main, ["devnet", "--batches", "2", "--txs", "3", "--fault", "skip-tx", "--fault-step", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "skip-tx@1" in result.stdout
    assert "rollup contract 0x" in result.stdout


def test_propose_against_a_running_anvil_devnet(tmp_path: Path) -> None:
    require_anvil()
    with start_devnet("anvil") as net:
        args = ["propose", "--l1-rpc", str(net.rpc_url), "--rollup", net.client.address]
        args += ["--data-dir", str(tmp_path), "--batches", "2", "--txs", "4"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert net.client.next_index() == 2
        # Again from the same data dir: it continues on the contract's tip.
        result = CliRunner().invoke(main, [*args[:-4], "--batches", "1", "--txs", "2"])
        assert result.exit_code == 0, result.output
        assert net.client.next_index() == 3

        bad = CliRunner().invoke(
            main,
            [
                "propose",
                "--l1-rpc",
                "http://127.0.0.1:9/v3/APITOKEN",
                "--rollup",
                net.client.address,
            ],
        )
        assert bad.exit_code == 2 and "cannot reach the L1 node" in bad.stderr
        assert "APITOKEN" not in bad.stderr  # endpoints are named by host:port only
