"""A fault-injecting JSON-RPC proxy: put it between watchtower and a real L1 node.

It forwards every request to the upstream node unchanged, unless a fault is switched on:

====================  =========================================================================
fault                 what the client sees
====================  =========================================================================
``timeout``           no answer for ``delay`` seconds, then the connection closes
``http_429``          ``429 Too Many Requests`` with ``Retry-After``
``http_5xx``          ``502 Bad Gateway`` / ``503 Service Unavailable``
``drop``              the connection is closed without an answer
``truncate``          the node's answer cut in half (invalid JSON)
``stuck_head``        the head stops at the block it had when the fault began
``lag``               the head is ``lag`` blocks behind the node's (newer blocks do not exist)
``lie_block_hash``    other hashes for every block it serves
``rewrite_batch``     other calldata for a transaction, and other data in its logs
``log_range_limit``   ``eth_getLogs`` over more than ``limit`` blocks is refused
``fail_calls``        the first ``remaining`` ``eth_call`` / ``eth_estimateGas`` requests to
                      ``to`` whose data starts with ``selector`` fail: alternately ``429`` and
                      a JSON-RPC error (``-32005 limit exceeded``); then they pass
====================  =========================================================================

Faults are switched at run time from the test (or the operator's drill) that owns the proxy;
``rate`` makes a fault hit only that fraction of matching requests (seeded, reproducible), and
``methods`` limits it to some methods. :attr:`RpcProxy.stats` counts requests and faults.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_hash.auto import keccak

_HEAD_TAGS = ("latest", "pending", "safe", "finalized")
_RESPONSE_FAULTS = ("truncate",)
_REQUEST_FAULTS = ("timeout", "http_429", "http_5xx", "drop")


@dataclass
class Fault:
    """One fault: its kind, which methods it applies to (all when empty), and how often."""

    kind: str
    methods: frozenset[str] = frozenset()
    rate: float = 1.0
    delay: float = 5.0  # timeout
    status: int = 503  # http_5xx
    lag: int = 0  # lag
    limit: int = 0  # log_range_limit
    head: int | None = None  # stuck_head: the frozen head (taken when the fault begins)
    tx_hash: str = ""  # rewrite_batch: the transaction (0x-hex, lower case)
    calldata: str = ""  # rewrite_batch: its new input
    log_data: str = ""  # rewrite_batch: new data of its logs
    to: str = ""  # fail_calls: the called contract (0x-hex, any case)
    selector: str = ""  # fail_calls: the function selector (0x + 8 hex digits)
    remaining: int = 0  # fail_calls: how many matching calls still fail

    def applies(self, method: str) -> bool:
        return not self.methods or method in self.methods


@dataclass
class ProxyStats:
    requests: Counter[str] = field(default_factory=Counter)  # by method
    faults: Counter[str] = field(default_factory=Counter)  # by fault kind

    def total(self) -> int:
        return sum(self.requests.values())


class RpcProxy:
    """A local HTTP JSON-RPC proxy to ``upstream`` with switchable faults."""

    def __init__(self, upstream: str, *, seed: int = 0, upstream_timeout: float = 60.0) -> None:
        self.upstream = upstream
        self.upstream_timeout = upstream_timeout
        self.stats = ProxyStats()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311  (reproducible fault choice, not crypto)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RpcProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RpcProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- switching faults -----------------------------------------------------------------------
    def inject(self, kind: str, *, methods: tuple[str, ...] = (), **options: Any) -> Fault:
        """Switch a fault on (in addition to those already on); return it."""
        fault = Fault(kind=kind, methods=frozenset(methods), **options)
        if kind == "stuck_head" and fault.head is None:
            fault.head = int(self._upstream_call("eth_blockNumber", []), 16)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Switch every fault off: the proxy forwards faithfully again."""
        with self._lock:
            self._faults = []

    def _active(self, method: str) -> list[Fault]:
        with self._lock:
            return [
                f
                for f in self._faults
                if f.applies(method) and (f.rate >= 1.0 or self._rng.random() < f.rate)
            ]

    # -- the request path -----------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = handler.rfile.read(length)
        try:
            request = json.loads(body)
        except json.JSONDecodeError:
            self._reply(handler, 400, b'{"error": "not JSON"}')
            return
        method = str(request.get("method", "")) if isinstance(request, dict) else "batch"
        self.stats.requests[method] += 1
        faults = self._active(method)
        if isinstance(request, dict) and self._fail_call(handler, request, faults):
            return
        for fault in faults:
            if fault.kind in _REQUEST_FAULTS:
                self.stats.faults[fault.kind] += 1
                self._fail(handler, fault)
                return
        if isinstance(request, dict):
            early = self._answer_locally(request, faults)
            if early is not None:
                self._reply(handler, 200, json.dumps(early).encode())
                return
            request = self._rewrite_request(request, faults)
        try:
            status, raw = self._forward(json.dumps(request).encode())
        except OSError:
            self._fail(handler, Fault("http_5xx", status=502))
            return
        if isinstance(request, dict) and status == 200:
            raw = self._rewrite_response(request, raw, faults)
        if any(f.kind == "truncate" for f in faults):
            self.stats.faults["truncate"] += 1
            raw = raw[: len(raw) // 2]
        self._reply(handler, status, raw)

    def _fail_call(
        self, handler: BaseHTTPRequestHandler, request: dict[str, Any], faults: list[Fault]
    ) -> bool:
        """Answer a matching call under ``fail_calls`` with a failure; whether it did."""
        if request.get("method") not in ("eth_call", "eth_estimateGas"):
            return False
        params = request.get("params") or [{}]
        call = params[0] if isinstance(params[0], dict) else {}
        to = str(call.get("to") or "").lower()
        data = str(call.get("data") or call.get("input") or "").lower()
        for fault in faults:
            if fault.kind != "fail_calls" or to != fault.to.lower():
                continue
            if not data.startswith(fault.selector.lower()):
                continue
            with self._lock:
                if fault.remaining <= 0:
                    continue
                fault.remaining -= 1
                odd = fault.remaining % 2 == 1
            self.stats.faults["fail_calls"] += 1
            if odd:
                self._reply(handler, 429, b"rate limited", {"Retry-After": "1"})
            else:
                error = {"code": -32005, "message": "limit exceeded"}
                body = {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
                self._reply(handler, 200, json.dumps(body).encode())
            return True
        return False

    def _fail(self, handler: BaseHTTPRequestHandler, fault: Fault) -> None:
        if fault.kind == "timeout":
            time.sleep(fault.delay)
            self._close(handler)
        elif fault.kind == "drop":
            self._close(handler)
        elif fault.kind == "http_429":
            self._reply(handler, 429, b"rate limited", {"Retry-After": "1"})
        else:
            self._reply(handler, fault.status, b"upstream unavailable")

    @staticmethod
    def _close(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            handler.close_connection = True  # the client gave up first

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310  (http to the configured upstream node)
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.upstream_timeout) as response:  # noqa: S310
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def _upstream_call(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        _, raw = self._forward(body.encode())
        return json.loads(raw)["result"]

    # -- head faults ----------------------------------------------------------------------------
    def _head_limit(self, faults: list[Fault]) -> int | None:
        """The head the client may see under ``stuck_head`` / ``lag``, or ``None``."""
        limits = []
        for fault in faults:
            if fault.kind == "stuck_head" and fault.head is not None:
                limits.append(fault.head)
            elif fault.kind == "lag":
                real = int(self._upstream_call("eth_blockNumber", []), 16)
                limits.append(max(0, real - fault.lag))
        return min(limits) if limits else None

    def _answer_locally(self, request: dict[str, Any], faults: list[Fault]) -> Any:
        """Answers a head fault gives without asking the node (``None``: forward)."""
        head = self._head_limit(faults)
        method, params = request.get("method"), request.get("params") or []
        if head is None:
            return self._log_range_refusal(request, faults)
        for fault in faults:
            if fault.kind in ("stuck_head", "lag"):
                self.stats.faults[fault.kind] += 1
        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": request.get("id"), "result": hex(head)}
        if method == "eth_getBlockByNumber" and params:
            tag = params[0]
            if isinstance(tag, str) and tag not in _HEAD_TAGS and int(tag, 16) > head:
                return {"jsonrpc": "2.0", "id": request.get("id"), "result": None}
        return self._log_range_refusal(request, faults)

    def _log_range_refusal(self, request: dict[str, Any], faults: list[Fault]) -> Any:
        if request.get("method") != "eth_getLogs":
            return None
        for fault in faults:
            if fault.kind != "log_range_limit":
                continue
            query = (request.get("params") or [{}])[0]
            first, last = query.get("fromBlock", "0x0"), query.get("toBlock", "latest")
            if not (isinstance(first, str) and isinstance(last, str)):
                continue
            if last in _HEAD_TAGS:
                last = self._upstream_call("eth_blockNumber", [])
            if int(last, 16) - int(first, 16) + 1 > fault.limit:
                self.stats.faults[fault.kind] += 1
                return {
                    "jsonrpc": "2.0",
                    "id": request.get("id"),
                    "error": {
                        "code": -32005,
                        "message": f"query exceeds max block range {fault.limit}",
                    },
                }
        return None

    def _rewrite_request(self, request: dict[str, Any], faults: list[Fault]) -> dict[str, Any]:
        """Under a head fault, 'latest' means the faked head."""
        head = self._head_limit(faults)
        params = request.get("params") or []
        if head is None or not params:
            return request
        method = request.get("method")
        if method == "eth_getBlockByNumber" and params[0] in _HEAD_TAGS:
            return {**request, "params": [hex(head), *params[1:]]}
        if method == "eth_getLogs" and isinstance(params[0], dict):
            query = dict(params[0])
            if query.get("toBlock") in _HEAD_TAGS:
                query["toBlock"] = hex(head)
            return {**request, "params": [query, *params[1:]]}
        return request

    # -- lies -----------------------------------------------------------------------------------
    def _rewrite_response(self, request: dict[str, Any], raw: bytes, faults: list[Fault]) -> bytes:
        lies = [f for f in faults if f.kind in ("lie_block_hash", "rewrite_batch")]
        if not lies:
            return raw
        try:
            response = json.loads(raw)
        except json.JSONDecodeError:
            return raw
        result = response.get("result")
        method = request.get("method")
        changed = False
        for fault in lies:
            if fault.kind == "lie_block_hash" and method == "eth_getBlockByNumber" and result:
                result["hash"] = _other_hash(result["hash"])
                changed = True
            elif fault.kind == "rewrite_batch" and result:
                if method == "eth_getTransactionByHash" and result["hash"].lower() == fault.tx_hash:
                    result["input"] = fault.calldata
                    changed = True
                elif method == "eth_getLogs":
                    for entry in result:
                        if entry["transactionHash"].lower() == fault.tx_hash and fault.log_data:
                            entry["data"] = fault.log_data
                            changed = True
            if changed:
                self.stats.faults[fault.kind] += 1
        return json.dumps(response).encode() if changed else raw


def _other_hash(value: str) -> str:
    return "0x" + bytes(keccak(bytes.fromhex(value[2:]))).hex()
