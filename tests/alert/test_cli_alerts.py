"""``watchtower alerts test|list|retry`` against the real local receiver and a real outbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchtower.alert import Alerter, WebhookSink
from watchtower.cli import main

from .conftest import FakeClock
from .receiver import Receiver, closed_port

SECRET = "cli-alerts-secret-value"
ROUTING_KEY = "PDKEYclialerts0123456789"


def write_config(path: Path, receiver: Receiver, data_dir: Path) -> Path:
    dead = f"http://127.0.0.1:{closed_port()}/pd"
    path.write_text(
        f"""
[service]
data_dir = "{data_dir}"

[[alerts.webhook]]
url = "{receiver.url("/hook")}"
secret_env = "WT_TEST_SECRET"
min_severity = "critical"

[[alerts.pagerduty]]
routing_key_env = "WT_TEST_PD_KEY"
url = "{dead}"
timeout = 2
"""
    )
    return path


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WT_TEST_SECRET", SECRET)
    monkeypatch.setenv("WT_TEST_PD_KEY", ROUTING_KEY)


def test_alerts_test_reports_one_line_per_sink_and_fails_if_one_failed(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = write_config(tmp_path / "w.toml", receiver, tmp_path / "data")
    result = CliRunner().invoke(main, ["alerts", "test", "--config", str(config)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == "webhook-0: ok"  # min_severity does not apply to a test
    assert lines[1].startswith("pagerduty-0: FAILED connection failed")
    assert len(lines) == 2
    assert ROUTING_KEY not in result.output and "/pd" not in result.output
    (req,) = receiver.accepted("/hook")
    assert req.json()["kind"] == "test" and req.json()["fields"]["sink"] == "webhook-0"


def test_alerts_test_without_sinks_is_an_input_error(tmp_path: Path) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    result = CliRunner().invoke(main, ["alerts", "test", "--config", str(config)])
    assert result.exit_code == 2
    assert "no alert sink is configured" in result.output


def test_alerts_list_and_retry(tmp_path: Path, receiver: Receiver, clock: FakeClock) -> None:
    data = tmp_path / "data"
    data.mkdir()
    receiver.statuses.extend([500])
    sink = WebhookSink(receiver.url("/hook"), SECRET.encode(), 2.0)
    with Alerter(data / "alerts.sqlite", [sink], None, clock) as alerter:
        alerter("fraud_detected", batch=1, step=2, batch_tx="0x01")
        alerter("proposer_slashed", batch=1, l1_block=3, last_batch=1, rejection_log="0x02:0")
        report = alerter.deliver()
    assert (report.delivered, report.failed) == (0, 1)

    runner = CliRunner()
    listed = runner.invoke(main, ["alerts", "list", "--data-dir", str(data), "--json"])
    assert listed.exit_code == 0, listed.output
    doc = json.loads(listed.output)
    assert doc["counts"] == {"pending": 2, "delivered": 0, "silenced": 0, "failed": 1}
    (failed,) = [r for r in doc["rows"] if r["state"] == "failed"]
    assert failed["kind"] == "fraud_detected" and "HTTP 500" in failed["last_error"]

    text = runner.invoke(main, ["alerts", "list", "--data-dir", str(data), "--state", "failed"])
    assert text.exit_code == 0
    assert text.output.splitlines()[0] == "pending=2 delivered=0 silenced=0 failed=1"
    assert len(text.output.splitlines()) == 2 and "fraud_detected:batch=1" in text.output

    retried = runner.invoke(main, ["alerts", "retry", "--data-dir", str(data)])
    assert retried.exit_code == 0 and "re-queued 1 failed alert(s)" in retried.output
    with Alerter(data / "alerts.sqlite", [sink], None, clock) as alerter:
        # the backoff put the failed row a second later; retry made it due now
        assert alerter.deliver().delivered == 2


def test_alerts_list_without_an_outbox_is_an_input_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["alerts", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "holds no alert outbox" in result.output


def test_config_check_help_documents_sink_url_timeout_and_min_severity() -> None:
    result = CliRunner().invoke(main, ["config", "check", "--help"])
    assert result.exit_code == 0
    for text in ("https://events.eu.pagerduty.com/v2/enqueue", "timeout", "min_severity"):
        assert text in result.output
