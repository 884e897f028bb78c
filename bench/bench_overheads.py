"""Micro-benchmark of per-call overheads on the replay path.

Usage: python bench/bench_overheads.py

* ``failpoint(name)`` when nothing is armed (the production case): it sits on the replay and
  submission paths, so it must cost about one function call.
"""

from __future__ import annotations

import timeit

from watchtower.failpoints import armed, failpoint


def main() -> None:
    if armed():
        raise SystemExit("failpoints are armed in this process: unset WATCHTOWER_FAILPOINTS")

    def empty(name: str) -> None:
        return None

    calls = 200_000
    cost = min(timeit.repeat(lambda: failpoint("replay.step"), number=calls, repeat=5)) / calls
    base = min(timeit.repeat(lambda: empty("replay.step"), number=calls, repeat=5)) / calls
    print(
        f"failpoint() disarmed: {cost * 1e9:.1f} ns per call (an empty call: {base * 1e9:.1f} ns)"
    )


if __name__ == "__main__":
    main()
