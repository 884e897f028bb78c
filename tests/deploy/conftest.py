"""Shared helpers for the static checks of deploy/ (no Docker, no cluster: files only)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

IN_CI = os.environ.get("CI", "").lower() == "true"

# The service's metric names: the only ones alert rules and dashboards may use. Keep in sync with
# the metrics registry in the package (a cross-check against the real registry belongs here).
METRICS: dict[str, str] = {
    "watchtower_l1_last_scanned_block": "gauge",
    "watchtower_l1_head_block": "gauge",
    "watchtower_l1_safe_block": "gauge",
    "watchtower_batches_verified_total": "counter",
    "watchtower_batches_fraudulent_total": "counter",
    "watchtower_batches_unreadable_total": "counter",
    "watchtower_batches_waiting": "gauge",
    "watchtower_challenges_total": "counter",  # {state}
    "watchtower_replay_steps_per_second": "gauge",
    "watchtower_seconds_to_nearest_deadline": "gauge",
    "watchtower_signer_balance_wei": "gauge",
    "watchtower_rpc_errors_total": "counter",  # {endpoint}
    "watchtower_rpc_latency_seconds": "histogram",  # {endpoint}
    "watchtower_alert_outbox_depth": "gauge",
    "watchtower_last_tick_timestamp_seconds": "gauge",
    "watchtower_ready": "gauge",
    "watchtower_state_db_bytes": "gauge",
    "watchtower_state_nodes": "gauge",
    "watchtower_state_prune_seconds": "gauge",
    "watchtower_bridge_balance_wei": "gauge",
    "watchtower_l2_supply_wei": "gauge",
    "watchtower_deposits_pending": "gauge",
    "watchtower_deposit_oldest_pending_age_seconds": "gauge",
    "watchtower_withdrawals_pending": "gauge",
    "watchtower_withdrawals_pending_wei": "gauge",
    "watchtower_withdrawals_claimable": "gauge",
    "watchtower_withdrawals_claimable_wei": "gauge",
    "watchtower_withdrawals_forged_total": "counter",
    "watchtower_channels_guarded": "gauge",
    "watchtower_channel_actions_sent_total": "counter",
    "watchtower_channel_rewards_earned_wei_total": "counter",
    "watchtower_channel_value_at_risk_wei": "gauge",
    "process_resident_memory_bytes": "gauge",  # the one series of ProcessCollector exported
}
# Series Prometheus makes itself for every scrape target.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

CONFIG_SECTIONS = ("l1", "service", "signer", "challenge", "metrics", "log", "alerts")
METRICS_PATHS = {"/metrics", "/healthz", "/readyz"}


def require_tool(name: str, package: str) -> str:
    """The tool's path; skip without it, but fail in CI, where the test command installs it."""
    import shutil

    path = shutil.which(name)
    if path is None:
        message = f"{name} not found (Debian package {package!r})"
        if IN_CI:
            pytest.fail(message + ": the test command must install it", pytrace=False)
        pytest.skip(message)
    return path


def yaml_module() -> Any:
    try:
        import yaml
    except ImportError:
        if IN_CI:
            pytest.fail("PyYAML is missing: it is a dev dependency", pytrace=False)
        pytest.skip("PyYAML not installed")
    return yaml


def load_yaml(path: Path) -> Any:
    return yaml_module().safe_load(path.read_text(encoding="utf-8"))


def load_yaml_all(path: Path) -> list[Any]:
    return list(yaml_module().safe_load_all(path.read_text(encoding="utf-8")))


def example_config() -> dict[str, Any]:
    return tomllib.loads((DEPLOY / "config" / "watchtower.toml").read_text(encoding="utf-8"))


def listen_port(config: dict[str, Any]) -> int:
    host, _, port = config["metrics"]["listen"].rpartition(":")
    assert host, "metrics.listen must be HOST:PORT"
    return int(port)


_PROMQL_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "atan2",
        "inf",
        "nan",
    }
)


def promql_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a small parser, enough for our rules)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, regexes)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range / subquery selectors
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # grouping label lists
    names = set()
    for match in re.finditer(r"(?<![\w.$])([A-Za-z_:][\w:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def unknown_metrics(names: set[str]) -> set[str]:
    unknown = set()
    for name in names:
        if name in METRICS or name in PROMETHEUS_SERIES:
            continue
        base = next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
        if base is not None and METRICS.get(base) == "histogram":
            continue
        unknown.add(name)
    return unknown


def base_metric(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and METRICS.get(name.removesuffix(suffix)) == "histogram":
            return name.removesuffix(suffix)
    return name
