"""L1 chains for development, demos and tests: a real anvil node, or the in-process py-evm chain
(eth-tester, a dependency of watchtower-dev only).

anvil comes from the pinned npm package ``@foundry-rs/anvil`` (installed by ``npm ci``); its real
binary lives in a platform package under ``node_modules/@foundry-rs/``. ``WATCHTOWER_ANVIL`` may
point at another binary.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.types import Wei

from watchtower.errors import WatchtowerError
from watchtower.l1.rollup import register_revert_error

REPO_ROOT = Path(__file__).resolve().parents[2]
_PLATFORM_PACKAGES = {
    ("Linux", "x86_64"): "anvil-linux-amd64",
    ("Linux", "aarch64"): "anvil-linux-arm64",
    ("Darwin", "x86_64"): "anvil-darwin-amd64",
    ("Darwin", "arm64"): "anvil-darwin-arm64",
}


class ChainUnavailableError(WatchtowerError):
    """A development chain could not be started."""


def find_anvil() -> Path | None:
    """The anvil binary: ``$WATCHTOWER_ANVIL``, then node_modules, then ``PATH``."""
    explicit = os.environ.get("WATCHTOWER_ANVIL")
    if explicit:
        return Path(explicit)
    package = _PLATFORM_PACKAGES.get((platform.system(), platform.machine()))
    if package is not None:
        for base in (Path.cwd(), REPO_ROOT):
            candidate = base / "node_modules" / "@foundry-rs" / package / "bin" / "anvil"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which("anvil")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AnvilNode:
    """A running anvil subprocess on 127.0.0.1."""

    binary: Path
    port: int = field(default_factory=free_port)
    block_time: float | None = None
    chain_id: int = 31337
    #: ether in each of anvil's funded accounts (anvil's default: 10,000): a devnet's deployer
    #: pays the whole L2 genesis into the bridge (protocol.md §8.6).
    balance: int | None = None
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> AnvilNode:
        args = [
            str(self.binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--gas-limit",
            "100000000",
            "--silent",
        ]
        if self.block_time is not None:
            args += ["--block-time", str(self.block_time)]
        if self.balance is not None:
            args += ["--balance", str(self.balance)]
        log = self.log_path.open("wb") if self.log_path else subprocess.DEVNULL
        try:
            # A fixed argument list for a resolved binary, no shell.
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        except OSError as exc:
            raise ChainUnavailableError(f"cannot start anvil at {self.binary}: {exc}") from exc
        finally:
            if self.log_path and not isinstance(log, int):
                log.close()
        w3 = self.web3()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ChainUnavailableError(f"anvil exited with status {self.process.returncode}")
            try:
                if w3.is_connected():
                    return self
            except Exception:  # noqa: S110  (not listening yet)
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ChainUnavailableError(f"anvil did not answer on {self.url} in {timeout}s")
            time.sleep(0.05)

    def web3(self) -> Web3:
        return Web3(HTTPProvider(self.url, request_kwargs={"timeout": 60}))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_anvil(**kwargs: object) -> AnvilNode:
    binary = find_anvil()
    if binary is None:
        raise ChainUnavailableError(
            "anvil not found: run `npm ci` in the repository (pinned @foundry-rs/anvil), "
            "or set WATCHTOWER_ANVIL"
        )
    return AnvilNode(binary=binary, **kwargs).start()  # type: ignore[arg-type]


def embedded_web3() -> Web3:
    """The in-process L1: eth-tester on py-evm, auto-mining, with funded unlocked accounts.

    eth-tester raises its own ``TransactionFailed`` for a revert (a node answers with a JSON-RPC
    error): it is registered with the L1 client, which then reads its reason like a node's.
    """
    register_revert_error(TransactionFailed)
    return Web3(EthereumTesterProvider())


def fund(w3: Web3, to: str, amount: int) -> None:
    """Send ``amount`` wei from the dev chain's first unlocked account (anvil, eth-tester)."""
    funder: ChecksumAddress = w3.eth.accounts[0]
    tx_hash = w3.eth.send_transaction(
        {"from": funder, "to": Web3.to_checksum_address(to), "value": Wei(amount)}
    )
    w3.eth.wait_for_transaction_receipt(tx_hash)


def mine(w3: Web3, blocks: int = 1, seconds: int = 0) -> tuple[int, int]:
    """Move the dev chain's clock on by ``seconds`` (if any), then mine ``blocks`` empty blocks
    (anvil: ``evm_increaseTime``, ``anvil_mine``; or the embedded chain). The new head's number
    and timestamp.

    Raises :class:`ChainUnavailableError` naming the method when the node does not mine on
    request (a real network's node).
    """
    tester = getattr(w3.provider, "ethereum_tester", None)
    if tester is not None:
        if seconds:
            tester.time_travel(int(w3.eth.get_block("latest")["timestamp"]) + seconds)
        tester.mine_blocks(blocks)
    else:
        calls: list[tuple[str, list[object]]] = [("anvil_mine", [hex(blocks)])]
        if seconds:
            calls.insert(0, ("evm_increaseTime", [seconds]))
        for method, params in calls:
            answer = w3.provider.make_request(method, params)  # type: ignore[arg-type]
            error = answer.get("error")
            if error:
                message = error.get("message", error) if isinstance(error, dict) else error
                raise ChainUnavailableError(
                    f"the L1 node does not {method} ({message}): mining on request is for "
                    "development chains (anvil)"
                )
    head = w3.eth.get_block("latest")
    return int(head["number"]), int(head["timestamp"])
