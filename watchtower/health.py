"""Readiness and stall detection: pure policy, with the clock injected.

* :func:`readiness` says whether the service is ready (``/readyz``) from what the last tick saw.
* :class:`StallDetector` notices an L1 head that has not moved (or could not be read) for
  ``stall_after`` seconds, once per episode: the service raises ``stalled`` when it says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from watchtower.clock import Clock

Readiness = tuple[bool, str]

STARTING: Readiness = (False, "starting")


def readiness(*, scanned: int, head: int, disagreement: str | None, stalled: bool) -> Readiness:
    """Ready when the endpoints agree, the scan is within a block of the head, and the head
    moves; otherwise not, with the reason."""
    if disagreement is not None:
        return (False, f"L1 endpoints disagree: {disagreement}")
    if scanned < head - 1:
        return (False, f"catching up: scanned to {scanned}, head {head}")
    if stalled:
        return (False, f"L1 head stuck at {head}")
    return (True, f"caught up at L1 block {scanned}")


@dataclass(frozen=True)
class Stall:
    """A stall to report: the last head seen (``None``: never) and for how long it stood."""

    l1_block: int | None
    seconds: int


class StallDetector:
    """Whether the L1 head stood still (or could not be read) for longer than ``after`` seconds;
    :meth:`observe` returns a :class:`Stall` once per episode, when it starts."""

    def __init__(self, after: float, clock: Clock) -> None:
        self.after = after
        self.clock = clock
        self._head = -1
        self._since = clock.monotonic()
        self.stalled = False

    def observe(self, head: int | None) -> Stall | None:
        """After a tick: the head it read, or ``None`` when the tick failed."""
        now = self.clock.monotonic()
        if head is not None and head != self._head:
            self._head, self._since = head, now
            self.stalled = False
            return None
        if now - self._since > self.after and not self.stalled:
            self.stalled = True
            return Stall(self._head if self._head >= 0 else None, round(now - self._since))
        return None
