"""The real validators: promtool (rules, rule unit tests, config) and amtool.

Debian's packages: apt-get install -y --no-install-recommends prometheus prometheus-alertmanager
Without them these tests skip locally and fail when CI=true.
"""

from __future__ import annotations

import subprocess

from tests.deploy.conftest import DEPLOY, require_tool


def _run(*command: str) -> None:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, cwd=DEPLOY
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"


def test_promtool_check_rules() -> None:
    _run(require_tool("promtool", "prometheus"), "check", "rules", "prometheus/alerts.yml")


def test_promtool_test_rules() -> None:
    _run(require_tool("promtool", "prometheus"), "test", "rules", "prometheus/alerts.test.yml")


def test_promtool_check_config() -> None:
    # Offline: static targets are not resolved; rule_files are checked too.
    _run(require_tool("promtool", "prometheus"), "check", "config", "prometheus/prometheus.yml")


def test_amtool_check_config() -> None:
    _run(
        require_tool("amtool", "prometheus-alertmanager"),
        "check-config",
        "alertmanager/alertmanager.yml",
    )
