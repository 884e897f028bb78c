"""A real local HTTP receiver for the alert tests (no HTTP mocking)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    receiver: Receiver

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is expected in these tests


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status = receiver.next_status()
        receiver.record(
            Received(
                "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, status
            )
        )
        if receiver.hang_for:
            receiver.released.wait(receiver.hang_for)
        if receiver.echo and status >= 300:
            # a receiver echoing secrets back: the path (a Slack token), a routing key, the body
            try:
                key = str(json.loads(body).get("routing_key", "")).encode()
            except (ValueError, AttributeError):
                key = b""
            pad = b"." * receiver.echo_pad
            answer = b"invalid " + self.path.encode() + b" " + pad + key + b" " + body
        else:
            answer = b"ok"
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Receiver:
    """Records every request; answers with the scripted statuses, then ``default_status``."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.requests: list[Received] = []
        self.statuses: deque[int] = deque()
        self.default_status = 200
        self.hang_for = 0.0
        self.echo = False
        self.echo_pad = 0
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Receiver:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.receiver = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def next_status(self) -> int:
        with self._lock:
            return self.statuses.popleft() if self.statuses else self.default_status

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def accepted(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self.requests
                if 200 <= r.status < 300 and (path is None or r.path == path)
            ]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    receiver = Receiver().start()
    receiver.stop()
    return receiver.port
