"""The service with a real webhook receiver: alerts arrive signed; no secret ever leaks.

A `watchtower run` subprocess on anvil with a --config file, a keystore with its password in a
file, a webhook secret in the environment and an RPC URL carrying an API-key-like path; after a
fraud is caught and challenged, none of the secrets appears in the logs, the alerts, /metrics,
`config check` or `status` output.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from tests.alert.receiver import Receiver
from tests.integration.conftest import require_anvil
from tests.integration.service_process import ServiceProcess
from watchtower.alert import verify_signature
from watchtower.cli import main
from watchtower_dev.chain import free_port
from watchtower_dev.devnet import start_devnet
from watchtower_dev.faults import Fault, FaultKind

pytestmark = pytest.mark.integration
WEBHOOK_SECRET = "hmac-secret-5f1c9a7e"
PASSWORD = "keystore-password-83d2"


def test_alerts_are_delivered_signed_and_secrets_never_leak(tmp_path: Path) -> None:
    require_anvil()
    receiver = Receiver().start()
    with start_devnet("anvil") as net:
        keystore = tmp_path / "keystore.json"
        keystore.write_text(json.dumps(Account.encrypt(net.challenger.key, PASSWORD)))
        keystore.chmod(0o600)
        password = tmp_path / "password"
        password.write_text(PASSWORD + "\n")
        password.chmod(0o600)
        port = free_port()
        # anvil ignores the query; it stands in for a provider URL with an API key in it.
        rpc = f"{net.rpc_url}/?apikey=APIKEY0123456789"
        config = tmp_path / "watchtower.toml"
        config.write_text(
            f"""
[l1]
rpc = ["{rpc}"]
rollup = "{net.client.address}"
confirmations = 1
poll_interval = 0.2

[service]
data_dir = "{tmp_path / "wt"}"
genesis = "{net.genesis_path}"

[signer]
keystore = "{keystore}"
password_file = "{password}"

[metrics]
listen = "127.0.0.1:{port}"

[[alerts.webhook]]
url = "{receiver.url("/hook/TOKENPATH")}"
secret_env = "WT_WEBHOOK_SECRET"
"""
        )
        os.environ["WT_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        try:
            service = ServiceProcess.with_args(["run", "--config", str(config)])
            service.wait_for("started", timeout=30)
            net.proposer.propose(3)
            bad, _ = net.proposer.propose(4, Fault(FaultKind.WRONG_FEE, 1))
            net.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            service.wait_for("challenge_succeeded", batch=bad.index, timeout=60)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                metrics = r.read().decode()
            for _ in range(50):  # delivery runs every second
                kinds = {json.loads(x.body)["kind"] for x in receiver.requests}
                if {"fraud_detected", "challenge_submitted", "challenge_succeeded"} <= kinds:
                    break
                time.sleep(0.2)
        finally:
            assert service.terminate() == 0
            os.environ.pop("WT_WEBHOOK_SECRET", None)
        receiver.stop()

        kinds = [json.loads(x.body)["kind"] for x in receiver.requests]
        assert {"fraud_detected", "challenge_submitted", "challenge_succeeded"} <= set(kinds)
        keys = [x.headers.get("idempotency-key") for x in receiver.requests]
        assert len(keys) == len(set(keys))  # every alert exactly once
        for request in receiver.requests:
            header = request.headers.get("x-watchtower-signature")
            assert verify_signature(WEBHOOK_SECRET.encode(), request.body, header)

        runner = CliRunner()
        check = runner.invoke(main, ["config", "check", "--config", str(config)]).stdout
        status_args = ["status", "--data-dir", str(tmp_path / "wt"), "--json"]
        status = runner.invoke(main, status_args).stdout
        key_hex = net.challenger.key.hex().removeprefix("0x")
        everything = (
            "".join(service.raw)
            + metrics
            + check
            + status
            + "".join(x.body.decode() + json.dumps(x.headers) for x in receiver.requests)
        )
        for secret in (key_hex, PASSWORD, WEBHOOK_SECRET, "APIKEY0123456789", "TOKENPATH"):
            assert secret not in everything, secret
