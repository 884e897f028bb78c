"""Shared fixtures for the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from watchtower.execute.statedb import StateDB
from watchtower.hashing import use_fast_keccak

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

settings.register_profile(
    "default", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config: pytest.Config) -> None:
    use_fast_keccak()  # what the CLI does; importing the package no longer chooses for us


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `slow` tests everywhere unless the marker expression asks for them (`-m slow`).

    The same rule as tests/contracts/conftest.py applies to its own directory; this extends it
    to the whole suite, so the default run stays short wherever long variants live.
    """
    if "slow" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="long run: select with `-m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateDB]:
    db = StateDB(tmp_path / "state", sync=False)
    yield db
    db.close()
