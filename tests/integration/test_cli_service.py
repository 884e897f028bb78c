"""The service commands: demo, status, withdraw, and run's refusal of bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES
from tests.integration.conftest import require_anvil
from watchtower.cli import main
from watchtower.service import ServiceConfig, Watchtower
from watchtower_dev.devnet import start_devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration


def test_demo_tells_the_whole_story() -> None:
    args = ["demo", "--honest", "3", "--txs", "8", "--fault", "wrong-fee", "--fault-step", "4"]
    result = CliRunner().invoke(main, args)  # the bridge story: tests/integration/test_demo.py
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "batches verified" in out and "batch 3, step 4 (wrong-fee)" in out
    assert "challenge gas" in out and "stake returned" in out and "1 ETH" in out


def test_status_and_withdraw(tmp_path: Path) -> None:
    require_anvil()
    with start_devnet("anvil") as net:
        tower = Watchtower(
            ServiceConfig(tmp_path, confirmations=0), [net.client], devnet_genesis(), net.challenger
        )
        net.proposer.propose(3)
        net.proposer.propose(3, Fault(FaultKind.SKIP_TX, 0))
        for _ in range(3):  # fraud and commit, reveal, receipt
            tower.tick()
        tower.close()
        url, rollup = str(net.rpc_url), net.client.address
        runner = CliRunner()
        result = runner.invoke(
            main,
            ["status", "--data-dir", str(tmp_path), "--json", "--l1-rpc", url,
             "--signer", net.challenger.address],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        status = json.loads(result.stdout)
        assert status["batches_verified"] == 1 and status["last_verified_batch"] == 0
        (challenge,) = status["challenges"]
        # an ended challenge has no deadline to watch (the field is for open ones)
        assert challenge["state"] == "succeeded" and challenge["seconds_to_deadline"] is None
        owed = status["stakes_owed_wei"]
        assert owed == net.config.min_stake + net.config.proposer_bond // 2

        env = {"WT_KEY": net.challenger.key.hex()}
        args = ["withdraw", "--l1-rpc", url, "--rollup", rollup, "--data-dir", str(tmp_path)]
        result = runner.invoke(main, [*args, "--key-env", "WT_KEY"], env=env)
        assert result.exit_code == 0, result.output
        assert f"withdrew {owed} wei" in result.stdout
        result = runner.invoke(main, ["status", "--data-dir", str(tmp_path), "--json"])
        assert json.loads(result.stdout)["withdrawn_wei"] == owed
        result = runner.invoke(main, [*args, "--key-env", "WT_KEY"], env=env)
        assert "nothing owed" in result.stdout


def test_run_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    genesis = str(FIXTURES / "honest.json")  # a bundle: its genesis
    base = ["run", "--data-dir", str(tmp_path), "--log-format", "console", "--genesis", genesis]
    result = runner.invoke(
        main,
        [*base, "--l1-rpc", "http://127.0.0.1:9", "--rollup", "0x" + "11" * 20,
         "--startup-timeout", "0.2"],
    )  # fmt: skip
    # A node down is not bad input: retried, then EX_TEMPFAIL (restarted by supervisors).
    assert result.exit_code == 75 and "cannot reach the L1 node" in result.stderr
    result = runner.invoke(main, [*base, "--l1-rpc", "http://x", "--rollup", "nope"])
    assert result.exit_code == 2 and "expected a 0x-prefixed 20-byte address" in result.stderr
    result = runner.invoke(main, [*base, "--l1-rpc", "http://x", "--rollup", "0x" + "11" * 20,
                                  "--confirmations", "soon"])  # fmt: skip
    assert result.exit_code == 2 and "'soon' is not a number of blocks" in result.stderr

    key = tmp_path / "keystore.json"
    key.write_text("{}")
    os.chmod(key, 0o644)
    result = runner.invoke(main, [*base, "--l1-rpc", "http://x", "--rollup", "0x" + "11" * 20,
                                  "--keystore", str(key), "--password-env", "P"])  # fmt: skip
    assert result.exit_code == 2 and "readable by other users" in result.stderr
    bad_key = {"WT_BAD": "0xnot-a-key"}
    result = runner.invoke(main, [*base, "--l1-rpc", "http://x", "--rollup", "0x" + "11" * 20,
                                  "--key-env", "WT_BAD"], env=bad_key)  # fmt: skip
    assert result.exit_code == 2 and "not hold a valid hex private key" in result.stderr
    assert "not-a-key" not in result.stderr


def test_run_refuses_a_stake_below_min_stake_at_start_up(tmp_path: Path) -> None:
    """A real `watchtower run` process on anvil with --stake below the contract's minStake():
    every challenge would revert, so it exits 2 at start-up with one line naming both values
    (it used to start, and the challenge failed forever)."""
    import subprocess
    import sys

    require_anvil()
    with start_devnet("anvil") as net:
        env = {**os.environ, "WT_CHALLENGER_KEY": net.challenger.key.hex()}
        below = net.config.min_stake - 1
        args = [
            sys.executable, "-m", "watchtower", "run",
            "--l1-rpc", str(net.rpc_url), "--rollup", net.client.address,
            "--genesis", str(net.genesis_path),
            "--data-dir", str(tmp_path / "data"), "--key-env", "WT_CHALLENGER_KEY",
            "--stake", str(below), "--log-format", "json",
        ]  # fmt: skip
        result = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert f"{below} wei" in lines[0] and f"minStake() of {net.config.min_stake} wei" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "data" / "watchtower.sqlite").exists()  # refused before opening


def test_run_refuses_a_genesis_other_than_the_contracts(tmp_path: Path) -> None:
    """`run` has no default genesis: the one given is checked against genesisRoot() at
    start-up, and a mismatch exits 2 with one line naming both roots."""
    require_anvil()
    with start_devnet("anvil") as net:
        args = ["run", "--l1-rpc", str(net.rpc_url), "--rollup", net.client.address,
                "--mode", "watch", "--data-dir", str(tmp_path / "data"),
                "--log-format", "json"]  # fmt: skip
        result = CliRunner().invoke(main, [*args, "--genesis", str(FIXTURES / "honest.json")])
        deployed = "0x" + net.client.genesis_root().hex()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "the genesis allocation has root 0x" in lines[0] and deployed in lines[0]
