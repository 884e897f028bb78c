"""Runtime vs development: the import-layering contracts hold, the runtime distribution ships
only ``watchtower``, and development commands reach the CLI through entry points only."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from setuptools import find_namespace_packages

from watchtower.cli import COMMANDS_GROUP, load_commands, main

REPO = Path(__file__).resolve().parents[2]
DEV_COMMANDS = (
    "devnet",
    "propose",
    "demo",
    "gen-fixtures",
    "deposit",
    "l2-withdraw",
    "claim",
    "bond",
    "mine",
    # the channel tools (dev/watchtower_dev/channel_cli.py, payment_channel_cli.py,
    # chequebook_cli.py, channel_devnet_cli.py)
    "channel-devnet",
    "channel",
    "payment-channel",
    "chequebook",
    "channel-demo",
)


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(binary), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_contracts_are_kept() -> None:
    """The contracts of [tool.importlinter] (also run by `make lint`)."""
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_violation_breaks_the_contract(tmp_path: Path) -> None:
    """The same kind of contract on a package of our own: a core importing sqlite3 is refused."""
    package = tmp_path / "layered"
    (package / "core").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("import sqlite3  # noqa\n")
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["layered"]
            include_external_packages = true

            [[tool.importlinter.contracts]]
            name = "core does no I/O"
            type = "forbidden"
            source_modules = ["layered.core"]
            forbidden_modules = ["sqlite3"]
            """
        )
    )
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "layered.core -> sqlite3" in result.stdout


def test_the_runtime_distribution_is_watchtower_only() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(
        where=str(REPO), include=find["include"], exclude=find.get("exclude", ())
    )
    assert "watchtower" in packages and "watchtower.execute" in packages
    assert all(p == "watchtower" or p.startswith("watchtower.") for p in packages), packages
    assert not any(p.startswith("watchtower_dev") for p in packages)
    runtime = [d.lower() for d in config["project"]["dependencies"]]
    assert not any(d.startswith("eth-tester") for d in runtime)
    dev = tomllib.loads((REPO / "dev" / "pyproject.toml").read_text())
    assert any(d.startswith("eth-tester") for d in dev["project"]["dependencies"])
    assert set(dev["project"]["entry-points"][COMMANDS_GROUP]) == set(DEV_COMMANDS)


def test_importing_all_of_the_runtime_loads_no_development_code() -> None:
    """Dynamically too: every module of watchtower imported, no eth_tester, no watchtower_dev."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import watchtower
        for info in pkgutil.walk_packages(watchtower.__path__, "watchtower."):
            if info.name != "watchtower.__main__":
                importlib.import_module(info.name)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("eth_tester", "watchtower_dev")))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


def test_development_commands_come_from_the_entry_points() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in DEV_COMMANDS:
        assert name in result.stdout
    assert CliRunner().invoke(main, ["demo", "--help"]).exit_code == 0


def _group() -> click.Group:
    group = click.Group("watchtower")

    @group.command()
    def replay() -> None:
        click.echo("replayed")

    return group


def test_a_broken_plugin_costs_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    group = _group()
    found = [
        EntryPoint("missing", "watchtower_dev.no_such_module:cmd", COMMANDS_GROUP),
        EntryPoint("raising", "watchtower.cli:no_such_attribute", COMMANDS_GROUP),
        EntryPoint("notacommand", "watchtower.cli:COMMANDS_GROUP", COMMANDS_GROUP),
        # A clash: ours wins.
        EntryPoint("replay", "watchtower_dev.devnet_cli:demo", COMMANDS_GROUP),
        EntryPoint("demo", "watchtower_dev.devnet_cli:demo", COMMANDS_GROUP),
    ]
    assert load_commands(group, found) == ["demo"]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4, lines
    assert "'missing' unavailable" in lines[0] and "ModuleNotFoundError" in lines[0]
    assert "'raising' unavailable" in lines[1] and "AttributeError" in lines[1]
    assert "not a command" in lines[2]
    assert "'replay'" in lines[3] and "ignored" in lines[3]
    # The group's own commands still work.
    result = CliRunner().invoke(group, ["replay"])
    assert result.exit_code == 0 and "replayed" in result.stdout


def test_revert_errors_of_in_process_chains_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime knows a node's revert only; watchtower_dev registers eth-tester's."""
    from watchtower.l1 import rollup

    monkeypatch.setattr(rollup, "REVERTS", rollup.REVERTS)  # restored after the test

    class ChainRevertError(Exception):
        pass

    assert ChainRevertError not in rollup.reverts()
    rollup.register_revert_error(ChainRevertError)
    rollup.register_revert_error(ChainRevertError)  # once only
    assert rollup.reverts().count(ChainRevertError) == 1
    assert rollup.reverts(OSError)[-1] is OSError
    try:
        raise ChainRevertError("execution reverted: no fraud")
    except rollup.reverts() as exc:
        assert rollup._reason(exc).endswith("no fraud")


def test_the_embedded_chain_registers_eth_testers_revert() -> None:
    from eth_tester.exceptions import TransactionFailed

    from watchtower.l1.rollup import reverts
    from watchtower_dev.chain import embedded_web3

    embedded_web3()
    assert TransactionFailed in reverts()
