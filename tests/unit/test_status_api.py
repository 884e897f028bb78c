"""``watchtower status`` from the running service (``GET /status`` on the metrics listener) and
from the store: one document, read-only, and what it says at a glance (batches waiting for
confirmations, the signer's owed stakes). Over the in-memory L1 with real bundles replayed."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.fakes.l1 import FakeChain
from tests.unit.test_service_fake_l1 import Alerts, bundle, submit
from watchtower.cli import main
from watchtower.metrics import HealthServer, Metrics
from watchtower.service import ServiceConfig, ServiceMode, Watchtower
from watchtower.status import META_MODE, META_SIGNER, status_document
from watchtower.store.db import Store


class Running:
    """A watch-mode service over a fake chain holding the fraud bundle, serving /status."""

    def __init__(self, data: Path, confirmations: int = 2) -> None:
        loaded, root = bundle("fraud-wrong-root")
        self.chain = FakeChain(genesis_root=root, params=loaded.params)
        for batch in loaded.batches:
            self.chain.mine(submit(batch))
        self.tower = Watchtower(
            ServiceConfig(data, mode=ServiceMode.WATCH, confirmations=confirmations),
            [],
            loaded.genesis,
            alert=Alerts(),
            metrics=Metrics(),
            readers=[self.chain.endpoint()],
        )
        self.server = HealthServer(
            "127.0.0.1:0", Metrics(), lambda: self.tower.ready, self.tower.status_document
        ).start()
        self.url = f"http://127.0.0.1:{self.server.port}"

    def close(self) -> None:
        self.server.stop()
        self.tower.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    service = Running(tmp_path / "data")
    yield service
    service.close()


def _get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def test_get_status_is_the_document_status_json_prints_from_the_store(
    running: Running, tmp_path: Path
) -> None:
    running.tower.tick()
    code, headers, body = _get(running.url + "/status")
    assert code == 200 and headers["Content-Type"] == "application/json"
    served = json.loads(body)
    with Store(tmp_path / "data" / "watchtower.sqlite") as store:
        built = status_document(store, l1_time=running.chain.blocks[-1].timestamp)
    assert served == built
    assert served["fraud_found"] == [{"batch": 1, "step": 7, "status": "pending"}]
    assert served["last_scanned_block"] == running.chain.head
    # The CLI prints the same document from the store and from the service.
    from_store = CliRunner().invoke(
        main, ["status", "--data-dir", str(tmp_path / "data"), "--json"]
    )
    from_url = CliRunner().invoke(main, ["status", "--url", running.url, "--json"])
    assert from_store.exit_code == 0 and from_url.exit_code == 0, from_url.output
    assert json.loads(from_url.output) == served
    stored = json.loads(from_store.output)
    assert {k: v for k, v in stored.items() if k != "bridge"} == {
        k: v for k, v in served.items() if k != "bridge"
    }


def test_the_api_is_read_only(running: Running) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        code, headers, _ = _get(running.url + "/status", method)
        assert code == 405, method
        assert headers["Allow"] == "GET, HEAD"
    assert _get(running.url + "/nothing-here")[0] == 404
    assert _get(running.url + "/healthz")[0] == 200


def test_status_holds_no_secret(running: Running) -> None:
    running.tower.tick()
    body = _get(running.url + "/status")[2].decode()
    for word in ("key", "password", "secret", "token"):
        assert word not in body.lower(), word


def test_batches_waiting_for_confirmations_are_shown_until_deep_enough(
    running: Running, tmp_path: Path
) -> None:
    running.tower.tick()  # head 3: batch 1 (fraud, block 2) and batch 2 (block 3) are shallow
    waiting = json.loads(_get(running.url + "/status")[2])["waiting_for_confirmations"]
    assert [(w["batch"], w["l1_block"], w["blocks_needed"]) for w in waiting] == [
        (1, 2, 1),
        (2, 3, 2),
    ]
    assert not any(w["challenge_waits"] for w in waiting)  # watch mode: nothing to challenge
    text = CliRunner().invoke(main, ["status", "--url", running.url])
    assert "waiting for 2 confirmations: batch 1 (L1 block 2; fraud) needs 1 more" in text.output
    # In challenge mode (recorded by the service) the fraud is a challenge that waits.
    running.tower.store.set_meta(META_MODE, "challenge")
    waiting = json.loads(_get(running.url + "/status")[2])["waiting_for_confirmations"]
    assert [w["challenge_waits"] for w in waiting] == [True, False]
    text = CliRunner().invoke(main, ["status", "--data-dir", str(tmp_path / "data")])
    assert "batch 1 (L1 block 2; the challenge waits) needs 1 more L1 block(s)" in text.output
    running.chain.mine_empty(2)
    running.tower.tick()
    assert json.loads(_get(running.url + "/status")[2])["waiting_for_confirmations"] == []


def test_the_signer_recorded_in_the_store_is_shown_by_default(tmp_path: Path) -> None:
    with Store(tmp_path / "watchtower.sqlite") as store:
        store.bind("rollup", "0x" + "11" * 20)
        store.set_meta(META_SIGNER, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    result = CliRunner().invoke(main, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "owed on chain: (pass --l1-rpc to read it)" in result.output
    document = json.loads(
        CliRunner().invoke(main, ["status", "--data-dir", str(tmp_path), "--json"]).output
    )
    assert document["signer"] == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_a_status_that_fails_answers_503_and_the_server_stays_up(tmp_path: Path) -> None:
    def broken() -> dict[str, Any]:
        raise OSError("database is locked")

    server = HealthServer("127.0.0.1:0", Metrics(), lambda: (True, "ok"), broken).start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        code, _, body = _get(url + "/status")
        assert code == 503 and "database is locked" in json.loads(body)["error"]
        assert _get(url + "/healthz")[0] == 200
    finally:
        server.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_status_url_with_nothing_listening_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(main, ["status", "--url", url])
    assert result.exit_code == 2
    assert f"--url {url}: no service answers there" in result.output
    assert "Traceback" not in result.output
