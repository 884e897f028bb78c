"""Prometheus metrics and the health endpoints: ``/metrics``, ``/healthz``, ``/readyz``.

The metric names are part of the operator interface (deploy/prometheus/alerts.yml and the Grafana
dashboard use them; tests/deploy checks that they exist in :data:`METRIC_NAMES`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector


class Metrics:
    """Every metric of the service, in a registry of its own."""

    #: False for :class:`NullMetrics`.
    live = True

    def __init__(self) -> None:
        # No `*_created` series: they double the series count and no rule or panel uses them.
        # (A process-wide switch of prometheus_client, set when the service builds its metrics,
        # not when this module is imported.)
        disable_created_metrics()  # type: ignore[no-untyped-call]
        r = self.registry = CollectorRegistry()
        self.last_scanned_block = Gauge(
            "watchtower_l1_last_scanned_block",
            "Last L1 block scanned for rollup events",
            registry=r,
        )
        self.head_block = Gauge("watchtower_l1_head_block", "Latest L1 block seen", registry=r)
        self.safe_block = Gauge(
            "watchtower_l1_safe_block", "L1 block deep enough to act on", registry=r
        )
        self.batches_verified = Counter(
            "watchtower_batches_verified", "Batches replayed and found valid", registry=r
        )
        self.batches_fraudulent = Counter(
            "watchtower_batches_fraudulent", "Batches replayed and found fraudulent", registry=r
        )
        self.batches_unreadable = Counter(
            "watchtower_batches_unreadable",
            "Batches whose calldata could not be read or did not match their commitment",
            registry=r,
        )
        self.batches_waiting = Gauge(
            "watchtower_batches_waiting",
            "Batches not verified because an earlier unreadable or undecidable batch halted "
            "verification (0 when verification runs)",
            registry=r,
        )
        self.challenges = Counter(
            "watchtower_challenges", "Challenges by outcome", ["state"], registry=r
        )
        self.replay_speed = Gauge(
            "watchtower_replay_steps_per_second", "Replay speed of the last batch", registry=r
        )
        self.seconds_to_deadline = Gauge(
            "watchtower_seconds_to_nearest_deadline",
            "Seconds until the nearest deadline of an open challenge (+Inf when none)",
            registry=r,
        )
        self.signer_balance = Gauge(
            "watchtower_signer_balance_wei", "Balance of the challenger account", registry=r
        )
        self.rpc_errors = Counter(
            "watchtower_rpc_errors", "Failed L1 requests", ["endpoint"], registry=r
        )
        self.rpc_latency = Histogram(
            "watchtower_rpc_latency_seconds",
            "L1 request latency",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.outbox_depth = Gauge(
            "watchtower_alert_outbox_depth", "Alerts waiting for delivery", registry=r
        )
        self.last_tick = Gauge(
            "watchtower_last_tick_timestamp_seconds", "When the last tick completed", registry=r
        )
        self.ready = Gauge("watchtower_ready", "1 when caught up and endpoints agree", registry=r)
        self.state_db_bytes = Gauge(
            "watchtower_state_db_bytes",
            "Size of the state database files on disk (pruning bounds it; it never shrinks)",
            registry=r,
        )
        self.state_nodes = Gauge(
            "watchtower_state_nodes", "Trie nodes and code blobs in the state database", registry=r
        )
        self.state_prune_seconds = Gauge(
            "watchtower_state_prune_seconds", "Duration of the last state pruning run", registry=r
        )
        # The bridge (docs/protocol.md §8): what it holds, what is owed, what is waiting.
        self.bridge_balance = Gauge(
            "watchtower_bridge_balance_wei",
            "bridgeBalance() of the rollup contract at the last scanned L1 block",
            registry=r,
        )
        self.l2_supply = Gauge(
            "watchtower_l2_supply_wei",
            "L2 supply after the last verified batch (all balances but the bridge address's)",
            registry=r,
        )
        self.deposits_pending = Gauge(
            "watchtower_deposits_pending", "Deposits queued on L1, not consumed yet", registry=r
        )
        self.deposit_oldest_age = Gauge(
            "watchtower_deposit_oldest_pending_age_seconds",
            "Age by L1 time of the oldest pending deposit (0 when none)",
            registry=r,
        )
        self.withdrawals_pending = Gauge(
            "watchtower_withdrawals_pending",
            "Withdrawals of verified batches still inside their batch's challenge window",
            registry=r,
        )
        self.withdrawals_pending_value = Gauge(
            "watchtower_withdrawals_pending_wei",
            "Value of the withdrawals still inside their batch's challenge window",
            registry=r,
        )
        self.withdrawals_claimable = Gauge(
            "watchtower_withdrawals_claimable",
            "Withdrawals of verified batches past their window and not claimed yet",
            registry=r,
        )
        self.withdrawals_claimable_value = Gauge(
            "watchtower_withdrawals_claimable_wei",
            "Value of the withdrawals past their window and not claimed yet",
            registry=r,
        )
        self.withdrawals_forged = Counter(
            "watchtower_withdrawals_forged",
            "Withdrawal claims on L1 that no verified withdrawal backs",
            registry=r,
        )
        # the channel guardian (docs/channels.md §6)
        self.channels_guarded = Gauge(
            "watchtower_channels_guarded",
            "Channels and cheques guarded (a request held, not settled)",
            ["kind"],
            registry=r,
        )
        self.channel_actions_sent = Counter(
            "watchtower_channel_actions_sent",
            "Channel transactions signed and broadcast (replacements included)",
            ["action"],
            registry=r,
        )
        self.channel_rewards_wei = Counter(
            "watchtower_channel_rewards_earned_wei",
            "Rewards carried by the guardian's mined settle, claim and cash transactions",
            registry=r,
        )
        self.channel_value_at_risk_wei = Gauge(
            "watchtower_channel_value_at_risk_wei",
            "Uncashed value of held cheques the chequebooks' liquid balances do not cover",
            registry=r,
        )
        r.register(ResidentMemory())
        self.seconds_to_deadline.set(float("inf"))

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class _Noop:
    """Stands for a gauge, a counter or a histogram, and records nothing."""

    def set(self, value: float) -> None:
        return None

    def inc(self, amount: float = 1) -> None:
        return None

    def observe(self, amount: float) -> None:
        return None

    def labels(self, *values: str, **labels: str) -> _Noop:
        return self


class NullMetrics(Metrics):
    """The metrics of a service run without them (tests, the demo, one-shot commands): every
    attribute of :class:`Metrics`, each a no-op. ``live`` is false: readings made only for the
    metrics (extra L1 requests) are skipped."""

    live = False

    def __init__(self) -> None:  # no registry, no prometheus_client state
        noop: Any = _Noop()
        for name in _METRIC_ATTRIBUTES:
            setattr(self, name, noop)
        self.registry = CollectorRegistry()

    def render(self) -> bytes:
        return b""


#: The attributes of :class:`Metrics` that are metrics (NullMetrics replaces each).
_METRIC_ATTRIBUTES = (
    "last_scanned_block",
    "head_block",
    "safe_block",
    "batches_verified",
    "batches_fraudulent",
    "batches_unreadable",
    "batches_waiting",
    "challenges",
    "replay_speed",
    "seconds_to_deadline",
    "signer_balance",
    "rpc_errors",
    "rpc_latency",
    "outbox_depth",
    "last_tick",
    "ready",
    "state_db_bytes",
    "state_nodes",
    "state_prune_seconds",
    "bridge_balance",
    "l2_supply",
    "deposits_pending",
    "deposit_oldest_age",
    "withdrawals_pending",
    "withdrawals_pending_value",
    "withdrawals_claimable",
    "withdrawals_claimable_value",
    "withdrawals_forged",
    "channels_guarded",
    "channel_actions_sent",
    "channel_rewards_wei",
    "channel_value_at_risk_wei",
)


class ResidentMemory(Collector):
    """``process_resident_memory_bytes`` (the standard name, from prometheus_client's
    ProcessCollector; Linux only), without the collector's other series: every exported name is
    part of the operator interface, and memory is the one the soak and the dashboard watch."""

    def __init__(self) -> None:
        self._process = ProcessCollector(registry=None)

    def collect(self) -> Iterator[Metric]:
        for family in self._process.collect():
            if family.name == "process_resident_memory_bytes":
                yield family


METRIC_NAMES = (
    "watchtower_l1_last_scanned_block",
    "watchtower_l1_head_block",
    "watchtower_l1_safe_block",
    "watchtower_batches_verified_total",
    "watchtower_batches_fraudulent_total",
    "watchtower_batches_unreadable_total",
    "watchtower_batches_waiting",
    "watchtower_challenges_total",
    "watchtower_replay_steps_per_second",
    "watchtower_seconds_to_nearest_deadline",
    "watchtower_signer_balance_wei",
    "watchtower_rpc_errors_total",
    "watchtower_rpc_latency_seconds",
    "watchtower_alert_outbox_depth",
    "watchtower_last_tick_timestamp_seconds",
    "watchtower_ready",
    "watchtower_state_db_bytes",
    "watchtower_state_nodes",
    "watchtower_state_prune_seconds",
    "watchtower_bridge_balance_wei",
    "watchtower_l2_supply_wei",
    "watchtower_deposits_pending",
    "watchtower_deposit_oldest_pending_age_seconds",
    "watchtower_withdrawals_pending",
    "watchtower_withdrawals_pending_wei",
    "watchtower_withdrawals_claimable",
    "watchtower_withdrawals_claimable_wei",
    "watchtower_withdrawals_forged_total",
    "process_resident_memory_bytes",
    "watchtower_channels_guarded",
    "watchtower_channel_actions_sent_total",
    "watchtower_channel_rewards_earned_wei_total",
    "watchtower_channel_value_at_risk_wei",
)


class HealthServer:
    """``/metrics``, ``/healthz`` (the process answers) and ``/readyz`` (``ready()`` is true)."""

    def __init__(
        self, listen: str, metrics: Metrics, ready: Callable[[], tuple[bool, str]]
    ) -> None:
        host, _, port = listen.rpartition(":")
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    self._reply(200, metrics.render(), CONTENT_TYPE_LATEST)
                elif self.path.startswith("/healthz"):
                    self._reply(200, b"ok\n", "text/plain")
                elif self.path.startswith("/readyz"):
                    is_ready, why = ready()
                    self._reply(200 if is_ready else 503, (why + "\n").encode(), "text/plain")
                else:
                    self._reply(404, b"not found\n", "text/plain")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None  # scrapes are not worth a log line each

        self.server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)  # noqa: S104
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._started = time.time()
        del outer

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
