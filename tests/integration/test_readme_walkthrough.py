"""The README's service walk-through ("Try the service against a real node") runs as written.

The fenced block after ``<!-- walkthrough -->`` is run with bash exactly as the README prints it
(``bash -e``: any failing command fails the test), in a temporary directory where ``.venv`` is a
link to this checkout's virtualenv, backgrounding what the README backgrounds. Then what it
promises is checked from what the processes wrote: the service detected the fault and its
challenge succeeded (its JSON log and ``challenges --json``), the stake came back, and the
withdrawal was claimed on L1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import require_anvil

pytestmark = pytest.mark.integration

MARKER = "<!-- walkthrough -->"


def walkthrough_blocks(readme: str) -> list[str]:
    """The fenced blocks of ``readme`` each right after a walk-through marker, in order."""
    return re.findall(re.escape(MARKER) + r"\s*\n```(?:sh|bash)\n(.*?)\n```", readme, re.DOTALL)


def test_the_readme_marks_one_walkthrough_block() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = walkthrough_blocks(readme)
    assert readme.count(MARKER) == len(blocks) == 1
    (script,) = blocks
    # No placeholder is left for the reader to fill in.
    assert "0x..." not in script and not re.search(r"\b(PORT|ADDR|URL)\b", script)


def _events(log: Path) -> list[dict[str, object]]:
    events = []
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


@pytest.mark.timeout(180)
def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    require_anvil()
    (script,) = walkthrough_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    (tmp_path / ".venv").symlink_to(sys.prefix)  # this checkout's virtualenv, as .venv
    (tmp_path / "walkthrough.sh").write_text(script + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHTOWER_")}
    process = subprocess.Popen(
        ["bash", "-e", "walkthrough.sh"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its background jobs share its process group: cleaned up below
    )
    try:
        stdout, stderr = process.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait()
    devnet_log = (tmp_path / "devnet.log").read_text(encoding="utf-8")
    assert process.returncode == 0, (stdout[-3000:], stderr[-3000:], devnet_log[-3000:])
    assert "Traceback" not in stdout + stderr + devnet_log

    # The service caught the fault the README injects and proved it on chain.
    events = _events(tmp_path / "watchtower.log")
    kinds = [e["event"] for e in events]
    (fraud,) = [e for e in events if e["event"] == "fraud_detected"]
    assert "challenge_succeeded" in kinds and "proposer_slashed" in kinds
    faulty = re.search(r"│ (\d+) +│ \d+ +│ \d+ +│ skip-tx@2 ", stdout)
    assert faulty is not None, stdout
    assert fraud["batch"] == int(faulty.group(1)) and fraud["step"] == 2
    watchtower = Path(sys.executable).parent / "watchtower"
    status = subprocess.run(
        [watchtower, "status", "--data-dir", "watchtower-data", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    document = json.loads(status.stdout)
    (challenge,) = document["challenges"]
    assert (challenge["batch"], challenge["step"], challenge["state"]) == (fraud["batch"], 2,
                                                                         "succeeded")  # fmt: skip
    assert {"batch": fraud["batch"], "step": 2, "status": "rejected"} in document["fraud_found"]
    assert document["batches_verified"] >= 4  # the devnet's and the two bridge batches

    # The devnet's own proposer waited for the rejection, then went on (no crash, anvil up).
    assert "a state this proposer did not compute" in devnet_log
    assert "proposer knows again: proposing" in devnet_log and "stopped" in devnet_log

    # The stake and reward came back; the withdrawal was finalized and claimed on L1.
    assert re.search(r"withdrew \d+ wei to 0x", stdout), stdout
    assert "claimed 1 withdrawal(s), 2 ETH" in stdout
