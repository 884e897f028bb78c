from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alert.receiver import Receiver

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class FakeClock:
    """An injected clock: tests move time instead of sleeping."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
