"""The gas of a challenge (commit + reveal) on anvil, by depth of the state trie paths.

    python bench/bench_deep_trie.py [--crowd 0,5000] [--depths 5,6,7,8,9]

For each depth n the sender, recipient and coinbase of the proven step are ground to sit n
nodes deep (watchtower_dev.deeptrie); ``crowd`` random accounts fill the top of the trie
with full branch nodes. Prints one line per case with the reveal's gas and the limit that
watchtower.submit.gas computes from the proof. A few minutes (keccak grinding in Python).
"""

from __future__ import annotations

import argparse
import time

from watchtower.submit.gas import CHALLENGE_GAS_RESERVE
from watchtower_dev.deeptrie import measure_challenge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crowd", default="0,5000", help="random accounts, comma-separated")
    parser.add_argument("--depths", default="5,6,7,8,9", help="nodes per path, 5 .. 9")
    args = parser.parse_args()
    worst = 0
    for crowd in (int(c) for c in args.crowd.split(",")):
        for depth in (int(d) for d in args.depths.split(",")):
            started = time.perf_counter()
            got = measure_challenge(depth, crowd=crowd)
            worst = max(worst, got.gas_used + got.commit_gas_used)
            print(
                f"crowd {crowd:>5}: {got.line()}  [{time.perf_counter() - started:.0f} s]",
                flush=True,
            )
    print(f"worst commit + reveal: {worst:,} gas; reserve {CHALLENGE_GAS_RESERVE:,}")


if __name__ == "__main__":
    main()
