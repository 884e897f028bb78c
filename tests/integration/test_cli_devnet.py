"""The devnet and propose commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.conftest import require_anvil
from watchtower.cli import main
from watchtower.rollup.bundle import parse_genesis
from watchtower_dev.devnet import start_devnet
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration


def test_devnet_posts_batches_and_a_faulty_one(tmp_path: Path) -> None:
    args = ["devnet", "--batches", "2", "--txs", "3", "--fault", "skip-tx", "--fault-step", "1"]
    result = CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "skip-tx@1" in result.stdout
    assert "rollup contract 0x" in result.stdout
    # What `watchtower run --genesis` and `propose --key-env` need, for walk-throughs.
    assert f"L2 genesis {tmp_path / 'genesis.json'}" in result.stdout
    assert "PROPOSER_KEY=0x" in result.stdout and "CHALLENGER_KEY=0x" in result.stdout
    genesis = parse_genesis(json.loads((tmp_path / "genesis.json").read_text()))
    assert genesis == devnet_genesis()


def test_propose_against_a_running_anvil_devnet(tmp_path: Path) -> None:
    require_anvil()
    with start_devnet("anvil") as net:
        key = {"WT_PROPOSER_KEY": net.proposer.account.key.hex()}
        args = ["propose", "--l1-rpc", str(net.rpc_url), "--rollup", net.client.address]
        args += ["--key-env", "WT_PROPOSER_KEY"]
        args += ["--data-dir", str(tmp_path), "--batches", "2", "--txs", "4"]
        no_key = CliRunner().invoke(main, [a for a in args if a not in key and a != "--key-env"])
        assert no_key.exit_code == 2 and "no proposer key" in no_key.stderr  # no dev-key default
        assert net.client.next_index() == 0
        result = CliRunner().invoke(main, args, env=key)
        assert result.exit_code == 0, result.output
        assert net.client.next_index() == 2
        # Again from the same data dir: it continues on the contract's tip.
        result = CliRunner().invoke(main, [*args[:-4], "--batches", "1", "--txs", "2"], env=key)
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
                "--key-env",
                "WT_PROPOSER_KEY",
            ],
            env=key,
        )
        assert bad.exit_code == 2 and "cannot reach the L1 node" in bad.stderr
        assert "APITOKEN" not in bad.stderr  # endpoints are named by host:port only
