"""Every pod kopfka runs is hardened: non-root, read-only root file system, no capabilities, no privilege
escalation, the runtime's default seccomp profile — and every path it writes is a volume.

Covers the broker and ZooKeeper StatefulSets the operator makes, and the operator's own Deployment as the chart
renders it (``manifests/operator.yaml``, which tests/k8s/test_chart.py keeps in sync with the chart).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kafka_operator.model import cluster, names, zookeeper
from kafka_operator.model.spec import ClusterSpec

DOMAIN = "cluster.local"
OPERATOR_MANIFEST = Path(__file__).resolve().parents[3] / "manifests" / "operator.yaml"

SPECS = {
    "plain": {},
    "secured": {
        "listeners": [{"name": "tls", "port": 9093, "tls": True, "authentication": "scram-sha-512"}],
        "authorization": {"type": "simple"},
    },
}


def make_spec(**spec_fields: Any) -> ClusterSpec:
    metadata = {"name": "demo", "namespace": "kafka", "uid": "u"}
    return ClusterSpec.from_resource({"metadata": metadata, "spec": spec_fields})


def statefulset(spec: ClusterSpec, component: str) -> dict[str, Any]:
    (sts,) = [
        o
        for o in cluster.owned_objects(spec, cluster_domain=DOMAIN)
        if o["kind"] == "StatefulSet" and o["metadata"]["labels"][names.COMPONENT_LABEL] == component
    ]
    return sts


def operator_deployment() -> dict[str, Any]:
    (deployment,) = [d for d in yaml.safe_load_all(OPERATOR_MANIFEST.read_text()) if d and d["kind"] == "Deployment"]
    return deployment


def assert_hardened(pod: dict[str, Any]) -> None:
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context.get("runAsUser", 0) != 0 and context.get("runAsGroup", 0) != 0
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        security = container["securityContext"]
        where = container["name"]
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["readOnlyRootFilesystem"] is True, where
        assert security["capabilities"] == {"drop": ["ALL"]}, where
        assert not security.get("privileged"), where
        assert security.get("runAsUser", context["runAsUser"]) != 0, where


def writable_mounts(workload: dict[str, Any], container_name: str) -> dict[str, str]:
    """mount path → volume name, for the container's writable mounts of an emptyDir or a claim template."""
    pod = workload["spec"]["template"]["spec"]
    writable = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    writable |= {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
    (container,) = [c for c in [*pod.get("initContainers", []), *pod["containers"]] if c["name"] == container_name]
    return {
        m["mountPath"]: m["name"]
        for m in container.get("volumeMounts", [])
        if m["name"] in writable and not m.get("readOnly")
    }


@pytest.mark.parametrize("spec_fields", SPECS.values(), ids=SPECS.keys())
def test_broker_pods_are_hardened(spec_fields):
    sts = statefulset(make_spec(**spec_fields), names.BROKER)
    assert_hardened(sts["spec"]["template"]["spec"])
    mounts = writable_mounts(sts, "broker")
    assert mounts[names.DATA_DIR] == "data"
    assert "/tmp" in mounts  # TLS key material when memfd_create is unavailable, any library's scratch files


@pytest.mark.parametrize("spec_fields", SPECS.values(), ids=SPECS.keys())
def test_zookeeper_pods_are_hardened(spec_fields):
    sts = statefulset(make_spec(**spec_fields), names.ZOOKEEPER)
    pod = sts["spec"]["template"]["spec"]
    assert_hardened(pod)
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"] == zookeeper.ZOOKEEPER_USER
    # The entrypoint writes zoo.cfg in /conf and myid in /data; ZooKeeper its snapshots and transaction log in
    # /data (the PVC: both must survive the pod), its logs in /logs; the JVM its perf data in /tmp.
    mounts = writable_mounts(sts, "zookeeper")
    assert mounts == {"/data": "data", "/conf": "conf", "/logs": "logs", "/tmp": "tmp"}
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["ZOO_DATA_DIR"] == env["ZOO_DATA_LOG_DIR"] == "/data"
    # The init container fills the /conf emptyDir with the image's own /conf (logback.xml) before ZooKeeper starts.
    (init,) = pod["initContainers"]
    assert init["image"] == pod["containers"][0]["image"]
    assert init["command"][-2:] == [f"{zookeeper.CONF_DIR}/.", zookeeper.CONF_COPY_DIR]
    assert writable_mounts(sts, init["name"]) == {zookeeper.CONF_COPY_DIR: "conf"}


def test_operator_pod_is_hardened():
    deployment = operator_deployment()
    assert_hardened(deployment["spec"]["template"]["spec"])
    assert writable_mounts(deployment, "operator") == {"/tmp": "tmp"}
