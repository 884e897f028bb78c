"""Configuration: file, environment and flags; refusals name the key; secrets stay hidden."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchtower.alert import Alert
from watchtower.cli import main
from watchtower.config import ConfigError, load_settings

GOOD = """
[l1]
rpc = ["https://mainnet.example.org/v3/SECRET-API-KEY", "http://127.0.0.1:8545"]
rollup = "0x1111111111111111111111111111111111111111"
confirmations = "safe"

[service]
mode = "watch"
data_dir = "/var/lib/watchtower"

[signer]
keystore = "/etc/watchtower/keystore.json"
password_file = "/run/secrets/password"

[metrics]
listen = "0.0.0.0:9108"

[alerts]
silence_kinds = ["low_balance"]

[[alerts.webhook]]
url = "https://hooks.example.org/services/T000/B000/XXXXSECRETXXXX"
secret_env = "WT_WEBHOOK_SECRET"

[[alerts.pagerduty]]
routing_key_env = "WT_PD_KEY"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watchtower.toml"
    path.write_text(text)
    return path


def test_file_values_and_defaults(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, GOOD), env={})
    assert settings["l1.confirmations"] == "safe"
    assert settings["service.mode"] == "watch"
    assert settings["l1.poll_interval"] == 4.0  # default
    assert settings.sources["l1.rpc"] == "file" and settings.sources["l1.chunk"] == "default"
    assert settings.sinks["webhook"][0]["secret_env"] == "WT_WEBHOOK_SECRET"
    assert settings.sinks["pagerduty"][0]["url"].startswith("https://events.pagerduty.com")


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    env = {"WATCHTOWER_L1_CONFIRMATIONS": "5", "WATCHTOWER_SERVICE_MODE": "challenge"}
    settings = load_settings(path, env=env, flags={"l1.confirmations": 7})
    assert settings["l1.confirmations"] == 7 and settings.sources["l1.confirmations"] == "flag"
    assert settings["service.mode"] == "challenge" and settings.sources["service.mode"] == "env"
    env_list = {"WATCHTOWER_L1_RPC": "http://a:1, http://b:2"}
    assert load_settings(None, env=env_list)["l1.rpc"] == ["http://a:1", "http://b:2"]
    # Other WATCHTOWER_* variables (secrets named by settings) are not settings.
    assert load_settings(None, env={"WATCHTOWER_KEY": "0xabc"})["signer.key_env"] is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[l1]\nrcp = ["http://x"]\n', "unknown key in [l1] 'rcp' (did you mean 'rpc'?)"),
        ("[servce]\nmode = 'watch'\n", "unknown section 'servce' (did you mean 'service'?)"),
        ('[l1]\nconfirmations = "soon"\n', "l1.confirmations = 'soon'"),
        ("[l1]\npoll_interval = -1\n", "l1.poll_interval = -1: must be positive"),
        ('[service]\nmode = "attack"\n', "expected one of watch, challenge"),
        ('[metrics]\nlisten = "9108"\n', "expected HOST:PORT"),
        ("[[alerts.webhook]]\nsecret_env = 'X'\n", "alerts.webhook[0] needs url"),
        ("[[alerts.slack]]\nurl_env = 'X'\nchannel = 'y'\n", "unknown key in [[alerts.slack]]"),
        ("[l1\n", "not valid TOML"),
    ],
)
def test_bad_files_are_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text), env={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_environment_variable_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="did you mean 'WATCHTOWER_L1_RPC'"):
        load_settings(None, env={"WATCHTOWER_L1_RCP": "http://x"})


def test_config_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["config", "check", "--config", str(_write(tmp_path, GOOD))])
    assert result.exit_code == 0, result.output
    assert "configuration is valid" in result.stderr
    tomllib.loads(result.stdout)  # the configuration, as TOML
    assert "SECRET-API-KEY" not in result.stdout and "XXXXSECRETXXXX" not in result.stdout
    assert "https://mainnet.example.org/<redacted>" in result.stdout
    result = runner.invoke(
        main, ["config", "check", "--json", "--config", str(_write(tmp_path, GOOD))],
        env={"WATCHTOWER_L1_CHUNK": "100"},
    )  # fmt: skip
    document = json.loads(result.stdout)
    assert document["config"]["l1"]["chunk"] == 100 and document["sources"]["l1.chunk"] == "env"
    bad = runner.invoke(main, ["config", "check", "--config", str(_write(tmp_path, "[l1]\nx=1\n"))])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, 1),
        (10**18, 10**18),
        ("1500000000000000000", 1_500_000_000_000_000_000),
        (" 42 ", 42),
        ("1.5 ether", 1_500_000_000_000_000_000),
        ("2 gwei", 2_000_000_000),
        ("7 wei", 7),
        ("0.000000001 gwei", 1),
        ("1 Ether", 10**18),
    ],
)
def test_wei_amounts_that_are_exact_are_accepted(raw: object, expected: int) -> None:
    from watchtower.config import wei

    assert wei(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [1.5, 1e18, 1.0, True, False, -1, "-1", "1.5", "1e18", "0x10", "1_000", "0.5 wei",
     "1.5ether", "1 eth", ".5 ether", "1. ether", "", "１２", 2**256, [1], None],
)  # fmt: skip
def test_wei_amounts_that_are_not_exact_are_refused(raw: object) -> None:
    from watchtower.config import wei

    with pytest.raises(ValueError):
        wei(raw)


def test_stake_wei_from_file_environment_and_flag(tmp_path: Path) -> None:
    """TOML integer, quoted digits, unit form; a TOML float names the setting and the value."""
    path = _write(tmp_path, "[challenge]\nstake_wei = 1_500_000_000_000_000_000\n")
    assert load_settings(path, env={})["challenge.stake_wei"] == 1_500_000_000_000_000_000
    path = _write(tmp_path, '[challenge]\nstake_wei = "2 ether"\n')
    assert load_settings(path, env={})["challenge.stake_wei"] == 2 * 10**18
    env = {"WATCHTOWER_CHALLENGE_STAKE_WEI": "3000000000000000000"}
    assert load_settings(None, env=env)["challenge.stake_wei"] == 3 * 10**18
    flags = {"challenge.stake_wei": "1.25 ether"}
    assert load_settings(None, env={}, flags=flags)["challenge.stake_wei"] == 1_250 * 10**15
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, "[challenge]\nstake_wei = 1.5\n"), env={})
    assert "challenge.stake_wei = 1.5: a floating-point number" in str(info.value)
    with pytest.raises(ConfigError, match=r"--stake: challenge.stake_wei = '1.5'"):
        load_settings(None, env={}, flags={"challenge.stake_wei": "1.5"},
                      flag_names={"challenge.stake_wei": "--stake"})  # fmt: skip


def test_every_wei_setting_is_exact() -> None:
    """Guards the schema: any setting named *_wei (or a stake, a fee cap, an amount) takes the
    exact converter, so a float is refused rather than truncated."""
    from watchtower.config import SCHEMA

    amounts = [
        (section, key)
        for section, settings in SCHEMA.items()
        for key in settings
        if key.endswith("_wei") or any(w in key for w in ("stake", "fee_cap", "amount", "bond"))
    ]
    assert ("challenge", "stake_wei") in amounts
    for section, key in amounts:
        convert = SCHEMA[section][key].convert
        assert convert("2 gwei") == 2 * 10**9, key
        for bad in (1.5, 1e18, True, -1, "1.5"):
            with pytest.raises(ValueError):
                convert(bad)


def test_sink_min_severity_timeout_and_pagerduty_eu_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchtower.alert import Severity
    from watchtower.runner import build_alerter

    text = GOOD.replace(
        'routing_key_env = "WT_PD_KEY"\n',
        'routing_key_env = "WT_PD_KEY"\nurl = "https://events.eu.pagerduty.com/v2/enqueue"\n'
        'min_severity = "critical"\ntimeout = 12.5\n',
    )
    settings = load_settings(_write(tmp_path, text), env={})
    (pd,) = settings.sinks["pagerduty"]
    assert (pd["url"], pd["min_severity"], pd["timeout"]) == (
        "https://events.eu.pagerduty.com/v2/enqueue",
        "critical",
        12.5,
    )
    assert settings.sinks["webhook"][0]["min_severity"] == "info"  # the default: everything
    monkeypatch.setenv("WT_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("WT_PD_KEY", "routing-key")
    with build_alerter(settings, tmp_path) as alerter:
        assert alerter.min_severity == {
            "webhook-0": Severity.INFO,
            "pagerduty-0": Severity.CRITICAL,
        }
        stalled = Alert.create("stalled", {"episode": 1}, 0.0)
        fraud = Alert.create("fraud_detected", {"batch": 1}, 0.0)
        assert alerter.routes(stalled) == ["webhook-0"]
        assert alerter.routes(fraud) == ["webhook-0", "pagerduty-0"]
        assert [s.timeout for s in alerter.sinks] == [5.0, 12.5]  # type: ignore[attr-defined]
    bad = text.replace('min_severity = "critical"', 'min_severity = "urgent"')
    with pytest.raises(ConfigError, match="min_severity"):
        load_settings(_write(tmp_path, bad), env={})


def test_a_misspelled_silenced_kind_is_refused_not_ignored(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[alerts]\nsilence_kinds = ["fraud_detect"]\n')
    with pytest.raises(ConfigError, match="unknown alert kind 'fraud_detect'; known kinds: fraud_"):
        load_settings(config, env={})
    config.write_text('[alerts]\nsilence_kinds = ["fraud_detected", "stalled"]\n')
    assert load_settings(config, env={})["alerts.silence_kinds"] == ["fraud_detected", "stalled"]


def test_a_variable_a_setting_names_is_a_secret_not_a_setting() -> None:
    env = {"WATCHTOWER_SIGNER_KEY": "0x" + "11" * 32}
    with pytest.raises(ConfigError, match="unknown environment variable 'WATCHTOWER_SIGNER_KEY'"):
        load_settings(None, env=env)  # named by nothing: a misspelled setting
    by_flag = load_settings(None, env=env, flags={"signer.key_env": "WATCHTOWER_SIGNER_KEY"})
    assert by_flag["signer.key_env"] == "WATCHTOWER_SIGNER_KEY"
    by_env = load_settings(None, env={**env, "WATCHTOWER_SIGNER_KEY_ENV": "WATCHTOWER_SIGNER_KEY"})
    assert by_env["signer.key_env"] == "WATCHTOWER_SIGNER_KEY"
