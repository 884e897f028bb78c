"""Assemble and run the long-lived service from its settings (``watchtower run``).

Scheduled jobs (apscheduler, one worker, never overlapping themselves):

* ``tick`` every ``l1.poll_interval``: the pipeline (:meth:`Watchtower.tick`);
* ``deliver`` every second: alerts from the persistent outbox to their sinks.

SIGTERM and SIGINT stop the scheduler; the running job finishes before the databases close.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from web3.exceptions import Web3Exception

from watchtower.alert import (
    Alerter,
    AlertKind,
    PagerDutySink,
    Severity,
    Silences,
    Sink,
    SlackSink,
    WebhookSink,
)
from watchtower.backoff import Backoff, RetrySchedule
from watchtower.config import Settings
from watchtower.errors import InputError, WatchtowerError, one_line
from watchtower.l1.rollup import L1UnavailableError, connect
from watchtower.log import configure_logging
from watchtower.metrics import HealthServer, Metrics
from watchtower.service import ServiceConfig, ServiceMode, Watchtower
from watchtower.submit.challenger import FeePolicy
from watchtower.submit.signer import load_signer

log = structlog.get_logger("watchtower.runner")

GenesisFactory = Callable[[Path | None], Any]


def _optional_path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def _secret(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise InputError(f"{what}: environment variable ${variable} is not set")
    return value


def build_sinks(settings: Settings) -> tuple[list[Sink], dict[str, Severity]]:
    """The configured sinks (named ``webhook-0``, ``slack-0``, ``pagerduty-0``, ... in order)
    and each one's ``min_severity``; a secret's environment variable unset is an InputError."""
    sinks: list[Sink] = []
    floors: dict[str, Severity] = {}
    for n, entry in enumerate(settings.sinks["webhook"]):
        secret = _secret(entry["secret_env"], f"alerts.webhook[{n}]")
        sinks.append(
            WebhookSink(entry["url"], secret.encode(), entry["timeout"], name=f"webhook-{n}")
        )
        floors[f"webhook-{n}"] = Severity(entry["min_severity"])
    for n, entry in enumerate(settings.sinks["slack"]):
        url = _secret(entry["url_env"], f"alerts.slack[{n}]")
        sinks.append(SlackSink(url, entry["timeout"], name=f"slack-{n}"))
        floors[f"slack-{n}"] = Severity(entry["min_severity"])
    for n, entry in enumerate(settings.sinks["pagerduty"]):
        key = _secret(entry["routing_key_env"], f"alerts.pagerduty[{n}]")
        sinks.append(PagerDutySink(key, entry["url"], entry["timeout"], name=f"pagerduty-{n}"))
        floors[f"pagerduty-{n}"] = Severity(entry["min_severity"])
    return sinks, floors


def build_alerter(settings: Settings, data_dir: Path) -> Alerter:
    """The alert function for the service: the persistent outbox with the configured sinks.

    Alerts are always recorded in ``<data_dir>/alerts.sqlite`` (and logged), with or without
    sinks, so nothing is lost while a receiver is down or before one is configured.
    """
    sinks, floors = build_sinks(settings)
    silences = Silences()
    for kind in settings["alerts.silence_kinds"]:
        AlertKind.parse(kind)  # refuse unknown kinds at start, in one line
        silences.add(kind=kind, reason="configured")
    for batch in settings["alerts.silence_batches"]:
        silences.add(batch=batch, reason="configured")
    return Alerter(data_dir / "alerts.sqlite", sinks, silences, min_severity=floors)


#: Transport-level failures of an L1 request (requests' errors are OSErrors; a garbled answer
#: is a ValueError; an error object in the answer is a Web3Exception).
L1_FAILURES = (OSError, ValueError, Web3Exception)
#: Waits between start-up attempts while the L1 node fails; then exit 2 with the last error.
STARTUP_RETRIES = (0.5, 1.0, 2.0, 4.0)


def start_service(
    settings: Settings, genesis: GenesisFactory, sleep: Callable[[float], None] = time.sleep
) -> tuple[Watchtower, Alerter, Metrics]:
    """:func:`build_service`, retried while the L1 node fails at start-up (it may be starting
    too, or briefly overloaded); configuration errors are not retried."""
    for attempt, wait in enumerate((*STARTUP_RETRIES, None), start=1):
        try:
            return build_service(settings, genesis)
        except L1UnavailableError as exc:
            error = str(exc)
        except WatchtowerError:
            raise
        except L1_FAILURES as exc:
            error = one_line(exc)
        if wait is None:
            raise L1UnavailableError(f"{error} (gave up after {attempt} attempts)")
        log.warning("startup_retry", error=error, attempt=attempt, retry_in=wait)
        sleep(wait)
    raise AssertionError("unreachable")


def build_service(
    settings: Settings, genesis: GenesisFactory
) -> tuple[Watchtower, Alerter, Metrics]:
    """The service, its alerter and its metrics, from the settings."""
    if settings["signer.key_env"] is not None:  # named, so meant: never run without the key
        _secret(settings["signer.key_env"], "signer.key_env")
    signer = load_signer(
        key_env=settings["signer.key_env"],
        keystore=_optional_path(settings["signer.keystore"]),
        password_env=settings["signer.password_env"],
        password_file=_optional_path(settings["signer.password_file"]),
    )
    data_dir = Path(settings["service.data_dir"])
    config = ServiceConfig(
        data_dir=data_dir,
        mode=ServiceMode(settings["service.mode"]),
        confirmations=settings["l1.confirmations"],
        start_block=settings["l1.start_block"],
        chunk=settings["l1.chunk"],
        stake=settings["challenge.stake_wei"],
        fee_policy=FeePolicy(
            bump_after=settings["challenge.bump_after"],
            # A challenge step that got no answer waits like a failed tick: from the poll
            # interval, doubling, up to --max-backoff.
            retry_base=settings["l1.poll_interval"],
            retry_max=settings["l1.max_backoff"],
        ),
        stall_after=settings["service.stall_after"],
        prune_every=settings["state.prune_every"],
        keep_recent=settings["state.keep_recent"],
    )
    metrics = Metrics()
    endpoints = connect(
        tuple(settings["l1.rpc"]), settings["l1.rollup"], metrics, timeout=settings["l1.timeout"]
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    alerter = build_alerter(settings, data_dir)
    try:
        tower = Watchtower(
            config,
            endpoints,
            genesis(_optional_path(settings["service.genesis"])),
            signer,
            alert=_logged(alerter),
            metrics=metrics,
        )
    except BaseException:
        alerter.close()
        raise
    return tower, alerter, metrics


def _tick_job(
    tower: Watchtower, lock: threading.Lock, backoff: RetrySchedule
) -> Callable[[], None]:
    """One pipeline tick; a failure is logged in one line, the next attempt is backed off, and
    the service keeps running."""

    def tick() -> None:
        with lock:
            if not backoff.due(time.monotonic()):
                return
            try:
                report = tower.tick()
            except Exception as exc:  # the service keeps running: say what broke, in one line
                error = one_line(exc)
                retry_in = backoff.failed(time.monotonic())
                log.error("tick_failed", error=error, failures=backoff.failures, retry_in=retry_in)
                tower.tick_failed(error)
                return
            ended = backoff.succeeded()
            if ended:
                log.info("recovered", failures=ended)
            if report.verdicts or report.challenges or report.reorg_from is not None:
                log.info(
                    "tick",
                    scanned_to=report.scanned_to,
                    verdicts=report.verdicts,
                    challenges=report.challenges,
                    reorg_from=report.reorg_from,
                )

    return tick


def _logged(alerter: Alerter) -> Callable[..., None]:
    """Every alert is queued for the sinks and logged once, by the alerter (``alert: true``)."""

    def alert(kind: str, **fields: Any) -> None:
        alerter(kind, **fields)

    alert.depth = alerter.depth  # type: ignore[attr-defined]
    return alert


def run_service(settings: Settings, genesis: GenesisFactory) -> None:
    configure_logging(json_output=settings["log.format"] == "json", level=settings["log.level"])
    # A tick longer than the poll interval is normal (a large batch): not worth a warning.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    tower, alerter, metrics = start_service(settings, genesis)
    signer = tower.signer
    data_dir = tower.config.data_dir
    health = None
    if settings["metrics.listen"]:
        health = HealthServer(settings["metrics.listen"], metrics, lambda: tower.ready).start()
    lock = threading.Lock()

    tick = _tick_job(
        tower,
        lock,
        RetrySchedule(Backoff(base=settings["l1.poll_interval"], cap=settings["l1.max_backoff"])),
    )

    def deliver() -> None:
        try:
            alerter.deliver()
            metrics.outbox_depth.set(alerter.depth())
        except Exception as exc:  # delivery problems never stop the service
            log.error("alert_delivery_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    now = datetime.now(UTC)
    scheduler.add_job(tick, "interval", seconds=settings["l1.poll_interval"], next_run_time=now)
    scheduler.add_job(deliver, "interval", seconds=1.0, next_run_time=now)

    def stop(signum: int, _frame: object) -> None:
        log.info("shutdown", signal=signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "started",
        rollup=settings["l1.rollup"],
        endpoints=len(settings["l1.rpc"]),
        mode=settings["service.mode"],
        signer=signer.address if signer else None,
        data_dir=str(data_dir),
        metrics=settings["metrics.listen"],
    )
    scheduler.start()
    with lock:  # let the running tick finish before closing the databases
        tower.close()
        alerter.close()
        if health is not None:
            health.stop()
    log.info("stopped")
