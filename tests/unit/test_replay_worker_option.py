"""``replay.worker`` and ``--worker/--no-worker``, ``replay.root_worker`` and
``--root-worker/--no-root-worker``: the settings read like every other one (file, environment,
one-line errors, shown by ``config show``), and the commands decide the same with and without
the workers."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES
from watchtower import defaults
from watchtower.cli import main
from watchtower.cli.replay import ROOT_WORKER_MIN_STEPS, open_root_worker
from watchtower.config import ConfigError, load_settings
from watchtower.rollup.bundle import load_bundle


def test_the_default_is_on_with_more_than_one_cpu() -> None:
    assert defaults.REPLAY_WORKER is ((os.cpu_count() or 1) > 1)
    assert load_settings(env={})["replay.worker"] is defaults.REPLAY_WORKER


def test_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "w.toml"
    config.write_text("[replay]\nworker = false\n")
    assert load_settings(config, env={})["replay.worker"] is False
    on = {"WATCHTOWER_REPLAY_WORKER": "on"}
    assert load_settings(config, env=on)["replay.worker"] is True  # environment over file


@pytest.mark.parametrize("raw", ['"maybe"', "2", "[true]"])
def test_a_bad_value_is_one_line_naming_the_key(tmp_path: Path, raw: str) -> None:
    config = tmp_path / "w.toml"
    config.write_text(f"[replay]\nworker = {raw}\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config, env={})
    message = str(error.value)
    assert "replay.worker" in message and "expected true or false" in message
    assert "\n" not in message


def test_config_check_shows_it(tmp_path: Path) -> None:
    config = tmp_path / "w.toml"
    config.write_text("[replay]\nworker = false\n")
    shown = CliRunner().invoke(main, ["config", "check", "--config", str(config)], env={})
    assert shown.exit_code == 0, shown.output
    assert tomllib.loads(shown.stdout)["replay"] == {
        "worker": False,
        "root_worker": defaults.REPLAY_ROOT_WORKER,
    }
    as_json = CliRunner().invoke(main, ["config", "check", "--json"], env={})
    assert json.loads(as_json.stdout)["config"]["replay"]["worker"] is defaults.REPLAY_WORKER
    bad = CliRunner().invoke(main, ["config", "check"], env={"WATCHTOWER_REPLAY_WORKER": "x"})
    assert bad.exit_code == 2
    assert "$WATCHTOWER_REPLAY_WORKER: replay.worker = 'x': expected true or false" in bad.output


@pytest.mark.parametrize("command", [["replay"], ["prove", "--batch", "1"]])
@pytest.mark.parametrize("name", ["fraud-wrong-root.json", "invalid-kinds.json"])
def test_the_commands_say_the_same_with_and_without_the_workers(
    command: list[str], name: str
) -> None:
    bundle = load_bundle(FIXTURES / name)
    fraud = name.startswith("fraud")
    results = []
    for flags in (
        ["--worker", "--root-worker"],
        ["--no-worker", "--root-worker"],
        ["--worker", "--no-root-worker"],
        ["--no-worker", "--no-root-worker"],
    ):
        argv = [*command, str(FIXTURES / name), "--json", *flags]
        if command[0] == "prove" and not fraud:  # the last: every batch before it replayed
            argv[2] = str(len(bundle.batches) - 1)
        result = CliRunner().invoke(main, argv)
        if command == ["replay"]:
            assert result.exit_code == (1 if fraud else 0), result.output
        assert result.exit_code != 2, result.output
        assert "root_worker_fallback" not in result.stderr, result.stderr
        document = json.loads(result.stdout)
        for timing in ("seconds", "genesis_seconds", "steps_per_second"):
            document.pop(timing, None)
        results.append(document)
    assert all(r == results[0] for r in results[1:]), results


def test_the_help_says_what_the_worker_does_and_its_default() -> None:
    for command in ("replay", "prove"):
        text = CliRunner().invoke(main, [command, "--help"]).output
        assert "--worker / --no-worker" in text
        assert "recover their senders in a second process" in " ".join(text.split())
        assert "on with 2+ CPUs" in " ".join(text.split())
        assert "--root-worker / --no-root-worker" in text
        assert "state root after every step in another process" in " ".join(text.split())
        assert "10,000 steps or more to replay" in " ".join(text.split())


def test_without_the_option_the_root_worker_is_for_large_bundles() -> None:
    """It takes ~0.5 s to start: by default only with ROOT_WORKER_MIN_STEPS steps to replay."""
    with open_root_worker(None, 43) as roots:
        assert roots is None
    with open_root_worker(None, ROOT_WORKER_MIN_STEPS) as roots:
        assert (roots is not None) is defaults.REPLAY_ROOT_WORKER
    with open_root_worker(True, 1) as roots:
        assert roots is not None
    with open_root_worker(False, 10**6) as roots:
        assert roots is None


def test_the_root_worker_default_and_environment(tmp_path: Path) -> None:
    assert defaults.REPLAY_ROOT_WORKER is ((os.cpu_count() or 1) > 1)
    assert load_settings(env={})["replay.root_worker"] is defaults.REPLAY_ROOT_WORKER
    config = tmp_path / "w.toml"
    config.write_text("[replay]\nroot_worker = false\n")
    assert load_settings(config, env={})["replay.root_worker"] is False
    on = {"WATCHTOWER_REPLAY_ROOT_WORKER": "true"}
    assert load_settings(config, env=on)["replay.root_worker"] is True


@pytest.mark.parametrize("raw", ['"maybe"', "2", "[true]"])
def test_a_bad_root_worker_value_is_one_line(tmp_path: Path, raw: str) -> None:
    config = tmp_path / "w.toml"
    config.write_text(f"[replay]\nroot_worker = {raw}\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config, env={})
    message = str(error.value)
    assert "replay.root_worker" in message and "expected true or false" in message
    assert "\n" not in message
    env = {"WATCHTOWER_REPLAY_ROOT_WORKER": "x"}
    bad = CliRunner().invoke(main, ["config", "check"], env=env)
    assert bad.exit_code == 2
    assert bad.output.strip().count("\n") == 0, bad.output
    assert "replay.root_worker = 'x': expected true or false" in bad.output
