"""What the service really sends: ``Watchtower.tick()`` over the in-memory L1 (tests/fakes) with a
real :class:`Alerter` whose sinks POST to the real local receiver. Checks every webhook body
against docs/schemas/alert.v1.schema.json, and the episodes and resolves of the conditions that
end (stalled, rpc_disagreement, low_balance, deposit_overdue, conservation_violated)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.bridge_world import ETHER, FRESH, GENESIS_SUPPLY, BridgeWorld, deposit
from tests.fakes.l1 import Claim, DepositTx, FakeChain, FakeL1, Reject
from tests.unit.test_service_fake_l1 import bundle, submit
from watchtower.alert import (
    Alerter,
    AlertKind,
    PagerDutySink,
    Severity,
    SlackSink,
    WebhookSink,
    verify_signature,
)
from watchtower.clock import ManualClock
from watchtower.metrics import Metrics
from watchtower.rollup.calldata import encode_submit_batch_calldata
from watchtower.rollup.params import DEPOSIT_INCLUSION_DELAY
from watchtower.service import ServiceConfig, ServiceMode, Watchtower

from .receiver import Received, Receiver
from .schema_check import load_schema, validate

SECRET = b"service-alerts-secret"
ROUTING_KEY = "PDROUTINGKEYservicealerts"
STALL_AFTER = 300.0


class World:
    """One watchtower (watch mode) over a fake chain, alerting through ``alerter``."""

    def __init__(
        self, path: Path, alerter: Alerter, clock: ManualClock, name: str, endpoints: int = 1
    ) -> None:
        self.bundle, genesis_root = bundle(name)
        self.chain = FakeChain(genesis_root=genesis_root, params=self.bundle.params)
        self.l1: list[FakeL1] = [self.chain.endpoint(f"node-{i}:8545") for i in range(endpoints)]
        config = ServiceConfig(
            path, mode=ServiceMode.WATCH, confirmations=2, stall_after=STALL_AFTER
        )
        self.tower = Watchtower(
            config,
            [],
            self.bundle.genesis,
            alert=alerter,
            metrics=Metrics(),
            readers=self.l1,
            clock=clock,
        )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_767_225_600.0)


@pytest.fixture
def alerter(tmp_path: Path, receiver: Receiver, clock: ManualClock) -> Iterator[Alerter]:
    base = f"http://127.0.0.1:{receiver.port}"
    sinks = [
        WebhookSink(f"{base}/hook", SECRET, 2.0, clock=clock.time),
        SlackSink(f"{base}/slack", 2.0),
        PagerDutySink(ROUTING_KEY, url=f"{base}/pd", timeout=2.0),
    ]
    with Alerter(tmp_path / "alerts.sqlite", sinks, None, clock.time) as alerter:
        yield alerter


def webhooks(receiver: Receiver) -> list[dict[str, Any]]:
    bodies = []
    for req in receiver.accepted("/hook"):
        assert verify_signature(SECRET, req.body, req.headers["x-watchtower-signature"])
        bodies.append(req.json())
    return bodies


def of(requests: list[Received], kind: str, field: str = "kind") -> list[dict[str, Any]]:
    return [r.json() for r in requests if r.json().get(field) == kind]


def test_every_kind_the_service_sends_matches_the_schema(
    tmp_path: Path, receiver: Receiver, alerter: Alerter, clock: ManualClock
) -> None:
    # fraud_detected, proposer_slashed, stalled, stalled_resolved: one chain
    fraud = World(tmp_path / "fraud", alerter, clock, "fraud-wrong-root")
    for batch in fraud.bundle.batches:
        fraud.chain.mine(submit(batch))
    fraud.tower.tick()
    fraud.chain.mine(Reject(1, 2))
    fraud.tower.tick()
    clock.advance(STALL_AFTER + 1)
    fraud.tower.tick()
    fraud.chain.mine_empty(1)
    fraud.tower.tick()
    fraud.tower.close()

    # rpc_disagreement and its resolve, deep_reorg
    two = World(tmp_path / "two", alerter, clock, "honest", endpoints=2)
    two.chain.mine(submit(two.bundle.batches[0]))
    two.l1[1].hashes[1] = b"\x66" * 32
    two.tower.tick()
    two.l1[1].hashes.clear()
    two.tower.tick()
    for batch in two.bundle.batches[1:]:
        two.chain.mine(submit(batch))
    two.chain.mine_empty(2)
    two.tower.tick()
    two.chain.reorg(5, [], [submit(b) for b in two.bundle.batches[:2]])
    two.tower.tick()
    two.tower.close()

    # batch_unreadable, verification_halted
    bad = World(tmp_path / "bad", alerter, clock, "honest")
    txs = [submit(batch) for batch in bad.bundle.batches]
    for tx in txs:
        bad.chain.mine(tx)
    bad.l1[0].calldata[txs[1].tx_hash] = encode_submit_batch_calldata(b"\x01garbage")
    bad.tower.tick()
    bad.tower.close()

    # the bridge's kinds (tests/unit/test_service_bridge.py has each in detail)
    bridge = BridgeWorld(
        tmp_path / "bridge", genesis_supply=GENESIS_SUPPLY - 1, alert=alerter, clock=clock
    )
    # (genesis_unbacked raised at start-up)
    bridge.tower.tick()  # conservation_violated (by 1 wei)
    bridge.chain.mine(DepositTx(FRESH, ETHER))
    bridge.wait(DEPOSIT_INCLUSION_DELAY + 100)
    bridge.tower.tick()  # deposit_overdue, conservation_violated_resolved
    bridge.chain.mine(bridge.propose([deposit(0, FRESH, 2 * ETHER)]))
    bridge.tower.tick()  # deposit_mismatch, deposit_overdue_resolved
    bridge.chain.mine(Claim(0, 0, FRESH, ETHER))
    bridge.tower.tick()  # withdrawal_forged
    bridge.close()

    # The challenger's kinds and low_balance need a signer and a node: raised with the fields
    # watchtower/submit/challenger.py and Watchtower._can_pay raise them with.
    tx, batch_tx = "ab" * 32, "0x" + "cd" * 32
    alerter("challenge_submitted", batch=1, step=7, tx=tx, batch_tx=batch_tx, action="commit")
    alerter("challenge_succeeded", batch=1, tx=tx, batch_tx=batch_tx, gas=210_000)
    alerter("challenge_failed", batch=1, step=7, batch_tx=batch_tx, reason="reverted")
    alerter("deadline_at_risk", batch=1, step=7, batch_tx=batch_tx, seconds_left=99.0,
            reason="the signer cannot pay the stake and gas")  # fmt: skip
    alerter("deadline_at_risk", batch=1, batch_tx=batch_tx, reason="fee cap 100 reached")
    money = {"balance": 1, "needed": 10**18, "signer": "0x" + "11" * 20}
    alerter("low_balance", episode=1_767_225_600, stake=10**17, detail="short", **money)
    alerter("low_balance_resolved", episode=1_767_225_600, **money)
    alerter("test", message="a test alert from watchtower alerts test", sink="webhook-0")
    # The channel guardian's kinds (tests/unit/test_guardian.py raises them on the real
    # contracts): with the fields watchtower/channels/decide.py and guardian.py raise them with.
    ch = {"contract": "0x" + "22" * 20, "channel": 3}
    closing = {"closing_nonce": 0, "held_nonce": 5, "deadline": 1_767_225_900}
    alerter("stale_close_detected", closer="0x" + "55" * 20, **closing, **ch)
    alerter("channel_update_missed", **closing, **ch)
    alerter("channel_update_sent", nonce=5, tx="0x" + "ab" * 32, **ch)
    alerter("channel_update_landed", nonce=5, tx="0x" + "ab" * 32, gas=90_000, **ch)
    alerter("payment_claim_sent", nonce=10**18, tx="0x" + "ac" * 32, **ch)
    alerter("channel_claim_missed", amount=10**18, expiration=1_767_225_900, **ch)
    alerter("channel_action_failed", action="cash", sequence=4000, key="cheque:…:cash:4000",
            **ch)  # fmt: skip
    alerter("channel_reward_paid", tx="0x" + "ad" * 32, gas=60_000, action="settle",
            reward_wei="1000", **ch)  # fmt: skip
    alerter("channel_reward_unpaid", nonce=5, offered=1000, paid=10, reason="capped", **ch)
    book = {"contract": "0x" + "33" * 20}
    alerter("cheque_at_risk", liquid_balance=3000, uncashed=4000, shortfall=1000, cheques=1,
            **book)  # fmt: skip
    alerter("cheque_bounced", beneficiary="0x" + "44" * 20, cumulative_payout=4000, paid=3000,
            block=12, **book)  # fmt: skip
    alerter("issuer_withdrew", amount=2000, liquid_balance=3000, block=11, **book)

    report = alerter.deliver(clock.time() + 1)
    assert report.pending == 0
    bodies = webhooks(receiver)
    schema = load_schema()
    for body in bodies:
        validate(body, schema)
    assert {b["kind"] for b in bodies} == {k.value for k in AlertKind}

    fraud_alert = next(b for b in bodies if b["kind"] == "fraud_detected")["fields"]
    assert fraud_alert["claimed_root"] != fraud_alert["computed_root"]
    assert fraud_alert["proposer"] is not None and fraud_alert["chain_id"]
    assert fraud_alert["rollup"] == fraud.l1[0].address
    assert fraud_alert["value_at_risk"] == 0  # the fixture's fraudulent batch withdraws nothing


def test_the_schema_documents_every_kind_and_its_severity() -> None:
    schema = load_schema()
    assert set(schema["$defs"]) == {k.value for k in AlertKind}
    assert set(schema["properties"]["kind"]["enum"]) == {k.value for k in AlertKind}
    for kind in AlertKind:
        entry = schema["$defs"][kind.value]
        assert entry["x-severity"] == kind.severity.value
        assert entry.get("x-resolves") == (kind.resolves.value if kind.resolves else None)


def test_a_body_off_the_schema_is_refused() -> None:
    body = {"version": 1, "kind": "stalled", "severity": "critical", "fields": {"x": 1}}
    with pytest.raises(AssertionError, match="'episode' is required") as info:
        validate(body)
    text = str(info.value)
    assert "'critical' is not 'error'" in text and "'x' is not in the schema" in text


def test_stall_episodes_page_again_in_the_same_hour_and_resolve(
    tmp_path: Path, receiver: Receiver, alerter: Alerter, clock: ManualClock
) -> None:
    world = World(tmp_path / "w", alerter, clock, "honest")
    world.chain.mine(submit(world.bundle.batches[0]))
    world.tower.tick()
    for _ in range(2):  # two episodes within 20 minutes
        clock.advance(STALL_AFTER + 1)
        world.tower.tick()
        world.tower.tick()  # same episode: said once
        world.chain.mine_empty(1)
        world.tower.tick()
    world.tower.close()
    alerter.deliver(clock.time())

    hooks = webhooks(receiver)
    stalls = [b for b in hooks if b["kind"] == "stalled"]
    resolves = [b for b in hooks if b["kind"] == "stalled_resolved"]
    assert len(stalls) == 2 and len(resolves) == 2
    assert stalls[0]["dedup_key"] != stalls[1]["dedup_key"]
    for stall, resolved in zip(stalls, resolves, strict=True):
        assert resolved["action"] == "resolve"
        assert resolved["incident_key"] == stall["dedup_key"] == stall["incident_key"]
        assert resolved["fields"]["episode"] == stall["fields"]["episode"]

    pd = [r.json() for r in receiver.accepted("/pd")]
    assert [(p["event_action"], p["dedup_key"]) for p in pd] == [
        ("trigger", stalls[0]["dedup_key"]),
        ("resolve", stalls[0]["dedup_key"]),
        ("trigger", stalls[1]["dedup_key"]),
        ("resolve", stalls[1]["dedup_key"]),
    ]
    slack = [r.json() for r in receiver.accepted("/slack")]
    assert [s["text"] for s in slack if "blocks" not in s] == [
        f":white_check_mark: [INFO] stalled_resolved: episode={b['fields']['episode']}"
        f" l1_block={b['fields']['l1_block']}"
        for b in resolves
    ]


def test_rpc_disagreement_resolves_when_the_endpoints_agree(
    tmp_path: Path, receiver: Receiver, alerter: Alerter, clock: ManualClock
) -> None:
    world = World(tmp_path / "w", alerter, clock, "honest", endpoints=2)
    world.chain.mine(submit(world.bundle.batches[0]))
    world.l1[1].hashes[1] = b"\x66" * 32
    world.tower.tick()
    clock.advance(60)
    world.tower.tick()  # still disagreeing: the same episode
    world.tower.tick()
    world.l1[1].hashes.clear()
    world.tower.tick()
    world.tower.tick()  # nothing more to resolve
    world.tower.close()
    alerter.deliver(clock.time())
    pd = [r.json() for r in receiver.accepted("/pd")]
    assert [p["event_action"] for p in pd] == ["trigger", "resolve"]
    assert pd[0]["dedup_key"] == pd[1]["dedup_key"]
    assert pd[0]["dedup_key"].startswith("rpc_disagreement:episode=")
    kinds = [b["kind"] for b in webhooks(receiver)]
    assert kinds == ["rpc_disagreement", "rpc_disagreement_resolved"]


def test_min_severity_routes_per_sink_and_resolves_follow_their_condition(
    tmp_path: Path, receiver: Receiver, clock: ManualClock
) -> None:
    base = f"http://127.0.0.1:{receiver.port}"
    sinks = [
        WebhookSink(f"{base}/hook", SECRET, 2.0),
        PagerDutySink(ROUTING_KEY, url=f"{base}/pd", timeout=2.0),
    ]
    floors = {"pagerduty": Severity.ERROR}
    with Alerter(tmp_path / "o.sqlite", sinks, None, clock.time, min_severity=floors) as alerter:
        alerter("proposer_slashed", batch=1, l1_block=2, last_batch=1, rejection_log="0x01:0")
        alerter("stalled", episode=5, l1_block=7, seconds=301)
        alerter("stalled_resolved", episode=5, l1_block=8)  # info, but ends an error
        alerter.deliver(clock.time())
    pd = [r.json() for r in receiver.accepted("/pd")]
    assert [(p["event_action"], p["dedup_key"]) for p in pd] == [
        ("trigger", "stalled:episode=5"),
        ("resolve", "stalled:episode=5"),
    ]
    assert len(receiver.accepted("/hook")) == 3
    with pytest.raises(ValueError, match="unknown sinks"):
        Alerter(tmp_path / "p.sqlite", sinks, min_severity={"nope": Severity.ERROR})


def test_each_alert_is_logged_once(tmp_path: Path, alerter: Alerter, clock: ManualClock) -> None:
    from structlog.testing import capture_logs

    from watchtower.runner import _logged  # the alert function the service runs with

    world = World(tmp_path / "w", alerter, clock, "fraud-wrong-root", endpoints=2)
    world.tower.alert = _logged(alerter)
    for batch in world.bundle.batches:
        world.chain.mine(submit(batch))
    with capture_logs() as logs:
        world.tower.tick()  # fraud_detected
        world.chain.mine_empty(1)
        world.l1[1].hashes[world.chain.head] = b"\x66" * 32
        world.tower.tick()  # rpc_disagreement
    world.tower.close()
    kinds = {k.value for k in AlertKind}
    lines = [e for e in logs if e["event"] in kinds]
    assert sorted(e["event"] for e in lines) == ["fraud_detected", "rpc_disagreement"]
    assert all(e["alert"] is True and "dedup_key" in e for e in lines)
    fraud = next(e for e in lines if e["event"] == "fraud_detected")
    assert fraud["claimed_root"] != fraud["computed_root"] and fraud["severity"] == "critical"


def test_a_silenced_condition_is_not_resolved_either(
    tmp_path: Path, receiver: Receiver, clock: ManualClock
) -> None:
    from watchtower.alert import EntryState, Silences

    silences = Silences()
    silences.add(kind="stalled", reason="maintenance")
    sink = WebhookSink(receiver.url("/hook"), SECRET, 2.0)
    with Alerter(tmp_path / "o.sqlite", [sink], silences, clock.time) as alerter:
        alerter("stalled", episode=5, l1_block=7, seconds=301)
        alerter("stalled_resolved", episode=5, l1_block=8)
        alerter("low_balance_resolved", episode=5, balance=2, needed=1, signer="0x01")
        alerter.deliver(clock.time())
        silenced = alerter.entries(EntryState.SILENCED)
    assert sorted(e.alert.kind.value for e in silenced) == ["stalled", "stalled_resolved"]
    assert [r.json()["kind"] for r in receiver.accepted("/hook")] == ["low_balance_resolved"]
