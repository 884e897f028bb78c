"""An HTTP JSON-RPC provider that measures every request (latency, errors) per endpoint."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from web3 import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from watchtower.metrics import Metrics


def endpoint_label(url: str) -> str:
    """host:port only: RPC URLs often carry an API key in their path."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


class InstrumentedHTTPProvider(HTTPProvider):
    def __init__(self, url: str, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._metrics = metrics
        self._label = endpoint_label(url)

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
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
