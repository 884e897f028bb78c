"""``config check``: real TOML output, and ``--strict`` finding what the configuration names but
is missing or unusable (issue 14)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from watchtower.cli import main
from watchtower.config import load_settings
from watchtower.preflight import ContractFacts, strict_problems, to_toml

GENESIS = {"0x" + "11" * 20: {"balance": "0xde0b6b3a7640000"}}  # 1 ether


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    key = Account.create()
    keystore = _write(
        tmp_path / "key.json", json.dumps(Account.encrypt(key.key, "pw", iterations=2))
    )
    return {
        "genesis": _write(tmp_path / "genesis.json", json.dumps(GENESIS)),
        "keystore": keystore,
        "password": _write(tmp_path / "password", "pw\n"),
        "wrong_password": _write(tmp_path / "wrong", "nope\n"),
        "data": tmp_path / "data",
    }


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "watchtower.toml"
    path.write_text(body)
    return path


def _good(files: dict[str, Path], signer: str | None = None) -> str:
    signer = signer or (
        f'keystore = "{files["keystore"]}"\npassword_file = "{files["password"]}"\n'
    )
    return (
        '[l1]\nrpc = ["http://127.0.0.1:8545"]\n'
        'rollup = "0x5FbDB2315678afecb367f032d93F642f64180aa3"\n'
        f'[service]\nmode = "challenge"\ngenesis = "{files["genesis"]}"\n'
        f'data_dir = "{files["data"]}"\n'
        f"[signer]\n{signer}"
        '[[alerts.webhook]]\nurl = "https://hooks.example/t0k3n"\nsecret_env = "WT_HOOK_SECRET"\n'
    )


def _settings(path: Path) -> object:
    return load_settings(path, env={})


def test_the_output_is_toml_that_reads_back_to_the_same_settings(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    settings = load_settings(_config(tmp_path, _good(files)), env={})
    text = to_toml(settings.redacted(), settings.sources)
    parsed = tomllib.loads(text)
    expected = {
        section: {k: v for k, v in table.items() if v is not None}
        for section, table in settings.redacted().items()
    }
    assert parsed == expected
    assert parsed["alerts"]["webhook"][0]["url"] == "https://hooks.example/<redacted>"
    assert "# stake_wei is not set" in text  # TOML has no null: an unset value is a comment


def test_strict_passes_a_usable_configuration(
    tmp_path: Path, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WT_HOOK_SECRET", "s3cret")
    settings = load_settings(_config(tmp_path, _good(files)), env={})
    assert strict_problems(settings, os.environ) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("missing genesis", "service.genesis"),
        ("missing keystore", "signer.keystore"),
        ("wrong password", "cannot decrypt"),
        ("unset secret", "$WT_HOOK_SECRET"),
        ("unset key variable", "$WT_NO_SUCH_KEY"),
        ("unset password variable", "$WT_NO_SUCH_PASSWORD"),
    ],
)
def test_strict_names_each_missing_or_unusable_thing(
    tmp_path: Path,
    files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    change: str,
    expected: str,
) -> None:
    monkeypatch.setenv("WT_HOOK_SECRET", "s3cret")
    body = _good(files)
    if change == "missing genesis":
        files["genesis"].unlink()
    elif change == "missing keystore":
        files["keystore"].unlink()
    elif change == "wrong password":
        body = _good(
            files,
            f'keystore = "{files["keystore"]}"\npassword_file = "{files["wrong_password"]}"\n',
        )
    elif change == "unset secret":
        monkeypatch.delenv("WT_HOOK_SECRET")
    elif change == "unset key variable":
        body = _good(files, 'key_env = "WT_NO_SUCH_KEY"\n')
    elif change == "unset password variable":
        body = _good(
            files, f'keystore = "{files["keystore"]}"\npassword_env = "WT_NO_SUCH_PASSWORD"\n'
        )
    settings = load_settings(_config(tmp_path, body), env={})
    problems = strict_problems(settings, os.environ)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_strict_checks_the_genesis_against_the_contract(
    tmp_path: Path, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WT_HOOK_SECRET", "s3cret")
    settings = load_settings(_config(tmp_path, _good(files)), env={})

    def genesis(_path: Path) -> tuple[bytes, int]:
        return b"\x01" * 32, 10**18

    same = ContractFacts(b"\x01" * 32, 10**18)
    assert strict_problems(settings, os.environ, genesis=genesis, contract=same) == []
    other_root = strict_problems(
        settings, os.environ, genesis=genesis, contract=ContractFacts(b"\x02" * 32, 10**18)
    )
    assert len(other_root) == 1 and "another rollup's genesis" in other_root[0]
    unbacked = strict_problems(
        settings, os.environ, genesis=genesis, contract=ContractFacts(b"\x01" * 32, 0)
    )
    assert len(unbacked) == 1 and "not backed" in unbacked[0]


def test_the_command_exits_2_with_one_line_per_problem_and_prints_toml(
    tmp_path: Path, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WT_HOOK_SECRET", raising=False)
    files["keystore"].unlink()
    config = _config(tmp_path, _good(files))
    result = CliRunner().invoke(main, ["config", "check", "--config", str(config), "--strict"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "Traceback" not in result.output
    tomllib.loads(result.stdout)  # still the configuration, as TOML
    loose = CliRunner().invoke(main, ["config", "check", "--config", str(config)])
    assert loose.exit_code == 0 and "configuration is valid" in loose.stderr
