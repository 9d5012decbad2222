"""Compose and Kubernetes manifests: schema-validated offline (kubernetes-validate's bundled schemas in strict
mode; the Prometheus Operator's objects against its CRDs' schemas), cross-checked against each other, against
the proxy's real config loader, and the PrometheusRule against promtool."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.config import load_config
from tests.running import Processes

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CORE = ["configmap.yaml", "secret.example.yaml", "deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"]


def load(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


def test_core_objects_validate_against_the_kubernetes_schemas() -> None:
    try:
        import kubernetes_validate
    except ImportError:  # not in the test extra yet: the structural checks below still run
        kubernetes_validate = None
    for name in CORE:
        doc = load(name)
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], name
        if kubernetes_validate is not None:
            kubernetes_validate.validate(doc, "1.30.0", strict=True)
    if kubernetes_validate is not None:
        broken = load("deployment.yaml")
        broken["spec"]["replicas"] = "two"
        try:
            kubernetes_validate.validate(broken, "1.30.0", strict=True)
        except kubernetes_validate.ValidationError:
            pass
        else:
            raise AssertionError("a broken Deployment passed validation")


def test_deployment_shape(tmp_path: Path) -> None:
    deployment, service, hpa = load("deployment.yaml"), load("service.yaml"), load("hpa.yaml")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] >= 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    secret = load("secret.example.yaml")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert "OPENAI_API_KEY" in refs and all(r["name"] == secret["metadata"]["name"] for r in refs.values())
    assert set(refs) <= set(secret["stringData"])
    assert not [e for e in container["env"] if "KEY" in e["name"] and "value" in e], "keys come from the Secret only"

    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    configmap = load("configmap.yaml")
    assert volumes[mounts["/etc/routetax"]]["configMap"]["name"] == configmap["metadata"]["name"]
    assert "/etc/routetax/routetax.yaml" in container["args"]

    # The ConfigMap's file is a valid routetax configuration, and its spool dir is the pod's emptyDir.
    (tmp_path / "routetax.yaml").write_text(configmap["data"]["routetax.yaml"])
    config = load_config(tmp_path / "routetax.yaml", environ={})
    assert config.store.redis_url and config.server.host == "0.0.0.0"
    assert "emptyDir" in volumes[mounts[config.store.spool_dir]]
    assert container["ports"][0]["containerPort"] == config.server.port

    assert pod["terminationGracePeriodSeconds"] > 10 + 5  # uvicorn drain + preStop, then the ledger flush
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2


def strict(schema: Any) -> Any:
    """`schema` with every object that lists its properties closed to others: a misspelled field is an error, as
    in kubernetes-validate's strict mode (the API server would drop it, and the setting with it, silently)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?i)"):  # Go's regexp allows a flag there, not Python's
            schema["pattern"] = "(?i)^" + pattern[5:]
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


def operator_schema(kind: str) -> dict:
    """The Prometheus Operator's schema of `kind` (monitoring.coreos.com/v1), from models generated from its CRDs."""
    from cloudcoil.models.prometheus_operator import v1

    return strict(getattr(v1, kind).model_json_schema(by_alias=True))


def test_the_operator_objects_validate_against_the_operator_schemas() -> None:
    """The ServiceMonitor and the PrometheusRule, checked as the core objects are: against their CRDs' schemas
    (field names, types, patterns such as durations, enums such as relabel actions), no unknown field."""
    import jsonschema

    for name, kind in (("servicemonitor.yaml", "ServiceMonitor"), ("prometheusrule.yaml", "PrometheusRule")):
        doc = load(name)
        assert doc["kind"] == kind and doc["apiVersion"] == "monitoring.coreos.com/v1"
        jsonschema.validate(doc, operator_schema(kind))

    monitor = operator_schema("ServiceMonitor")
    for broken in ({"intervall": "15s"}, {"interval": "15 seconds"}, {"scheme": "ftp"}):
        doc = load("servicemonitor.yaml")
        doc["spec"]["endpoints"][0].update(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, monitor)
    doc = load("prometheusrule.yaml")
    doc["spec"]["groups"][0]["rules"][0]["fro"] = "5m"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, operator_schema("PrometheusRule"))


def test_service_monitor_and_prometheus_rule(tmp_path: Path, processes: Processes) -> None:
    monitor, service = load("servicemonitor.yaml"), load("service.yaml")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert all(e["port"] in ports and e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])

    processes.run([sys.executable, str(K8S / "gen_prometheusrule.py"), "--check"], check=True, timeout=30)
    rule = load("prometheusrule.yaml")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    names = {r["alert"] for g in alerts["groups"] for r in g["rules"]}
    assert names == {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    result = processes.run(
        [promtool, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_is_consistent() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"routetax", "redis", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
    build = services["routetax"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    dockerfile = (context / build["dockerfile"]).read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (context / source).exists(), f"Dockerfile: {source} is not in the build context"

    config = load_config(DEPLOY / "routetax.yaml", environ={})
    assert config.store.redis_url == "redis://redis:6379/0"
    env = services["routetax"]["environment"]
    assert all(t.api_key_env in env for t in config.tiers.values() if t.api_key_env)
    spool_mounts = [v for v in services["routetax"]["volumes"] if v.split(":")[1] == config.store.spool_dir]
    assert spool_mounts and not spool_mounts[0].startswith("."), "the spool lives on a named volume"

    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "routetax"]
    assert job["static_configs"][0]["targets"] == [f"routetax:{config.server.port}"]
    targets = {t.split(":")[0] for j in prometheus["scrape_configs"] for c in j["static_configs"] for t in c["targets"]}
    assert targets <= set(services), f"prometheus.yml scrapes hosts compose does not run: {targets - set(services)}"
    assert {j["job_name"] for j in prometheus["scrape_configs"]} >= {"routetax", "redis"}  # the Redis memory alert
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "prometheus"


def secret_commands(text: str) -> list[tuple[str, set[str]]]:
    """Every `kubectl create secret generic NAME --from-literal=KEY=...` in `text`: (NAME, its KEYs)."""
    joined = re.sub(r"\\\n\s*(#\s*)?", " ", text)  # continuation lines, also inside a YAML comment
    found = []
    for line in joined.splitlines():
        if match := re.search(r"kubectl create secret generic (\S+)(.*)", line):
            found.append((match[1], set(re.findall(r"--from-literal=(\w+)=", match[2]))))
    return found


def test_the_documented_secret_holds_every_key_the_pods_read() -> None:
    """docs/deploy.md's `kubectl create secret` once left out ROUTETAX_METRICS_TOKEN, which the Deployment reads
    (not optional): its pods would stop at CreateContainerConfigError. The ServiceMonitor reads it too."""
    container = load("deployment.yaml")["spec"]["template"]["spec"]["containers"][0]
    refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    monitor = load("servicemonitor.yaml")
    refs += [e["authorization"]["credentials"] for e in monitor["spec"]["endpoints"] if "authorization" in e]
    needed = {r["name"]: set() for r in refs}
    for ref in refs:
        if not ref.get("optional"):
            needed[ref["name"]].add(ref["key"])
    documented = secret_commands((ROOT / "docs" / "deploy.md").read_text())
    documented += secret_commands((K8S / "secret.example.yaml").read_text())
    assert {name for name, _ in documented} == set(needed) and len(documented) == 2
    for name, keys in documented:
        assert needed[name] <= keys, f"`kubectl create secret generic {name}` lacks {sorted(needed[name] - keys)}"
