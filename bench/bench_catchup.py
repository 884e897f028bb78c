"""Catch-up through the real service: a watchtower started late on a backlog of batches.

Usage: python bench/bench_catchup.py [--batches 100] [--transfers 1000]

anvil with the rollup deployed (``start_devnet("anvil")``); the devnet proposer posts
``batches`` batches of ``transfers`` transfers first (not timed). Then ``watchtower run`` (watch
mode, one confirmation, a fresh data directory) is started as a real subprocess, and the time is
taken from its start to "caught up": every batch verified (``watchtower_batches_verified_total``
on its /metrics). That includes process start, the genesis, L1 reads (logs and calldata),
decoding, replay, persistence (LMDB and SQLite) and verdicts. Prints batches/s, transfers/s, the
time to caught up, and the time catching up on a week of a 100-transfer/s rollup would take.
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
            tower = Tower(net, work / "tower", prune_every=0, cfg=cfg)
            try:
                tower.wait_verified(args.batches, timeout=3600)
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
            f"replay alone (the service's steps/s gauge, {len(speeds)} samples): median "
            f"{speeds[len(speeds) // 2]:.0f}, range {speeds[0]:.0f} - {speeds[-1]:.0f}"
        )
    print(
        f"a week of a 100-transfer/s rollup ({WEEK_OF_TRANSFERS / 1e6:.1f} M transfers) at this "
        f"rate: {WEEK_OF_TRANSFERS / rate / 3600:.1f} h"
    )


if __name__ == "__main__":
    main()
