"""Issue 6, deadline pressure, with a short challenge period.

* A challenge priced too low to be mined (anvil's base fee is held far above its fee cap): its
  commit is replaced with the same nonce, +12.5 % per bump while the deadline is far and x2 per
  bump in its last hour (with deadline_at_risk), and lands before the deadline; one stake.
* A signer that cannot pay the stake: low_balance before any fraud, deadline_at_risk as soon as
  the fraud is confirmed (with most of the window left), nothing marked failed; once a human
  tops the account up, the challenge goes out and lands before the deadline.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import require_anvil, rpc
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.service import ServiceConfig, Watchtower
from watchtower.store.db import ChallengeState
from watchtower.submit.challenger import FeePolicy
from watchtower_dev.chain import fund
from watchtower_dev.devnet import dev_key, start_devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis

pytestmark = pytest.mark.integration

PERIOD = 2 * 3600  # the urgent window is the last hour


def test_an_underpriced_challenge_is_bumped_until_it_lands_before_the_deadline(
    tmp_path: Path,
) -> None:
    require_anvil()
    alerts: list[tuple[str, dict[str, Any]]] = []
    with start_devnet("anvil", challenge_period=PERIOD) as net:
        config = ServiceConfig(tmp_path, confirmations=0, fee_policy=FeePolicy(bump_after=0.0))
        tower = Watchtower(
            config, [net.client], devnet_genesis(), net.challenger,
            alert=lambda kind, **fields: alerts.append((kind, fields)),
        )  # fmt: skip
        fraud, _ = net.proposer.propose(4, Fault(FaultKind.WRONG_FEE, 2))
        rpc(net, "evm_setAutomine", False)
        try:
            tower.tick()  # fraud found, challenge sent: pending
            (first,) = tower.store.submissions()
            held = first.max_fee * 4  # the base fee the next blocks will have

            def mine_and_tick() -> ChallengeState:
                rpc(net, "anvil_setNextBlockBaseFeePerGas", hex(held))
                rpc(net, "evm_mine")
                tower.tick()
                (challenge,) = tower.store.challenges()
                return challenge.state

            for _ in range(3):  # far from the deadline: +12.5 % each, still too low
                assert mine_and_tick() is ChallengeState.SENT
            assert "deadline_at_risk" not in [kind for kind, _ in alerts]
            rpc(net, "evm_increaseTime", PERIOD - 1800)  # half an hour left
            for _ in range(10):
                if mine_and_tick() is ChallengeState.SUCCEEDED:
                    break
        finally:
            rpc(net, "evm_setAutomine", True)
        (challenge,) = tower.store.challenges()
        assert challenge.state is ChallengeState.SUCCEEDED
        everything = tower.store.submissions()
        subs = [s for s in everything if s.action == "commit"]  # the commit was underpriced
        assert {s.nonce for s in subs} == {first.nonce}  # replacements, never a second nonce
        reveals = [s for s in everything if s.action == "reveal"]
        assert len({s.nonce for s in reveals}) == 1 and reveals[0].nonce == first.nonce + 1
        fees = [s.max_fee for s in subs]
        ratios = [b / a for a, b in itertools.pairwise(fees)]
        assert all(r >= 1.1 for r in ratios), ratios  # the EIP-1559 replacement rule
        assert ratios[0] == pytest.approx(1.125, rel=0.01)  # far from the deadline
        assert ratios[-1] == pytest.approx(2.0, rel=0.01)  # in its last hour
        (committed,) = [s for s in subs if s.state == "mined"]
        assert committed.max_fee >= held
        (mined,) = [s for s in reveals if s.state == "mined"]
        block = net.w3.eth.get_block(mined.l1_block)  # type: ignore[arg-type]
        left = net.client.batch(fraud.index).deadline - int(block["timestamp"])
        assert left > 0
        assert net.client.batch(fraud.index).status is OnChain.REJECTED
        print(  # the README's figure (pytest -s)
            f"\nunderpriced: {len(subs) - 1} replacements (x{ratios[0]:.3f} far, "
            f"x{ratios[-1]:.2f} in the last hour), mined with {left} s left"
        )
        at_risk = [f for kind, f in alerts if kind == "deadline_at_risk"]
        assert at_risk and 0 < at_risk[0]["seconds_left"] <= 3600
        stake, reward = net.config.min_stake, net.config.proposer_bond // 2
        assert net.client.owed(net.challenger.address) == stake + reward
        tower.close()


def test_too_little_balance_is_reported_early_enough_to_act(tmp_path: Path) -> None:
    alerts: list[tuple[str, dict[str, Any]]] = []
    with start_devnet("embedded", challenge_period=PERIOD) as net:
        poor = dev_key("poor-challenger")
        fund(net.w3, poor.address, net.config.min_stake // 2)
        tower = Watchtower(
            ServiceConfig(tmp_path, confirmations=0), [net.client], devnet_genesis(), poor,
            alert=lambda kind, **fields: alerts.append((kind, fields)),
        )  # fmt: skip
        # Told at start-up, before the first tick, and the service runs (issue 10).
        assert [kind for kind, _ in alerts] == ["low_balance"]
        assert alerts[0][1]["needed"] > alerts[0][1]["balance"]
        tower.tick()  # nothing to challenge yet, told again for the same episode (one page)
        assert {kind for kind, _ in alerts} == {"low_balance"}
        assert len({f["episode"] for _, f in alerts}) == 1

        fraud, _ = net.proposer.propose(3, Fault(FaultKind.WRONG_ROOT, 1))
        tower.tick()
        tower.tick()
        kinds = [kind for kind, _ in alerts]
        assert "fraud_detected" in kinds and "challenge_failed" not in kinds
        at_risk = [f for kind, f in alerts if kind == "deadline_at_risk"]
        assert at_risk and at_risk[0]["batch"] == fraud.index
        assert at_risk[0]["seconds_left"] >= 0.9 * PERIOD  # most of the window left to act
        print(f"\nlow balance: deadline_at_risk with {at_risk[0]['seconds_left']} of {PERIOD} s")
        assert tower.store.challenges() == [] and tower.store.submissions() == []

        fund(net.w3, poor.address, 5 * net.config.min_stake)  # a human tops the account up
        for _ in range(3):  # commit, reveal, receipt
            tower.tick()
        (challenge,) = tower.store.challenges()
        assert challenge.state is ChallengeState.SUCCEEDED
        # the condition ended: resolved once, for the episode it paged for
        (resolved,) = [f for kind, f in alerts if kind == "low_balance_resolved"]
        assert resolved["episode"] == alerts[0][1]["episode"]
        assert resolved["balance"] >= resolved["needed"]
        subs = tower.store.submissions()
        (mined,) = [s for s in subs if s.state == "mined" and s.action == "reveal"]
        block = net.w3.eth.get_block(mined.l1_block)  # type: ignore[arg-type]
        assert int(block["timestamp"]) < net.client.batch(fraud.index).deadline
        assert net.client.owed(poor.address) == net.config.min_stake + net.config.proposer_bond // 2
        tower.close()
