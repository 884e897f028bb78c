"""Silences: stop sending alerts of a kind and/or about a batch, optionally until a time.

A silenced alert is still recorded in the outbox (state ``silenced``, with the silence that
matched) so status shows it; it is not sent. If the same alert is raised again after the
silence has ended, it is queued for delivery then.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from watchtower.alert.events import Alert, AlertKind, iso_utc


@dataclass(frozen=True)
class Silence:
    """Matches alerts of ``kind`` (any kind when None; a condition's kind also matches its
    ``*_resolved``) about ``batch`` (any batch when None) raised before ``until`` (forever when
    None). At least one of kind and batch is given."""

    kind: AlertKind | None = None
    batch: int | None = None
    until: float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind is None and self.batch is None:
            raise ValueError("a silence needs a kind, a batch, or both")

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def matches(self, alert: Alert, now: float) -> bool:
        if not self.active(now):
            return False
        if self.kind is not None and self.kind not in (alert.kind, alert.kind.resolves):
            return False  # a condition's silence covers its ``*_resolved`` too
        return self.batch is None or alert.fields.get("batch") == self.batch

    def describe(self) -> str:
        """One line, e.g. ``kind=low_balance batch=4 until=2026-01-01T00:00:00Z (maintenance)``."""
        parts = []
        if self.kind is not None:
            parts.append(f"kind={self.kind.value}")
        if self.batch is not None:
            parts.append(f"batch={self.batch}")
        parts.append("until=forever" if self.until is None else f"until={iso_utc(self.until)}")
        text = " ".join(parts)
        reason = " ".join(self.reason.split())
        return f"{text} ({reason})" if reason else text


class Silences:
    """A thread-safe set of :class:`Silence` rules (kept in memory; the service builds it from
    its configuration)."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._lock = threading.Lock()
        self._items: tuple[Silence, ...] = tuple(silences)

    def add(
        self,
        kind: AlertKind | str | None = None,
        batch: int | None = None,
        until: float | None = None,
        reason: str = "",
    ) -> Silence:
        parsed = AlertKind.parse(kind) if isinstance(kind, str) else kind
        silence = Silence(parsed, batch, until, reason)
        with self._lock:
            self._items = (*self._items, silence)
        return silence

    def remove(self, silence: Silence) -> bool:
        with self._lock:
            kept = tuple(s for s in self._items if s != silence)
            removed = len(kept) != len(self._items)
            self._items = kept
        return removed

    def expire(self, now: float) -> int:
        """Drop the silences that have ended; how many were dropped."""
        with self._lock:
            kept = tuple(s for s in self._items if s.active(now))
            dropped = len(self._items) - len(kept)
            self._items = kept
        return dropped

    def active(self, now: float) -> tuple[Silence, ...]:
        return tuple(s for s in self._items if s.active(now))

    def match(self, alert: Alert, now: float) -> Silence | None:
        """The first silence that covers ``alert`` at ``now``, if any."""
        for silence in self._items:
            if silence.matches(alert, now):
                return silence
        return None

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Silences({list(self._items)!r})"
