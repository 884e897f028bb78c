"""The service process's life: signals, the data-directory lock, start-up failures, quorum.

Each test runs a real ``watchtower run`` subprocess (on anvil where it needs a chain): these are
about the process (signal handlers, flock, exit statuses), which an in-process run cannot show.
Bounds are ``proc.wait(timeout=...)``: nothing here asserts on speed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.integration.conftest import require_anvil
from tests.integration.service_process import ServiceProcess
from watchtower_dev.devnet import Devnet, start_devnet

pytestmark = pytest.mark.integration

GENESIS = str(FIXTURES / "honest.json")  # read before any L1 request; never compared here
#: Seconds a stopping service may take (a tick finishing, the databases closing).
STOP_BOUND = 60


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def net() -> Iterator[Devnet]:
    require_anvil()
    with start_devnet("anvil") as devnet:
        devnet.proposer.propose(2)
        yield devnet


def _stopped_cleanly(service: ServiceProcess) -> None:
    code = service.proc.wait(timeout=STOP_BOUND)
    service._reader.join(timeout=5)
    if service.proc.stderr:
        service.proc.stderr.close()
    assert code == 0, "".join(service.raw[-15:])
    assert service.count("stopped") == 1 and service.count("shutdown") == 1
    assert not any("Traceback" in line for line in service.raw), "".join(service.raw)


@pytest.mark.timeout(240)
def test_sigterm_twice_and_sigint_stop_cleanly(net: Devnet, tmp_path: Path) -> None:
    """The handler only records the signal: a second SIGTERM right after the first (what
    `timeout` does) can no longer land while the first one's handler holds structlog's lock."""
    for n, signals in enumerate(
        [
            (signal.SIGTERM, signal.SIGTERM),
            (signal.SIGINT,),
            (signal.SIGTERM, signal.SIGTERM, signal.SIGINT, signal.SIGTERM),
        ]
    ):
        service = ServiceProcess(net, tmp_path / f"data{n}", "--mode", "watch")
        service.wait_for("started", timeout=60)
        service.wait_for("batch_verified", timeout=60)
        for signum in signals:
            service.proc.send_signal(signum)
        _stopped_cleanly(service)
        (shutdown,) = [e for e in service.events if e.get("event") == "shutdown"]
        # Pending signals run their handlers in signal-number order, not in the order sent.
        assert shutdown["signal"] in {s.name for s in signals}


@pytest.mark.timeout(300)
def test_sigterm_during_a_long_replay_stops_after_the_batch_in_hand(tmp_path: Path) -> None:
    """A catch-up of many batches is stopped between two batches; the next start resumes."""
    require_anvil()
    with start_devnet("anvil") as devnet:
        total = 25
        for _ in range(total):
            devnet.proposer.propose(12)
        service = ServiceProcess(devnet, tmp_path / "data", "--mode", "watch")
        service.wait_for("batch_verified", timeout=120)
        service.proc.send_signal(signal.SIGTERM)
        service.proc.send_signal(signal.SIGTERM)
        _stopped_cleanly(service)
        verified = service.count("batch_verified")
        assert verified < total, "the replay was not stopped before its end"

        again = ServiceProcess(devnet, tmp_path / "data", "--mode", "watch")
        again.wait_for("batch_verified", timeout=120, batch=total - 1)
        assert again.count("batch_verified") == total - verified  # resumed, nothing twice
        assert again.terminate() == 0


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watchtower", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.timeout(300)
def test_one_service_per_data_directory(net: Devnet, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ServiceProcess(net, data)  # challenge mode: also holds challenger.lock
    first.wait_for("started", timeout=60)
    assert (data / "watchtower.lock").read_text().strip() == str(first.proc.pid)
    common = ["--l1-rpc", str(net.rpc_url), "--rollup", net.client.address,
              "--genesis", str(net.genesis_path), "--data-dir", str(data)]  # fmt: skip

    for mode in ("watch", "challenge"):
        second = _run(["run", *common, "--mode", mode, "--log-format", "json",
                       "--key-env", "WT_KEY"], {"WT_KEY": net.challenger.key.hex()})  # fmt: skip
        (line,) = _lines(second.stderr)
        assert second.returncode == 2, second.stderr
        assert line.startswith("error: ") and f"(pid {first.proc.pid})" in line, line
        assert "Traceback" not in second.stderr + second.stdout

    # By hand, sending is still refused in one line; reading the status still works.
    send = _run(["challenge", *common, "--batch", "0", "--key-env", "WT_KEY", "--send"],
                {"WT_KEY": net.challenger.key.hex()})  # fmt: skip
    (line,) = _lines(send.stderr)
    assert send.returncode == 2 and f"pid {first.proc.pid}" in line, send.stderr
    status = _run(["status", "--data-dir", str(data), "--json"])
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["rollup"] == net.client.address

    first.kill()  # SIGKILL: the kernel releases the flock
    after_kill = ServiceProcess(net, data)
    after_kill.wait_for("started", timeout=60)
    assert after_kill.terminate() == 0  # a clean exit releases it too
    after_exit = ServiceProcess(net, data)
    after_exit.wait_for("started", timeout=60)
    assert after_exit.terminate() == 0


@pytest.mark.timeout(120)
def test_a_node_down_at_start_up_is_retried_then_exits_75(tmp_path: Path) -> None:
    """Not bad input: retried with backoff, one line per attempt, then EX_TEMPFAIL (75), which
    the systemd unit restarts (it does not restart 2)."""
    url = f"http://127.0.0.1:{_closed_port()}"
    result = _run(["run", "--l1-rpc", url, "--rollup", "0x" + "11" * 20,
                   "--genesis", GENESIS, "--data-dir", str(tmp_path / "d"),
                   "--mode", "watch", "--log-format", "json",
                   "--startup-timeout", "2"])  # fmt: skip
    *logs, last = _lines(result.stderr)
    assert result.returncode == 75, result.stderr
    events = [json.loads(line) for line in logs]
    assert len(events) >= 2 and all(e["event"] == "startup_retry" for e in events)
    assert last.startswith("error: cannot reach the L1 node") and "l1.startup_timeout" in last
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(120)
def test_sigterm_while_retrying_at_start_up_exits_0(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    args = ["run", "--l1-rpc", url, "--rollup", "0x" + "11" * 20,
            "--genesis", GENESIS, "--data-dir", str(tmp_path / "d"),
            "--mode", "watch", "--log-format", "json"]  # fmt: skip
    service = ServiceProcess.with_args(args)
    service.wait_for("startup_retry", timeout=60)
    service.proc.send_signal(signal.SIGTERM)
    service.proc.send_signal(signal.SIGTERM)
    _stopped_cleanly(service)


@pytest.mark.timeout(240)
def test_a_quorum_starts_without_an_endpoint_that_is_down(net: Devnet, tmp_path: Path) -> None:
    """Three endpoints, one a closed port, l1.quorum 2: the service starts with the two that
    answer (one line names the missing one) and cross-checks them; without the quorum the
    endpoint down refuses the start, as before (retried)."""
    down = f"http://127.0.0.1:{_closed_port()}"
    other = str(net.rpc_url).replace("127.0.0.1", "localhost")  # the same node, another URL
    service = ServiceProcess(
        net, tmp_path / "data", "--mode", "watch",
        "--l1-rpc", down, "--l1-rpc", other, "--l1-quorum", "2",
    )  # fmt: skip
    missing = service.wait_for("l1_endpoints_missing", timeout=60)
    assert missing["answering"] == 2 and missing["endpoints"] == 3 and missing["quorum"] == 2
    assert down.removeprefix("http://") in missing["error"]
    assert service.count("l1_endpoints_missing") == 1
    started = service.wait_for("started", timeout=60)
    assert started["endpoints"] == 3 and started["answering"] == 2
    service.wait_for("batch_verified", timeout=60)
    assert service.terminate() == 0

    everyone = ServiceProcess(
        net, tmp_path / "data2", "--mode", "watch", "--l1-rpc", down, "--startup-timeout", "30"
    )
    retry = everyone.wait_for("startup_retry", timeout=60)
    assert "1 of 2 endpoints answer" in retry["error"]
    assert everyone.count("started") == 0
    everyone.proc.send_signal(signal.SIGTERM)
    _stopped_cleanly(everyone)


@pytest.mark.timeout(120)
def test_a_busy_metrics_port_exits_2_in_one_line(net: Devnet, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        listen = f"127.0.0.1:{busy.getsockname()[1]}"
        result = _run(["run", "--l1-rpc", str(net.rpc_url), "--rollup", net.client.address,
                       "--genesis", str(net.genesis_path), "--data-dir", str(tmp_path / "d"),
                       "--mode", "watch", "--log-format", "json",
                       "--metrics-listen", listen])  # fmt: skip
    (line,) = _lines(result.stderr)
    assert result.returncode == 2, result.stderr
    assert line.startswith(f"error: --metrics-listen {listen}: ") and "in use" in line, line
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.timeout(240)
def test_a_quorum_keeps_ticking_while_one_endpoint_fails(net: Devnet, tmp_path: Path) -> None:
    """l1.quorum per tick: the second of three endpoints (a proxy) starts dropping requests;
    with quorum 2 the service keeps verifying with the two that answer, one line names the
    missing one, one line says when it is back."""
    from watchtower_dev.rpcproxy import RpcProxy

    assert net.rpc_url is not None
    other = str(net.rpc_url).replace("127.0.0.1", "localhost")
    with RpcProxy(net.rpc_url, seed=1) as proxy:
        service = ServiceProcess(
            net, tmp_path / "data", "--mode", "watch", "--confirmations", "0",
            "--l1-rpc", proxy.url, "--l1-rpc", other, "--l1-quorum", "2",
        )  # fmt: skip
        service.wait_for("started", timeout=60)
        service.wait_for("batch_verified", timeout=60)
        mark = len(service.events)
        proxy.inject("drop")
        missing = service.wait_for("l1_endpoints_missing", timeout=60, since=mark)
        assert missing["answering"] == 2 and missing["quorum"] == 2
        batch, _ = net.proposer.propose(2)
        service.wait_for("batch_verified", batch=batch.index, timeout=60, since=mark)
        assert service.count("tick_failed") == 0
        proxy.clear()
        service.wait_for("l1_endpoints_back", timeout=60, since=mark)
        assert service.count("l1_endpoints_missing") == 1
        assert service.terminate() == 0
