"""Every command teaches by example: its --help has an Examples section (runtime commands and
the development commands the watchtower-dev package adds)."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from watchtower.cli import main


def _commands(group: click.Group, ctx: click.Context, path: list[str]) -> Iterator[list[str]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, [*path, name])
        else:
            yield [*path, name]


def test_every_command_has_examples_in_its_help() -> None:
    ctx = click.Context(main)
    paths = list(_commands(main, ctx, []))
    names = {" ".join(p) for p in paths}
    assert {"run", "replay", "prove", "check-proof", "status", "withdraw", "challenge"} <= names
    assert {"devnet", "propose", "demo", "gen-fixtures"} <= names  # from watchtower-dev
    assert {"deposit", "l2-withdraw", "claim"} <= names  # watchtower-dev: the bridge's users
    assert {"bond", "mine"} <= names  # watchtower-dev: a devnet operator's
    assert {"channel-devnet", "channel-demo"} <= names  # watchtower-dev: the channel tools
    assert {"channel open", "channel pay", "channel close", "channel settle"} <= names
    assert {"payment-channel open", "payment-channel reclaim", "chequebook withdraw"} <= names
    missing = []
    for path in paths:
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        if "Examples:" not in result.output:
            missing.append(" ".join(path))
    assert missing == []
