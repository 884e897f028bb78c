"""`watchtower status` answers at a glance: no `None`/`-1` on an empty store, amounts in ETH (with
the wei), and a hint that names only what is missing to read the stakes owed on chain."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from watchtower.cli import main
from watchtower.cli.service import _eth
from watchtower.store.db import Store


def test_an_empty_store_says_nothing_was_scanned(tmp_path: Path) -> None:
    Store(tmp_path / "watchtower.sqlite").close()
    result = CliRunner().invoke(main, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "nothing scanned yet" in result.output
    assert "None" not in result.output and "-1" not in result.output
    assert "owed on chain: (pass --l1-rpc and --signer to read it)" in result.output
    assert "withdrawn: 0 ETH (0 wei)" in result.output


def test_amounts_are_exact_ether() -> None:
    assert _eth(2 * 10**18) == "2 ETH (2000000000000000000 wei)"
    assert _eth(1_500_000_000_000_000_001) == ("1.500000000000000001 ETH (1500000000000000001 wei)")
    assert _eth(10**9) == "0.000000001 ETH (1000000000 wei)"
