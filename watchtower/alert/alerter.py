"""The :class:`Alerter` façade the service calls: ``alert("fraud_detected", batch=3, step=7)``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import structlog

from watchtower.alert.events import Alert, Severity
from watchtower.alert.outbox import DeliveryReport, EntryState, Outbox, OutboxEntry
from watchtower.alert.silences import Silences
from watchtower.alert.sinks import Sink
from watchtower.backoff import Backoff

log = structlog.get_logger("watchtower.alert")

_LOG_LEVEL = {
    Severity.CRITICAL: logging.CRITICAL,
    Severity.ERROR: logging.ERROR,
    Severity.WARNING: logging.WARNING,
    Severity.INFO: logging.INFO,
}


class Alerter:
    """Raise alerts into the outbox; deliver them when the caller says so.

    ``__call__`` only writes the outbox (one local transaction) and logs the alert; it never
    touches the network. ``deliver`` sends what is due and is meant for a scheduler job.
    A failure to write the outbox is logged (``alert_enqueue_failed``) and swallowed: a full
    disk must not stop the watchtower from challenging fraud. An unknown kind is a programming
    error and raises :class:`ValueError`.
    """

    def __init__(
        self,
        outbox_path: Path | str,
        sinks: Iterable[Sink],
        silences: Silences | None = None,
        clock: Callable[[], float] = time.time,
        *,
        backoff: Backoff | None = None,
        window: float = 3600.0,
        batch_limit: int = 100,
        min_severity: Mapping[str, Severity] | None = None,
    ) -> None:
        """``window``: alerts with none of batch/step/tx are deduplicated per ``window``
        seconds. ``batch_limit``: rows tried per :meth:`deliver` call at most.
        ``min_severity``: per sink name, the least severe alert it is sent (a ``*_resolved``
        alert is routed with the severity of the condition it ends); others get every alert."""
        self.sinks: tuple[Sink, ...] = tuple(sinks)
        names = [sink.name for sink in self.sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"alert sink names must be unique, got {sorted(names)}")
        self.min_severity = dict(min_severity or {})
        unknown = set(self.min_severity) - set(names)
        if unknown:
            raise ValueError(f"min_severity names unknown sinks: {sorted(unknown)}")
        if window <= 0:
            raise ValueError("the deduplication window must be positive")
        self.silences = silences if silences is not None else Silences()
        self.clock = clock
        self.window = window
        self.batch_limit = batch_limit
        self.outbox = Outbox(outbox_path, backoff)
        self._closed = False

    def __call__(self, kind: str, /, **fields: object) -> None:
        """Raise an alert of ``kind`` (a plain string, e.g. ``"fraud_detected"``); logged once,
        as an event named by the kind with ``alert: true``."""
        now = self.clock()
        alert = Alert.create(kind, fields, now, self.window)  # ValueError for an unknown kind
        silence = self.silences.match(alert, now)
        note = f"silenced by {silence.describe()}" if silence is not None else ""
        try:
            result = self.outbox.enqueue(alert, self.routes(alert), note)
        except Exception as exc:  # sqlite3.Error, OSError, a closed outbox
            log.error(
                "alert_enqueue_failed",
                kind=alert.kind.value,
                dedup_key=alert.dedup_key,
                error=f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                fields=alert.fields,
            )
            return
        # The one log line per alert (named by its kind, ``alert: true``, fields at the top level
        # as ``log_alert`` logs them); the service itself does not log what it alerts.
        meta: dict[str, object] = {
            "alert": True,
            "severity": alert.severity.value,
            "dedup_key": alert.dedup_key,
            "queued": result.queued,
            "duplicate": result.duplicate,
            "silenced": note or None,
        }
        top = {k: v for k, v in alert.fields.items() if k not in meta and k != "event"}
        log.log(_LOG_LEVEL[alert.severity], alert.kind.value, **top, **meta)

    def routes(self, alert: Alert) -> list[str]:
        """The names of the sinks ``alert`` is sent to (by each sink's ``min_severity``)."""
        severity = alert.routing_severity
        return [
            sink.name
            for sink in self.sinks
            if severity.at_least(self.min_severity.get(sink.name, Severity.INFO))
        ]

    def deliver(self, now: float | None = None) -> DeliveryReport:
        """Send the due rows (network I/O; call from a scheduler job, not the hot path)."""
        when = self.clock() if now is None else now
        return self.outbox.deliver_pending(self.sinks, when, self.batch_limit)

    def depth(self) -> int:
        """Undelivered rows."""
        return self.outbox.depth()

    def entries(self, state: EntryState | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Outbox rows for status, newest first (e.g. ``state=EntryState.SILENCED``)."""
        return self.outbox.entries(state, limit)

    def prune(self, older_than_days: float = 30.0) -> int:
        return self.outbox.prune(self.clock(), older_than_days)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.outbox.close()

    def __enter__(self) -> Alerter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Alerter(outbox={self.outbox!r}, sinks={list(self.sinks)!r})"
