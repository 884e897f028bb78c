"""Issue 6: SIGKILL at every failpoint of the pipeline, then a restart; nothing is lost or doubled.

One anvil devnet for the module: three honest batches, then a fraudulent one, then a snapshot
(``evm_snapshot``). Every kill point starts from that snapshot (``evm_revert``) with a fresh data
directory and a fresh webhook receiver:

1. ``watchtower run`` (a real subprocess) with ``WATCHTOWER_FAILPOINTS=<name>=kill@<n>`` must
   die by SIGKILL (status -9) right after printing ``failpoint_hit`` for that name and hit; a
   point that is never reached fails the test;
2. the same data directory is run again without failpoints until the challenge has succeeded and
   every alert is delivered; then it is stopped with SIGTERM (status 0);
3. then: the verdict of every batch is that of the reference run without crashes; exactly one
   commit and one reveal of ours were mined (the signer's nonce moved by two), one ``FraudProven``
   event, one stake owed back with the reward; ``Store.integrity_check() == []``; every outbox row
   delivered and every alert of the reference run received under one Idempotency-Key (a second
   copy only where the kill fell between the receiver's answer and the outbox commit, the
   documented at-least-once window); the LMDB state chains from genesis to the last valid batch
   and every trie node under its root is on disk.

Fee-bump points run with anvil's automine off (the challenge stays unmined, ``--bump-after 1``);
the reorg point mines a block, lets the service record it, and replaces it. To keep the module
near two minutes, the two processes of the next kill point are spawned while the current one
runs and wait, imports done, for their start (:data:`LAUNCHER`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.alert.receiver import Receiver
from tests.helpers import check_state_chain
from tests.integration.conftest import require_anvil, rpc
from tests.integration.service_process import ServiceProcess
from watchtower.execute.statedb import StateDB
from watchtower.failpoints import ENV, KNOWN
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.store.db import ChallengeState, Store
from watchtower_dev.devnet import Devnet, start_devnet
from watchtower_dev.faults import Fault, FaultKind

pytestmark = pytest.mark.integration

HONEST_BATCHES = 3
TXS = 8  # transfers per batch: hits of replay.step are 8 per batch
FAULT_STEP = 5
SECRET = "crash-points-webhook-secret"
SECRET_ENV = "WT_CRASH_WEBHOOK_SECRET"
#: The alerts a run raises (proposer_slashed: the scan sees the BatchesRejected log).
KINDS = ["challenge_submitted", "challenge_succeeded", "fraud_detected", "proposer_slashed"]


@dataclass(frozen=True)
class Case:
    """One kill point: SIGKILL at the ``nth`` hit of failpoint ``name``."""

    name: str
    nth: int = 1
    automine: bool = True  # False: the challenge stays unmined (waiting for a receipt, bumps)
    reorg: bool = False  # a block the service recorded is replaced while it runs
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}@{self.nth}" + ("" if self.automine else "-unmined")


CASES: tuple[Case, ...] = (
    Case("scan.before_get_logs", why="scanning: before eth_getLogs"),
    Case("scan.fetched", why="logs and calldata fetched and checked, nothing recorded"),
    Case("store.record_scan.commit", why="inside the scan transaction, before COMMIT"),
    Case("scan.recorded", why="the scanned range committed, nothing replayed"),
    Case("scan.recorded", 2, why="the rejection recorded: proposer_slashed raised before it"),
    Case("store.rewind.commit", reorg=True, why="inside the reorg rewind, before COMMIT"),
    Case("replay.step", 12, why="batch 1, after step 3 of 8"),
    Case("replay.step", 30, why="the fraudulent batch, right at the bad step"),
    Case("replay.before_commit", 2, why="batch 1 replayed, before the state commit"),
    Case("statedb.write.commit", 1, why="inside the genesis LMDB write, first start"),
    Case("statedb.write.commit", 3, why="inside batch 1's LMDB write transaction"),
    Case("service.replayed", 2, why="batch 1 committed to LMDB, verdict not in SQLite"),
    Case("service.replayed", 4, why="fraud found and alerted, verdict not in SQLite"),
    Case("service.proof_built", why="proof built, before its local check"),
    Case("challenge.opened", why="challenge PREPARED with its salt, nothing simulated"),
    Case("challenge.simulated", why="after the pre-flight eth_call, nothing signed"),
    Case("challenge.signed", why="commit signed (nonce recorded), not recorded, not sent"),
    Case("challenge.recorded", why="commit recorded (write-ahead), not broadcast"),
    Case("challenge.broadcast", why="commit broadcast, before returning"),
    Case("poll.before_receipts", automine=False, why="waiting for the commit's receipt"),
    Case("poll.receipt_seen", why="the commit's receipt seen, not recorded"),
    Case("poll.submission_marked", why="commit marked mined, reveal not signed"),
    Case("challenge.signed", 2, why="reveal signed (nonce recorded), not recorded, not sent"),
    Case("challenge.recorded", 2, why="reveal recorded (write-ahead), not broadcast"),
    Case("challenge.broadcast", 2, why="reveal broadcast, before returning"),
    Case("poll.receipt_seen", 2, why="the reveal's receipt seen, not recorded"),
    Case("poll.submission_marked", 2, why="reveal marked mined, challenge still sent"),
    Case("poll.challenge_succeeded", why="challenge succeeded, batch not marked rejected"),
    Case("poll.bump_due", automine=False, why="a fee bump of the commit is due, nothing built"),
    Case("challenge.signed", 2, automine=False, why="commit replacement signed, not recorded"),
    Case("challenge.recorded", 2, automine=False, why="commit replacement recorded, not sent"),
    Case("challenge.broadcast", 2, automine=False, why="commit replacement broadcast"),
    Case("outbox.enqueued", why="the first alert committed to the outbox"),
    Case("outbox.sent", why="the receiver accepted the first alert, row not marked delivered"),
)

#: Kill points that ran to the end, with their wall time (filled as the tests run).
TRIED: dict[str, float] = {}


# -- the devnet ---------------------------------------------------------------------------------
@dataclass
class World:
    net: Devnet
    snapshot: str
    fraud_index: int
    nonce: int  # the challenger's nonce at the snapshot
    tmp: Path
    reference: dict[str, Any] = field(default_factory=dict)
    prepared: dict[str, Prepared] = field(default_factory=dict)
    spawned: set[str] = field(default_factory=set)  # every case prepared so far

    def reset(self) -> None:
        """Back to the snapshot (anvil drops a snapshot it reverts to: take a new one)."""
        rpc(self.net, "evm_setAutomine", True)
        assert rpc(self.net, "evm_revert", self.snapshot) is True
        self.snapshot = str(rpc(self.net, "evm_snapshot"))

    def take(self, case: Case | None) -> Prepared:
        """The processes of ``case``, spawned earlier if they were (:meth:`prepare_next`)."""
        found = self.prepared.pop(_key(case), None)
        return found if found is not None else _prepare(self, case)

    def prepare_next(self, case: Case | None) -> None:
        """Spawn the processes of the case after ``case``: their imports overlap this one."""
        if case is not None and case not in CASES:
            return
        at = -1 if case is None else CASES.index(case)
        if at + 1 < len(CASES) and _key(CASES[at + 1]) not in self.spawned:
            self.prepared[_key(CASES[at + 1])] = _prepare(self, CASES[at + 1])

    def close(self) -> None:
        for prepared in self.prepared.values():
            prepared.stop()
        self.prepared.clear()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_anvil()
    net = start_devnet("anvil")
    try:
        for _ in range(HONEST_BATCHES):
            net.proposer.propose(TXS)
        fraud, _ = net.proposer.propose(TXS, Fault(FaultKind.WRONG_FEE, FAULT_STEP))
        rpc(net, "evm_mine")  # one confirmation: the fraud is actionable at once
        nonce = int(net.w3.eth.get_transaction_count(net.challenger.address))
        snapshot = str(rpc(net, "evm_snapshot"))
        world = World(net, snapshot, fraud.index, nonce, tmp_path_factory.mktemp("crash"))
        try:
            world.reference = _run(world, None)
            yield world
        finally:
            world.close()
    finally:
        net.close()


# -- the service processes ----------------------------------------------------------------------
#: ``watchtower run ARGS`` in a fresh interpreter that imports the service first and runs the
#: command only once the file ``GO`` exists, so that the imports (most of the start-up time)
#: overlap with the previous run. Everything else is as ``python -m watchtower run ARGS``: the
#: same entry point, the process's own environment from the start (WATCHTOWER_FAILPOINTS is
#: read when the command starts, as always), the data directory and L1 touched only after GO.
LAUNCHER = """
import os, sys, time
import watchtower.config, watchtower.runner, watchtower.rollup.bundle, watchtower_dev.proposer
from watchtower.cli import main
go, args = sys.argv[1], sys.argv[2:]
while not os.path.exists(go):
    time.sleep(0.005)
main(args=args, prog_name="watchtower")
"""


class Service(ServiceProcess):
    """A :class:`ServiceProcess` started through :data:`LAUNCHER`."""

    go: Path

    @classmethod
    def spawn(cls, args: list[str], env: dict[str, str], go: Path) -> Service:
        process = cls.__new__(cls)
        process.go = go
        process._start([sys.executable, "-c", LAUNCHER, str(go), *args], env)
        return process

    def start(self) -> None:
        self.go.touch()

    def stop(self) -> None:
        """Kill it if it is still there (a failed test must not leave it waiting)."""
        if self.proc.poll() is None:
            self.kill()


@dataclass
class Prepared:
    """The two runs of one case, spawned and waiting for their GO: killed, then restarted."""

    where: Path
    victim: Service | None  # None: the reference run (no crash)
    restart: Service

    @property
    def data(self) -> Path:
        return self.where / "wt"

    @property
    def config(self) -> Path:
        return self.where / "watchtower.toml"  # written once the receiver listens

    def stop(self) -> None:
        for process in (self.victim, self.restart):
            if process is not None:
                process.stop()


def _key(case: Case | None) -> str:
    return "reference" if case is None else case.id


def _prepare(world: World, case: Case | None) -> Prepared:
    world.spawned.add(_key(case))
    where = world.tmp / _key(case)
    for n in range(2, 100):  # a case run again (pytest --count, a rerun plugin) gets a new one
        if not where.exists():
            break
        where = world.tmp / f"{_key(case)}-{n}"
    (where / "wt").mkdir(parents=True)
    restart = _spawn(world, where, "restart", None, "--confirmations", "1")
    victim = None
    if case is not None:
        # A reorg must come before the challenge: act only 3 blocks deep until it happened.
        extra = ("--confirmations", "3" if case.reorg else "1")
        victim = _spawn(world, where, "victim", f"{case.name}=kill@{case.nth}", *extra)
    return Prepared(where, victim, restart)


def _spawn(world: World, where: Path, role: str, spec: str | None, *extra: str) -> Service:
    net = world.net
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["WT_CHALLENGER_KEY"] = net.challenger.key.hex()
    env[SECRET_ENV] = SECRET
    if spec is not None:
        env[ENV] = spec
    args = [
        "run", "--config", str(where / "watchtower.toml"),
        "--l1-rpc", str(net.rpc_url),
        "--rollup", net.client.address,
        "--genesis", str(net.genesis_path),
        "--data-dir", str(where / "wt"),
        "--key-env", "WT_CHALLENGER_KEY",
        "--poll-interval", "0.2",
        "--bump-after", "1",
        "--log-format", "json",
        *extra,
    ]  # fmt: skip
    return Service.spawn(args, env, where / f"go-{role}")


def _wait_event(service: ServiceProcess, event: str, timeout: float, *keys: str) -> None:
    """Wait for a log line ``event`` that has the fields ``keys``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and service.proc.poll() is None:
        if any(e.get("event") == event and set(keys) <= e.keys() for e in list(service.events)):
            return
        time.sleep(0.02)
    raise AssertionError(f"no {event} with {keys}:\n" + "".join(service.raw[-10:]))


def _wait_killed(service: ServiceProcess, case: Case, timeout: float = 60.0) -> None:
    try:
        code = service.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        service.kill()
        tail = "".join(service.raw[-10:])
        raise AssertionError(
            f"{case.id} ({case.why}): failpoint never reached in {timeout}s:\n{tail}"
        ) from None
    service.kill()  # reaps it and closes the pipe (it is already dead)
    hits = [e for e in service.events if e.get("event") == "failpoint_hit"]
    tail = "".join(service.raw[-10:])
    assert code == -9, f"{case.id} ({case.why}): exit status {code}, not SIGKILL:\n{tail}"
    assert [(h["name"], h["hit"]) for h in hits] == [(case.name, case.nth)], tail


def _query(path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Read a live SQLite file of the service (WAL: readers never block the writer)."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        db.close()


def _finished(world: World, data: Path, receiver: Receiver, kinds: set[str]) -> bool:
    states = _query(data / "watchtower.sqlite", "SELECT state FROM challenges")
    pending = _query(data / "alerts.sqlite", "SELECT COUNT(*) FROM outbox WHERE state='pending'")
    got = {json.loads(r.body)["kind"] for r in receiver.accepted()}
    return (
        states == [(ChallengeState.SUCCEEDED.value,)]
        and pending == [(0,)]
        and kinds <= got
        and world.net.client.batch(world.fraud_index).status is OnChain.REJECTED
    )


def _webhook_config(path: Path, receiver: Receiver) -> Path:
    path.write_text(
        f'[[alerts.webhook]]\nurl = "{receiver.url("/hook")}"\nsecret_env = "{SECRET_ENV}"\n'
    )
    return path


def _run(world: World, case: Case | None) -> dict[str, Any]:
    """Kill at ``case`` (none: the reference run), restart, run to the end; what it left."""
    net = world.net
    prepared = world.take(case)
    service, victim, data = prepared.restart, prepared.victim, prepared.data
    world.reset()
    receiver = Receiver().start()
    started = time.monotonic()
    delivered_by_victim: set[str] = set()
    try:
        _webhook_config(prepared.config, receiver)
        if case is not None:
            assert victim is not None
            if not case.automine:
                rpc(net, "evm_setAutomine", False)
            if case.reorg:
                before = str(rpc(net, "evm_snapshot"))
                rpc(net, "evm_mine")  # a block the service will record, then lose
            victim.start()
            if case.reorg:
                victim.wait_for("fraud_detected", batch=world.fraud_index, timeout=60)
                assert rpc(net, "evm_revert", before) is True
                funder = net.w3.eth.accounts[0]  # another block at the same height
                net.w3.eth.send_transaction({"from": funder, "to": funder, "value": 1})
            _wait_killed(victim, case)
            delivered_by_victim = {
                str(e["dedup_key"]) for e in victim.events if e.get("event") == "alert_delivered"
            }
        service.start()
        world.prepare_next(case)
        if case is not None and not case.automine:
            # The journal is taken up unmined: re-broadcast, and a replacement is overdue.
            _wait_event(service, "challenge_tx_sent", 60, "replacement")
            rpc(net, "evm_setAutomine", True)
            rpc(net, "evm_mine")
        deadline = time.monotonic() + 60
        while not _finished(world, data, receiver, set(KINDS)) and time.monotonic() < deadline:
            time.sleep(0.05)
        code = service.terminate()
        assert code == 0, "".join(service.raw[-10:])
    finally:
        prepared.stop()
        receiver.stop()
    return _outcome(world, data, receiver) | {
        "seconds": time.monotonic() - started,
        "delivered_by_victim": delivered_by_victim,
    }


def _outcome(world: World, data: Path, receiver: Receiver) -> dict[str, Any]:
    net = world.net
    with Store(data / "watchtower.sqlite") as store:
        problems = store.integrity_check()
        rows = [r for r in store.batches() if r.status.value != "removed"]
        verdicts = [(r.idx, r.verdict) for r in rows]
        finals = {r.idx: r.final_root for r in rows if r.verdict == "valid"}
        challenges = [c.state for c in store.challenges()]
        mined = [
            s.tx_hash for s in store.submissions() if s.state == "mined" and s.action == "reveal"
        ]
        commits = [
            s.tx_hash for s in store.submissions() if s.state == "mined" and s.action == "commit"
        ]
        statuses = [(r.idx, r.status.value) for r in rows]
    outbox = _query(data / "alerts.sqlite", "SELECT dedup_key, sink, state FROM outbox")
    outbox_ok = _query(data / "alerts.sqlite", "PRAGMA integrity_check")
    with StateDB(data / "state") as state:
        records = check_state_chain(state, finals)
    proven = list(
        net.client.contract.events.FraudProven().get_logs(from_block=0, to_block="latest")
    )
    accepted = receiver.accepted()
    return {
        "problems": problems,
        "verdicts": verdicts,
        "statuses": statuses,
        "challenges": challenges,
        "mined": mined,
        "commits": commits,
        "records": records,
        "outbox": outbox,
        "outbox_ok": outbox_ok,
        "proven": [(int(e["args"]["index"]), bytes(e["transactionHash"])) for e in proven],
        "our_txs": int(net.w3.eth.get_transaction_count(net.challenger.address)) - world.nonce,
        "owed": net.client.owed(net.challenger.address),
        "keys": Counter(r.headers["idempotency-key"] for r in accepted),
        "kinds": sorted({json.loads(r.body)["kind"] for r in accepted}),
        "on_chain": [net.client.batch(i).status for i in range(world.fraud_index + 1)],
    }


def _check(world: World, case: Case | None, got: dict[str, Any]) -> None:
    net = world.net
    fraud = world.fraud_index
    honest = fraud  # batches 0 .. fraud - 1
    assert got["problems"] == []
    # (a) the same verdicts as without crashes
    assert got["verdicts"] == [(i, "valid") for i in range(honest)] + [(fraud, "fraud")]
    if case is not None:
        assert got["verdicts"] == world.reference["verdicts"]
    # (b) exactly one stake: one commit and one reveal mined, ours, and one proof on chain
    assert got["challenges"] == [ChallengeState.SUCCEEDED]
    assert got["statuses"] == [(i, "pending") for i in range(honest)] + [(fraud, "rejected")]
    assert len(got["mined"]) == 1 and len(got["commits"]) == 1
    assert got["proven"] == [(fraud, got["mined"][0])]
    assert got["our_txs"] == 2  # the signer's nonce moved twice: one commit, one reveal, ever
    assert got["owed"] == net.config.min_stake + net.config.proposer_bond // 2
    assert got["on_chain"] == [OnChain.PENDING] * honest + [OnChain.REJECTED]
    # (c) the stores are whole: LMDB chained to the last valid batch, outbox all delivered
    assert got["records"] == honest
    assert got["outbox_ok"] == [("ok",)]
    assert {state for _, _, state in got["outbox"]} == {"delivered"}
    assert Counter(key for key, _, _ in got["outbox"]) == Counter(set(got["keys"]))
    assert got["kinds"] == KINDS
    # A second copy only from the at-least-once window: sent by the killed run, whose outbox
    # commit of "delivered" did not happen (a kill at outbox.sent, or one that fell while the
    # delivery thread was between the receiver's answer and its commit).
    twice = {key: n for key, n in got["keys"].items() if n > 1}
    assert set(twice.values()) <= {2}
    assert not set(twice) & got["delivered_by_victim"]
    if case is None:
        assert twice == {}
    elif case.name == "outbox.sent":
        assert twice, "the alert sent before the kill is sent again"


def test_reference_run_without_crashes(world: World) -> None:
    _check(world, None, world.reference)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sigkill_at(world: World, case: Case) -> None:
    got = _run(world, case)
    _check(world, case, got)
    TRIED[case.id] = got["seconds"]


def test_every_failpoint_has_a_kill_point(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cases cover every failpoint in the code; report how many kill points were tried."""
    # (the channel guardian's are tests/integration/test_guardian_service.py's)
    rollup = [name for name in KNOWN if not name.startswith("channel.")]
    assert sorted({case.name for case in CASES}) == sorted(rollup)
    assert len({case.id for case in CASES}) == len(CASES)
    selected = [
        item
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_sigkill_at"
    ]
    line = (
        f"crash points: {len(TRIED)} kill points tried (of {len(CASES)}), "
        f"{len({i.split('@')[0] for i in TRIED})} of {len(KNOWN)} failpoints, "
        f"{sum(TRIED.values()):.0f} s"
    )
    with capsys.disabled():  # in the test report, also with -q
        print("\n" + line)
    if len(selected) == len(CASES):  # the whole module ran: every kill point passed
        assert sorted(TRIED) == sorted(case.id for case in CASES), line
