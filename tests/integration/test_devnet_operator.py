"""What an operator of a devnet needs (issue 14, Operators): a bond command and an error that names
it, blocks mined on request, `propose` finding a running devnet's state (and one line when it
cannot), and a running devnet that survives a faulty batch, stops on SIGTERM and says in one line
when anvil dies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from web3 import HTTPProvider, Web3

from tests.integration.conftest import require_anvil
from watchtower.cli import main
from watchtower.errors import InputError
from watchtower_dev.cli_options import _post_batches
from watchtower_dev.devnet import start_devnet

pytestmark = pytest.mark.integration
ETHER = 10**18
WATCHTOWER = str(Path(sys.executable).parent / "watchtower")


def _ok(args: list[str], env: dict[str, str]) -> str:
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def _one_line_error(args: list[str], env: dict[str, str]) -> str:
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_bond_after_the_free_bond_is_gone_and_mine(tmp_path: Path) -> None:
    require_anvil()
    with start_devnet("anvil") as net:
        proposer = net.proposer
        l1 = ["--l1-rpc", str(net.rpc_url), "--rollup", net.client.address]
        env = {"WT_P": proposer.account.key.hex(), "WT_C": net.challenger.key.hex()}
        per_batch = net.client.proposer_bond()
        fn = net.client.contract.functions.releaseBond()
        net.client._send(proposer.account, fn, "release bond")
        assert net.client.free_bond(proposer.account.address) == 0
        proposer.top_up_bond = False  # as a proposer whose bond is gone (slashed, released)
        with pytest.raises(InputError, match=r"free bond below proposerBond.*`watchtower bond"):
            _post_batches(proposer, 1, 2, None)

        out = _ok(["bond", *l1, "--key-env", "WT_P"], env)
        assert f"deposited {per_batch // ETHER} ETH" in out and "enough for 1 more" in out
        assert net.client.free_bond(proposer.account.address) == per_batch
        assert "nothing deposited" in _ok(["bond", *l1, "--key-env", "WT_P"], env)
        out = _ok(["bond", *l1, "--key-env", "WT_P", "--amount", "3"], env)
        assert net.client.free_bond(proposer.account.address) == per_batch + 3 * ETHER
        _post_batches(proposer, 1, 2, None)  # proposes again
        assert net.client.next_index() == 1

        out = _ok(["bond", *l1, "--key-env", "WT_C", "--amount", "2"], env)  # not registered
        assert "registered with a bond of 2 ETH" in out
        assert net.client.free_bond(net.challenger.address) == 2 * ETHER

        before = net.w3.eth.get_block("latest")
        out = _ok(["mine", "--l1-rpc", str(net.rpc_url), "--blocks", "3", "--seconds", "500"], {})
        after = net.w3.eth.get_block("latest")
        assert after["number"] == before["number"] + 3
        assert after["timestamp"] >= before["timestamp"] + 500
        assert f"head is block {after['number']}" in out


def test_propose_finds_a_devnets_state_and_refuses_a_tip_it_does_not_know(tmp_path: Path) -> None:
    """The README used to crash here (MissingAccountTrieNode, 100 lines): the proposer's state
    lived where the next `propose` could not see it."""
    require_anvil()
    devnet_dir = tmp_path / "devnet"
    with start_devnet("anvil", data_dir=devnet_dir) as net:
        net.proposer.propose(3)
        net.proposer.store.close()  # another proposer (here: this process) opens it now
        l1 = ["--l1-rpc", str(net.rpc_url), "--rollup", net.client.address]
        env = {"WT_P": net.proposer.account.key.hex()}
        propose = ["propose", *l1, "--key-env", "WT_P", "--txs", "3"]

        line = _one_line_error([*propose, "--data-dir", str(tmp_path / "elsewhere")], env)
        assert "not a state this proposer computed" in line and "batch 0" in line

        _ok([*propose, "--data-dir", str(devnet_dir)], env)
        out = _ok([*propose, "--data-dir", str(devnet_dir), "--fault", "skip-tx"], env)
        assert "skip-tx@2" in out
        assert net.client.next_index() == 3
        # An honest batch cannot be built on the faulty one: one line saying why.
        line = _one_line_error([*propose, "--data-dir", str(devnet_dir)], env)
        assert "batch 2" in line and "wait until it is rejected" in line


def _start_devnet_process(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    data = tmp_path / "devnet"
    log = tmp_path / "devnet.log"
    args = [WATCHTOWER, "devnet", "--l1", "anvil", "--keep-running", "--data-dir", str(data)]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*args, "--batches", "1", "--txs", "3", "--interval", "0.3", *extra],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
    deadline = time.monotonic() + 60
    while not (data / "env").exists():
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"devnet exited: {stderr}")
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return process, log


def _env(tmp_path: Path) -> dict[str, str]:
    text = (tmp_path / "devnet" / "env").read_text()
    return dict(re.findall(r"^export (\w+)=(\S+)$", text, re.MULTILINE))


def _wait_for(log: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_a_running_devnet_waits_on_a_faulty_batch_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`devnet --fault wrong-root --keep-running` used to crash its loop on the next batch
    (KeyError) and take anvil down. Now it mines blocks until the batch is rejected."""
    require_anvil()
    process, log = _start_devnet_process(tmp_path, "--fault", "wrong-root")
    anvil: list[int] = []
    try:
        env = _env(tmp_path)
        assert {"L1_RPC", "ROLLUP", "GENESIS", "PROPOSER_KEY", "CHALLENGER_KEY", "USER_KEY"} <= set(
            env
        )
        assert Path(env["GENESIS"]).is_file()
        _wait_for(log, "a state this proposer did not compute")
        w3 = Web3(HTTPProvider(env["L1_RPC"]))
        first = w3.eth.block_number
        time.sleep(1.5)
        assert w3.eth.block_number > first  # it mines: the faulty batch gets confirmations
        assert process.poll() is None
        anvil = _children(process.pid)
        assert anvil
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr + log.read_text()
    assert log.read_text().rstrip().endswith("stopped")
    for pid in anvil:  # anvil stopped with it
        assert not Path(f"/proc/{pid}").exists() or "Z" in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "Z"


def test_a_running_devnet_whose_anvil_dies_says_so_in_one_line(tmp_path: Path) -> None:
    require_anvil()
    process, log = _start_devnet_process(tmp_path)
    try:
        _wait_for(log, "proposing 3 transfers")
        (anvil,) = _children(process.pid)
        os.kill(anvil, signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert process.returncode == 2, (stderr, log.read_text())
    assert len([line for line in lines if line.startswith("error:")]) == 1, stderr
    assert "anvil at http://127.0.0.1:" in lines[-1] and "exited" in lines[-1], lines
    assert "Traceback" not in stderr
