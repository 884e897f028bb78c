"""A process killed with SIGKILL during a commit reopens at a consistent, committed root."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import FIXTURES
from tests.helpers import reachable_nodes_present
from watchtower.execute.replay import replay_batch
from watchtower.execute.statedb import StateDB
from watchtower.rollup.bundle import load_bundle
from watchtower.rollup.types import VerdictKind

CHILD = r"""
import sys
from pathlib import Path
from watchtower.execute import statedb
from watchtower.execute.replay import init_genesis, replay_batch
from watchtower.rollup.bundle import load_bundle

original = statedb.StateDB._write

def announced(self, pending, meta):
    print("commit", flush=True)   # the parent kills us from here on, during the write
    original(self, pending, meta)

statedb.StateDB._write = announced
bundle = load_bundle(Path(sys.argv[2]))
db = statedb.StateDB(Path(sys.argv[1]), sync=True)
init_genesis(db, bundle.genesis)
while True:
    head = db.head()
    nxt = 0 if head is None else head.index + 1
    if nxt == len(bundle.batches):
        db.rollback_to(None)
        continue
    replay_batch(db, bundle.batches[nxt])
"""


def test_sigkill_during_commit_leaves_a_committed_root(tmp_path: Path) -> None:
    bundle_path = FIXTURES / "honest.json"
    bundle = load_bundle(bundle_path)
    finals = {b.index: b.final_root for b in bundle.batches}
    rng = random.Random(7)
    kills = 0
    for attempt in range(8):
        data = tmp_path / "state"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data), str(bundle_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        commits_to_pass = rng.randrange(1, 12)
        for _ in range(commits_to_pass):
            line = child.stdout.readline()
            assert line == "commit\n", f"child died early (attempt {attempt}): {line!r}"
        time.sleep(rng.random() * 0.004)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        kills += 1

        with StateDB(data) as db:
            genesis = db.genesis_root()
            assert genesis is not None
            records = list(db.batches())
            previous = genesis
            for record in records:
                assert record.prev_root == previous
                assert record.final_root == finals[record.index]
                previous = record.final_root
            head_root = db.head_root()
            assert head_root == previous
            assert reachable_nodes_present(db, head_root) > 1
            # Progress continues from where the killed process stopped.
            head = db.head()
            nxt = 0 if head is None else head.index + 1
            if nxt < len(bundle.batches):
                assert replay_batch(db, bundle.batches[nxt]).kind is VerdictKind.VALID
    assert kills == 8
