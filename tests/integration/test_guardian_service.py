"""The channel guardian in a real ``watchtower run`` process (channels only: no rollup, no
genesis) on anvil, with the real contracts: a stale close while the victim is offline, a
payment channel near its expiration, SIGKILL between "close seen", "update sent" and "reward
claimed"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from watchtower.channels import codec, eip712
from watchtower.channels.store import ChannelStore
from watchtower.channels.types import (
    ChannelState,
    Cheque,
    Domain,
    Kind,
    MonitoringRequest,
    Payment,
    Reward,
)
from watchtower.failpoints import KNOWN
from watchtower.l1.channels import ChequebookClient, PaymentChannelClient, StateChannelClient
from watchtower.store.db import Store
from watchtower_dev.chain import AnvilNode, free_port, fund, mine, start_anvil

from .conftest import require_anvil
from .service_process import ServiceProcess

ETH = 10**18
TOKEN = "guardian-test-token"
WINDOW = 600


@dataclass
class Net:
    anvil: AnvilNode
    w3: Web3
    state: StateChannelClient
    a: LocalAccount
    b: LocalAccount
    guard: LocalAccount


def _account(w3: Web3) -> LocalAccount:
    account: LocalAccount = Account.create()
    fund(w3, account.address, 100 * ETH)
    return account


@pytest.fixture
def net() -> Iterator[Net]:
    require_anvil()
    anvil = start_anvil()
    try:
        w3 = anvil.web3()
        deployer = _account(w3)
        yield Net(anvil, w3, StateChannelClient.deploy(w3, deployer), _account(w3),
                  _account(w3), _account(w3))  # fmt: skip
    finally:
        anvil.stop()


def _config(net: Net, tmp: Path, port: int, *extra: tuple[str, str]) -> Path:
    contracts = ", ".join(
        f'{{ kind = "{kind}", address = "{address}" }}'
        for kind, address in [("state", net.state.address), *extra]
    )
    path = tmp / "guardian.toml"
    path.write_text(
        f"""
[l1]
rpc = ["{net.anvil.url}"]
poll_interval = 0.2

[service]
guard = ["channels"]
data_dir = "{tmp / "data"}"

[signer]
key_env = "WT_GUARD_KEY"

[channels]
contracts = [{contracts}]
api_listen = "127.0.0.1:{port}"
api_token_env = "WT_GUARD_TOKEN"
confirmations = 0

[log]
format = "json"
"""
    )
    return path


def _start(net: Net, config: Path, **env: str) -> ServiceProcess:
    environment = {**os.environ, "WT_GUARD_KEY": net.guard.key.hex(), "WT_GUARD_TOKEN": TOKEN}
    environment.update(env)
    return ServiceProcess.with_args(["run", "--config", str(config)], environment)


def _request(net: Net, channel: int, nonce: int, bal_a: int, bal_b: int, reward: int) -> str:
    contract = bytes.fromhex(net.state.address[2:])
    dom = Domain(Kind.STATE, int(net.w3.eth.chain_id), contract)
    state = ChannelState(channel, nonce, bal_a, bal_b)
    offer = Reward(channel, nonce, reward, bytes.fromhex(net.guard.address[2:]))
    request = MonitoringRequest(
        Kind.STATE, dom.chain_id, contract, state,
        (eip712.sign(bytes(net.a.key), dom, state), eip712.sign(bytes(net.b.key), dom, state)),
        offer, eip712.sign(bytes(net.b.key), dom, offer),
    )  # fmt: skip
    return codec.dumps(request)


def _submit(tmp: Path, port: int, body: str) -> subprocess.CompletedProcess[str]:
    path = tmp / f"request-{time.monotonic_ns()}.json"
    path.write_text(body)
    return subprocess.run(
        [sys.executable, "-m", "watchtower", "channels", "submit", str(path),
         "--url", f"http://127.0.0.1:{port}", "--token-env", "WT_GUARD_TOKEN"],
        env={**os.environ, "WT_GUARD_TOKEN": TOKEN}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def _wait_api(tmp: Path, port: int, body: str, service: ServiceProcess) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        done = _submit(tmp, port, body)
        if done.returncode == 0:
            answer: dict[str, object] = json.loads(done.stdout)
            return answer
        assert service.proc.poll() is None, "".join(service.raw[-10:])
        assert (
            "could not be reached" in done.stderr
            or "Connection refused" in done.stderr
            or ("127.0.0.1" in done.stderr)
        ), done.stderr
        assert time.monotonic() < deadline, done.stderr
        time.sleep(0.2)


def _mined(data_dir: Path) -> dict[str, int]:
    with Store(data_dir / "watchtower.sqlite") as store:
        channels = ChannelStore(store)
        actions = {a.id: a.action for a in channels.actions()}
        counts: dict[str, int] = {}
        for tx in channels.txs():
            if tx.state == "mined":
                counts[actions[tx.action_id]] = counts.get(actions[tx.action_id], 0) + 1
        return counts


def _restart(net: Net, config: Path, killed: ServiceProcess) -> ServiceProcess:
    """Wait for the failpoint's SIGKILL, then start the service again (no failpoint)."""
    killed.proc.wait(timeout=60)
    assert killed.proc.returncode == -9, "".join(killed.raw[-10:])
    assert any(e.get("event") == "failpoint_hit" for e in killed.events)
    killed.kill()  # (closes its pipe)
    return _start(net, config)


def _scenario(net: Net, tmp: Path, failpoint: str | None) -> None:
    port = free_port()
    config = _config(net, tmp, port)
    channel, _ = net.state.open(net.a, net.b.address, WINDOW, deposit=10 * ETH)
    net.state.deposit(net.b, channel, 2 * ETH)
    env = {"WATCHTOWER_FAILPOINTS": failpoint} if failpoint else {}
    service = _start(net, config, **env)
    try:
        receipt = _wait_api(tmp, port, _request(net, channel, 7, 3 * ETH, 9 * ETH, 10**16), service)
        assert receipt["accepted"] is True
        # B goes offline; A closes with the deposits' state (10 ETH for A instead of 3).
        net.state.close(net.a, ChannelState(channel, 0, 10 * ETH, 2 * ETH))
        if failpoint is not None and failpoint.startswith(("channel.action_opened",
                                                           "channel.signed", "channel.recorded",
                                                           "channel.broadcast")):  # fmt: skip
            service = _restart(net, config, service)
        service.wait_for("channel_tx_mined", action="update", timeout=60)
        assert net.state.channel(channel).nonce == 7
        mine(net.w3, 1, seconds=WINDOW + 1)
        if failpoint is not None and failpoint.startswith("channel.action_mined"):
            service = _restart(net, config, service)
        service.wait_for("channel_tx_mined", action="settle", timeout=60)
        time.sleep(1.0)  # a few more ticks: nothing more may be sent
        mine(net.w3, 2)
        time.sleep(1.0)
    finally:
        if service.proc.poll() is None:
            service.terminate()
    assert _mined(tmp / "data") == {"update": 1, "settle": 1}
    assert net.state.owed(net.a.address) == 3 * ETH
    assert net.state.owed(net.b.address) == 9 * ETH - 10**16
    assert net.state.owed(net.guard.address) == 10**16


@pytest.mark.timeout(240)
def test_a_stale_close_while_the_victim_is_offline_pays_the_victim_and_the_reward_once(
    net: Net, tmp_path: Path
) -> None:
    _scenario(net, tmp_path, None)


KILL_POINTS = [
    "channel.action_opened=kill",
    "channel.signed=kill",
    "channel.recorded=kill",
    "channel.broadcast=kill",
    "channel.action_mined=kill@2",  # the settle mined, the journal not yet told
]


def test_every_channel_failpoint_but_the_bump_has_a_kill_point() -> None:
    # channel.bump_due needs a transaction left unmined for bump_after seconds (anvil mines at
    # once): the bump itself is the challenge journal's arithmetic (tests/unit/test_decide.py).
    named = {point.split("=")[0] for point in KILL_POINTS} | {"channel.bump_due"}
    assert named == {name for name in KNOWN if name.startswith("channel.")}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("failpoint", KILL_POINTS)
def test_sigkill_between_close_seen_update_sent_and_reward_claimed(
    net: Net, tmp_path: Path, failpoint: str
) -> None:
    _scenario(net, tmp_path, failpoint)


@pytest.mark.timeout(120)
def test_the_intake_api_refuses_a_wrong_token_and_a_replay_in_one_line(
    net: Net, tmp_path: Path
) -> None:
    port = free_port()
    config = _config(net, tmp_path, port)
    channel, _ = net.state.open(net.a, net.b.address, WINDOW, deposit=10 * ETH)
    service = _start(net, config)
    try:
        body = _request(net, channel, 2, 4 * ETH, 6 * ETH, 100)
        _wait_api(tmp_path, port, body, service)
        again = _submit(tmp_path, port, body)
        assert again.returncode == 2
        assert again.stderr.count("\n") == 1 and "refused (409)" in again.stderr
        path = tmp_path / "r.json"
        path.write_text(body)
        wrong = subprocess.run(
            [sys.executable, "-m", "watchtower", "channels", "submit", str(path),
             "--url", f"http://127.0.0.1:{port}", "--token-env", "WT_GUARD_TOKEN"],
            env={**os.environ, "WT_GUARD_TOKEN": "nope"}, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert wrong.returncode == 2 and "refused (401)" in wrong.stderr
        url = f"http://127.0.0.1:{port}/v1/channels"
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"}), timeout=30
        ) as answer:
            (shown,) = json.loads(answer.read())["channels"]
        assert shown["channel"] == str(channel) and shown["sequence"] == "2"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 401
        refused.value.close()
        listed = subprocess.run(
            [sys.executable, "-m", "watchtower", "channels", "list", "--data-dir",
             str(tmp_path / "data"), "--json"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)["channels"]
        assert row["sequence"] == "2" and "signature" not in listed.stdout
    finally:
        service.terminate()


@pytest.mark.timeout(180)
def test_a_payment_channel_near_expiration_pays_the_recipient_before_the_sender_can_reclaim(
    net: Net, tmp_path: Path
) -> None:
    payment = PaymentChannelClient.deploy(net.w3, net.a)
    port = free_port()
    config = _config(net, tmp_path, port, ("payment", payment.address))
    now = int(net.w3.eth.get_block("latest")["timestamp"])
    channel, _ = payment.open(net.a, net.b.address, now + 3 * 3600, 5 * ETH)
    contract = bytes.fromhex(payment.address[2:])
    dom = Domain(Kind.PAYMENT, int(net.w3.eth.chain_id), contract)
    pay = Payment(channel, 2 * ETH)
    offer = Reward(channel, 2 * ETH, 10**15, bytes.fromhex(net.guard.address[2:]))
    body = codec.dumps(
        MonitoringRequest(
            Kind.PAYMENT, dom.chain_id, contract, pay, (eip712.sign(bytes(net.a.key), dom, pay),),
            offer, eip712.sign(bytes(net.b.key), dom, offer),
        )
    )  # fmt: skip
    service = _start(net, config)
    try:
        _wait_api(tmp_path, port, body, service)
        time.sleep(1.0)
        assert service.count("channel_tx_sent") == 0  # hours left: as late as is safe
        mine(net.w3, 1, seconds=2 * 3600 + 60)  # inside the claim margin (one hour)
        service.wait_for("channel_tx_mined", action="claim", timeout=60)
    finally:
        service.terminate()
    assert payment.owed(net.b.address) == 2 * ETH - 10**15
    assert payment.owed(net.a.address) == 3 * ETH
    assert payment.owed(net.guard.address) == 10**15
    assert _mined(tmp_path / "data") == {"claim": 1}


@pytest.mark.timeout(180)
def test_a_drained_chequebook_alerts_and_the_at_risk_cheque_is_cashed_first(
    net: Net, tmp_path: Path
) -> None:
    book = ChequebookClient.deploy(net.w3, net.a, net.a.address, balance=6 * ETH)
    port = free_port()
    config = _config(net, tmp_path, port, ("cheque", book.address))
    contract = bytes.fromhex(book.address[2:])
    dom = Domain(Kind.CHEQUE, int(net.w3.eth.chain_id), contract)
    small, large = _account(net.w3), net.b
    bodies = []
    for who, amount, rewarded in ((large, 4 * ETH, True), (small, 2 * ETH, False)):
        beneficiary = bytes.fromhex(who.address[2:])
        cheque = Cheque(beneficiary, amount)
        offer = Reward(int.from_bytes(beneficiary, "big"), amount, 10**15,
                       bytes.fromhex(net.guard.address[2:]))  # fmt: skip
        bodies.append(
            codec.dumps(
                MonitoringRequest(
                    Kind.CHEQUE, dom.chain_id, contract, cheque,
                    (eip712.sign(bytes(net.a.key), dom, cheque),),
                    offer if rewarded else None,
                    eip712.sign(bytes(who.key), dom, offer) if rewarded else b"",
                )
            )
        )  # fmt: skip
    service = _start(net, config)
    try:
        for body in bodies:
            _wait_api(tmp_path, port, body, service)
        time.sleep(1.0)
        assert service.count("channel_tx_sent") == 0  # covered: nothing to do
        book.issuer_withdraw(net.a, 2 * ETH)  # 4 ETH left for 6 ETH of cheques
        mine(net.w3, 3)
        service.wait_for("channel_tx_mined", action="cash", timeout=60)
        service.wait_for("issuer_withdrew", timeout=30)
        service.wait_for("cheque_at_risk", timeout=30)
        time.sleep(1.0)
    finally:
        service.terminate()
    # The larger cheque (with a reward) cashed first, in full; the other one was not cashed.
    assert book.paid_out(large.address) == 4 * ETH
    assert book.owed(large.address) == 4 * ETH - 10**15
    assert book.paid_out(small.address) == 0
    assert _mined(tmp_path / "data") == {"cash": 1}


@pytest.mark.timeout(180)
def test_a_reorg_of_the_close_and_of_the_update_is_followed(net: Net, tmp_path: Path) -> None:
    port = free_port()
    config = _config(net, tmp_path, port)
    channel, _ = net.state.open(net.a, net.b.address, WINDOW, deposit=10 * ETH)
    service = _start(net, config)
    try:
        _wait_api(tmp_path, port, _request(net, channel, 4, 4 * ETH, 6 * ETH, 1000), service)
        snapshot = net.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        net.state.close(net.a, ChannelState(channel, 0, 10 * ETH, 0))
        service.wait_for("channel_tx_mined", action="update", timeout=60)
        # A reorg takes the close and the update away; the close is mined again later.
        assert net.w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
        mine(net.w3, 3)
        since = len(service.events)
        service.wait_for("channel_action_reorged", since=since, timeout=60)
        net.state.close(net.a, ChannelState(channel, 0, 10 * ETH, 0))
        service.wait_for("channel_tx_mined", action="update", since=since, timeout=60)
        assert net.state.channel(channel).nonce == 4
        mine(net.w3, 1, seconds=WINDOW + 1)
        service.wait_for("channel_tx_mined", action="settle", timeout=60)
        time.sleep(1.0)
    finally:
        service.terminate()
    assert net.state.owed(net.b.address) == 6 * ETH - 1000
    assert net.state.owed(net.guard.address) == 1000
    assert _mined(tmp_path / "data") == {"update": 1, "settle": 1}


@pytest.mark.timeout(240)
def test_one_process_guards_the_rollup_and_the_channels_with_one_key(tmp_path: Path) -> None:
    """``service.guard = rollup, channels``: batches verified and a stale close answered by one
    ``watchtower run``, signing channel transactions with the challenger's key (one nonce space,
    one sender lock)."""
    from watchtower_dev.devnet import start_devnet

    require_anvil()
    devnet = start_devnet("anvil")
    try:
        w3 = devnet.w3
        a, b = _account(w3), _account(w3)
        state = StateChannelClient.deploy(w3, a)
        net = Net(devnet.node, w3, state, a, b, devnet.challenger)  # type: ignore[arg-type]
        channel, _ = state.open(a, b.address, WINDOW, deposit=10 * ETH)
        port = free_port()
        env = {
            "WATCHTOWER_SERVICE_GUARD": "rollup,channels",
            "WATCHTOWER_CHANNELS_CONTRACTS": f"state:{state.address}",
            "WATCHTOWER_CHANNELS_API_LISTEN": f"127.0.0.1:{port}",
            "WATCHTOWER_CHANNELS_API_TOKEN_ENV": "WT_GUARD_TOKEN",
            "WATCHTOWER_CHANNELS_CONFIRMATIONS": "0",
            "WT_GUARD_TOKEN": TOKEN,
        }
        service = ServiceProcess(devnet, tmp_path / "data", "--confirmations", "1", env=env)
        try:
            _wait_api(tmp_path, port, _request(net, channel, 3, 4 * ETH, 6 * ETH, 1000), service)
            devnet.proposer.propose(3)
            state.close(a, ChannelState(channel, 0, 10 * ETH, 0))
            mine(w3, 2)
            service.wait_for("channel_tx_mined", action="update", timeout=60)
            service.wait_for("batch_verified", batch=0, timeout=60)
        finally:
            assert service.terminate() == 0
        assert state.channel(channel).nonce == 3
        started = next(e for e in service.events if e.get("event") == "started")
        assert started["guard"] == ["rollup", "channels"]
    finally:
        devnet.close()


@pytest.mark.timeout(240)
def test_two_guardian_processes_on_one_channel_one_acts_the_other_loses_at_most_gas(
    net: Net, tmp_path: Path
) -> None:
    other = _account(net.w3)
    second = Net(net.anvil, net.w3, net.state, net.a, net.b, other)
    channel, _ = net.state.open(net.a, net.b.address, WINDOW, deposit=10 * ETH)
    services = []
    ports = []
    for n, guardian in enumerate((net, second)):
        port = free_port()
        directory = tmp_path / f"g{n}"
        directory.mkdir()
        services.append(_start(guardian, _config(guardian, directory, port)))
        ports.append((directory, port))
    start = net.w3.eth.get_balance(other.address)
    try:
        for (directory, port), guardian, service in zip(
            ports, (net, second), services, strict=True
        ):
            _wait_api(directory, port, _request(guardian, channel, 4, 4 * ETH, 6 * ETH, 1000),
                      service)  # fmt: skip
        net.state.close(net.a, ChannelState(channel, 0, 10 * ETH, 0))
        deadline = time.monotonic() + 60
        while net.state.channel(channel).nonce != 4:
            assert time.monotonic() < deadline, "no update landed"
            time.sleep(0.1)
        time.sleep(1.5)  # both see it
        mine(net.w3, 1, seconds=WINDOW + 1)
        deadline = time.monotonic() + 60
        while net.state.channel(channel).status != 3:  # Settled
            assert time.monotonic() < deadline, "not settled"
            time.sleep(0.1)
        time.sleep(1.5)
    finally:
        for service in services:
            service.terminate()
    winner = net.state.channel(channel).reward_monitor
    paid = {g.address: net.state.owed(g.address) for g in (net.guard, other)}
    assert sorted(paid.values()) == [0, 1000]  # the reward once, to the one whose update landed
    assert net.state.owed(net.b.address) == 6 * ETH - 1000
    mined = [_mined(directory / "data") for directory, _ in ports]
    assert sorted(sum(m.values()) for m in mined) == [0, 2]  # update + settle, by one of them
    if winner != bytes.fromhex(other.address[2:]):  # the loser spent at most one update's gas
        assert start - net.w3.eth.get_balance(other.address) < 10**16
