"""``watchtower alerts``: test the configured sinks, inspect and retry the alert outbox."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from watchtower.cli import _out, main
from watchtower.errors import InputError

EXIT_SINK_FAILED = 1

_CONFIG = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML configuration file (the sinks; see `watchtower config check --help`).",
)
_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Data directory holding alerts.sqlite (default: service.data_dir of the config).",
)


def _load(config_file: Path | None) -> Any:
    from watchtower.config import load_settings

    return load_settings(config_file)


def _outbox_path(config_file: Path | None, data_dir: Path | None) -> Path:
    directory = data_dir if data_dir is not None else Path(_load(config_file)["service.data_dir"])
    path = directory / "alerts.sqlite"
    if not path.is_file():
        raise InputError(f"{directory} holds no alert outbox (alerts.sqlite)")
    return path


@main.group("alerts")
def alerts_group() -> None:
    """Alert sinks and the alert outbox (<data-dir>/alerts.sqlite).

    \b
    Examples:
      watchtower alerts test --config watchtower.toml
      watchtower alerts list --data-dir /var/lib/watchtower --state failed
      watchtower alerts retry --data-dir /var/lib/watchtower
    """


@alerts_group.command("test")
@_CONFIG
def alerts_test(config_file: Path | None) -> None:
    """Send a test alert (kind `test`, severity info) straight to every configured sink, now.

    Bypasses the outbox and each sink's min_severity; prints one line per sink: its name, ok
    or FAILED and why (never a URL, secret or routing key). Exit status: 0 every sink accepted
    it, 1 a sink failed, 2 unusable input (no sink configured, a secret's variable unset).

    \b
    Examples:
      WATCHTOWER_WEBHOOK_SECRET=... watchtower alerts test --config watchtower.toml
      watchtower alerts test --config watchtower.toml || echo "a sink is broken"
    """
    from watchtower.alert import Alert, DeliveryError
    from watchtower.runner import build_sinks

    sinks, _ = build_sinks(_load(config_file))
    if not sinks:
        raise InputError("no alert sink is configured ([[alerts.webhook]], slack, pagerduty)")
    failed = 0
    for sink in sinks:
        fields = {"message": "a test alert from watchtower alerts test", "sink": sink.name}
        alert = Alert.create("test", fields, time.time())
        try:
            sink.send(alert)
        except DeliveryError as exc:
            failed += 1
            _out.print(f"{sink.name}: FAILED {exc.detail}", markup=False)
        except Exception as exc:  # a sink bug: say so, test the others
            failed += 1
            _out.print(f"{sink.name}: FAILED unexpected {type(exc).__name__}", markup=False)
        else:
            _out.print(f"{sink.name}: ok", markup=False)
    if failed:
        raise SystemExit(EXIT_SINK_FAILED)


_STATES = ("pending", "failed", "delivered", "silenced")


@alerts_group.command("list")
@_CONFIG
@_DATA_DIR
@click.option(
    "--state",
    type=click.Choice(_STATES),
    help="Only these rows (failed: undelivered rows whose last attempt failed).",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document (counts and rows).")
def alerts_list(
    config_file: Path | None,
    data_dir: Path | None,
    state: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Show the outbox: counts per state, then the newest rows (one per alert and sink).

    A row is pending until its sink accepts it; "failed" rows are pending rows whose last
    attempt failed (with the error and the next attempt's time).

    \b
    Examples:
      watchtower alerts list --data-dir /var/lib/watchtower
      watchtower alerts list --config watchtower.toml --state failed --json | jq .rows
    """
    from watchtower.alert import EntryState, Outbox
    from watchtower.alert.events import iso_utc

    with Outbox(_outbox_path(config_file, data_dir)) as outbox:
        counts = outbox.counts()
        if state == "failed":
            rows = [e for e in outbox.entries(EntryState.PENDING, 1_000_000) if e.last_error]
            rows = rows[:limit]
        else:
            rows = outbox.entries(EntryState(state) if state else None, limit)
        failed = sum(1 for e in outbox.entries(EntryState.PENDING, 1_000_000) if e.last_error)
    summary = {s.value: counts[s] for s in EntryState} | {"failed": failed}
    docs = [
        {
            "id": e.id,
            "sink": e.sink,
            "state": "failed" if e.state is EntryState.PENDING and e.last_error else e.state.value,
            "kind": e.alert.kind.value,
            "severity": e.alert.severity.value,
            "dedup_key": e.alert.dedup_key,
            "created_at": iso_utc(e.alert.created_at),
            "attempts": e.attempts,
            "last_error": e.last_error,
            "next_attempt_at": iso_utc(e.next_attempt_at)
            if e.state is EntryState.PENDING
            else None,
            "delivered_at": None if e.delivered_at is None else iso_utc(e.delivered_at),
            "note": e.note,
        }
        for e in rows
    ]
    if as_json:
        click.echo(json.dumps({"counts": summary, "rows": docs}, indent=1))
        return
    _out.print(" ".join(f"{name}={count}" for name, count in summary.items()), markup=False)
    for doc in docs:
        line = (
            f"{doc['id']:>6} {doc['state']:<9} {doc['sink']:<12} {doc['created_at']} "
            f"{doc['dedup_key']} attempts={doc['attempts']}"
        )
        if doc["last_error"]:
            line += f" error={doc['last_error']!r} next={doc['next_attempt_at']}"
        _out.print(line, markup=False)


@alerts_group.command("retry")
@_CONFIG
@_DATA_DIR
@click.option("--sink", help="Only this sink's rows (e.g. pagerduty-0).")
def alerts_retry(config_file: Path | None, data_dir: Path | None, sink: str | None) -> None:
    """Re-queue failed alerts: make every undelivered row that failed due now, whatever its
    backoff, so the running service's next delivery pass (within a second) tries it again.

    \b
    Examples:
      watchtower alerts retry --data-dir /var/lib/watchtower
      watchtower alerts retry --config watchtower.toml --sink pagerduty-0
    """
    from watchtower.alert import Outbox

    with Outbox(_outbox_path(config_file, data_dir)) as outbox:
        count = outbox.retry_failed(time.time(), sink)
    _out.print(f"re-queued {count} failed alert(s)", markup=False)
