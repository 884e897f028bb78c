"""Incident commands on a real store: `batches`, `challenges`, `challenges --retry` (issue 14)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fakes.l1 import FakeChain, Submit
from tests.unit.test_follower import data, follow
from watchtower.cli import main
from watchtower.follow.scanner import Follower
from watchtower.rollup.types import VerdictKind
from watchtower.store.db import BatchStatus, ChallengeState, Store, SubmissionRow


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A store with batches 0 (valid), 1 (fraud, a failed challenge with a commit sent) and 2."""
    chain = FakeChain()
    for index in range(3):
        chain.mine(Submit(data(index)))
    with Store(tmp_path / "watchtower.sqlite") as store:
        follow(Follower([chain.endpoint()]), store)
        rows = {r.idx: r for r in store.batches()}
        store.set_verdict(rows[0].id, VerdictKind.VALID)
        store.set_verdict(rows[1].id, VerdictKind.FRAUD, fraud_step=0)
        store.open_challenge(rows[1].id, 0, 10**18)
        store.record_submission(
            SubmissionRow(
                b"\xc1" * 32, rows[1].id, 3, 10**9, 10**8, b"raw", time.time(), "sent", None,
                None, "commit",
            )
        )  # fmt: skip
        store.update_challenge(rows[1].id, ChallengeState.FAILED, "challenge period over")
    return tmp_path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_batches_lists_every_recorded_batch_and_filters(data_dir: Path) -> None:
    code, out, _ = _run("batches", "--data-dir", str(data_dir), "--json")
    assert code == 0
    docs = json.loads(out)
    assert [(d["batch"], d["verdict"], d["status"]) for d in docs] == [
        (0, "valid", "pending"),
        (1, "fraud", "pending"),
        (2, None, "pending"),
    ]
    assert docs[1]["fraud_step"] == 0 and docs[1]["tx"].startswith("0x")
    code, out, _ = _run("batches", "--data-dir", str(data_dir), "--verdict", "fraud", "--json")
    assert [d["batch"] for d in json.loads(out)] == [1]
    code, out, _ = _run("batches", "--data-dir", str(data_dir))
    assert code == 0 and "batch      1  pending   fraud" in out and "step 0" in out


def test_challenges_lists_and_retry_reopens_a_failed_challenge(data_dir: Path) -> None:
    code, out, _ = _run("challenges", "--data-dir", str(data_dir), "--json")
    (doc,) = json.loads(out)
    assert (doc["batch"], doc["state"], doc["detail"]) == (1, "failed", "challenge period over")
    assert doc["transactions"] == [{"action": "commit", "tx": "0x" + "c1" * 32, "state": "sent"}]

    code, out, err = _run("challenges", "--data-dir", str(data_dir), "--retry", "1")
    assert code == 0, err
    assert "reopened (sent)" in out
    with Store(data_dir / "watchtower.sqlite") as store:
        (challenge,) = store.challenges()
        assert challenge.state is ChallengeState.SENT  # its commit is kept: never a 2nd stake
        assert len(store.submissions(challenge.batch_id)) == 1


def test_retry_refuses_what_cannot_be_retried(data_dir: Path) -> None:
    code, _, err = _run("challenges", "--data-dir", str(data_dir), "--retry", "0")
    assert code == 2 and "no challenge of a pending batch 0" in err
    with Store(data_dir / "watchtower.sqlite") as store:
        (challenge,) = store.challenges()
        store.update_challenge(challenge.batch_id, ChallengeState.SUCCEEDED, "mined")
    code, _, err = _run("challenges", "--data-dir", str(data_dir), "--retry", "1")
    assert code == 2 and "has ended: succeeded" in err
    with Store(data_dir / "watchtower.sqlite") as store:
        store.set_status(challenge.batch_id, BatchStatus.REJECTED, 5)
    code, _, err = _run("challenges", "--data-dir", str(data_dir), "--retry", "1")
    assert code == 2 and "no challenge of a pending batch 1" in err


def test_no_store_is_one_line(tmp_path: Path) -> None:
    for command in ("batches", "challenges"):
        code, _, err = _run(command, "--data-dir", str(tmp_path))
        assert code == 2 and err.count("\n") == 1 and "holds no watchtower store" in err
