"""The README's channel walk-through (the block after ``<!-- channels-walkthrough -->``) runs as
written with a real guardian process (``watchtower run`` guarding the channel contracts): Alice's
stale close is answered inside the window, the guardian settles, and the chain pays Bob what the
latest state gives him, to the wei, and the guardian its reward, once."""

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
from web3 import HTTPProvider, Web3

from tests.conftest import ROOT
from tests.integration.conftest import require_anvil
from watchtower.channels.types import Kind
from watchtower_dev.channels import ETHER, contract_at

pytestmark = pytest.mark.integration

MARKER = "<!-- channels-walkthrough -->"


def _block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(re.escape(MARKER) + r"\s*\n```(?:sh|bash)\n(.*?)\n```", readme, re.DOTALL)
    assert readme.count(MARKER) == len(blocks) == 1
    return str(blocks[0])


def _env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        match = re.match(r"export (\w+)=(.*)", line)
        if match:
            out[match.group(1)] = match.group(2).strip("'")
    return out


@pytest.mark.timeout(180)
def test_the_readme_channel_walkthrough_runs_as_written(tmp_path: Path) -> None:
    require_anvil()
    script = _block()
    # `kill %1 %2` would stop anvil before the chain is checked: keep the devnet running here
    # (this test stops it, with its process group, below).
    assert script.rstrip().endswith("kill %1 %2")
    script = script.rstrip().removesuffix("kill %1 %2") + "kill %2\n"
    (tmp_path / ".venv").symlink_to(sys.prefix)
    (tmp_path / "walkthrough.sh").write_text(script, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHTOWER_")}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout_file, err.open("w") as stderr_file:
        # Files, not pipes: the devnet left running in the background keeps its ends open.
        process = subprocess.Popen(
            ["bash", "-e", "walkthrough.sh"],
            cwd=tmp_path,
            env=env,
            stdout=stdout_file,
            stderr=stderr_file,
            start_new_session=True,
        )
    try:
        process.wait(timeout=150)
        stdout, stderr = out.read_text(), err.read_text()
        guardian_log = (tmp_path / "guardian.log").read_text(encoding="utf-8")
        assert process.returncode == 0, (stdout[-3000:], stderr[-3000:], guardian_log[-3000:])
        assert "Traceback" not in stdout + stderr + guardian_log
        assert "paid 6.99 ETH to" in stdout and "paid 0.01 ETH to" in stdout
        receipt = json.loads((tmp_path / "receipt.json").read_text())
        assert receipt["accepted"] is True and receipt["sequence"] == "2"

        # The chain agrees: one close (nonce 1, by Alice), one update (nonce 2, by the
        # guardian), one settlement paying the latest state less the reward, paid once.
        devnet = _env(tmp_path / "chdev" / "env")
        w3 = Web3(HTTPProvider(devnet["L1_RPC"]))
        c = contract_at(w3, Kind.STATE, devnet["STATE_CHANNEL"])
        closing = c.events.ChannelClosing().get_logs(from_block=0)
        assert [(e["args"]["nonce"], e["args"]["closer"]) for e in closing] == [
            (1, devnet["ALICE_ADDRESS"])
        ]
        updates = c.events.ChannelUpdated().get_logs(from_block=0)
        assert [(e["args"]["nonce"], e["args"]["updater"]) for e in updates] == [
            (2, devnet["GUARDIAN_ADDRESS"])
        ]
        settled = c.events.ChannelSettled().get_logs(from_block=0)
        assert [
            (e["args"]["balanceA"], e["args"]["balanceB"], e["args"]["reward"]) for e in settled
        ] == [(3 * ETHER, 7 * ETHER - ETHER // 100, ETHER // 100)]
        withdrawn = {
            e["args"]["account"]: e["args"]["amount"]
            for e in c.events.Withdrawn().get_logs(from_block=0)
        }
        assert withdrawn == {
            devnet["BOB_ADDRESS"]: 7 * ETHER - ETHER // 100,
            devnet["GUARDIAN_ADDRESS"]: ETHER // 100,
        }
        assert c.functions.owed(devnet["ALICE_ADDRESS"]).call() == 3 * ETHER
        assert guardian_log.count('"event": "channel_reward_paid"') <= 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait()
