"""``watchtower channels``: hand a monitoring request to a guardian, list what a guardian holds."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from watchtower.cli import main
from watchtower.errors import InputError, UnavailableError


@main.group("channels")
def channels_group() -> None:
    """The channel guardian (docs/channels.md): monitoring requests and guarded channels.

    \b
    Examples:
      watchtower channels submit request.json --url http://127.0.0.1:9110 --token-env GUARD_TOKEN
      watchtower channels list --data-dir /var/lib/watchtower --json
      watchtower channels status --data-dir /var/lib/watchtower
    """


@channels_group.command("submit")
@click.argument("request_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--url", required=True, help="The guardian's intake API (channels.api_listen).")
@click.option(
    "--token-env", required=True, help="Environment variable holding the API's bearer token."
)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds.")
def submit(request_file: Path, url: str, token_env: str, timeout: float) -> None:
    """POST a monitoring request (JSON, docs/channels.md §5) to a guardian; print its receipt.

    Exit status 0: accepted (the receipt on stdout, JSON); 2: refused (its reason, one line);
    69: the guardian could not be reached.

    \b
    Examples:
      watchtower channels submit request.json --url http://127.0.0.1:9110 --token-env GUARD_TOKEN
    """
    from watchtower.config import http_url

    try:
        base = http_url(url)
    except ValueError as exc:
        raise InputError(f"--url {url}: {exc}") from None
    token = os.environ.get(token_env)
    if not token:
        raise InputError(f"--token-env: environment variable ${token_env} is not set")
    try:
        body = request_file.read_bytes()
    except OSError as exc:
        raise InputError(f"{request_file}: cannot read ({exc.strerror or exc})") from None
    request = urllib.request.Request(  # noqa: S310 (an http(s) URL, checked above)
        base.rstrip("/") + "/v1/requests",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            click.echo(json.dumps(json.loads(answer.read()), indent=2))
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        raise InputError(f"refused ({exc.code}): {reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UnavailableError(f"{base}: {getattr(exc, 'reason', exc)}") from None


def _rows(data_dir: Path) -> list[dict[str, Any]]:
    from watchtower.channels.api import channel_list
    from watchtower.channels.store import ChannelStore
    from watchtower.store.db import Store

    path = data_dir / "watchtower.sqlite"
    if not path.is_file():
        raise InputError(f"{data_dir} holds no store (watchtower.sqlite)")
    with Store(path) as store:
        return channel_list(ChannelStore(store))


_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The guardian's data directory (service.data_dir).",
)


@channels_group.command("list")
@_DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def list_channels(data_dir: Path, as_json: bool) -> None:
    """The channels and cheques a guardian holds requests for (no signatures).

    \b
    Examples:
      watchtower channels list --data-dir /var/lib/watchtower
      watchtower channels list --data-dir /var/lib/watchtower --json
    """
    rows = _rows(data_dir)
    if as_json:
        click.echo(json.dumps({"channels": rows}, indent=2))
        return
    if not rows:
        click.echo("no guarded channels")
        return
    for row in rows:
        click.echo(
            f"{row['kind']:8} {row['contract']} channel {row['channel']} "
            f"sequence {row['sequence']} reward {row['reward_wei']} wei"
        )


@channels_group.command("status")
@_DATA_DIR
def status(data_dir: Path) -> None:
    """Guarded channels with their actions, states and deadlines.

    \b
    Examples:
      watchtower channels status --data-dir /var/lib/watchtower
    """
    rows = _rows(data_dir)
    if not rows:
        click.echo("no guarded channels")
        return
    now = int(time.time())
    for row in rows:
        click.echo(
            f"{row['kind']} {row['contract']} channel {row['channel']} "
            f"sequence {row['sequence']} reward {row['reward_wei']} wei"
        )
        for action in row["actions"]:
            deadline = action["deadline"]
            left = "" if deadline is None else f", deadline {deadline} ({deadline - now:+d}s)"
            click.echo(f"  {action['action']}: {action['state']}{left} {action['detail']}")
