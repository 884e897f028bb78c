"""Failpoints: named places in the pipeline where a test can make the process die on purpose.

In the spirit of TiKV's ``fail-rs`` and FoundationDB's ``BUGGIFY``: the code calls
``failpoint("challenge.signed")`` at a point worth crashing at, and the environment variable
:data:`ENV` (``WATCHTOWER_FAILPOINTS``), read **once**, when the program starts (the CLI calls
:func:`arm_from_environment`; importing this module reads nothing), says which points are armed::

    WATCHTOWER_FAILPOINTS="challenge.signed=kill"          # on the first hit
    WATCHTOWER_FAILPOINTS="replay.step=kill@12"            # on the 12th hit (counted per process)
    WATCHTOWER_FAILPOINTS="scan.fetched=kill,outbox.sent=kill@2"

The only action is ``kill``: one JSON line ``{"event": "failpoint_hit", ...}`` on stderr (so a
test can tell the process died where it meant it to), then ``SIGKILL`` to the process itself:
no ``finally``, no ``atexit``, no flush of anything else, exactly like a crash.

A name that is not in :data:`KNOWN` (or a malformed entry) is refused with
:class:`FailpointSpecError` (the CLI prints it in one line and exits with status 2), never
silently ignored. When nothing is armed a call costs one global
lookup and a truth test (``tests/unit/test_failpoints.py`` measures it).

:data:`KNOWN` lists every failpoint in the package; a unit test checks that each name appears in
the source exactly once and that every call in the source uses a listed name.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from dataclasses import dataclass

ENV = "WATCHTOWER_FAILPOINTS"

#: Every failpoint in the package, in pipeline order (where each one is: see the call sites).
KNOWN: tuple[str, ...] = (
    # follow/scanner.py, store/db.py: scanning and reorgs
    "scan.before_get_logs",
    "scan.fetched",
    "store.record_scan.commit",
    "scan.recorded",
    "store.rewind.commit",
    # execute/replay.py, execute/statedb.py, service.py: replay and the state commit
    "replay.step",
    "replay.before_commit",
    "statedb.write.commit",
    "service.replayed",
    # service.py: the fraud proof
    "service.proof_built",
    # submit/challenger.py: starting a challenge, sending (first and replacements)
    "challenge.simulated",
    "challenge.opened",
    "challenge.signed",
    "challenge.recorded",
    "challenge.broadcast",
    # submit/challenger.py: following a sent challenge
    "poll.before_receipts",
    "poll.receipt_seen",
    "poll.submission_marked",
    "poll.challenge_succeeded",
    "poll.bump_due",
    # channels/guardian.py: the channel guardian's actions
    "channel.action_opened",
    "channel.signed",
    "channel.recorded",
    "channel.broadcast",
    "channel.bump_due",
    "channel.action_mined",
    # alert/outbox.py: the alert outbox
    "outbox.enqueued",
    "outbox.sent",
)

ACTIONS = ("kill",)


class FailpointSpecError(ValueError):
    """The failpoint specification (``WATCHTOWER_FAILPOINTS``) cannot be used."""


@dataclass(frozen=True)
class Armed:
    """What happens at an armed failpoint: ``action`` on the ``nth`` hit (1-based)."""

    action: str
    nth: int = 1


def parse(spec: str) -> dict[str, Armed]:
    """``name=action[@n],...`` -> armed failpoints; :class:`FailpointSpecError` (one line)."""
    armed: dict[str, Armed] = {}
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        name, sep, action = entry.partition("=")
        name, action = name.strip(), action.strip()
        if not sep or not name or not action:
            raise FailpointSpecError(f"{ENV}: {entry!r} is not NAME=ACTION[@N]")
        if name not in KNOWN:
            close = [k for k in KNOWN if k.split(".")[0] == name.split(".")[0]] or list(KNOWN)
            raise FailpointSpecError(
                f"{ENV}: unknown failpoint {name!r} (known: {', '.join(close)})"
            )
        action, at, count = action.partition("@")
        if action not in ACTIONS:
            raise FailpointSpecError(
                f"{ENV}: {name}: unknown action {action!r} (known: {', '.join(ACTIONS)})"
            )
        nth = 1
        if at:
            if not count.isdigit() or int(count) < 1:
                raise FailpointSpecError(f"{ENV}: {name}: @{count} is not a hit number >= 1")
            nth = int(count)
        if name in armed:
            raise FailpointSpecError(f"{ENV}: failpoint {name!r} is given twice")
        armed[name] = Armed(action, nth)
    return armed


def arm_from_environment() -> dict[str, Armed]:
    """Arm the failpoints :data:`ENV` names (replacing any armed before); returns them.
    Raises :class:`FailpointSpecError` for an unknown name or a malformed entry."""
    armed = parse(os.environ.get(ENV, ""))
    with _lock:
        _ARMED.clear()
        _ARMED.update(armed)
        _hits.clear()
    return dict(armed)


_ARMED: dict[str, Armed] = {}
_hits: dict[str, int] = {}
_lock = threading.Lock()


def failpoint(name: str) -> None:
    """A place where a test may crash the process (see the module docstring)."""
    if _ARMED:
        _hit(name)


def armed() -> dict[str, Armed]:
    """The failpoints armed in this process (a copy)."""
    return dict(_ARMED)


def _hit(name: str) -> None:
    point = _ARMED.get(name)
    if point is None:
        return
    with _lock:
        count = _hits.get(name, 0) + 1
        _hits[name] = count
        if count != point.nth:
            return
        line = {
            "event": "failpoint_hit",
            "name": name,
            "hit": count,
            "action": point.action,
            "pid": os.getpid(),
            "thread": threading.current_thread().name,
        }
        sys.stderr.write(json.dumps(line) + "\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
