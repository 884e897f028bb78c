"""`watchtower channel-demo` (issue 13): a stale close while the victim is offline, answered by
the guardian service's own code inside the window; settlement pays the victim what the latest
state gives it, to the wei, and the guardian its reward once. The summary's figures are checked
against the chain the demo leaves behind."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from watchtower.channels.types import Kind
from watchtower.cli import main
from watchtower_dev.channels import contract_at
from watchtower_dev.demo_channels import DEPOSIT, REWARD, run_channel_demo
from watchtower_dev.users import eth

pytestmark = pytest.mark.integration


def test_the_demo_story_agrees_with_the_chain() -> None:
    result = run_channel_demo(payments=6, window=600)
    assert result.ok, result.summary_rows()
    assert result.net is not None and result.latest is not None and result.stale is not None
    w3, address = result.net.w3, result.net.state_channel
    latest, stale = result.latest.state, result.stale.state
    # The attack was worth something to Alice, and the latest state is the one that settled.
    assert stale.nonce < latest.nonce and stale.balance_a > latest.balance_a
    assert latest.balance_a + latest.balance_b == 2 * DEPOSIT
    c = contract_at(w3, Kind.STATE, address)
    closing = c.events.ChannelClosing().get_logs(from_block=0)
    assert [(e["args"]["nonce"], e["args"]["closer"]) for e in closing] == [
        (stale.nonce, result.net.alice.address)
    ]
    updates = c.events.ChannelUpdated().get_logs(from_block=0)
    assert len(updates) == 1  # one update, by the guardian, with its reward
    assert updates[0]["args"]["updater"] == result.net.guardian.address
    assert updates[0]["args"]["nonce"] == latest.nonce and updates[0]["args"]["reward"] == REWARD
    assert (
        int(w3.eth.get_block(updates[0]["blockNumber"])["timestamp"])
        <= closing[0]["args"]["deadline"]
    )
    settled = c.events.ChannelSettled().get_logs(from_block=0)
    assert len(settled) == 1
    args = settled[0]["args"]
    assert (args["balanceA"], args["balanceB"], args["monitor"], args["reward"]) == (
        latest.balance_a,
        latest.balance_b - REWARD,
        result.net.guardian.address,
        REWARD,
    )
    withdrawn = {
        e["args"]["account"]: e["args"]["amount"]
        for e in c.events.Withdrawn().get_logs(from_block=0)
    }
    assert withdrawn == {
        result.net.alice.address: latest.balance_a,
        result.net.bob.address: latest.balance_b - REWARD,
        result.net.guardian.address: REWARD,
    }
    assert w3.eth.get_balance(address) == 0  # everything paid out, nothing left behind
    assert {"stale_close_detected"} <= set(result.alerts)
    assert "refused" in result.second_settle
    # The intake refused an older state after the latest (a replay): 409, naming both nonces.
    assert result.replay.startswith("refused (409)") and f"nonce {latest.nonce - 1}" in (
        result.replay
    )
    assert result.seconds < 60


def test_channel_demo_command() -> None:
    result = CliRunner().invoke(main, ["channel-demo", "--payments", "4"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.replace("│", " ").split())
    assert "result OK" in out
    assert "(to the wei)" in out
    assert f"guardian's reward {eth(REWARD)}, paid 1 time(s)" in out
    assert "Bob was paid in full" in result.stderr
