"""The ``[channels]`` section and ``service.guard``: parsed exactly, refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchtower.config import ConfigError, load_settings
from watchtower.runner import guards

ADDRESS = "0x" + "Ab" * 20


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "w.toml"
    path.write_text(text)
    return path


def test_the_default_guards_the_rollup_only() -> None:
    settings = load_settings(None, env={})
    assert settings["service.guard"] == ["rollup"]
    assert guards(settings) == (True, False)
    assert settings["channels.contracts"] == [] and settings["channels.min_reward_wei"] == 0


def test_contracts_from_a_file_and_from_the_environment(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        f'[service]\nguard = ["channels"]\n[channels]\ncontracts = [{{kind = "cheque", '
        f'address = "{ADDRESS}"}}]\nmin_reward_wei = "2 gwei"\nclaim_margin = 7200\n',
    )
    settings = load_settings(path, env={})
    assert settings["channels.contracts"] == [{"kind": "cheque", "address": ADDRESS.lower()}]
    assert settings["channels.min_reward_wei"] == 2 * 10**9
    assert guards(settings) == (False, True)
    env = {
        "WATCHTOWER_CHANNELS_CONTRACTS": f"state:{ADDRESS}, payment:{ADDRESS}",
        "WATCHTOWER_SERVICE_GUARD": "rollup,channels",
    }
    settings = load_settings(None, env=env)
    assert [c["kind"] for c in settings["channels.contracts"]] == ["state", "payment"]
    assert guards(settings) == (True, True)
    assert guards(load_settings(None, env={"WATCHTOWER_CHANNELS_ENABLED": "true"})) == (True, True)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[channels]\ncontracts = [{kind = "lightning", address = "0x00"}]\n', "kind 'lightning'"),
        ('[channels]\ncontracts = [{kind = "state", address = "0x12"}]\n', "20-byte address"),
        ('[channels]\ncontracts = [{kind = "state"}]\n', "expected {kind"),
        ("[channels]\nmin_reward_wei = 1.5\n", "floating-point"),
        ('[channels]\napi_listen = "nope"\n', "HOST:PORT"),
        ("[service]\nguard = []\n", "rollup, channels or both"),
        ('[service]\nguard = ["bridge"]\n', "expected one of rollup, channels"),
        ("[channels]\nenabled = 3\n", "true or false"),
        ("[channels]\nclaim_margin = 0\n", "at least 1"),
        ("[channels]\ncontract = []\n", "did you mean 'contracts'"),
    ],
)
def test_bad_channel_settings_are_refused_in_one_line(
    tmp_path: Path, text: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_file(tmp_path, text), env={})
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
