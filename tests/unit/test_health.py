"""Readiness and stall detection (watchtower.health) with a clock moved by hand."""

from __future__ import annotations

from watchtower.clock import ManualClock
from watchtower.health import Stall, StallDetector, readiness


def test_readiness_names_the_first_reason() -> None:
    ok = readiness(scanned=99, head=100, disagreement=None, stalled=False)
    assert ok == (True, "caught up at L1 block 99")
    assert readiness(scanned=10, head=100, disagreement=None, stalled=False) == (
        False,
        "catching up: scanned to 10, head 100",
    )
    assert readiness(scanned=99, head=100, disagreement=None, stalled=True) == (
        False,
        "L1 head stuck at 100",
    )
    disputed = readiness(scanned=10, head=100, disagreement="block 5 differs", stalled=True)
    assert disputed == (False, "L1 endpoints disagree: block 5 differs")


def test_a_stall_is_reported_once_per_episode() -> None:
    clock = ManualClock()
    stall = StallDetector(after=300, clock=clock)
    assert stall.observe(7) is None
    clock.advance(299)
    assert stall.observe(7) is None and not stall.stalled
    clock.advance(2)
    assert stall.observe(7) == Stall(l1_block=7, seconds=301)
    assert stall.stalled
    clock.advance(100)
    assert stall.observe(None) is None  # same episode: said once
    assert stall.observe(8) is None and not stall.stalled  # the head moved: over
    clock.advance(301)
    assert stall.observe(None) == Stall(l1_block=8, seconds=301)  # failing ticks stall too


def test_a_node_never_read_stalls_with_no_block() -> None:
    clock = ManualClock()
    stall = StallDetector(after=10, clock=clock)
    clock.advance(11)
    assert stall.observe(None) == Stall(l1_block=None, seconds=11)
