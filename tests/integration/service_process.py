"""Run ``watchtower run`` as a real subprocess and watch its JSON log lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from watchtower_dev.devnet import Devnet


class ServiceProcess:
    def __init__(
        self,
        net: Devnet,
        data_dir: Path,
        *extra: str,
        rpc_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """``watchtower run`` on ``net`` (through ``rpc_url`` if given, e.g. a proxy), with
        ``env`` added to the environment."""
        key = net.challenger.key.hex()
        env = {**os.environ, **(env or {}), "WT_CHALLENGER_KEY": key}
        args = [
            sys.executable, "-m", "watchtower", "run",
            "--l1-rpc", rpc_url or str(net.rpc_url),
            "--rollup", net.client.address,
            "--genesis", str(net.genesis_path),
            "--data-dir", str(data_dir),
            "--key-env", "WT_CHALLENGER_KEY",
            "--poll-interval", "0.2",
            "--log-format", "json",
            *extra,
        ]  # fmt: skip
        self._start(args, env)

    @classmethod
    def with_args(cls, args: list[str], env: dict[str, str] | None = None) -> ServiceProcess:
        """``python -m watchtower ARGS`` (e.g. ``run --config FILE``)."""
        process = cls.__new__(cls)
        process._start([sys.executable, "-m", "watchtower", *args], env or dict(os.environ))
        return process

    def _start(self, args: list[str], env: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.proc = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)
            try:
                self.events.append(json.loads(line))
            except json.JSONDecodeError:
                continue

    def wait_for(
        self, event: str, timeout: float = 60.0, *, since: int = 0, **fields: Any
    ) -> dict[str, Any]:
        """The first ``event`` with ``fields`` logged at or after position ``since``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.events[since:]:
                if entry.get("event") == event and all(
                    entry.get(k) == v for k, v in fields.items()
                ):
                    return entry
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        tail = "".join(self.raw[-15:])
        raise AssertionError(f"no {event} {fields} within {timeout}s; log tail:\n{tail}")

    def count(self, event: str) -> int:
        return sum(1 for e in list(self.events) if e.get("event") == event)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        if self.proc.stderr:
            self.proc.stderr.close()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        if self.proc.stderr:
            self.proc.stderr.close()
        return code
