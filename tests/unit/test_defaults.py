"""One source for each default: the config schema, the service's and the functions' keyword
defaults all equal watchtower.defaults."""

from __future__ import annotations

import inspect
from pathlib import Path

from watchtower import defaults
from watchtower.alert.sinks import PagerDutySink, SlackSink, WebhookSink
from watchtower.config import SCHEMA
from watchtower.execute.prune import DEFAULT_KEEP_RECENT
from watchtower.follow.scanner import Follower
from watchtower.l1.rollup import connect
from watchtower.metrics import Metrics, NullMetrics
from watchtower.service import ServiceConfig
from watchtower.submit.decide import FeePolicy


def _default(function: object, name: str) -> object:
    return inspect.signature(function).parameters[name].default  # type: ignore[arg-type]


def test_the_schema_reads_the_defaults() -> None:
    expected = {
        ("l1", "timeout"): defaults.L1_TIMEOUT,
        ("l1", "confirmations"): defaults.CONFIRMATIONS,
        ("l1", "poll_interval"): defaults.POLL_INTERVAL,
        ("l1", "max_backoff"): defaults.MAX_BACKOFF,
        ("l1", "chunk"): defaults.SCAN_CHUNK,
        ("l1", "start_block"): defaults.START_BLOCK,
        ("service", "mode"): defaults.SERVICE_MODE,
        ("service", "data_dir"): defaults.DATA_DIR,
        ("service", "stall_after"): defaults.STALL_AFTER,
        ("challenge", "bump_after"): defaults.BUMP_AFTER,
        ("state", "prune_every"): defaults.PRUNE_EVERY,
        ("state", "keep_recent"): defaults.KEEP_RECENT,
    }
    for (section, key), value in expected.items():
        assert SCHEMA[section][key].default == value, f"{section}.{key}"


def test_the_functions_read_the_same_defaults() -> None:
    assert _default(connect, "timeout") == defaults.L1_TIMEOUT
    for sink in (WebhookSink, SlackSink, PagerDutySink):
        assert _default(sink, "timeout") == defaults.SINK_TIMEOUT
    config = ServiceConfig(Path("unused"))
    assert config.mode.value == defaults.SERVICE_MODE
    assert (config.confirmations, config.start_block, config.chunk) == (
        defaults.CONFIRMATIONS,
        defaults.START_BLOCK,
        defaults.SCAN_CHUNK,
    )
    assert (config.stall_after, config.prune_every, config.keep_recent) == (
        defaults.STALL_AFTER,
        defaults.PRUNE_EVERY,
        defaults.KEEP_RECENT,
    )
    assert FeePolicy().bump_after == defaults.BUMP_AFTER
    assert DEFAULT_KEEP_RECENT == defaults.KEEP_RECENT
    follower = inspect.signature(Follower).parameters
    assert follower["chunk"].default == defaults.SCAN_CHUNK


def test_null_metrics_has_every_metric_and_records_nothing() -> None:
    real = {name for name in vars(Metrics()) if name != "registry"}
    null = NullMetrics()
    assert real <= set(vars(null))
    null.ready.set(1)
    null.batches_verified.inc()
    null.challenges.labels(state="sent").inc()
    null.rpc_latency.labels(endpoint="x").observe(0.1)
    assert null.render() == b"" and not null.live and Metrics.live
