"""`watchtower demo` tells the bridge story (issue 12): deposits arrive on L2, an honest
withdrawal is claimed on L1 after the window, a forged withdrawal of most of the bridge's funds
is challenged and rejected, its claim reverts, and the summary shows the value at risk and saved.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from watchtower.cli import main
from watchtower_dev.demo import DEPOSITORS, HONEST_WITHDRAWAL, run_demo
from watchtower_dev.faults import ATTACKER, Fault, FaultKind
from watchtower_dev.users import eth

pytestmark = pytest.mark.integration
ETHER = 10**18
GENESIS = 64_000 * ETHER


def test_the_demo_tells_the_bridge_story() -> None:
    result = run_demo(honest=3, txs=6, fault=Fault(FaultKind.FORGE_WITHDRAWAL, 4))
    b = result.bridge
    deposited = sum(amount for _, amount in DEPOSITORS)
    assert (b.deposits, b.deposited, b.credited) == (len(DEPOSITORS), deposited, deposited)
    assert b.withdrawal == HONEST_WITHDRAWAL and b.withdrawal_batch == 1
    assert 0 < b.claim_block < b.paid_block < result.fraud_block  # claimed before the fraud
    assert b.bridge_before == GENESIS + deposited - HONEST_WITHDRAWAL
    assert b.forged == b.bridge_before * 9 // 10 and b.forged_step == 4
    assert result.fraud_step == 4 and result.fault == "forge-withdrawal"
    assert b.forged_claim == "Rollup: batch is not finalized"
    assert b.bridge_after == b.bridge_before  # nothing left the bridge
    rows = dict(result.summary_rows())
    assert rows["value at risk"].startswith(rows["value saved"]) and rows["value saved"] == eth(
        b.forged
    )
    # A service that reports the value at risk in its fraud alert agrees with the batch's claims.
    assert b.reported_at_risk in (None, b.forged)
    assert "0x" + ATTACKER.address.hex() in rows["forged withdrawal"]
    assert "fraud_detected" in rows["alerts raised"]
    assert result.seconds < 60


def test_demo_command_output() -> None:
    result = CliRunner().invoke(main, ["demo", "--honest", "2", "--txs", "8"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.replace("│", " ").split())  # the table's cells, unwrapped
    assert "deposits on L1 3, 60 ETH: credited on L2 in batch 0 (60 ETH)" in out
    assert "honest withdrawal 12 ETH in batch 1, claimed on L1 after the window" in out
    assert "batch 2, step 7 (forge-withdrawal)" in out
    assert "reverted after the window: Rollup: batch is not finalized" in out
    at_risk = re.search(r"value at risk ([\d,.]+ ETH)", out)
    assert at_risk is not None and f"value saved {at_risk.group(1)}" in out
    assert "57,643.2 ETH" in at_risk.group(1)  # 90 % of 64,000 + 60 - 12
    assert "the bridge's funds are safe" in result.stderr


def test_demo_with_a_fault_that_forges_no_withdrawal() -> None:
    result = run_demo(honest=2, txs=4, fault=Fault(FaultKind.INVENT_DEPOSIT, 2))
    assert result.bridge.forged == 0 and result.bridge.forged_claim == ""
    rows = dict(result.summary_rows())
    assert "forged withdrawal" not in rows and rows["value at risk"].startswith("0 ETH")
    assert result.fraud_step == 2


def test_demo_fault_step_outside_the_batch_is_one_line() -> None:
    result = CliRunner().invoke(main, ["demo", "--honest", "2", "--txs", "3", "--fault-step", "9"])
    assert result.exit_code == 2, result.output
    assert "--fault forge-withdrawal --fault-step 9: step 9 is outside the batch" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
