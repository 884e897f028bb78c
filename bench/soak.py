"""Soak: a compressed long run on anvil, measuring memory, disk growth and replay speed over time.

Usage: python bench/soak.py [--batches 1000] [--transfers 100] [--window 100] [--prune-every 50]
                            [--keep-recent 64] [--sample-every 50] [--no-compare] [--json FILE]

What runs:
  * anvil with the rollup deployed (``start_devnet("anvil")``), the challenge period set to
    ``window`` batches of ``seconds-per-batch`` each; before every batch the L1 clock is moved on
    by ``seconds-per-batch`` (``evm_increaseTime``), so a week of batches leaving their window
    happens in minutes;
  * the devnet proposer, in this process, posting ``batches`` batches of ``transfers`` transfers
    (every fifth to a new account, so the state keeps growing);
  * ``watchtower run`` as a real subprocess (challenge mode, ``--metrics-listen``) with pruning
    on; with ``--compare`` (the default) a second one in watch mode with pruning off, over the
    same chain at the same time.

Every ``sample-every`` batches (once both watchtowers have caught up) it samples, per watchtower:
RSS and peak RSS (``/proc/<pid>/status``), state database files, SQLite store files, live trie
nodes (``watchtower_state_nodes``), and the median replay speed of the batches since the last
sample (``watchtower_replay_steps_per_second`` is read for every batch by a poller). At the end
one fraudulent batch (a fee one wei too high) is posted and must be rejected on chain by the
pruning watchtower's challenge; then, offline, a fraud proof is built and checked for every batch
from the pruning floor to the head (every batch still inside its window must be provable).

Prints a table per watchtower and the prune runs, and writes everything as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from watchtower.execute.statedb import StateDB
from watchtower.hashing import use_fast_keccak
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.proof.fraud import build_fraud_proof, check_fraud_proof
from watchtower.rollup.codec import decode_batch
from watchtower.rollup.params import RollupParams
from watchtower.rollup.types import Batch, BlockContext
from watchtower.store.db import BatchStatus, Store
from watchtower_dev.builder import with_wrong_root
from watchtower_dev.chain import free_port
from watchtower_dev.devnet import Devnet, start_devnet
from watchtower_dev.faults import Fault, FaultKind

MB = 1024 * 1024


@dataclass(frozen=True)
class SoakConfig:
    batches: int = 1000
    transfers: int = 100
    window: int = 100  # batches inside the challenge window at any time
    seconds_per_batch: int = 60  # L1 time between two batches
    prune_every: int = 50
    keep_recent: int = 64
    sample_every: int = 50
    max_lag: int = 4  # batches the proposer may run ahead of the slowest watchtower
    compare: bool = True  # also run a watchtower with pruning off
    poll_interval: float = 0.1

    @property
    def challenge_period(self) -> int:
        return self.window * self.seconds_per_batch


@dataclass(frozen=True)
class Sample:
    batch: int  # batches verified at the sample
    wall_seconds: float
    rss_mb: float
    rss_peak_mb: float
    state_mb: float  # state database files (LMDB: the high-water mark, reused after pruning)
    store_mb: float  # watchtower.sqlite with its WAL
    nodes: int
    speed_median: float  # steps/s, median over the batches since the previous sample
    speed_batches: int  # how many batch speeds that median is over


@dataclass(frozen=True)
class PruneRun:
    head: int
    pruned_below: int
    nodes_deleted: int
    nodes_after: int
    seconds: float


@dataclass(frozen=True)
class SoakResult:
    config: SoakConfig
    pruned: list[Sample]
    unpruned: list[Sample]
    prune_runs: list[PruneRun]
    fraud_batch: int
    fraud_proven: bool
    fraud_seconds: float  # from posting the fraud to its rejection on chain
    provable_from: int  # the pruning floor at the end
    provable_to: int  # the head at the end
    provable: int  # batches in [provable_from, provable_to] whose proofs built and checked
    oldest_in_window: int  # the oldest batch whose deadline was not past after the last batch
    wall_seconds: float
    final_accounts: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _dir_bytes(path: Path, names: tuple[str, ...] | None = None) -> int:
    if not path.exists():
        return 0
    files = path.iterdir() if path.is_dir() else [path]
    return sum(
        f.stat().st_size for f in files if f.is_file() and (names is None or f.name in names)
    )


class Tower:
    """One ``watchtower run`` subprocess, its /metrics and /proc view, and a speed poller."""

    def __init__(self, net: Devnet, data_dir: Path, *, prune_every: int, cfg: SoakConfig) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.challenger = prune_every > 0  # the pruning one challenges; the other only watches
        env = {
            **os.environ,
            "WT_SOAK_KEY": net.challenger.key.hex(),
            "WATCHTOWER_STATE_PRUNE_EVERY": str(prune_every),
            "WATCHTOWER_STATE_KEEP_RECENT": str(cfg.keep_recent),
        }
        args = [
            sys.executable, "-m", "watchtower", "run",
            "--l1-rpc", str(net.rpc_url),
            "--rollup", net.client.address,
            "--genesis", str(net.genesis_path),
            "--data-dir", str(data_dir),
            "--poll-interval", str(cfg.poll_interval),
            "--confirmations", "1",
            "--metrics-listen", f"127.0.0.1:{self.port}",
            "--log-format", "json",
        ]  # fmt: skip
        if self.challenger:
            args += ["--key-env", "WT_SOAK_KEY"]
        else:
            args += ["--mode", "watch"]
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "tower.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=self._log)
        self.speeds: list[tuple[int, float]] = []  # (batches verified, steps/s of the last one)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    # -- observation ----------------------------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, _, value = line.partition(" ")
                out[name] = float(value)
        return out

    def verified(self) -> int:
        try:
            return int(self.metrics().get("watchtower_batches_verified_total", 0))
        except OSError:
            return 0  # not listening yet

    def _poll(self) -> None:
        last = 0
        while not self._stop.is_set():
            try:
                m = self.metrics()
            except OSError:
                time.sleep(0.05)
                continue
            verified = int(m.get("watchtower_batches_verified_total", 0))
            if verified != last:
                self.speeds.append((verified, m.get("watchtower_replay_steps_per_second", 0.0)))
                last = verified
            time.sleep(0.03)

    def proc_status(self) -> dict[str, int]:
        """VmRSS and VmHWM in bytes, from /proc (Linux)."""
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
        return out

    def wait_verified(self, count: int, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while self.verified() < count:
            if self.proc.poll() is not None:
                raise RuntimeError(f"watchtower exited: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"watchtower verified {self.verified()} < {count}: {self.tail()}"
                )
            time.sleep(0.02)

    def settle(self, timeout: float = 60.0) -> None:
        """Wait for one more tick to complete, so the gauges set at the end of a tick (state size,
        nodes) describe the state after the batches just verified."""
        first = self.metrics().get("watchtower_last_tick_timestamp_seconds", 0.0)
        deadline = time.monotonic() + timeout
        while self.metrics().get("watchtower_last_tick_timestamp_seconds", 0.0) <= first:
            if time.monotonic() > deadline:
                raise RuntimeError(f"watchtower completed no tick in {timeout}s: {self.tail()}")
            time.sleep(0.02)

    def sample(self, batch: int, started: float, since: int) -> Sample:
        self.settle()
        m = self.metrics()
        status = self.proc_status()
        speeds = [s for n, s in self.speeds if since < n <= batch and s > 0]
        return Sample(
            batch=batch,
            wall_seconds=round(time.monotonic() - started, 1),
            rss_mb=round(status["VmRSS"] / MB, 1),
            rss_peak_mb=round(status["VmHWM"] / MB, 1),
            state_mb=round(_dir_bytes(self.data_dir / "state") / MB, 1),
            store_mb=round(
                _dir_bytes(
                    self.data_dir,
                    ("watchtower.sqlite", "watchtower.sqlite-wal", "watchtower.sqlite-shm"),
                )
                / MB,
                1,
            ),
            nodes=int(m.get("watchtower_state_nodes", 0)),
            speed_median=round(statistics.median(speeds), 1) if speeds else 0.0,
            speed_batches=len(speeds),
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("event") == name:
                out.append(entry)
        return out

    def tail(self) -> str:
        return "".join(self.log_path.read_text().splitlines(keepends=True)[-8:])

    def stop(self) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._poller.join(timeout=5)
        self._log.close()


def _rpc(net: Devnet, method: str, *params: object) -> Any:
    return net.w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]


def check_provable(data_dir: Path, params: RollupParams, l1_time: int) -> tuple[int, int, int, int]:
    """Offline, on a stopped watchtower's data: build and check a fraud proof for every batch
    from the pruning floor to the head (step 0; the whole batch for the floor batch itself).
    Returns (floor, head, how many were proven, the oldest batch inside its window at
    ``l1_time``)."""
    with StateDB(data_dir / "state") as state, Store(data_dir / "watchtower.sqlite") as store:
        head = state.head()
        assert head is not None
        floor = state.pruned_below()
        rows = {
            r.idx: r
            for r in store.batches((BatchStatus.PENDING,))
            if r.verdict == "valid" and floor <= r.idx <= head.index
        }
        in_window = min(
            (r.idx for r in store.batches((BatchStatus.PENDING,)) if r.deadline >= l1_time),
            default=head.index + 1,
        )
        proven = 0
        for index in range(floor, head.index + 1):
            row = rows[index]
            encoded = decode_batch(row.data)
            context = BlockContext.of_batch(row.idx, row.timestamp, row.coinbase, params)
            batch = Batch(row.idx, encoded.prev_root, context, encoded.steps)
            steps = (0, len(batch.steps) - 1) if index == floor else (0,)
            ok = True
            for step in steps:
                faulty = with_wrong_root(batch, step, b"\xee" * 32)
                ok = ok and check_fraud_proof(build_fraud_proof(state, faulty, step, params)).fraud
            proven += ok
    return floor, head.index, proven, in_window


def run(cfg: SoakConfig, work: Path, *, echo: bool = True) -> SoakResult:
    started = time.monotonic()
    net = start_devnet("anvil", data_dir=work, challenge_period=cfg.challenge_period)
    params = net.client.params()
    towers: list[Tower] = []
    try:
        pruned = Tower(net, work / "pruned", prune_every=cfg.prune_every, cfg=cfg)
        towers.append(pruned)
        unpruned = None
        if cfg.compare:
            unpruned = Tower(net, work / "unpruned", prune_every=0, cfg=cfg)
            towers.append(unpruned)
        samples: dict[str, list[Sample]] = {"pruned": [], "unpruned": []}
        last_sample = 0
        for b in range(cfg.batches):
            for tower in towers:
                tower.wait_verified(b - cfg.max_lag)
            _rpc(net, "evm_increaseTime", cfg.seconds_per_batch)
            net.proposer.propose(cfg.transfers)
            done = b + 1
            if done % cfg.sample_every == 0 or done == cfg.batches:
                for name, tower in (("pruned", pruned), ("unpruned", unpruned)):
                    if tower is None:
                        continue
                    tower.wait_verified(done)
                    samples[name].append(tower.sample(done, started, last_sample))
                last_sample = done
                if echo:
                    row = samples["pruned"][-1]
                    other = samples["unpruned"][-1] if unpruned is not None else None
                    print(
                        f"batch {done:5d}  {row.wall_seconds:7.1f}s  rss {row.rss_mb:6.1f} MB  "
                        f"state {row.state_mb:7.1f} MB  nodes {row.nodes:8d}  "
                        f"{row.speed_median:6.0f} steps/s"
                        + (
                            f"   | unpruned: state {other.state_mb:7.1f} MB  "
                            f"nodes {other.nodes:8d}  rss {other.rss_mb:6.1f} MB"
                            if other
                            else ""
                        ),
                        flush=True,
                    )

        l1_end = int(net.w3.eth.get_block("latest")["timestamp"])
        # One fraud at the end, after all the pruning: it must be proven on chain.
        posted = time.monotonic()
        step = min(7, cfg.transfers - 1)
        fraud, _ = net.proposer.propose(cfg.transfers, Fault(FaultKind.WRONG_FEE, step))
        proven = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            _rpc(net, "evm_mine")  # confirmations, and blocks for the challenge to land in
            if net.client.batch(fraud.index).status is OnChain.REJECTED:
                proven = True
                break
            time.sleep(0.2)
        fraud_seconds = time.monotonic() - posted
        prune_runs = [
            PruneRun(
                head=int(e["head"]),
                pruned_below=int(e["pruned_below"]),
                nodes_deleted=int(e["nodes_deleted"]),
                nodes_after=int(e["nodes_after"]),
                seconds=float(e["seconds"]),
            )
            for e in pruned.events("state_pruned")
        ]
    finally:
        for tower in towers:
            tower.stop()
        net.close()
    floor, head, provable, in_window = check_provable(work / "pruned", params, l1_end)
    return SoakResult(
        config=cfg,
        pruned=samples["pruned"],
        unpruned=samples["unpruned"],
        prune_runs=prune_runs,
        fraud_batch=fraud.index,
        fraud_proven=proven,
        fraud_seconds=round(fraud_seconds, 1),
        provable_from=floor,
        provable_to=head,
        provable=provable,
        oldest_in_window=in_window,
        wall_seconds=round(time.monotonic() - started, 1),
        final_accounts=64 + cfg.batches * len(range(2, cfg.transfers, 5)),
    )


def print_result(result: SoakResult) -> None:
    cfg = result.config
    print(
        f"\nsoak: {cfg.batches} batches x {cfg.transfers} transfers, window {cfg.window} batches, "
        f"prune every {cfg.prune_every}, keep_recent {cfg.keep_recent}; "
        f"{result.wall_seconds:.0f} s wall"
    )
    header = (
        f"{'batch':>6} {'wall s':>7} {'RSS MB':>7} {'peak MB':>8} {'state MB':>9} "
        f"{'store MB':>9} {'nodes':>9} {'steps/s':>8}"
    )
    for name, rows in (("pruning on", result.pruned), ("pruning off", result.unpruned)):
        if not rows:
            continue
        print(f"\n{name}\n{header}")
        for r in rows:
            print(
                f"{r.batch:6d} {r.wall_seconds:7.1f} {r.rss_mb:7.1f} {r.rss_peak_mb:8.1f} "
                f"{r.state_mb:9.1f} {r.store_mb:9.1f} {r.nodes:9d} {r.speed_median:8.0f}"
            )
    runs = result.prune_runs
    if runs:
        secs = [r.seconds for r in runs]
        print(
            f"\nprune runs: {len(runs)}, seconds median {statistics.median(secs):.2f} "
            f"max {max(secs):.2f}; last floor {runs[-1].pruned_below} at head {runs[-1].head}, "
            f"{runs[-1].nodes_after} nodes kept"
        )
    print(
        f"fraud in batch {result.fraud_batch}: "
        + ("proven on chain" if result.fraud_proven else "NOT PROVEN")
        + f" ({result.fraud_seconds:.1f} s after posting)"
    )
    span = result.provable_to - result.provable_from + 1
    print(
        f"provable after pruning: {result.provable}/{span} batches "
        f"({result.provable_from}..{result.provable_to}); oldest batch inside its window: "
        f"{result.oldest_in_window}"
    )


def main() -> None:
    use_fast_keccak()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = SoakConfig()
    parser.add_argument("--batches", type=int, default=defaults.batches)
    parser.add_argument("--transfers", type=int, default=defaults.transfers)
    parser.add_argument("--window", type=int, default=defaults.window)
    parser.add_argument("--seconds-per-batch", type=int, default=defaults.seconds_per_batch)
    parser.add_argument("--prune-every", type=int, default=defaults.prune_every)
    parser.add_argument("--keep-recent", type=int, default=defaults.keep_recent)
    parser.add_argument("--sample-every", type=int, default=defaults.sample_every)
    parser.add_argument("--no-compare", action="store_true", help="no watchtower without pruning")
    parser.add_argument("--json", type=Path, help="write the samples and results here")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    cfg = SoakConfig(
        batches=args.batches,
        transfers=args.transfers,
        window=args.window,
        seconds_per_batch=args.seconds_per_batch,
        prune_every=args.prune_every,
        keep_recent=args.keep_recent,
        sample_every=args.sample_every,
        compare=not args.no_compare,
    )
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run(cfg, args.keep)
    else:
        with TemporaryDirectory(prefix="wt-soak-") as tmp:
            result = run(cfg, Path(tmp))
    print_result(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    span = result.provable_to - result.provable_from + 1
    if (
        not result.fraud_proven
        or result.provable != span
        or result.provable_from > result.oldest_in_window
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
