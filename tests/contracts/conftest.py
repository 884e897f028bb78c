"""Fixtures for the contract tests: a real anvil node (subprocess) and deployed contracts.

anvil comes from ``node_modules`` (``npm ci``). Without it the tests that need it are skipped with a
clear message — except under CI (env ``CI=true``), where a missing node is a failure.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3
from web3.contract import Contract

ROOT = Path(__file__).resolve().parents[2]
TEST_ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

_PLATFORM_PACKAGES = {
    ("Linux", "x86_64"): "anvil-linux-amd64",
    ("Linux", "aarch64"): "anvil-linux-arm64",
    ("Darwin", "x86_64"): "anvil-darwin-amd64",
    ("Darwin", "arm64"): "anvil-darwin-arm64",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> None:
    """Skip locally, fail in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this is a failure, not a skip)")
    pytest.skip(f"{reason}; run `npm ci` in {ROOT}")


def anvil_binary() -> Path | None:
    """The real anvil executable inside node_modules (not the node wrapper), if installed."""
    package = _PLATFORM_PACKAGES.get((platform.system(), platform.machine()))
    if package is None:
        return None
    path = ROOT / "node_modules" / "@foundry-rs" / package / "bin" / "anvil"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Anvil:
    """A running anvil subprocess."""

    def __init__(self, binary: Path, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"anvil-{self.port}.log"
        self.log = self.log_path.open("wb")
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(binary),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--silent",
                "--chain-id",
                "31337",
                "--gas-limit",
                "1000000000",
                "--code-size-limit",
                str(0x6000),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 120}))
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self.log.close()
                err = self.log_path.read_text(errors="replace")
                raise RuntimeError(f"anvil exited with {self.proc.returncode}: {err}")
            try:
                if self.w3.is_connected():
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("anvil did not answer within 30 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    binary = anvil_binary()
    if binary is None:
        missing("anvil is not installed under node_modules/@foundry-rs")
        raise AssertionError("unreachable")
    node = Anvil(binary, tmp_path_factory.mktemp("anvil"))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def w3(anvil: Anvil) -> Web3:
    return anvil.w3


def load_test_artifact(name: str) -> dict[str, Any]:
    path = TEST_ARTIFACTS / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def deploy(w3: Web3, artifact: dict[str, Any], *args: Any, value: int = 0) -> Contract:
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor(*args).transact({"from": w3.eth.accounts[0], "value": value})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1, f"deploying {artifact['contractName']} failed"
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


@pytest.fixture(scope="session")
def deployer(w3: Web3) -> Callable[..., Contract]:
    def _deploy(artifact: dict[str, Any], *args: Any, value: int = 0) -> Contract:
        return deploy(w3, artifact, *args, value=value)

    return _deploy


@pytest.fixture(scope="session")
def mpt_harness(w3: Web3) -> Contract:
    return deploy(w3, load_test_artifact("MPTHarness"))


@pytest.fixture(scope="session")
def step_harness(w3: Web3) -> Contract:
    return deploy(w3, load_test_artifact("StepHarness"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this directory's `slow` tests unless the marker expression asks for them."""
    if "slow" in (config.getoption("markexpr", "") or ""):
        return
    here = Path(__file__).resolve().parent
    skip = pytest.mark.skip(reason="slow differential run: select with `-m slow`")
    for item in items:
        if "slow" in item.keywords and here in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def solc_installed() -> None:
    """Skip (locally) or fail (CI) unless the pinned solcjs is installed."""
    if not (ROOT / "node_modules" / "solc" / "package.json").is_file():
        missing("solcjs is not installed under node_modules/solc")
