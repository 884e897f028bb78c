"""Assemble and run the long-lived service from its settings (``watchtower run``).

Scheduled jobs (apscheduler, one worker, never overlapping themselves):

* ``tick`` every ``l1.poll_interval``: the pipeline (:meth:`Watchtower.tick`);
* ``deliver`` every second: alerts from the persistent outbox to their sinks.

SIGTERM and SIGINT only record the signal (:class:`StopRequest`); the main thread then logs
``shutdown`` and stops the scheduler, and the running job finishes (a replay after the batch in
hand) before the databases close. One service per data directory (:class:`ServiceLock`).
Exit statuses: 0 stopped by a signal, 2 unusable configuration, 75 the L1 nodes stayed down for
``l1.startup_timeout`` at start-up.
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
from watchtower.errors import InputError, UnavailableError, WatchtowerError, one_line
from watchtower.l1.rollup import L1UnavailableError, RollupClient, connect
from watchtower.log import configure_logging
from watchtower.metrics import HealthServer, Metrics
from watchtower.service import ServiceConfig, ServiceMode, Watchtower
from watchtower.store.journal import ServiceLock
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
#: Waits between start-up attempts while the L1 nodes fail (the last one repeats) until
#: ``l1.startup_timeout``; then exit status 75 (EX_TEMPFAIL: a supervisor restarts it later).
STARTUP_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def start_service(
    settings: Settings,
    genesis: GenesisFactory,
    sleep: Callable[[float], None] = time.sleep,
    stopping: StopRequest | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Watchtower, Alerter, Metrics] | None:
    """:func:`build_service`, retried while the L1 nodes fail at start-up (they may be starting
    too, or briefly overloaded), one log line per attempt, for ``l1.startup_timeout`` seconds;
    then :class:`UnavailableError` (exit status 75). Configuration errors are not retried
    (exit status 2). None if a stop was requested while waiting."""
    timeout = settings["l1.startup_timeout"]
    deadline = clock() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            return build_service(settings, genesis)
        except L1UnavailableError as exc:
            error = str(exc)
        except WatchtowerError:
            raise
        except L1_FAILURES as exc:
            error = one_line(exc)
        wait = STARTUP_RETRIES[min(attempt, len(STARTUP_RETRIES)) - 1]
        left = deadline - clock()
        if left <= 0:
            raise UnavailableError(
                f"{error} (gave up after {attempt} attempts in {timeout:g}s: l1.startup_timeout)"
            )
        wait = min(wait, left)
        log.warning("startup_retry", error=error, attempt=attempt, retry_in=round(wait, 3))
        sleep(wait)
        if stopping is not None and stopping.requested:
            return None


def connect_quorum(settings: Settings, metrics: Metrics) -> list[RollupClient]:
    """A client per endpoint that answers (in the configured order: the first answering one is
    the primary). With fewer than ``l1.quorum`` answering (default: all), the start-up fails
    (and is retried); the endpoints missing from a quorum are logged in one line."""
    urls = tuple(settings["l1.rpc"])
    quorum = settings["l1.quorum"] or len(urls)
    clients: list[RollupClient] = []
    down: list[str] = []
    for url in urls:
        try:
            clients.extend(
                connect((url,), settings["l1.rollup"], metrics, timeout=settings["l1.timeout"])
            )
        except L1UnavailableError as exc:
            down.append(str(exc))
    if len(clients) < quorum:
        counted = f"{len(clients)} of {len(urls)} endpoints answer" if len(urls) > 1 else ""
        need = f" ({counted}, l1.quorum is {quorum})" if counted else ""
        raise L1UnavailableError("; ".join(down) + need)
    if down:
        log.warning(
            "l1_endpoints_missing",
            error="; ".join(down),
            answering=len(clients),
            endpoints=len(urls),
            quorum=quorum,
        )
    return clients


def build_signer(settings: Settings) -> Any:
    """The configured signer (``None`` when none is configured)."""
    if settings["signer.key_env"] is not None:  # named, so meant: never run without the key
        _secret(settings["signer.key_env"], "signer.key_env")
    return load_signer(
        key_env=settings["signer.key_env"],
        keystore=_optional_path(settings["signer.keystore"]),
        password_env=settings["signer.password_env"],
        password_file=_optional_path(settings["signer.password_file"]),
        remote_url=settings["signer.remote_url"],
        remote_address=settings["signer.remote_address"],
    )


def guards(settings: Settings) -> tuple[bool, bool]:
    """(guard the rollup, guard channels): ``service.guard`` (default rollup only);
    ``channels.enabled = true`` adds channels."""
    guard = settings["service.guard"]
    return "rollup" in guard, "channels" in guard or bool(settings["channels.enabled"])


def build_service(
    settings: Settings, genesis: GenesisFactory
) -> tuple[Watchtower, Alerter, Metrics]:
    """The service, its alerter and its metrics, from the settings."""
    signer = build_signer(settings)
    data_dir = Path(settings["service.data_dir"])
    config = ServiceConfig(
        data_dir=data_dir,
        mode=ServiceMode(settings["service.mode"]),
        confirmations=settings["l1.confirmations"],
        start_block=settings["l1.start_block"],
        chunk=settings["l1.chunk"],
        quorum=settings["l1.quorum"],
        stake=settings["challenge.stake_wei"],
        fee_policy=FeePolicy.of_settings(settings.values),
        stall_after=settings["service.stall_after"],
        prune_every=settings["state.prune_every"],
        keep_recent=settings["state.keep_recent"],
        replay_worker=settings["replay.worker"],
        root_worker=settings["replay.root_worker"],
    )
    metrics = Metrics()
    endpoints = connect_quorum(settings, metrics)
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


class StopRequest:
    """What the signal handler records: the signal's number, by one attribute assignment.

    The handler runs in the main thread between two bytecodes, possibly while that thread holds
    a lock (structlog's, the logging module's, an Event's condition): taking any lock there can
    deadlock (a second SIGTERM while the first one's handler was logging did, with ``timeout``,
    which signals twice). So the handler neither logs nor locks; the main loop polls
    :attr:`signum`, then logs the shutdown and stops the scheduler."""

    POLL = 0.1

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, _frame: object) -> None:
        if self.signum is None:  # the first one names the shutdown; nothing else, see above
            self.signum = signum

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.handle)
        signal.signal(signal.SIGINT, self.handle)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less once a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, self.POLL))

    def log(self) -> None:
        assert self.signum is not None
        log.info("shutdown", signal=signal.Signals(self.signum).name)


def run_service(settings: Settings, genesis: GenesisFactory) -> None:
    configure_logging(json_output=settings["log.format"] == "json", level=settings["log.level"])
    # A tick longer than the poll interval is normal (a large batch): not worth a warning.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    stop = StopRequest()
    stop.install()
    # One service per data directory (refused in one line, exit 2, naming the holder's PID).
    service_lock = ServiceLock(Path(settings["service.data_dir"]))
    rollup, channels = guards(settings)
    try:
        if rollup:
            started = start_service(settings, genesis, sleep=stop.sleep, stopping=stop)
            if started is None:  # a signal during the start-up retries
                stop.log()
                log.info("stopped")
                return
            tower, alerter, metrics = started
        else:
            tower = None
            metrics = Metrics()
            alerter = build_alerter(settings, Path(settings["service.data_dir"]))
        runtime = None
        if channels:
            from watchtower.channels.runtime import build_channels

            try:
                runtime = build_channels(
                    settings,
                    tower.signer if tower else build_signer(settings),
                    metrics,
                    _logged(alerter),
                    sender_locked=bool(tower and tower._sender_lock),
                )
            except BaseException:
                if tower is not None:
                    tower.close()
                alerter.close()
                raise
        _serve(settings, tower, alerter, metrics, stop, runtime)
    finally:
        service_lock.release()


def _serve(  # noqa: PLR0917 (the rollup side's signature, plus the channels)
    settings: Settings,
    tower: Watchtower | None,
    alerter: Alerter,
    metrics: Metrics,
    stop: StopRequest,
    channels: Any = None,
) -> None:
    if tower is not None:
        tower.stopping = lambda: stop.requested
    signer = tower.signer if tower is not None else getattr(channels, "signer", None)
    data_dir = Path(settings["service.data_dir"])
    health = None
    lock = threading.Lock()
    channel_lock = threading.Lock()  # its own: a long replay does not delay the guardian
    try:
        if settings["metrics.listen"]:
            listen = settings["metrics.listen"]
            try:
                health = HealthServer(
                    listen,
                    metrics,
                    (lambda: tower.ready) if tower else (lambda: (True, "ok")),
                    tower.status_document if tower else None,
                ).start()
            except OSError as exc:  # the port is taken, or the address is not this host's
                raise InputError(f"--metrics-listen {listen}: {exc.strerror or exc}") from None

        def schedule() -> RetrySchedule:
            return RetrySchedule(
                Backoff(base=settings["l1.poll_interval"], cap=settings["l1.max_backoff"])
            )

        def deliver() -> None:
            try:
                alerter.deliver()
                metrics.outbox_depth.set(alerter.depth())
            except Exception as exc:  # delivery problems never stop the service
                log.error("alert_delivery_failed", error=f"{type(exc).__name__}: {exc}"[:300])

        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(3)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        now = datetime.now(UTC)
        interval = settings["l1.poll_interval"]
        if tower is not None:
            scheduler.add_job(
                _tick_job(tower, lock, schedule()), "interval", seconds=interval, next_run_time=now
            )
        if channels is not None:
            scheduler.add_job(
                channels.tick_job(channel_lock, schedule()),
                "interval",
                seconds=interval,
                next_run_time=now,
            )
        scheduler.add_job(deliver, "interval", seconds=1.0, next_run_time=now)
        log.info(
            "started",
            rollup=settings["l1.rollup"] if tower is not None else None,
            endpoints=len(settings["l1.rpc"]),
            answering=len(tower.readers) if tower is not None else None,
            mode=settings["service.mode"],
            guard=[
                g
                for g, on in zip(("rollup", "channels"), (tower, channels), strict=True)
                if on is not None
            ],
            signer=signer.address if signer else None,
            data_dir=str(data_dir),
            metrics=settings["metrics.listen"],
            start_block=tower.start_block if tower else None,
            history_before=tower.history_before if tower else None,
            channels_api=settings["channels.api_listen"] if channels is not None else None,
        )
        scheduler.start()
        while not stop.requested:
            time.sleep(StopRequest.POLL)
        stop.log()
        scheduler.shutdown(wait=False)
    finally:
        # let the running ticks finish (a replay stops after its batch) before closing
        with lock, channel_lock:
            if tower is not None:
                tower.close()
            if channels is not None:
                channels.close()
            alerter.close()
            if health is not None:
                health.stop()
    log.info("stopped")
