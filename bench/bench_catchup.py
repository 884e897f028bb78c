"""Catch-up through the real service: a watchtower started late on a backlog of batches.

Usage: python bench/bench_catchup.py [--batches 100] [--transfers 1000]

anvil with the rollup deployed (``start_devnet("anvil")``); the devnet proposer posts
``batches`` batches of ``transfers`` transfers first (not timed). Then ``watchtower run`` (watch
mode, one confirmation, a fresh data directory) is started as a real subprocess, and the time is
taken from its start to "caught up": every batch verified (``watchtower_batches_verified_total``
on its /metrics, read 4 times a second: within 0.25 s). That includes process start, the
genesis, L1 reads (logs and calldata), decoding, replay, persistence (LMDB and SQLite) and
verdicts. Prints batches/s, transfers/s, the time to caught up, and the time catching up on a
week of a 100-transfer/s rollup would take.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import SoakConfig, Tower

from watchtower.hashing import use_fast_keccak
from watchtower_dev.devnet import start_devnet

WEEK_OF_TRANSFERS = 100 * 7 * 24 * 3600  # a 100-transfer/s rollup
POLL = 0.25  # seconds between two reads of /metrics: each read costs the service CPU


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
    args = parser.parse_args()
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
            t0 = time.monotonic()
            tower = QuietTower(net, work / "tower", prune_every=0, cfg=cfg)
            try:
                tower.wait_all(args.batches, timeout=3600)
                caught_up = time.monotonic() - t0
                speeds = [s for _, s in tower.speeds if s > 0]
            finally:
                tower.stop()
        finally:
            net.close()
    transfers = args.batches * args.transfers
    rate = transfers / caught_up
    print(
        f"{args.batches} batches x {args.transfers} transfers queued; `watchtower run` from an "
        f"empty data directory caught up in {caught_up:.1f} s"
    )
    print(
        f"{args.batches / caught_up:.2f} batches/s, {rate:.0f} transfers/s end to end "
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
        f"rate: {WEEK_OF_TRANSFERS / rate / 3600:.1f} h"
    )


if __name__ == "__main__":
    main()
