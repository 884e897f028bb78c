"""Catch-up through the real service: a watchtower started late on a backlog of batches.

Usage: python bench/bench_catchup.py [--batches 100] [--transfers 1000] [--no-worker]
                                     [--no-root-worker]
       python bench/bench_catchup.py --batches 30 --compare --repeat 2


anvil with the rollup deployed (``start_devnet("anvil")``); the devnet proposer posts
``batches`` batches of ``transfers`` transfers first (not timed). Then ``watchtower run`` (watch
mode, one confirmation, a fresh data directory) is started as a real subprocess, and the time is
taken from its start to "caught up": every batch verified (``watchtower_batches_verified_total``
on its /metrics, read 4 times a second: within 0.25 s). That includes process start, the
genesis, L1 reads (logs and calldata), decoding, replay, persistence (LMDB and SQLite) and
verdicts. Prints batches/s, transfers/s, the time to caught up, and the time catching up on a
week of a 100-transfer/s rollup would take.

``--worker/--no-worker``: the service's sender-recovery worker (``replay.worker``, set through
``WATCHTOWER_REPLAY_WORKER``; default: the setting's, on with 2+ CPUs).
``--root-worker/--no-root-worker``: its state-root worker (``replay.root_worker``, through
``WATCHTOWER_REPLAY_ROOT_WORKER``; default: the setting's). ``--compare``: catch up with both
workers, with the sender-recovery worker only, and with none, on the same posted chain (each
from an empty data directory), ``--repeat`` times, interleaved (the machine is shared:
interleaved runs see the same load).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import SoakConfig, Tower

from watchtower import defaults
from watchtower.hashing import use_fast_keccak
from watchtower_dev.devnet import start_devnet

WEEK_OF_TRANSFERS = 100 * 7 * 24 * 3600  # a 100-transfer/s rollup
POLL = 0.25  # seconds between two reads of /metrics: each read costs the service CPU


class Mode(NamedTuple):
    """Which of the service's replay workers run."""

    worker: bool  # replay.worker: sender recovery of the next batch
    root_worker: bool  # replay.root_worker: the per-step state roots

    @property
    def name(self) -> str:
        on = [n for n, o in (("precheck", self.worker), ("root", self.root_worker)) if o]
        return "workers " + ("+".join(on) if on else "none")

    def environment(self) -> dict[str, str]:
        return {
            "WATCHTOWER_REPLAY_WORKER": "true" if self.worker else "false",
            "WATCHTOWER_REPLAY_ROOT_WORKER": "true" if self.root_worker else "false",
        }


#: ``--compare``: both workers, the sender-recovery worker alone, none.
COMPARED = [Mode(True, True), Mode(True, False), Mode(False, False)]


class QuietTower(Tower):
    """The soak's ``Tower`` reading /metrics 4 times a second (the soak's 30-50 would take CPU
    from the service being measured)."""

    def _poll(self) -> None:
        last = 0
        while not self._stop.is_set():
            try:
                m = self.metrics()
            except OSError:
                time.sleep(POLL)
                continue
            verified = int(m.get("watchtower_batches_verified_total", 0))
            if verified != last:
                self.speeds.append((verified, m.get("watchtower_replay_steps_per_second", 0.0)))
                last = verified
            time.sleep(POLL)

    def wait_all(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.speeds or self.speeds[-1][0] < count:
            if self.proc.poll() is not None:
                raise RuntimeError(f"watchtower exited: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"watchtower did not catch up in {timeout} s: {self.tail()}")
            time.sleep(POLL / 5)


def main() -> None:
    use_fast_keccak()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--transfers", type=int, default=1000)
    parser.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=defaults.REPLAY_WORKER,
        help="the service's sender-recovery worker (replay.worker) [default: on with 2+ CPUs]",
    )
    parser.add_argument(
        "--root-worker",
        action=argparse.BooleanOptionalAction,
        default=defaults.REPLAY_ROOT_WORKER,
        help="the service's state-root worker (replay.root_worker) [default: on with 2+ CPUs]",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="both workers, the sender-recovery worker only, and none, on the same chain",
    )
    parser.add_argument("--repeat", type=int, default=1, help="catch-ups per mode")
    args = parser.parse_args()
    modes = COMPARED if args.compare else [Mode(args.worker, args.root_worker)]
    results: list[tuple[Mode, float, list[float]]] = []
    with TemporaryDirectory(prefix="wt-catchup-") as tmp:
        work = Path(tmp)
        net = start_devnet("anvil", data_dir=work / "devnet")
        try:
            started = time.monotonic()
            for b in range(args.batches):
                net.proposer.propose(args.transfers)
                if (b + 1) % 10 == 0:
                    print(
                        f"posted {b + 1} batches ({time.monotonic() - started:.0f} s)", flush=True
                    )
            cfg = SoakConfig(batches=args.batches, transfers=args.transfers, keep_recent=64)
            for run in range(args.repeat):
                for mode in modes:
                    os.environ.update(mode.environment())
                    t0 = time.monotonic()
                    data = work / f"tower-{run}-{mode.name.replace(' ', '-')}"
                    tower = QuietTower(net, data, prune_every=0, cfg=cfg)
                    try:
                        tower.wait_all(args.batches, timeout=3600)
                        caught_up = time.monotonic() - t0
                        speeds = [s for _, s in tower.speeds if s > 0]
                    finally:
                        tower.stop()
                    results.append((mode, caught_up, speeds))
                    _report(args.batches, args.transfers, mode, caught_up, speeds)
        finally:
            net.close()
    if len(results) > 1:
        width = max(len(mode.name) for mode in modes)
        for mode in modes:
            times = sorted(t for m, t, _ in results if m == mode)
            rates = [args.batches * args.transfers / t for t in times]
            print(
                f"{mode.name:<{width}}: caught up in "
                f"{', '.join(f'{t:.1f}' for t in times)} s "
                f"({min(rates):.0f} - {max(rates):.0f} transfers/s)"
            )


def _report(batches: int, transfers_per_batch: int, mode: Mode, caught_up: float,
            speeds: list[float]) -> None:  # fmt: skip
    transfers = batches * transfers_per_batch
    rate = transfers / caught_up
    print(
        f"{mode.name}: {batches} batches x {transfers_per_batch} "
        f"transfers queued; `watchtower run` from an empty data directory caught up in "
        f"{caught_up:.1f} s"
    )
    print(
        f"{batches / caught_up:.2f} batches/s, {rate:.0f} transfers/s end to end "
        f"(process start, L1 reads, decoding, replay, persistence, verdicts)"
    )
    if speeds:
        speeds.sort()
        print(
            f"replay alone (the service's steps/s gauge, sampled {len(speeds)} times): median "
            f"{speeds[len(speeds) // 2]:.0f}, range {speeds[0]:.0f} - {speeds[-1]:.0f}"
        )
    print(
        f"a week of a 100-transfer/s rollup ({WEEK_OF_TRANSFERS / 1e6:.1f} M transfers) at this "
        f"rate: {WEEK_OF_TRANSFERS / rate / 3600:.1f} h",
        flush=True,
    )


if __name__ == "__main__":
    main()
