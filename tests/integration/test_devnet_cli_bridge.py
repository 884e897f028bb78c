"""The bridge's development commands: deposit, l2-withdraw, claim (on anvil, as a person runs
them against a devnet), devnet's --deposit/--withdraw/--claim and bridge faults (on the
embedded chain), and their one-line refusals of bad arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.conftest import require_anvil
from watchtower.cli import main
from watchtower.errors import InputError
from watchtower.rollup.bridge import claimed_withdrawals
from watchtower_dev.cli_options import _post_batches
from watchtower_dev.devnet import start_devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.users import advance_time, deposit

pytestmark = pytest.mark.integration
ETHER = 10**18
NOWHERE = "http://127.0.0.1:9"
ROLLUP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_devnet_tries_the_bridge_on_the_embedded_chain(tmp_path: Path) -> None:
    args = ["devnet", "--batches", "2", "--txs", "2", "--deposit", "5", "--withdraw", "2"]
    result = CliRunner().invoke(main, [*args, "--claim", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "USER_KEY=0x" in out
    assert "deposit 0: 5 ETH from USER" in out
    assert "withdrawal: 2 ETH by USER" in out
    assert "bridge balance on L1: 64,005 ETH" in out  # 64,000 of genesis backing + the deposit
    assert "finalized batches [0, 1]" in out
    assert "claimed 2 ETH for 0x" in out and "owed to it now: 2 ETH" in out


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        ("forge-withdrawal", "forge-withdrawal@1"),
        ("invent-deposit", "invent-deposit@1"),
        ("wrong-deposit-amount", "wrong-deposit-amount@1"),
        ("skip-deposit", "skip-deposit"),
    ],
)
def test_devnet_bridge_faults(fault: str, shown: str) -> None:
    args = ["devnet", "--batches", "2", "--txs", "3", "--fault", fault, "--fault-step", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert shown in result.stdout
    if fault in ("wrong-deposit-amount", "skip-deposit"):  # the devnet makes the deposit
        assert "deposit 0: 1 ETH from USER" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deposit", "--to", "0x12", "--amount", "1"], "--to '0x12' is not an address"),
        (["deposit", "--to", ROLLUP, "--amount", "lots"], "--amount 'lots' is not an amount"),
        (["deposit", "--to", ROLLUP, "--amount", "-1"], "must be more than zero"),
        (["deposit", "--to", ROLLUP, "--amount", "1e-30"], "not a whole number of wei"),
        (["deposit", "--to", ROLLUP, "--amount", "1"], "no depositor key"),
        (["l2-withdraw", "--amount", "0"], "must be more than zero"),
        (["l2-withdraw", "--amount", "1"], "no L2 key"),
        (["l2-withdraw", "--amount", "1", "--user", "1", "--key-env", "K"], "not both"),
        (["claim", "--account", "bob"], "--account 'bob' is not an address"),
        (["claim"], "no key to send the claims"),
        (["claim", "--key-env", "WT_UNSET_KEY"], "$WT_UNSET_KEY is not set"),
    ],
)
def test_bad_arguments_are_one_line_errors(args: list[str], message: str) -> None:
    full = [args[0], "--l1-rpc", NOWHERE, "--rollup", ROLLUP, *args[1:]]
    result = CliRunner().invoke(main, full, env={"WT_UNSET_KEY": ""})
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["devnet", "--deposit", "abc"], "--deposit 'abc' is not an amount of ether"),
        (["devnet", "--withdraw", "0"], "--withdraw '0' must be more than zero"),
        (["devnet", "--batches", "0", "--claim"], "need at least one batch"),
        (["demo", "--fault", "skip-deposit"], "'skip-deposit' is not one of"),
    ],
)
def test_devnet_and_demo_bad_arguments(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_propose_refuses_a_fault_it_cannot_apply_in_one_line(tmp_path: Path) -> None:
    """wrong-deposit-amount needs a pending deposit: without one, one line, nothing posted."""
    with start_devnet("embedded") as net:
        with pytest.raises(InputError, match=r"wrong-deposit-amount@0: .*pending deposit"):
            _post_batches(net.proposer, 1, 2, Fault(FaultKind.WRONG_DEPOSIT_AMOUNT, 0))
        assert net.client.next_index() == 0


def test_deposit_withdraw_claim_on_anvil(tmp_path: Path) -> None:
    require_anvil()
    with start_devnet("anvil") as net:
        env = {
            "WT_PROPOSER_KEY": net.proposer.account.key.hex(),
            "WT_USER_KEY": net.user.key.hex(),
        }
        l1 = ["--l1-rpc", str(net.rpc_url), "--rollup", net.client.address]
        data = ["--data-dir", str(tmp_path)]
        runner = CliRunner()

        def run(*args: str) -> str:
            result = runner.invoke(main, list(args), env=env)
            assert result.exit_code == 0, result.output
            return result.stdout

        out = run("deposit", *l1, "--key-env", "WT_USER_KEY", "--to", net.user.address,
                  "--amount", "5")  # fmt: skip
        assert "deposit 0: 5 ETH from " + net.user.address in out
        assert "bridge balance on L1: 64,005 ETH" in out
        assert net.client.deposit_count() == 1

        propose = ["propose", *l1, "--key-env", "WT_PROPOSER_KEY", *data, "--txs", "2"]
        run(*propose)
        assert net.client.deposits_consumed() == 1

        out = run("l2-withdraw", *l1, *data, "--key-env", "WT_USER_KEY", "--amount", "2")
        assert "withdrawal of 2 ETH by 0x" in out and (tmp_path / "l2-mempool").exists()
        too_much = runner.invoke(
            main, ["l2-withdraw", *l1, *data, "--key-env", "WT_USER_KEY", "--amount", "4"], env=env
        )
        # The check reads the balance at the tip (5 ETH), not after the mempool: 4 passes
        # here and is an invalid step (a no-op) on L2; 10 is refused at once.
        assert too_much.exit_code == 0, too_much.output
        broke = runner.invoke(
            main, ["l2-withdraw", *l1, *data, "--key-env", "WT_USER_KEY", "--amount", "10"],
            env=env,
        )  # fmt: skip
        assert broke.exit_code == 2 and "has 5 ETH on L2" in broke.stderr
        run(*propose)  # includes both withdrawals; the second is invalid (funds): a no-op

        out = run("claim", *l1, "--key-env", "WT_USER_KEY")
        assert "nothing to claim" in out and "waiting: 2 ETH for 0x" in out
        advance_time(net.w3, net.config.challenge_period + 60)
        out = run("claim", *l1, "--key-env", "WT_USER_KEY")
        assert "finalized batches 0, 1" in out
        assert "claimed 1 withdrawal(s), 2 ETH" in out
        assert net.client.owed(net.user.address) == 2 * ETHER
        assert "nothing to claim" in run("claim", *l1, "--key-env", "WT_USER_KEY")


def test_l2_withdraw_hands_a_running_devnet_its_withdrawal(tmp_path: Path) -> None:
    """The walk-through: a devnet runs (here: in this process) with --data-dir, and
    `watchtower l2-withdraw` (another process) signs a withdrawal into its mempool."""
    require_anvil()
    binary = Path(sys.executable).parent / "watchtower"
    with start_devnet("anvil", data_dir=tmp_path) as net:
        user = bytes.fromhex(net.user.address[2:])
        deposit(net.client, net.user, user, 5 * ETHER)
        net.proposer.propose(2)
        args = [str(binary), "l2-withdraw", "--l1-rpc", str(net.rpc_url), "--rollup",
                net.client.address, "--data-dir", str(tmp_path), "--key-env", "WT_USER_KEY",
                "--amount", "1.25"]  # fmt: skip
        env = {**os.environ, "WT_USER_KEY": net.user.key.hex()}
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "withdrawal of 1.25 ETH by 0x" + user.hex() in done.stdout
        batch, _ = net.proposer.propose(2)
        (made,) = claimed_withdrawals(batch, net.proposer.params)
        assert (made.account, made.amount, made.step) == (user, 125 * ETHER // 100, 0)
        assert net.proposer.mempool.txs() == []
