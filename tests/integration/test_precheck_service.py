"""``watchtower run`` with the sender-recovery worker (``replay.worker``): a SIGKILL of the
service while it replays leaves no child process behind (the worker exits with its parent), and
the restart decides what a service without the worker decides."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import require_anvil
from tests.integration.service_process import ServiceProcess
from watchtower.store.db import Store
from watchtower_dev.devnet import start_devnet
from watchtower_dev.faults import Fault, FaultKind

pytestmark = pytest.mark.integration  # ~6 s: anvil, 13 batches proposed, three services

VALID = 12  # batches, then one fraudulent batch


def _children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid`` (from /proc): pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _verdicts(data_dir: Path) -> list[tuple[int, str | None]]:
    with Store(data_dir / "watchtower.sqlite") as store:
        return [
            (row.idx, None if row.verdict is None else row.verdict.value) for row in store.batches()
        ]


def _caught_up(service: ServiceProcess) -> None:
    service.wait_for("batch_verified", timeout=180, batch=VALID - 1)
    service.wait_for("fraud_detected", timeout=60, batch=VALID)


@pytest.mark.timeout(600)
def test_sigkill_mid_replay_leaves_no_worker_and_the_restart_decides_the_same(
    tmp_path: Path,
) -> None:
    require_anvil()
    with start_devnet("anvil") as net:
        for _ in range(VALID):
            net.proposer.propose(40)
        net.proposer.propose(10, Fault(FaultKind.WRONG_ROOT, 4))
        on = {"WATCHTOWER_REPLAY_WORKER": "true"}

        # Reference: the same chain verified without the worker.
        reference = ServiceProcess(
            net, tmp_path / "ref", "--mode", "watch", env={"WATCHTOWER_REPLAY_WORKER": "false"}
        )
        _caught_up(reference)
        assert reference.terminate() == 0

        service = ServiceProcess(net, tmp_path / "data", "--mode", "watch", env=on)
        service.wait_for("batch_verified", timeout=180)
        deadline = time.monotonic() + 60
        children: dict[int, str] = {}
        while time.monotonic() < deadline:  # the worker is spawned by the first replay
            children = _children(service.proc.pid)
            if any("spawn_main" in cmd for cmd in children.values()):
                break
            time.sleep(0.05)
        assert any("spawn_main" in cmd for cmd in children.values()), children
        verified = service.count("batch_verified")
        service.kill()  # SIGKILL, mid-catch-up
        assert verified < VALID, "the replay had ended before the kill: nothing was tested"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.05)
        survivors = {pid: cmd for pid, cmd in children.items() if _alive(pid)}
        assert not survivors, f"children outlived the SIGKILLed service: {survivors}"

        again = ServiceProcess(net, tmp_path / "data", "--mode", "watch", env=on)
        _caught_up(again)
        assert again.count("precheck_worker_failed") == 0
        assert again.terminate() == 0  # SIGTERM: the worker is stopped with the service
        assert not any(_alive(pid) for pid in _children(again.proc.pid))

    expected = _verdicts(tmp_path / "ref")
    assert expected == [(i, "valid") for i in range(VALID)] + [(VALID, "fraud")]
    assert _verdicts(tmp_path / "data") == expected


def test_the_service_in_process_decides_the_same_and_close_stops_the_worker(
    tmp_path: Path,
) -> None:
    """The embedded chain, two services over it: ``replay_worker`` on and off."""
    from watchtower.service import ServiceConfig, ServiceMode, Watchtower
    from watchtower_dev.proposer import devnet_genesis

    with start_devnet("embedded") as net:
        for _ in range(3):
            net.proposer.propose(30)
        net.proposer.propose(6, Fault(FaultKind.SKIP_TX, 2))
        net.proposer.propose(5)  # builds on the fraud: skipped
        verdicts = []
        for worker in (True, False):
            config = ServiceConfig(
                tmp_path / str(worker), mode=ServiceMode.WATCH, confirmations=0,
                replay_worker=worker,
            )  # fmt: skip
            genesis = devnet_genesis()
            tower = Watchtower(config, [net.client], genesis, None, alert=lambda k, **_: None)
            try:
                tower.tick()
                tower.tick()
                verdicts.append([(r.idx, r.verdict) for r in tower.store.batches()])
                if worker:
                    assert tower.prechecker is not None and tower.prechecker.failures == 0
                    pid = tower.prechecker.pid()
                    assert pid is not None and _alive(pid)
                else:
                    assert tower.prechecker is None
            finally:
                tower.close()
            if worker:
                deadline = time.monotonic() + 10
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert not _alive(pid), "close() left the worker running"
    assert verdicts[0] == verdicts[1]
    assert [v.value if v else None for _, v in verdicts[0]] == [
        "valid", "valid", "valid", "fraud", "skipped"
    ]  # fmt: skip
