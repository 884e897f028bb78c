"""The metric names the deploy files use are exactly those the service exports."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.conftest import METRICS
from watchtower.metrics import METRIC_NAMES, Metrics


def test_deploy_metric_list_matches_the_registry() -> None:
    metrics = Metrics()
    metrics.challenges.labels(state="sent").inc()
    metrics.rpc_errors.labels(endpoint="x:1").inc()
    metrics.rpc_latency.labels(endpoint="x:1").observe(0.1)
    exported = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        name = family.name + ("_total" if family.type == "counter" else "")
        exported[name] = family.type
    assert exported == METRICS
    assert set(METRIC_NAMES) == set(METRICS)
