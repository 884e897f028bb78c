"""docs/operations.md "Alerts": the signature examples run against a real delivery, and the
configuration it documents is the one the code has."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from watchtower.alert import Alerter, AlertKind, WebhookSink
from watchtower.config import _SINKS

from .conftest import FakeClock
from .receiver import Received, Receiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
SECRET = "docs-example-secret-42"


def _alerts_section() -> str:
    text = DOC.read_text()
    start = text.index("## Alerts\n")
    return text[start : text.index("\n## ", start + 1)]


def _example(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", _alerts_section(), re.DOTALL)
    assert len(blocks) == 1, f"one {language} example expected"
    return str(blocks[0])


def _delivery(tmp_path: Path, receiver: Receiver, clock: FakeClock) -> Received:
    sink = WebhookSink(receiver.url("/hook"), SECRET.encode())  # the real clock: sent_at is now
    with Alerter(tmp_path / "o.sqlite", [sink], None, clock) as alerter:
        alerter("fraud_detected", batch=3, step=7, batch_tx="0x" + "ab" * 32)
        assert alerter.deliver().delivered == 1
    (received,) = receiver.accepted("/hook")
    return received


def _run(
    argv: list[str], tmp_path: Path, req: Received, body: bytes
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "body.json"
    path.write_bytes(body)
    headers = req.headers
    args = [*argv, SECRET, str(path), headers["x-watchtower-signature"],
            headers["x-watchtower-timestamp"]]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_the_documented_verification_example_accepts_a_real_delivery_and_refuses_a_forgery(
    language: str, tmp_path: Path, receiver: Receiver, clock: FakeClock
) -> None:
    if language == "python":
        script, argv = tmp_path / "verify_watchtower.py", [sys.executable]
    else:
        node = shutil.which("node")
        if node is None:
            pytest.skip("node is not installed")
        script, argv = tmp_path / "verify-watchtower.js", [node]
    script.write_text(_example(language))
    argv.append(str(script))
    req = _delivery(tmp_path, receiver, clock)
    good = _run(argv, tmp_path, req, req.body)
    assert good.returncode == 0, good.stderr
    assert good.stdout.split() == ["ok", "fraud_detected", req.headers["idempotency-key"]]
    forged = _run(argv, tmp_path, req, req.body.replace(b'"batch":3', b'"batch":4'))
    assert forged.returncode != 0 and "bad signature" in forged.stderr


def test_the_documented_configuration_is_the_codes() -> None:
    section = _alerts_section()
    for kind in AlertKind:
        assert f"`{kind.value}`" in section
    assert "https://events.eu.pagerduty.com/v2/enqueue" in section
    for sink, settings in _SINKS.items():
        assert f"[[alerts.{sink}]]" in section
        for key in settings:
            assert f"`{key}`" in section or f"{key} =" in section, (sink, key)
    assert "alert.v1.schema.json" in section


def test_the_documented_body_example_is_valid_and_is_what_the_alert_gives() -> None:
    import json

    from watchtower.alert import Alert

    from .schema_check import validate

    example = json.loads(_example("json"))
    validate(example)
    alert = Alert.create(
        "stalled", {"episode": 1767225600, "l1_block": 7, "seconds": 301}, 1767225600.0
    )
    assert {**alert.to_json(), "sent_at": example["sent_at"]} == example
