"""Integration fixtures: a devnet on each L1 (in-process py-evm chain, and a real anvil node)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchtower_dev.chain import find_anvil
from watchtower_dev.devnet import Devnet, start_devnet

TEST_ARTIFACTS = Path(__file__).resolve().parents[1] / "contracts" / "artifacts"


def require_anvil() -> None:
    if find_anvil() is None:
        message = "anvil not installed (run `npm ci`; the test command does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " - CI=true: a failure, not a skip")
        pytest.skip(message)


@pytest.fixture(params=["embedded", "anvil"])
def devnet(request: pytest.FixtureRequest) -> Iterator[Devnet]:
    if request.param == "anvil":
        require_anvil()
    net = start_devnet(request.param)
    try:
        yield net
    finally:
        net.close()


@pytest.fixture
def anvil_net() -> Iterator[Devnet]:
    """A devnet on a real anvil node (skipped locally without anvil, a failure in CI)."""
    require_anvil()
    net = start_devnet("anvil")
    try:
        yield net
    finally:
        net.close()


def rpc(net: Devnet, method: str, *params: object) -> object:
    """A raw JSON-RPC call (anvil's evm_* and friends)."""
    return net.w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]
