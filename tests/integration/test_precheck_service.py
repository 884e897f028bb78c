"""``watchtower run`` with the sender-recovery worker (``replay.worker``) and the state-root
worker (``replay.root_worker``): a SIGKILL of the service while it replays leaves no child
process behind (the workers exit with their parent), and the restart decides what a service
without workers decides."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import require_anvil
from tests.integration.service_process import ServiceProcess
from watchtower.store.db import Store
from watchtower_dev.devnet import start_devnet
from watchtower_dev.faults import Fault, FaultKind

pytestmark = pytest.mark.integration  # ~6 s a case: anvil, 13 batches proposed, three services

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


def _workers(env: dict[str, str]) -> dict[str, str]:
    return {
        "WATCHTOWER_REPLAY_WORKER": env.get("WATCHTOWER_REPLAY_WORKER", "false"),
        "WATCHTOWER_REPLAY_ROOT_WORKER": env.get("WATCHTOWER_REPLAY_ROOT_WORKER", "false"),
    }


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("on", "spawned"),
    [
        ({"WATCHTOWER_REPLAY_WORKER": "true"}, 1),
        ({"WATCHTOWER_REPLAY_WORKER": "true", "WATCHTOWER_REPLAY_ROOT_WORKER": "true"}, 2),
    ],
    ids=["precheck", "precheck+root"],
)
def test_sigkill_mid_replay_leaves_no_worker_and_the_restart_decides_the_same(
    tmp_path: Path, on: dict[str, str], spawned: int
) -> None:
    require_anvil()
    on = _workers(on)
    with start_devnet("anvil") as net:
        for _ in range(VALID):
            net.proposer.propose(40)
        net.proposer.propose(10, Fault(FaultKind.WRONG_ROOT, 4))

        # Reference: the same chain verified without workers.
        reference = ServiceProcess(net, tmp_path / "ref", "--mode", "watch", env=_workers({}))
        _caught_up(reference)
        assert not any("spawn_main" in cmd for cmd in _children(reference.proc.pid).values())
        assert reference.terminate() == 0

        service = ServiceProcess(net, tmp_path / "data", "--mode", "watch", env=on)
        service.wait_for("batch_verified", timeout=180)
        deadline = time.monotonic() + 60
        children: dict[int, str] = {}
        while time.monotonic() < deadline:  # the workers are spawned by the first replay
            children = _children(service.proc.pid)
            if sum("spawn_main" in cmd for cmd in children.values()) >= spawned:
                break
            time.sleep(0.05)
        assert sum("spawn_main" in cmd for cmd in children.values()) == spawned, children
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
        assert again.count("root_worker_fallback") == 0
        assert again.terminate() == 0  # SIGTERM: the worker is stopped with the service
        assert not any(_alive(pid) for pid in _children(again.proc.pid))

    expected = _verdicts(tmp_path / "ref")
    assert expected == [(i, "valid") for i in range(VALID)] + [(VALID, "fraud")]
    assert _verdicts(tmp_path / "data") == expected


def test_the_service_in_process_decides_the_same_and_close_stops_the_worker(
    tmp_path: Path,
) -> None:
    """The embedded chain, services over it: both workers, the root worker only, none."""
    from watchtower.service import ServiceConfig, ServiceMode, Watchtower
    from watchtower_dev.proposer import devnet_genesis

    with start_devnet("embedded") as net:
        for _ in range(3):
            net.proposer.propose(30)
        net.proposer.propose(6, Fault(FaultKind.SKIP_TX, 2))
        net.proposer.propose(5)  # builds on the fraud: skipped
        verdicts = []
        for worker, root_worker in ((True, True), (False, True), (False, False)):
            config = ServiceConfig(
                tmp_path / f"{worker}-{root_worker}", mode=ServiceMode.WATCH, confirmations=0,
                replay_worker=worker, root_worker=root_worker,
            )  # fmt: skip
            genesis = devnet_genesis()
            tower = Watchtower(config, [net.client], genesis, None, alert=lambda k, **_: None)
            started: list[int] = []  # the workers' pids
            try:
                tower.tick()
                tower.tick()
                verdicts.append([(r.idx, r.verdict) for r in tower.store.batches()])
                if worker:
                    assert tower.prechecker is not None and tower.prechecker.failures == 0
                    pid = tower.prechecker.pid()
                    assert pid is not None and _alive(pid)
                    started.append(pid)
                else:
                    assert tower.prechecker is None
                if root_worker:
                    assert tower.root_worker is not None and tower.root_worker.fallbacks == 0
                    root_pid = tower.root_worker.pid
                    assert root_pid is not None and _alive(root_pid)
                    started.append(root_pid)
                else:
                    assert tower.root_worker is None
            finally:
                tower.close()
            deadline = time.monotonic() + 10
            while any(map(_alive, started)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not any(map(_alive, started)), "close() left a worker running"
    assert verdicts[0] == verdicts[1] == verdicts[2]
    assert [v.value if v else None for _, v in verdicts[0]] == [
        "valid", "valid", "valid", "fraud", "skipped"
    ]  # fmt: skip


def test_a_root_worker_killed_mid_batch_is_one_log_line_and_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The root worker SIGKILLed during the service's first batch: that batch is replayed by the
    reference path (``root_worker_fallback``, naming it), the next ones by a fresh worker."""
    import structlog

    import watchtower.execute.replay as replay_module
    from watchtower.service import ServiceConfig, ServiceMode, Watchtower
    from watchtower_dev.proposer import devnet_genesis

    with start_devnet("embedded") as net:
        for _ in range(3):
            net.proposer.propose(30)
        net.proposer.propose(6, Fault(FaultKind.WRONG_ROOT, 2))
        verdicts = []
        for root_worker in (True, False):
            config = ServiceConfig(
                tmp_path / str(root_worker), mode=ServiceMode.WATCH, confirmations=0,
                root_worker=root_worker,
            )  # fmt: skip
            tower = Watchtower(
                config, [net.client], devnet_genesis(), None, alert=lambda k, **_: None
            )
            hits = 0

            def kill_at_step_10(name: str, tower: Watchtower = tower) -> None:
                nonlocal hits
                hits += name == "replay.step"
                worker = tower.root_worker
                if hits == 10 and worker is not None and worker.pid is not None:
                    os.kill(worker.pid, signal.SIGKILL)

            monkeypatch.setattr(replay_module, "failpoint", kill_at_step_10)
            try:
                with structlog.testing.capture_logs() as logs:
                    tower.tick()
                verdicts.append([(r.idx, r.verdict) for r in tower.store.batches()])
                fallbacks = [e for e in logs if e["event"] == "root_worker_fallback"]
                if root_worker:
                    assert tower.root_worker is not None
                    assert len(fallbacks) == 1, fallbacks
                    assert fallbacks[0]["batch"] == 0 and fallbacks[0]["fallbacks"] == 1
                    assert fallbacks[0]["reason"].startswith("batch 0: "), fallbacks[0]
                    assert tower.root_worker.pid is not None  # a fresh one served the rest
                else:
                    assert fallbacks == []
            finally:
                tower.close()
    assert verdicts[0] == verdicts[1]
    assert [v.value if v else None for _, v in verdicts[0]] == ["valid"] * 3 + ["fraud"]
