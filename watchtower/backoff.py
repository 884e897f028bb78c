"""The one backoff policy: a retry delay that grows exponentially up to a cap.

:class:`Backoff` is the policy (pure: attempts in, seconds out), used by the alert outbox for
each row, by the challenger between attempts (:func:`watchtower.submit.decide.backoff`) and,
through :class:`RetrySchedule`, by the service runner between failed ticks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Retry delay after the ``n``-th failed attempt: ``min(cap, base * factor**(n-1))``,
    shortened by up to ``jitter`` (a fraction) by a hash of the row, so rows spread out yet
    every run (and test) computes the same times."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        # A cap below the base is allowed: every delay is then the cap.
        if self.base <= 0 or self.factor < 1 or self.cap <= 0:
            raise ValueError("backoff needs base > 0, factor >= 1 and cap > 0")
        if not 0 <= self.jitter < 1:
            raise ValueError("backoff jitter is a fraction in [0, 1)")

    def delay(self, attempts: int, salt: str = "") -> float:
        exponent = min(max(attempts, 1) - 1, 64)
        delay = min(self.cap, self.base * self.factor**exponent)
        if self.jitter:
            digest = hashlib.sha256(f"{salt}|{attempts}".encode()).digest()
            delay *= 1 - self.jitter * int.from_bytes(digest[:8], "big") / 2**64
        return delay


@dataclass
class RetrySchedule:
    """When to try again after failures in a row: the :class:`Backoff` delay after each one.

    An L1 node that is down, rate-limiting (429) or overloaded (5xx) is not hammered every
    poll interval; the first success resets the wait.
    """

    policy: Backoff = field(default_factory=Backoff)
    failures: int = 0
    not_before: float = 0.0

    def due(self, now: float) -> bool:
        return now >= self.not_before

    def failed(self, now: float) -> float:
        """Record a failure at ``now``; return the seconds until the next attempt."""
        self.failures += 1
        delay = self.policy.delay(self.failures)
        self.not_before = now + delay
        return delay

    def succeeded(self) -> int:
        """Record a success; return how many failures in a row it ends."""
        ended, self.failures, self.not_before = self.failures, 0, 0.0
        return ended
