"""Issue 6, RPC faults: a fault-injecting proxy between a real `watchtower run` and anvil.

The service keeps going through timeouts, 429 and 5xx answers, dropped connections and truncated
JSON; it backs off while they last (exponentially, capped), raises ``stalled`` when the head stops
moving or cannot be read, and recovers by itself when the faults stop. Under random faults on
every method it still verifies every batch and challenges the fraud with exactly one stake.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from tests.integration.conftest import rpc
from tests.integration.service_process import ServiceProcess
from watchtower.l1.rollup import OnChainStatus as OnChain
from watchtower.l1.rollup import connect
from watchtower.rollup.codec import encode_batch, steps_root
from watchtower.rollup.types import Batch
from watchtower.service import ServiceConfig, Watchtower
from watchtower.store.db import ChallengeState, Store
from watchtower_dev.chain import free_port
from watchtower_dev.devnet import Devnet
from watchtower_dev.faults import Fault, FaultKind
from watchtower_dev.proposer import devnet_genesis
from watchtower_dev.rpcproxy import RpcProxy

pytestmark = pytest.mark.integration

MAX_BACKOFF = 1.6
STALL_AFTER = 2.5
#: Every transport fault at once, on every method (sending included): about 1 request in 5 fails.
CHAOS = [
    ("http_5xx", 0.08, {"status": 503}),
    ("http_429", 0.05, {}),
    ("drop", 0.03, {}),
    ("truncate", 0.03, {}),
    ("timeout", 0.01, {"delay": 0.8}),
]
TRANSPORT_FAULTS = [
    ("timeout", {"delay": 1.5}),
    ("http_429", {}),
    ("http_5xx", {"status": 503}),
    ("drop", {}),
    ("truncate", {}),
]


@pytest.fixture
def proxy(anvil_net: Devnet) -> Iterator[RpcProxy]:
    assert anvil_net.rpc_url is not None
    with RpcProxy(anvil_net.rpc_url, seed=6) as running:
        yield running


def _service(net: Devnet, proxy: RpcProxy, data: Path, port: int) -> ServiceProcess:
    return ServiceProcess(
        net,
        data,
        "--confirmations", "1",
        "--rpc-timeout", "0.5",
        "--max-backoff", str(MAX_BACKOFF),
        "--bump-after", "2",
        "--metrics-listen", f"127.0.0.1:{port}",
        rpc_url=proxy.url,
        env={"WATCHTOWER_SERVICE_STALL_AFTER": str(STALL_AFTER)},
    )  # fmt: skip


def _ready(port: int) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _failures_since(service: ServiceProcess, mark: int) -> list[dict[str, object]]:
    return [e for e in service.events[mark:] if e.get("event") == "tick_failed"]


def test_transport_faults_backoff_stall_and_recovery(
    anvil_net: Devnet, proxy: RpcProxy, tmp_path: Path
) -> None:
    net = anvil_net
    port = free_port()
    net.proposer.propose(3)
    service = _service(net, proxy, tmp_path / "wt", port)
    try:
        service.wait_for("batch_verified", batch=0, timeout=60)
        for kind, options in TRANSPORT_FAULTS:
            mark = len(service.events)
            fault = proxy.inject(kind, **options)
            batch, _ = net.proposer.propose(3)  # straight to the node: L1 moves on meanwhile
            deadline = time.monotonic() + 30
            while len(_failures_since(service, mark)) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            failures = _failures_since(service, mark)
            assert len(failures) >= 3, f"{kind}: the service did not notice the fault"
            assert proxy.stats.faults[fault.kind] > 0
            for entry in failures:  # one line that says what broke
                assert "\n" not in str(entry["error"]) and str(entry["error"]), entry
            waits = [float(e["retry_in"]) for e in failures]  # type: ignore[arg-type]
            assert waits == sorted(waits), f"{kind}: backoff must not shrink: {waits}"
            assert waits[-1] <= MAX_BACKOFF
            assert _ready(port) == 503
            proxy.clear()
            service.wait_for("batch_verified", batch=batch.index, timeout=30, since=mark)
            service.wait_for("recovered", timeout=30, since=mark)  # a whole tick succeeded

        # Backoff: a long outage costs a few requests, not one per poll interval (0.2 s).
        mark, before = len(service.events), proxy.stats.total()
        proxy.inject("http_5xx", status=502)
        time.sleep(6.0)
        outage = _failures_since(service, mark)
        waits = [float(e["retry_in"]) for e in outage]  # type: ignore[arg-type]
        assert waits == [min(MAX_BACKOFF, 0.2 * 2**i) for i in range(len(waits))], waits
        assert len(waits) >= 2
        requests = proxy.stats.total() - before
        assert requests <= len(outage) * 3 + 3  # each failed tick: 1 request, 3 attempts
        print(f"\nbackoff: 6 s of 502s -> {len(outage)} failed ticks, {requests} requests")

        # A head that cannot be read for longer than stall_after: one 'stalled' alert.
        service.wait_for("stalled", alert=True, timeout=30, since=mark)
        mark = len(service.events)
        proxy.clear()
        rpc(net, "evm_mine")
        service.wait_for("recovered", timeout=30, since=mark)

        # A head that stops moving (the node answers, but nothing new): 'stalled' again.
        stalled_before = service.count("stalled")
        proxy.inject("stuck_head")
        for _ in range(3):
            rpc(net, "evm_mine")
        deadline = time.monotonic() + 30
        while service.count("stalled") == stalled_before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert service.count("stalled") == stalled_before + 1
        assert _ready(port) == 503
        proxy.clear()
        stuck_batch, _ = net.proposer.propose(2)
        service.wait_for("batch_verified", batch=stuck_batch.index, timeout=30)
        deadline = time.monotonic() + 10
        while _ready(port) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ready(port) == 200
        assert service.proc.poll() is None  # never exited
    finally:
        assert service.terminate() == 0


def test_random_faults_on_every_method_still_one_stake(
    anvil_net: Devnet, proxy: RpcProxy, tmp_path: Path
) -> None:
    """Chaos: every kind of transport fault at once, on every method (sending included)."""
    net = anvil_net
    port = free_port()
    data = tmp_path / "wt"
    for _ in range(4):
        net.proposer.propose(4)
    fraud, _ = net.proposer.propose(6, Fault(FaultKind.WRONG_FEE, 3))
    for kind, rate, options in CHAOS:
        proxy.inject(kind, rate=rate, **options)
    service = _service(net, proxy, data, port)
    try:
        deadline = time.monotonic() + 120
        while net.client.batch(fraud.index).status is not OnChain.REJECTED:
            assert time.monotonic() < deadline, "fraud not proven under random faults"
            rpc(net, "evm_mine")
            time.sleep(0.3)
        service.wait_for("challenge_succeeded", batch=fraud.index, timeout=60)
        assert sum(proxy.stats.faults.values()) >= 10, proxy.stats.faults
        assert proxy.stats.requests["eth_sendRawTransaction"] >= 1
        print(  # the README's figure (pytest -s)
            f"\nchaos: {sum(proxy.stats.faults.values())} faults in {proxy.stats.total()} "
            f"requests ({dict(proxy.stats.faults)}), {service.count('tick_failed')} failed ticks"
        )
    finally:
        assert service.terminate() == 0
    with Store(data / "watchtower.sqlite") as store:
        assert store.integrity_check() == []
        verdicts = [(r.idx, r.verdict) for r in store.batches()]
        assert verdicts == [(0, "valid"), (1, "valid"), (2, "valid"), (3, "valid"), (4, "fraud")]
        (challenge,) = store.challenges()
        assert challenge.state is ChallengeState.SUCCEEDED
        mined = [s.action for s in store.submissions() if s.state == "mined"]
        assert sorted(mined) == ["commit", "reveal"]
    stake, reward = net.config.min_stake, net.config.proposer_bond // 2
    assert net.client.owed(net.challenger.address) == stake + reward


# -- several endpoints: one lags, one lies -------------------------------------------------------
def _tower(
    net: Devnet, urls: tuple[str, ...], data: Path, alerts: list[tuple[str, dict[str, object]]]
) -> Watchtower:
    clients = connect(urls, net.client.address, timeout=2.0)
    config = ServiceConfig(data, confirmations=0)
    return Watchtower(
        config,
        clients,
        devnet_genesis(),
        net.challenger,
        alert=lambda kind, **fields: alerts.append((kind, fields)),
    )


@pytest.fixture
def second_proxy(anvil_net: Devnet) -> Iterator[RpcProxy]:
    assert anvil_net.rpc_url is not None
    with RpcProxy(anvil_net.rpc_url, seed=7) as running:
        yield running


def test_a_lagging_endpoint_is_waited_for_not_argued_with(
    anvil_net: Devnet, proxy: RpcProxy, second_proxy: RpcProxy, tmp_path: Path
) -> None:
    net = anvil_net
    alerts: list[tuple[str, dict[str, object]]] = []
    tower = _tower(net, (proxy.url, second_proxy.url), tmp_path, alerts)
    first, _ = net.proposer.propose(3)
    tower.tick()
    scanned = tower.store.next_block(0) - 1
    second_proxy.inject("lag", lag=3)
    late, _ = net.proposer.propose(3)
    rpc(net, "evm_mine")
    report = tower.tick()  # the second endpoint does not have the batch's block yet
    assert report.disagreement is None and report.verdicts == [] and report.reorg_from is None
    assert tower.store.next_block(0) - 1 == scanned  # not past what every endpoint has
    assert [kind for kind, _ in alerts] == []
    for _ in range(3):
        rpc(net, "evm_mine")  # the laggard catches up with the batch's block
    report = tower.tick()
    assert report.verdicts == [(late.index, "valid")]
    second_proxy.clear()
    assert tower.tick().disagreement is None
    assert [r.verdict for r in tower.store.batches()] == ["valid", "valid"]
    assert first.index == 0
    tower.close()


def _fake_fraud(net: Devnet, honest: Batch, tx_hash: bytes) -> dict[str, str]:
    """What a lying endpoint serves instead of ``honest``: a fraudulent batch at the same index
    with a matching commitment in the log, so the liar is consistent with itself."""
    faulty = net.proposer._build(  # a batch the proposer never sent
        [s.tx for s in honest.steps], Fault(FaultKind.WRONG_ROOT, 1), honest.index, honest.prev_root
    )
    data = encode_batch(faulty.index, faulty.prev_root, faulty.steps)
    (log,) = net.w3.eth.get_logs(
        {"address": net.client.address, "fromBlock": 0, "toBlock": "latest",
         "topics": [net.w3.keccak(text=BATCH_SUBMITTED).to_0x_hex()]}
    )  # fmt: skip
    types = ["bytes32", "bytes32", "bytes32", "uint32", "address", "uint64", "uint64"]
    fields = list(abi_decode(types, bytes(log["data"])))
    fields[1], fields[2], fields[3] = faulty.final_root, steps_root(faulty.steps), len(faulty.steps)
    return {
        "tx_hash": "0x" + tx_hash.hex(),
        "calldata": net.client.contract.encode_abi("submitBatch", [data]),
        "log_data": "0x" + abi_encode(types, fields).hex(),
    }


BATCH_SUBMITTED = (
    "BatchSubmitted(uint256,address,bytes32,bytes32,bytes32,uint32,address,uint64,uint64)"
)


@pytest.mark.parametrize("liar", ["primary", "secondary"])
@pytest.mark.parametrize("lie", ["block_hash", "batch_data"])
def test_a_lying_endpoint_is_never_acted_on(
    anvil_net: Devnet,
    proxy: RpcProxy,
    second_proxy: RpcProxy,
    tmp_path: Path,
    liar: str,
    lie: str,
) -> None:
    """Two endpoints, one lies (other block hashes, or an honest batch made to look fraudulent,
    consistently in its logs and calldata): rpc_disagreement, nothing recorded from the disputed
    range, and no challenge; when the lie stops, the batch is verified valid."""
    net = anvil_net
    honest, receipt = net.proposer.propose(4)
    lying = proxy if liar == "primary" else second_proxy
    if lie == "block_hash":
        lying.inject("lie_block_hash")
    else:
        lying.inject("rewrite_batch", **_fake_fraud(net, honest, bytes(receipt["transactionHash"])))
    alerts: list[tuple[str, dict[str, object]]] = []
    tower = _tower(net, (proxy.url, second_proxy.url), tmp_path, alerts)
    for _ in range(2):
        report = tower.tick()
        assert report.disagreement is not None
        assert tower.store.batches() == []
        assert tower.store.challenges() == [] and tower.store.submissions() == []
    assert {kind for kind, _ in alerts} == {"rpc_disagreement"}
    assert lying.stats.faults[f"{'lie_block_hash' if lie == 'block_hash' else 'rewrite_batch'}"]
    lying.clear()
    report = tower.tick()
    assert report.disagreement is None
    assert report.verdicts == [(honest.index, "valid")]
    assert tower.store.challenges() == []
    assert net.client.batch(honest.index).status is OnChain.PENDING
    tower.close()


def test_a_lone_endpoint_whose_calldata_breaks_the_commitment(
    anvil_net: Devnet, proxy: RpcProxy, tmp_path: Path
) -> None:
    """With one endpoint, calldata that does not match the commitment the contract emitted makes
    that batch unreadable (issue 10): recorded with the reason, batch_unreadable and
    verification_halted raised, never replayed or challenged, and the scan goes on (a later batch
    is recorded, waiting). When the endpoint serves the real calldata again, the batch is read,
    replayed and found valid, and so is the one that waited."""
    net = anvil_net
    honest, receipt = net.proposer.propose(4)
    fake = _fake_fraud(net, honest, bytes(receipt["transactionHash"]))
    proxy.inject("rewrite_batch", tx_hash=fake["tx_hash"], calldata=fake["calldata"])
    alerts: list[tuple[str, dict[str, object]]] = []
    tower = _tower(net, (proxy.url,), tmp_path, alerts)
    report = tower.tick()
    assert report.disagreement is None and report.verdicts == []
    (row,) = tower.store.batches()
    assert (row.idx, row.verdict) == (honest.index, "unreadable")
    assert "commitment" in row.reason
    assert [kind for kind, _ in alerts] == ["batch_unreadable", "verification_halted"]
    fields = alerts[0][1]
    assert fields["batch"] == honest.index and fields["batch_tx"] == fake["tx_hash"]
    assert fields["l1_block"] == row.l1_block and "commitment" in str(fields["reason"])
    later, _ = net.proposer.propose(2)
    report = tower.tick()
    assert report.verdicts == []
    assert [(r.idx, r.verdict) for r in tower.store.batches()] == [
        (honest.index, "unreadable"),
        (later.index, "skipped"),
    ]
    assert tower.store.challenges() == []
    proxy.clear()
    report = tower.tick()
    assert report.verdicts == [(honest.index, "valid"), (later.index, "valid")]
    assert tower.store.challenges() == []
    assert [kind for kind, _ in alerts] == ["batch_unreadable", "verification_halted"]
    tower.close()


def test_a_node_that_refuses_large_log_ranges(
    anvil_net: Devnet, proxy: RpcProxy, tmp_path: Path
) -> None:
    """eth_getLogs over more than 4 blocks is refused: the follower halves its range until the
    node accepts it, and sees every batch."""
    net = anvil_net
    batches = [net.proposer.propose(2)[0] for _ in range(3)]
    for _ in range(10):
        rpc(net, "evm_mine")
    proxy.inject("log_range_limit", limit=4)
    alerts: list[tuple[str, dict[str, object]]] = []
    tower = _tower(net, (proxy.url,), tmp_path, alerts)
    tower.tick()
    assert tower.follower.chunk <= 4
    assert proxy.stats.faults["log_range_limit"] >= 1
    assert [(r.idx, r.verdict) for r in tower.store.batches()] == [
        (b.index, "valid") for b in batches
    ]
    assert tower.store.next_block(0) - 1 == int(net.w3.eth.block_number)
    tower.close()


def test_a_batch_served_unreadable_does_not_stop_the_service(
    anvil_net: Devnet, proxy: RpcProxy, tmp_path: Path
) -> None:
    """Issue 10, end to end: `watchtower run` behind a proxy that serves calldata Solidity's
    decoder refuses for one batch (a fraud, as it happens), followed by a batch on top of it.
    The service records the batch as unreadable, delivers batch_unreadable and
    verification_halted, challenges nothing, and keeps ticking; someone else proves the fraud,
    the service records the rejection and verifies the honest batches posted afterwards."""
    from click.testing import CliRunner

    from tests.alert.receiver import Receiver
    from tests.integration.test_unreadable import _on_tip, _other_tower
    from watchtower.cli import main
    from watchtower.rollup.calldata import SUBMIT_BATCH_SELECTOR

    net = anvil_net
    net.proposer.propose(3)
    bad, receipt = net.proposer.propose(4, Fault(FaultKind.WRONG_ROOT, 2))
    bad_tx = "0x" + bytes(receipt["transactionHash"]).hex()
    garbage = SUBMIT_BATCH_SELECTOR + (0x1000).to_bytes(32, "big")  # offset past the end
    proxy.inject("rewrite_batch", tx_hash=bad_tx, calldata="0x" + garbage.hex())
    on_top = _on_tip(net)
    receiver = Receiver().start()
    config = tmp_path / "alerts.toml"
    config.write_text(f'[[alerts.webhook]]\nurl = "{receiver.url()}"\nsecret_env = "WT_SECRET"\n')
    data = tmp_path / "wt"
    service = ServiceProcess(
        net,
        data,
        "--config", str(config),
        "--confirmations", "1",
        rpc_url=proxy.url,
        env={"WT_SECRET": "unreadable-test-secret"},
    )  # fmt: skip
    theirs = _other_tower(net, tmp_path / "other")
    try:
        rpc(net, "evm_mine")
        service.wait_for("batch_unreadable", batch=bad.index, timeout=60)
        halted = service.wait_for("verification_halted", batch=bad.index, timeout=30)
        assert halted["waiting"] == 1
        assert proxy.stats.faults["rewrite_batch"] >= 1
        for _ in range(3):  # someone with an honest endpoint proves the fraud
            theirs.tick()
            rpc(net, "evm_mine")
        assert net.client.batch(bad.index).status is OnChain.REJECTED
        service.wait_for("batches_rejected", batch=bad.index, timeout=30)
        net.client.deposit_bond(net.proposer.account, net.config.proposer_bond)
        mark = len(service.events)
        net.proposer.propose(3)
        after, _ = net.proposer.propose(2)
        assert after.index == on_top.index
        rpc(net, "evm_mine")
        service.wait_for("batch_verified", batch=after.index, timeout=60, since=mark)
        wanted = {"batch_unreadable", "verification_halted", "proposer_slashed"}
        for _ in range(100):  # delivery runs every second
            kinds = {json.loads(r.body)["kind"] for r in receiver.accepted()}
            if wanted <= kinds:
                break
            time.sleep(0.1)
        assert service.proc.poll() is None  # still running
        assert service.count("tick_failed") == 0
    finally:
        theirs.close()
        assert service.terminate() == 0
        receiver.stop()
    bodies = [json.loads(r.body) for r in receiver.accepted()]
    kinds = [b["kind"] for b in bodies]
    assert wanted <= set(kinds), kinds
    assert not {"fraud_detected", "challenge_submitted", "rpc_disagreement"} & set(kinds), kinds
    unreadable = next(b["fields"] for b in bodies if b["kind"] == "batch_unreadable")
    assert (unreadable["batch"], unreadable["batch_tx"]) == (bad.index, bad_tx)
    assert "past the end" in unreadable["reason"]
    assert next(b for b in bodies if b["kind"] == "verification_halted")["severity"] == "critical"
    status = CliRunner().invoke(main, ["status", "--data-dir", str(data), "--json"])
    document = json.loads(status.stdout)
    assert document["last_verified_batch"] == after.index
    assert document["batches_verified"] == 3
    assert document["verification_halted"] is None
    assert [(u["batch"], u["status"]) for u in document["unreadable"]] == [(1, "rejected")]
    assert document["challenges"] == []
    text = CliRunner().invoke(main, ["status", "--data-dir", str(data)]).stdout
    assert f"UNREADABLE batch 1 (tx {bad_tx}" in text
