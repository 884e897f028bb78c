"""An anvil node of this directory's own (these tests switch automine off and move the clock),
and a throw-away node for the tests that push block timestamps to the end of uint64."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from tests.contracts.conftest import Anvil, anvil_binary, missing


def _start(tmp_path_factory: pytest.TempPathFactory) -> Anvil:
    binary = anvil_binary()
    if binary is None:
        missing("anvil is not installed under node_modules/@foundry-rs")
        raise AssertionError("unreachable")
    return Anvil(binary, tmp_path_factory.mktemp("anvil-adv"))


@pytest.fixture(scope="session")
def w3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web3]:
    node = _start(tmp_path_factory)
    try:
        yield node.w3
    finally:
        node.stop()


@pytest.fixture
def fresh_w3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web3]:
    """A node for one test only: its clock can be moved where no other test could live."""
    node = _start(tmp_path_factory)
    try:
        yield node.w3
    finally:
        node.stop()
