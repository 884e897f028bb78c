"""Compose, Prometheus, Alertmanager, Grafana and Kubernetes files agree with each other and with
the service's contract (ports, paths, metric names)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from tests.deploy.conftest import (
    CONFIG_SECTIONS,
    DEPLOY,
    METRICS,
    ROOT,
    base_metric,
    example_config,
    listen_port,
    load_yaml,
    load_yaml_all,
    promql_metrics,
    unknown_metrics,
)

COMPOSE_FILE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "kubernetes"
REQUIRED_ALERTS = {
    "WatchtowerDown",
    "WatchtowerStalled",
    "FraudDetected",
    "ChallengeDeadlineAtRisk",
    "SignerBalanceLow",
    "RPCErrors",
    "OutboxBacklog",
    "NotReady",
}


def _compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


def _image_is_pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest") and "latest" not in tag


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every volume entry, short or long syntax."""
    result = []
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            source, target = entry.split(":")[:2]
        else:
            source, target = entry["source"], entry["target"]
        result.append((source, target))
    return result


# -- docker compose -----------------------------------------------------------------------------


def test_compose_has_the_whole_stack_with_pinned_images() -> None:
    services = _compose()["services"]
    assert {"anvil", "proposer", "watchtower", "prometheus", "alertmanager", "grafana"} <= set(
        services
    )
    for name, service in services.items():
        assert _image_is_pinned(service["image"]), f"{name}: {service['image']} is not pinned"
    assert services["anvil"]["image"].startswith("ghcr.io/foundry-rs/foundry:")
    # The compose anvil is the npm-pinned anvil the tests use.
    anvil_version = json.loads((ROOT / "package.json").read_text())["devDependencies"][
        "@foundry-rs/anvil"
    ]
    assert services["anvil"]["image"].endswith(f":v{anvil_version}")
    assert "0.0.0.0" in services["anvil"]["command"]


def test_compose_long_running_services_have_healthchecks() -> None:
    services = _compose()["services"]
    for name in ("anvil", "watchtower", "prometheus", "alertmanager", "grafana"):
        check = services[name].get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), name
    # The proposer runs the watchtower image but serves no /healthz: the image's check is off.
    assert services["proposer"]["healthcheck"] == {"disable": True}
    test = " ".join(services["watchtower"]["healthcheck"]["test"])
    assert f"127.0.0.1:{listen_port(example_config())}/healthz" in test


def test_compose_local_files_exist() -> None:
    compose = _compose()
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert context == ROOT, f"{name}: build context must be the repository root"
            assert (context / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
        for source, _target in _mounts(service):
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} not declared"
    ignored = (DEPLOY / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignored
    for name, secret in compose["secrets"].items():
        path = PurePosixPath(secret["file"])
        assert path.parts[:2] == (".", "secrets") or path.parts[0] == "secrets", name
        assert (DEPLOY / "secrets").is_dir()
        assert path.name in (DEPLOY / "secrets" / "README.md").read_text(), name


def test_compose_watchtower_matches_the_example_config() -> None:
    compose = _compose()
    service = compose["services"]["watchtower"]
    config = example_config()
    mounts = dict(_mounts(service))
    assert mounts["./config/watchtower.toml"] == "/etc/watchtower/watchtower.toml"
    assert service["command"][-1] == "/etc/watchtower/watchtower.toml"
    data_dir = config["service"]["data_dir"]
    assert mounts["watchtower-data"] == data_dir
    # Secrets land where [signer] looks for them.
    targets = {entry["target"] for entry in service["secrets"]}
    assert config["signer"]["password_file"] in targets
    assert config["signer"]["keystore"] in targets
    # Port published = port listened on.
    port = listen_port(config)
    assert any(p.endswith(f":{port}:{port}") for p in service["ports"])
    # The RPC in the example config is the compose anvil.
    anvil_port = re.search(r"--port\D+(\d+)", " ".join(compose["services"]["anvil"]["command"]))
    assert anvil_port
    assert config["l1"]["rpc"] == [f"http://anvil:{anvil_port.group(1)}"]
    assert service["stop_signal"] == "SIGTERM"
    assert service["read_only"] is True


def test_compose_environment_names_valid_settings() -> None:
    service = _compose()["services"]["watchtower"]
    env = service["environment"]
    assert "ROLLUP_ADDRESS" in env["WATCHTOWER_L1_ROLLUP"]
    sections = {f"WATCHTOWER_{section.upper()}_" for section in CONFIG_SECTIONS}
    for variable in env:
        if variable.startswith("WATCHTOWER_") and any(variable.startswith(s) for s in sections):
            section, _, key = variable.removeprefix("WATCHTOWER_").lower().partition("_")
            assert key in example_config()[section] or section == "l1", variable
    from watchtower.config import load_settings

    rollup = "0x" + "ab" * 20
    settings = load_settings(
        DEPLOY / "config" / "watchtower.toml", env={"WATCHTOWER_L1_ROLLUP": rollup}
    )
    assert settings["l1.rollup"].lower() == rollup


# -- Prometheus and Alertmanager ----------------------------------------------------------------


def test_prometheus_scrapes_the_port_the_watchtower_listens_on() -> None:
    prometheus = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    job = jobs["watchtower"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    port = listen_port(example_config())
    assert targets == [f"watchtower:{port}"]
    assert "watchtower" in _compose()["services"]
    for rule_file in prometheus["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file).is_file()
    # Rule files are mounted beside prometheus.yml in the container.
    mounts = dict(_mounts(_compose()["services"]["prometheus"]))
    for rule_file in prometheus["rule_files"]:
        assert mounts[f"./prometheus/{rule_file}"] == f"/etc/prometheus/{rule_file}"
    alertmanagers = [
        t
        for am in prometheus["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    assert alertmanagers == ["alertmanager:9093"]


def _rules() -> list[dict[str, Any]]:
    document = load_yaml(DEPLOY / "prometheus" / "alerts.yml")
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_cover_the_required_alerts() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert promql_metrics(rule["expr"]), f"{rule['alert']}: selects no metric"
    by_name = {rule["alert"]: rule for rule in rules}
    assert "watchtower_last_tick_timestamp_seconds" in by_name["WatchtowerStalled"]["expr"]
    assert re.search(r"<\s*3600\b", by_name["ChallengeDeadlineAtRisk"]["expr"])
    assert "watchtower_seconds_to_nearest_deadline" in by_name["ChallengeDeadlineAtRisk"]["expr"]
    assert "watchtower_ready" in by_name["NotReady"]["expr"]
    assert "watchtower_batches_fraudulent_total" in by_name["FraudDetected"]["expr"]


def test_alert_rules_use_only_known_metrics() -> None:
    for rule in _rules():
        unknown = unknown_metrics(promql_metrics(rule["expr"]))
        assert not unknown, f"{rule['alert']}: unknown metrics {sorted(unknown)}"
        watchtower_names = set(re.findall(r"\bwatchtower_\w+", rule["expr"]))
        assert not unknown_metrics(watchtower_names), rule["alert"]


def test_alert_rule_unit_tests_cover_every_rule() -> None:
    tests = load_yaml(DEPLOY / "prometheus" / "alerts.test.yml")
    assert tests["rule_files"] == ["alerts.yml"]
    tested = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert tested == {rule["alert"] for rule in _rules()}


def test_alertmanager_has_a_default_receiver() -> None:
    config = load_yaml(DEPLOY / "alertmanager" / "alertmanager.yml")
    receivers = {receiver["name"] for receiver in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    for route in config["route"].get("routes", []):
        assert route["receiver"] in receivers


# -- Grafana ------------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "watchtower.json").read_text())


def _dashboard_exprs() -> list[str]:
    dashboard = _dashboard()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if "expr" in a]
    return exprs


def test_dashboard_uses_only_known_metrics_and_all_of_them() -> None:
    used: set[str] = set()
    for expr in _dashboard_exprs():
        names = promql_metrics(expr.replace("$__rate_interval", "5m"))
        unknown = unknown_metrics(names)
        assert not unknown, f"{expr}: unknown metrics {sorted(unknown)}"
        used |= {base_metric(name) for name in names}
    templating = json.dumps(_dashboard().get("templating", {}))
    for name in re.findall(r"\bwatchtower_\w+", templating):
        assert not unknown_metrics({name}), name
    assert used >= set(METRICS), f"no panel for {sorted(set(METRICS) - used)}"


def test_dashboard_structure_and_datasource() -> None:
    dashboard = _dashboard()
    datasources = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
    [datasource] = datasources["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))


def test_grafana_provisioning_paths_are_mounted() -> None:
    providers = load_yaml(DEPLOY / "grafana/provisioning/dashboards/watchtower.yml")["providers"]
    mounts = {target: source for source, target in _mounts(_compose()["services"]["grafana"])}
    for provider in providers:
        source = mounts[provider["options"]["path"]]
        assert (DEPLOY / source / "watchtower.json").is_file()
    assert mounts["/etc/grafana/provisioning/datasources"] == "./grafana/provisioning/datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == "./grafana/provisioning/dashboards"


# -- Kubernetes ---------------------------------------------------------------------------------


def _k8s() -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in load_yaml_all(path):
            if document.get("kind") == "Kustomization":
                continue
            assert document["metadata"]["name"], path
            objects[document["kind"]] = document
    return objects


def test_kubernetes_has_the_right_kinds() -> None:
    objects = _k8s()
    assert {"Namespace", "ConfigMap", "Secret", "StatefulSet", "Service"} <= set(objects)
    assert "ServiceMonitor" in objects or "prometheus.io/scrape" in objects["Service"][
        "metadata"
    ].get("annotations", {})
    assert "Deployment" not in objects
    namespace = objects["Namespace"]["metadata"]["name"]
    for kind, document in objects.items():
        if kind != "Namespace":
            assert document["metadata"]["namespace"] == namespace, kind


def test_kustomization_lists_existing_files_but_not_the_example_secret() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"]
    listed = set(kustomization["resources"]) | {"kustomization.yaml", "secret.example.yaml"}
    assert {p.name for p in K8S.glob("*.yaml")} == listed
    secret = load_yaml(K8S / "secret.example.yaml")
    assert all("REPLACE" in value for value in secret["stringData"].values())


def _pod() -> dict[str, Any]:
    return _k8s()["StatefulSet"]["spec"]["template"]["spec"]


def _container() -> dict[str, Any]:
    [container] = _pod()["containers"]
    return container


def test_statefulset_single_replica_with_persistent_data() -> None:
    statefulset = _k8s()["StatefulSet"]
    spec = statefulset["spec"]
    assert spec["replicas"] == 1
    assert spec["serviceName"] == _k8s()["Service"]["metadata"]["name"]
    [claim] = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounts = {m["name"]: m for m in _container()["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]]["mountPath"] == example_config()["service"]["data_dir"]
    assert _pod()["terminationGracePeriodSeconds"] >= 60
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert _k8s()["Service"]["spec"]["selector"].items() <= labels.items()


def test_statefulset_security_context() -> None:
    pod = _pod()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert _image_is_pinned(container["image"]), container["image"]
        assert container["resources"]["limits"]["memory"], container["name"]
    assert _container()["resources"]["requests"]["cpu"]
    assert "/tmp" in {m["mountPath"] for m in _container()["volumeMounts"]}


def test_probes_hit_healthz_and_readyz_on_the_metrics_port() -> None:
    container = _container()
    port = listen_port(example_config())
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == port

    def probe_port(probe: dict[str, Any]) -> int:
        value = probe["httpGet"]["port"]
        return ports[value] if isinstance(value, str) else value

    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if kind in container:
            assert probe_port(container[kind]) == port, kind
    service_port = _k8s()["Service"]["spec"]["ports"][0]
    assert service_port["port"] == port
    assert service_port["targetPort"] in ("metrics", port)
    annotations = _k8s()["Service"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    [endpoint] = _k8s()["ServiceMonitor"]["spec"]["endpoints"]
    assert endpoint["port"] == service_port["name"]
    assert endpoint["path"] == "/metrics"


def test_configmap_config_parses_and_matches_the_pod(tmp_path: Path) -> None:
    configmap = _k8s()["ConfigMap"]
    config = tomllib.loads(configmap["data"]["watchtower.toml"])
    assert set(CONFIG_SECTIONS) <= set(config)
    assert listen_port(config) == listen_port(example_config())
    container = _container()
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod()["volumes"]}
    config_volume = next(n for n, v in volumes.items() if "configMap" in v)
    assert volumes[config_volume]["configMap"]["name"] == configmap["metadata"]["name"]
    config_path = PurePosixPath(mounts[config_volume]) / "watchtower.toml"
    assert container["args"] == ["run", "--config", str(config_path)]
    assert config["service"]["data_dir"] in mounts.values()
    # The signer files are where the init container puts them, in a volume the container mounts.
    init_script = " ".join(" ".join(c.get("args", [])) for c in _pod()["initContainers"])
    for key in ("keystore", "password_file"):
        path = PurePosixPath(config["signer"][key])
        assert str(path.parent) in mounts.values(), key
        assert "-m 0400 " in init_script and str(path) in init_script, key
    secret_volume = next(v for v in volumes.values() if "secret" in v)
    assert secret_volume["secret"]["secretName"] == _k8s()["Secret"]["metadata"]["name"]
    # Check the ConfigMap's TOML with the service's own loader.
    from watchtower.config import load_settings

    copy = tmp_path / "watchtower.toml"
    copy.write_text(configmap["data"]["watchtower.toml"])
    assert load_settings(copy, env={})["metrics.listen"] == "0.0.0.0:9108"


def test_prometheusrule_is_alerts_yml() -> None:
    rule = _k8s()["PrometheusRule"]
    assert rule["spec"]["groups"] == load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]


def test_configmap_holds_the_genesis_the_config_names() -> None:
    """run requires a genesis: the ConfigMap's config names a file of the ConfigMap's own mount."""
    configmap = _k8s()["ConfigMap"]
    config = tomllib.loads(configmap["data"]["watchtower.toml"])
    genesis = PurePosixPath(config["service"]["genesis"])
    assert genesis.name in configmap["data"]
    json.loads(configmap["data"][genesis.name])  # valid JSON (a placeholder to replace)
    mounts = {m["name"]: m["mountPath"] for m in _container()["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod()["volumes"]}
    config_volume = next(n for n, v in volumes.items() if "configMap" in v)
    assert str(genesis.parent) == mounts[config_volume]
