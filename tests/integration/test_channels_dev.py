"""The channel development commands on a real anvil node, in sequence as a person runs them:
channel-devnet deploys on the node, Alice and Bob open a channel and pay each other, Bob's
monitoring request is written, Alice closes with a stale state, the request's state answers it
(`channel update`, what the guardian does), the channel settles and pays everyone what the latest
state gives them, to the wei; a payment channel is claimed and another reclaimed; a chequebook
is drained and its cheque bounces. Every balance is read back from the chain."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from web3 import Web3

from tests.integration.conftest import require_anvil
from watchtower.channels import codec, eip712
from watchtower.channels.types import ChannelState, Kind
from watchtower.cli import main
from watchtower_dev.chain import AnvilNode, start_anvil
from watchtower_dev.channels import ETHER, contract_at

pytestmark = pytest.mark.integration


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    require_anvil()
    anvil = start_anvil()
    try:
        yield anvil
    finally:
        anvil.stop()


def _env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        match = re.match(r"export (\w+)=(.*)", line)
        if match:
            out[match.group(1)] = match.group(2).strip("'")
    return out


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, ok: bool = True) -> Result:
        result = CliRunner().invoke(main, list(args), env=self.env)
        if ok:
            assert result.exit_code == 0, (args, result.output)
        return result


def test_the_channel_commands_on_anvil(node: AnvilNode, tmp_path: Path) -> None:
    data = tmp_path / "chdev"
    cli = Cli(dict(os.environ))
    out = cli("channel-devnet", "--l1-rpc", node.url, "--data-dir", str(data)).stdout
    assert "StateChannel: 0x" in out and "public devnet key: ALICE_KEY=0x" in out
    env = _env(data / "env")
    assert {"L1_RPC", "STATE_CHANNEL", "PAYMENT_CHANNEL", "CHEQUEBOOK", "CHANNEL_WALLETS"} <= set(
        env
    )
    cli.env.update(env)
    w3 = node.web3()
    alice, bob, guardian = env["ALICE_ADDRESS"], env["BOB_ADDRESS"], env["GUARDIAN_ADDRESS"]
    sc = ["--l1-rpc", node.url, "--contract", env["STATE_CHANNEL"], "--wallets", str(data / "w")]

    # Open, and pay both ways: nonce 1 favours Alice, nonce 2 Bob.
    cli("channel", "open", *sc, "--key-env", "ALICE_KEY", "--peer-key-env", "BOB_KEY",
        "--deposit", "5", "--peer-deposit", "5", "--window", "600")  # fmt: skip
    pay = ["channel", "pay", *sc, "--channel", "0"]
    cli(*pay, "--key-env", "BOB_KEY", "--peer-key-env", "ALICE_KEY", "--amount", "1")
    request_file = tmp_path / "bob.json"
    out = cli(*pay, "--key-env", "ALICE_KEY", "--peer-key-env", "BOB_KEY",
              "--amount", "3.000000000000000007", "--reward", "0.01", "--guardian", guardian,
              "--request", str(request_file)).stdout  # fmt: skip
    assert "nonce 2" in out and "B 7.000000000000000007 ETH" in out
    # The request is what the guardian's intake parses, signed by both parties and by Bob.
    request = codec.loads(request_file.read_bytes())
    state = request.message
    assert request.kind is Kind.STATE and state == ChannelState(0, 2, 3 * ETHER - 7, 7 * ETHER + 7)
    digest = eip712.digest(request.domain, state)
    assert eip712.recover(digest, request.signatures[0]) == bytes.fromhex(alice[2:])
    assert eip712.recover(digest, request.signatures[1]) == bytes.fromhex(bob[2:])
    assert request.reward is not None and request.reward.amount == ETHER // 100
    assert eip712.recover(
        eip712.digest(request.domain, request.reward), request.reward_signature
    ) == bytes.fromhex(bob[2:])
    c = contract_at(w3, Kind.STATE, env["STATE_CHANNEL"])
    assert c.functions.hashState(tuple(_fields(state))).call() == eip712.digest(
        request.domain, state
    )

    # The attack: Alice closes with nonce 1 (6 ETH for her, 4 for Bob).
    out = cli("channel", "close", *sc, "--channel", "0", "--key-env", "ALICE_KEY",
              "--stale").stdout  # fmt: skip
    assert "nonce 1" in out and "a stale close: the latest state is nonce 2" in out
    early = cli("channel", "settle", *sc, "--channel", "0", "--key-env", "BOB_KEY", ok=False)
    assert early.exit_code == 2 and "window not over" in early.stderr
    # The guardian answers with Bob's request (by hand here), earning the reward.
    out = cli("channel", "update", "--l1-rpc", node.url, "--request", str(request_file),
              "--key-env", "GUARDIAN_KEY").stdout  # fmt: skip
    assert "updated to nonce 2" in out and "reward 0.01 ETH" in out
    cli("mine", "--l1-rpc", node.url, "--seconds", "700")
    out = cli("channel", "settle", *sc, "--channel", "0", "--key-env", "BOB_KEY").stdout
    assert f"reward 0.01 ETH to {guardian}" in out
    owed = {a: int(c.functions.owed(a).call()) for a in (alice, bob, guardian)}
    assert owed == {
        alice: state.balance_a,
        bob: state.balance_b - ETHER // 100,
        guardian: ETHER // 100,
    }
    before = w3.eth.get_balance(Web3.to_checksum_address(bob))
    out = cli("channel", "withdraw", *sc, "--key-env", "BOB_KEY").stdout
    assert out.startswith(f"paid {_eth(state.balance_b - ETHER // 100)}")
    assert w3.eth.get_balance(Web3.to_checksum_address(bob)) > before
    assert c.functions.owed(bob).call() == 0
    again = cli("channel", "settle", *sc, "--channel", "0", "--key-env", "BOB_KEY", ok=False)
    assert again.exit_code == 2 and "not closing" in again.stderr

    _payment_channels(cli, node, env, tmp_path)
    _chequebook(cli, node, env, tmp_path)


def _fields(state: ChannelState) -> list[int]:
    return [state.channel_id, state.nonce, state.balance_a, state.balance_b]


def _eth(wei: int) -> str:
    from watchtower_dev.users import eth

    return eth(wei)


def _payment_channels(cli: Cli, node: AnvilNode, env: dict[str, str], tmp: Path) -> None:
    pc = ["--l1-rpc", node.url, "--contract", env["PAYMENT_CHANNEL"], "--wallets", str(tmp / "w")]
    bob = env["BOB_ADDRESS"]
    cli("payment-channel", "open", *pc, "--key-env", "ALICE_KEY", "--to", bob, "--deposit", "3")
    cli("payment-channel", "pay", *pc, "--channel", "0", "--key-env", "ALICE_KEY", "--amount",
        "0.5")  # fmt: skip
    request_file = tmp / "payment.json"
    cli("payment-channel", "pay", *pc, "--channel", "0", "--key-env", "ALICE_KEY", "--amount",
        "0.25", "--recipient-key-env", "BOB_KEY", "--reward", "0.001", "--guardian",
        env["GUARDIAN_ADDRESS"], "--request", str(request_file))  # fmt: skip
    request = codec.loads(request_file.read_bytes())
    assert request.kind is Kind.PAYMENT and request.sequence == 3 * ETHER // 4
    over = cli("payment-channel", "pay", *pc, "--channel", "0", "--key-env", "ALICE_KEY",
               "--amount", "3", ok=False)  # fmt: skip
    assert over.exit_code == 2 and "exceed the deposit" in over.stderr
    out = cli("payment-channel", "claim", *pc, "--channel", "0", "--key-env", "BOB_KEY",
              "--withdraw").stdout  # fmt: skip
    assert "claimed with its payment of 0.75 ETH" in out and "paid 0.75 ETH" in out
    # A second channel, never claimed: the sender reclaims it after expiration.
    cli("payment-channel", "open", *pc, "--key-env", "ALICE_KEY", "--to", bob, "--deposit", "1",
        "--expires-in", "100")  # fmt: skip
    early = cli("payment-channel", "reclaim", *pc, "--channel", "1", "--key-env", "ALICE_KEY",
                ok=False)  # fmt: skip
    assert early.exit_code == 2 and "reclaim payment channel 1" in early.stderr
    cli("mine", "--l1-rpc", node.url, "--seconds", "200")
    out = cli("payment-channel", "reclaim", *pc, "--channel", "1", "--key-env", "ALICE_KEY",
              "--withdraw").stdout  # fmt: skip
    assert "paid 3.25 ETH" in out  # 1 reclaimed, and the 2.25 the claim of channel 0 returned


def _chequebook(cli: Cli, node: AnvilNode, env: dict[str, str], tmp: Path) -> None:
    cb = ["--l1-rpc", node.url, "--contract", env["CHEQUEBOOK"], "--wallets", str(tmp / "w")]
    bob = env["BOB_ADDRESS"]
    cli("chequebook", "cheque", *cb, "--key-env", "ALICE_KEY", "--to", bob, "--amount", "2")
    request_file = tmp / "cheque.json"
    out = cli("chequebook", "cheque", *cb, "--key-env", "ALICE_KEY", "--to", bob, "--amount", "2",
              "--beneficiary-key-env", "BOB_KEY", "--reward", "0.01", "--guardian",
              env["GUARDIAN_ADDRESS"], "--request", str(request_file)).stdout  # fmt: skip
    assert "4 ETH in all" in out
    document: dict[str, Any] = json.loads(request_file.read_text())
    assert document["kind"] == "cheque" and int(document["cheque"]["cumulative_payout"], 16) == (
        4 * ETHER
    )
    # The drain: the issuer takes all but 1 ETH; the 4 ETH cheque bounces, paying 1.
    out = cli("chequebook", "withdraw", *cb, "--key-env", "ALICE_KEY", "--amount", "9").stdout
    assert "took 9 ETH" in out and "left 1 ETH" in out
    out = cli("chequebook", "cash", *cb, "--key-env", "BOB_KEY", "--withdraw").stdout
    assert "1 ETH paid" in out and "bounced" in out and "paid 1 ETH to" in out
    empty = cli("chequebook", "withdraw", *cb, "--key-env", "ALICE_KEY", ok=False)
    assert empty.exit_code == 2 and "nothing to withdraw" in empty.stderr
    out = cli("chequebook", "deploy", "--l1-rpc", node.url, "--key-env", "BOB_KEY",
              "--deposit", "1").stdout  # fmt: skip
    assert f"deployed for issuer {bob} with 1 ETH" in out


def test_channel_devnet_on_the_embedded_chain() -> None:
    result = CliRunner().invoke(main, ["channel-devnet", "--l1", "embedded"])
    assert result.exit_code == 0, result.output
    assert "L1 embedded" in result.stdout and "Chequebook (issuer Alice): 0x" in result.stdout
    refused = CliRunner().invoke(main, ["channel-devnet", "--l1", "embedded", "--keep-running"])
    assert refused.exit_code == 2 and "--keep-running" in refused.stderr
