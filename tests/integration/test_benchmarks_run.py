"""The benchmark scripts whose figures the README quotes still run, in miniature.

Speed is measured by the scripts, never here: these runs check that each script works end to
end on today's code (its own assertions included: every batch valid, the watchtower and the
naive baseline agreeing on the final root, each proof checked from its witness, the service
catching up on every batch) and prints the lines the README's figures come from.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import require_anvil

ROOT = Path(__file__).resolve().parents[2]


def _bench(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("workers", [[], ["--no-root-worker"], ["--no-worker", "--no-root-worker"]])
def test_bench_replay_runs_in_every_worker_mode(workers: list[str]) -> None:
    out = _bench(
        "bench_replay.py", "--accounts", "300", "--batches", "2", "--steps", "30", *workers
    )
    assert " tx/s " in out and "naive py-evm baseline" in out and "speed-up:" in out
    mode = "roots in place" if "--no-root-worker" in workers else "roots in a root worker"
    assert mode in out
    assert "B/account" in out and "MiB/batch" in out and "peak RSS" in out


def test_bench_proof_runs() -> None:
    out = _bench("bench_proof.py", "--accounts", "300", "--steps", "30", "--positions", "3")
    assert "3 proofs at steps 0..29" in out
    assert "build: median" in out and "check: median" in out


@pytest.mark.integration
def test_bench_catchup_runs() -> None:
    require_anvil()
    out = _bench("bench_catchup.py", "--batches", "2", "--transfers", "20")
    assert "2 batches x 20 transfers queued" in out and "caught up in" in out
    assert "transfers/s end to end" in out and "a week of a 100-transfer/s rollup" in out
