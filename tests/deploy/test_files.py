"""Every deploy file parses; the Dockerfile, example config and systemd unit have what they need."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.deploy.conftest import (
    CONFIG_SECTIONS,
    DEPLOY,
    ROOT,
    example_config,
    listen_port,
    load_yaml_all,
)

YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
DOCKERFILE = DEPLOY / "Dockerfile"
UNIT = DEPLOY / "systemd" / "watchtower.service"


def test_deploy_tree_has_every_piece() -> None:
    for relative in (
        "Dockerfile",
        "Dockerfile.dockerignore",
        "docker-compose.yml",
        "config/watchtower.toml",
        "prometheus/prometheus.yml",
        "prometheus/alerts.yml",
        "prometheus/alerts.test.yml",
        "alertmanager/alertmanager.yml",
        "grafana/dashboards/watchtower.json",
        "systemd/watchtower.service",
        "kubernetes/statefulset.yaml",
    ):
        assert (DEPLOY / relative).is_file(), relative
    assert list((DEPLOY / "grafana/provisioning/datasources").glob("*.yml"))
    assert list((DEPLOY / "grafana/provisioning/dashboards").glob("*.yml"))
    assert len(YAML_FILES) >= 15


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    documents = load_yaml_all(path)
    assert documents, f"{path} is empty"
    assert all(isinstance(document, dict) and document for document in documents)


def test_dashboard_json_parses() -> None:
    dashboard = json.loads((DEPLOY / "grafana/dashboards/watchtower.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]


# -- Dockerfile --------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def _arg_defaults() -> dict[str, str]:
    defaults = {}
    for word, rest in _instructions():
        if word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            defaults[name] = value.strip('"')
    return defaults


def _base_images() -> list[str]:
    defaults, stages, images = _arg_defaults(), set(), []
    for word, rest in _instructions():
        if word != "FROM":
            continue
        parts = rest.split()
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), parts[0])
        if image not in stages:
            images.append(image)
        if len(parts) == 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
    return images


def test_dockerfile_base_image_is_pinned_to_an_exact_python_311_patch() -> None:
    images = _base_images()
    assert images
    for image in images:
        assert "$" not in image, f"unresolved base image {image}"
        name, _, tag = image.partition(":")
        assert tag and tag != "latest" and "latest" not in tag, image
        assert name == "python", image
        assert re.fullmatch(r"3\.11\.\d+-slim-bookworm", tag), f"{image}: not an exact patch tag"


def test_dockerfile_is_multi_stage_and_runs_as_non_root() -> None:
    instructions = _instructions()
    assert sum(word == "FROM" for word, _ in instructions) >= 2
    users = [rest for word, rest in instructions if word == "USER"]
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == "10001"
    assert any(word == "WORKDIR" for word, _ in instructions)
    # The runtime stage must not carry a compiler: gcc only ever appears in the build stage.
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    assert not any("gcc" in rest for _, rest in instructions[last_from:])


def test_dockerfile_ports_volume_healthcheck_entrypoint_match_the_config() -> None:
    instructions = dict(_instructions())  # last of each kind
    config = example_config()
    port = listen_port(config)
    exposed = {int(p.split("/")[0]) for w, r in _instructions() if w == "EXPOSE" for p in r.split()}
    assert port in exposed
    assert json.loads(instructions["VOLUME"]) == [config["service"]["data_dir"]]
    healthcheck = instructions["HEALTHCHECK"]
    assert "urllib.request" in healthcheck
    assert f"http://127.0.0.1:{port}/healthz" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck
    assert json.loads(instructions["ENTRYPOINT"]) == ["watchtower"]
    assert json.loads(instructions["CMD"]) == ["run", "--config", "/etc/watchtower/watchtower.toml"]


def _dockerignore_allows(relative: str) -> bool:
    """Docker's rule: the last matching pattern wins (enough of it for our allow-list)."""
    allowed = True
    for raw in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/").removeprefix("**/")
        parts = relative.split("/")
        matched = pattern == "*" or any(
            Path("/".join(parts[: i + 1])).match(pattern) for i in range(len(parts))
        )
        if matched:
            allowed = negate
    return allowed


def test_dockerfile_copy_sources_exist_and_are_in_the_build_context() -> None:
    sources = []
    for word, rest in _instructions():
        if word == "COPY" and "--from" not in rest:
            sources.extend(rest.split()[:-1])
    assert {"pyproject.toml", "constraints.txt", "watchtower"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert _dockerignore_allows(source), f"COPY {source}: excluded by the .dockerignore"
    for excluded in (".git", ".venv", "node_modules", "deploy/secrets/keystore.json", "tests"):
        assert not _dockerignore_allows(excluded), f"{excluded} would be sent to the daemon"
    # pyproject.toml names the readme: the build needs it.
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("readme")
    if readme:
        assert readme in sources


# -- example configuration ----------------------------------------------------------------------


def test_example_config_has_every_section_and_key() -> None:
    config = example_config()
    assert set(CONFIG_SECTIONS) <= set(config)
    l1 = config["l1"]
    assert isinstance(l1["rpc"], list) and l1["rpc"]
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", l1["rollup"])
    assert isinstance(l1["confirmations"], int) or l1["confirmations"] in ("safe", "finalized")
    for key in ("poll_interval", "chunk"):
        assert key in l1
    assert "start_block" not in l1  # found: the deployment block (documented in a comment)
    assert config["service"]["mode"] in ("challenge", "watch")
    assert config["service"]["data_dir"] == "/var/lib/watchtower"
    signer = config["signer"]
    assert "key_env" in signer or ("keystore" in signer and "password_file" in signer)
    assert config["log"]["format"] in ("json", "console")
    assert listen_port(config) == 9108
    assert config["alerts"]["silence_kinds"] == []


def test_example_config_loads_with_the_service_loader() -> None:
    """Cross-check against the package's own loader (a renamed loader fails here, not skips)."""
    from watchtower.config import load_settings

    settings = load_settings(DEPLOY / "config" / "watchtower.toml", env={})
    assert settings["metrics.listen"] == "0.0.0.0:9108"
    assert settings["service.data_dir"] == "/var/lib/watchtower"


# -- systemd ------------------------------------------------------------------------------------


def _unit() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{line!r} before any section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit_is_hardened() -> None:
    service = _unit()["Service"]
    one = {key: values[-1] for key, values in service.items()}
    assert one.get("DynamicUser") == "yes" or one.get("User") not in (None, "root", "0")
    assert one["StateDirectory"] == "watchtower"
    assert one["NoNewPrivileges"] == "yes"
    assert one["ProtectSystem"] == "strict"
    assert "/var/lib/watchtower" in one["ReadWritePaths"].split()
    assert one["Restart"] == "on-failure"
    assert one["KillSignal"] == "SIGTERM"
    assert int(one["TimeoutStopSec"]) >= 60
    for key in (
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "RestrictSUIDSGID",
        "LockPersonality",
        "RestrictRealtime",
    ):
        assert one.get(key) == "yes", key
    assert one["CapabilityBoundingSet"] == ""
    assert "AF_INET" in one["RestrictAddressFamilies"]
    assert one["UMask"] == "0077"


def test_exit_statuses_agree_with_the_supervisors() -> None:
    """`run` exits 2 on unusable configuration (not restarted by systemd) and 75 when the L1
    nodes stayed down at start-up (restarted); Kubernetes' startupProbe waits longer than the
    start-up retries, so the service's own exit 75 comes first."""
    from watchtower import defaults
    from watchtower.cli import EXIT_INPUT, EXIT_TEMPFAIL
    from watchtower.config import load_settings

    service = _unit()["Service"]
    prevent = " ".join(service.get("RestartPreventExitStatus", [])).split()
    assert str(EXIT_INPUT) in prevent and str(EXIT_TEMPFAIL) not in prevent
    assert service["Restart"][-1] in ("on-failure", "always")
    unit = _unit()["Unit"]
    burst, interval = int(unit["StartLimitBurst"][-1]), int(unit["StartLimitIntervalSec"][-1])
    settings = load_settings(DEPLOY / "config" / "watchtower.toml", env={})
    timeout = settings["l1.startup_timeout"]
    assert timeout == defaults.STARTUP_TIMEOUT
    assert burst * timeout > interval  # an L1 outage never exhausts systemd's start limit

    statefulset = next(
        d
        for d in load_yaml_all(DEPLOY / "kubernetes" / "statefulset.yaml")
        if d and d.get("kind") == "StatefulSet"
    )
    (container,) = [
        c
        for c in statefulset["spec"]["template"]["spec"]["containers"]
        if c["name"] == "watchtower"
    ]
    probe = container["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] > timeout
    assert statefulset["spec"]["template"]["spec"].get("restartPolicy", "Always") == "Always"


def test_systemd_unit_runs_the_venv_with_credentials() -> None:
    service = _unit()["Service"]
    exec_start = service["ExecStart"][-1].split()
    assert exec_start[:4] == [
        "/opt/watchtower/venv/bin/watchtower",
        "run",
        "--config",
        "/etc/watchtower/watchtower.toml",
    ]
    credentials = dict(value.split(":", 1) for value in service["LoadCredential"])
    # Every credential the command line names is loaded, and the password is among them.
    named = {arg.removeprefix("%d/") for arg in exec_start if arg.startswith("%d/")}
    assert named and named <= set(credentials)
    assert any("password" in name for name in named)
    for source in credentials.values():
        assert source.startswith("/etc/watchtower/")
    assert _unit()["Install"]["WantedBy"] == ["multi-user.target"]
    # The state directory is the configured data_dir.
    assert f"/var/lib/{service['StateDirectory'][-1]}" == example_config()["service"]["data_dir"]


def test_systemd_analyze_verify() -> None:
    import shutil

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    result = subprocess.run(
        [analyze, "verify", str(UNIT)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line  # the venv is not installed here
    ]
    assert not problems, "\n".join(problems)


# -- runtime vs development ---------------------------------------------------------------------


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage name (``FROM x AS name``)."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for word, rest in _instructions():
        if word == "FROM":
            current = stages.setdefault(rest.split()[-1], [])
        current.append((word, rest))
    return stages


def test_the_default_image_is_the_runtime_alone() -> None:
    """The last stage (what `docker build` makes without --target) installs watchtower only; the
    development image is a stage of its own, for the compose devnet's proposer."""
    stages = _stages()
    last = list(stages)[-1]
    assert last == "runtime"
    inherited = next(rest for word, rest in stages["runtime"] if word == "FROM").split()[0]
    chain = " ".join(rest for word, rest in stages[inherited] + stages["runtime"] if word == "RUN")
    assert "pip install" in chain and "watchtower-dev" not in chain
    assert "watchtower-dev" in " ".join(rest for _, rest in stages["devnet"])
    assert _dockerignore_allows("dev/pyproject.toml")


def test_example_config_names_the_devnet_genesis_mounted_by_compose() -> None:
    """run has no default genesis: the example config names one, compose mounts the devnet's
    there, and that file is the devnet's genesis (the one the compose proposer builds on)."""
    from watchtower.rollup.bundle import parse_genesis
    from watchtower_dev.proposer import devnet_genesis

    assert example_config()["service"]["genesis"] == "/etc/watchtower/genesis.json"
    genesis = json.loads((DEPLOY / "config" / "genesis.json").read_text())
    assert parse_genesis(genesis) == devnet_genesis()
    compose = load_yaml_all(DEPLOY / "docker-compose.yml")[0]
    mounts = compose["services"]["watchtower"]["volumes"]
    assert "./config/genesis.json:/etc/watchtower/genesis.json:ro" in mounts
    proposer = compose["services"]["proposer"]
    assert proposer["build"]["target"] == "devnet"
    assert "--key-env PROPOSER_KEY" in " ".join(proposer["command"])
