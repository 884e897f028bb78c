"""The HTTP JSON-RPC provider of every L1 connection: explicit retries, and measurements.

Retries: a request whose method only *reads* (web3's own allow-list of idempotent methods; never
``eth_sendRawTransaction``, which the challenge journal re-broadcasts itself) is tried up to
:data:`ATTEMPTS` times, 0.25 s then 0.5 s apart, when the transport fails in any way: a timeout,
a refused or dropped connection, a 429 or 5xx answer, or an answer that is not JSON (truncated).
web3's built-in retry is switched off, so the two never multiply; it also misses dropped
connections and garbled answers. Outages longer than that are the service's backoff's business.

Measurements (with ``metrics``): latency per request and failed attempts, labelled by the
endpoint's host:port only.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from web3 import HTTPProvider
from web3.providers.rpc.utils import check_if_retry_on_failure
from web3.types import RPCEndpoint, RPCResponse

from watchtower.metrics import Metrics

ATTEMPTS = 3
BACKOFF = 0.25
#: Transport failures: requests' errors are OSErrors; an answer that is not JSON is a ValueError.
TRANSPORT_ERRORS = (OSError, ValueError)


def endpoint_label(url: str) -> str:
    """host:port only: RPC URLs often carry an API key in their path."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


class InstrumentedHTTPProvider(HTTPProvider):
    def __init__(self, url: str, metrics: Metrics | None = None, **kwargs: Any) -> None:
        super().__init__(url, exception_retry_configuration=None, **kwargs)
        self._metrics = metrics
        self._label = endpoint_label(url)

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        attempts = ATTEMPTS if check_if_retry_on_failure(method) else 1
        for attempt in range(attempts):
            try:
                return self._measured(method, params)
            except TRANSPORT_ERRORS:
                if attempt == attempts - 1:
                    raise
                time.sleep(BACKOFF * 2**attempt)
        raise AssertionError("unreachable")

    def _measured(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if self._metrics is None:
            return super().make_request(method, params)
        started = time.perf_counter()
        try:
            response = super().make_request(method, params)
        except Exception:
            self._metrics.rpc_errors.labels(endpoint=self._label).inc()
            raise
        finally:
            self._metrics.rpc_latency.labels(endpoint=self._label).observe(
                time.perf_counter() - started
            )
        if "error" in response:
            self._metrics.rpc_errors.labels(endpoint=self._label).inc()
        return response
