"""``watchtower status --url`` against a real ``watchtower run`` on anvil: the service serves its
status document on the metrics listener (read-only), a fraud waiting for confirmations is said
once in the log and shown in status, the signer's owed stakes are shown without --signer, and the
first sync started at the contract's deployment block."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.service_process import ServiceProcess
from watchtower_dev.chain import free_port
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind

pytestmark = pytest.mark.integration


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watchtower", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(240)
def test_status_from_a_running_service(anvil_net: Devnet, tmp_path: Path) -> None:
    net = anvil_net
    net.proposer.propose(2)
    net.proposer.propose(3, Fault(FaultKind.WRONG_ROOT, 1))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    service = ServiceProcess(
        net, tmp_path / "data", "--confirmations", "50", "--metrics-listen", f"127.0.0.1:{port}"
    )
    try:
        waiting = service.wait_for("waiting_for_confirmations", timeout=120, batch=1)
        assert waiting["confirmations"] == 50 and 0 < waiting["blocks_needed"] <= 50
        with urllib.request.urlopen(url + "/status", timeout=10) as response:
            assert response.headers["Content-Type"] == "application/json"
            document = json.loads(response.read())
        assert document["rollup"] == net.client.address
        assert document["fraud_found"] == [{"batch": 1, "step": 1, "status": "pending"}]
        (fraud,) = [w for w in document["waiting_for_confirmations"] if w["batch"] == 1]
        assert fraud["challenge_waits"] is True and fraud["blocks_needed"] > 0
        assert document["challenges"] == []
        assert document["signer"] == net.challenger.address
        assert document["stakes_owed_wei"] == 0  # read by the service itself: no --signer
        start = document["start_block"]
        code = net.w3.eth.get_code
        assert len(code(net.client.address, start)) > 0  # type: ignore[arg-type]
        assert start == 0 or len(code(net.client.address, start - 1)) == 0  # type: ignore[arg-type]

        text = _cli("status", "--url", url)
        assert text.returncode == 0, text.stderr
        assert "waiting for 50 confirmations: batch 1" in text.stdout
        assert "the challenge waits" in text.stdout
        assert f"owed on chain: 0 ETH (0 wei) to {net.challenger.address}" in text.stdout
        as_json = _cli("status", "--url", url, "--json")
        assert json.loads(as_json.stdout)["fraud_found"] == document["fraud_found"]

        request = urllib.request.Request(url + "/status", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        refused.value.close()
        assert refused.value.code == 405

        time.sleep(1.5)  # several more ticks (poll 0.2 s): the wait is said once
        assert service.count("waiting_for_confirmations") == 1
    finally:
        assert service.terminate() == 0, "".join(service.raw[-15:])
    # The store says the same once the service has stopped.
    stored = _cli("status", "--data-dir", str(tmp_path / "data"), "--json")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["fraud_found"] == document["fraud_found"]
