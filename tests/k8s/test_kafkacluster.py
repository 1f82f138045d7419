"""KafkaCluster end to end against a real API server and controller manager, the operator as its RBAC allows.

Brokers never run here (no kubelet): the tests check what the operator asks of Kubernetes — every owned
object and its important fields, the Pods and PVCs the StatefulSet controller makes from them, scaling,
drift repair and garbage collection — and the status it reports.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from tests import waiting

from .conftest import REPO
from .local_cluster import LocalKubernetes

pytestmark = pytest.mark.k8s

EXAMPLE = REPO / "manifests" / "examples" / "kafkacluster.yaml"
OWNED = {
    "configmap": ["demo-config"],
    "service": ["demo-brokers", "demo-bootstrap", "demo-zookeeper", "demo-zookeeper-nodes"],
    "statefulset": ["demo-broker", "demo-zookeeper"],
    "poddisruptionbudget": ["demo-broker", "demo-zookeeper"],
}


def get(kube: LocalKubernetes, namespace: str, kind: str, name: str | None = None, **kw) -> Any:
    args = ["get", kind, *([name] if name else []), "-n", namespace, "-o", "json"]
    result = kube.kubectl(*args, check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)


def names_of(kube: LocalKubernetes, namespace: str, kind: str, selector: str) -> list[str]:
    result = kube.kubectl("get", kind, "-n", namespace, "-l", selector, "-o", "json")
    return sorted(i["metadata"]["name"] for i in json.loads(result.stdout)["items"])


def wait_for(kube, operator, check, what: str, timeout: float = 180) -> None:
    """:func:`tests.waiting.wait_for` with the control plane and the operator watched; ``timeout`` is only an
    upper bound, generous for a loaded machine."""
    waiting.wait_for(check, timeout=timeout, what=what, alive=[operator, *kube.processes], interval=0.5)


def apply_example(kube: LocalKubernetes, namespace: str, **spec_changes) -> dict:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["spec"].update(spec_changes)
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    return doc


@pytest.fixture
def cluster(kube, operator, namespace):
    apply_example(kube, namespace)
    wait_for(
        kube,
        operator,
        lambda: all(get(kube, namespace, k, n) for k, ns in OWNED.items() for n in ns),
        "every owned object",
    )
    return get(kube, namespace, "kafkacluster", "demo")


def test_owned_objects_and_their_fields(kube, operator, namespace, cluster):
    uid = cluster["metadata"]["uid"]
    for kind, object_names in OWNED.items():
        for name in object_names:
            obj = get(kube, namespace, kind, name)
            (ref,) = obj["metadata"]["ownerReferences"]
            assert ref == {
                "apiVersion": "kopfka.io/v1alpha1",
                "kind": "KafkaCluster",
                "name": "demo",
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }, (kind, name)
            assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kopfka-operator"

    config = get(kube, namespace, "configmap", "demo-config")["data"]["server.properties"]
    assert f"zookeeper.connect=demo-zookeeper.{namespace}.svc.cluster.local:2181" in config
    assert "min.insync.replicas=2" in config and "default.replication.factor=3" in config

    headless = get(kube, namespace, "service", "demo-brokers")["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True

    sts = get(kube, namespace, "statefulset", "demo-broker")["spec"]
    assert sts["replicas"] == 3 and sts["serviceName"] == "demo-brokers"
    assert sts["updateStrategy"]["type"] == "OnDelete"
    claim = sts["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = sts["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 120
    container = pod["containers"][0]
    assert container["image"] == "kopfka/broker:0.1.0"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"plain": 9092, "http": 8080}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "broker.id=${ORD}" in container["command"][-1]
    configmap = get(kube, namespace, "configmap", "demo-config")["data"]
    assert configmap["advertised-1"] == f"PLAIN://demo-broker-1.demo-brokers.{namespace}.svc.cluster.local:9092"

    zk = get(kube, namespace, "statefulset", "demo-zookeeper")["spec"]
    assert zk["replicas"] == 3
    assert get(kube, namespace, "pdb", "demo-broker")["spec"]["maxUnavailable"] == 1


def test_statefulset_controller_creates_pods_and_claims(kube, operator, namespace, cluster):
    broker_pods = "kopfka.io/cluster=demo,app.kubernetes.io/component=broker"
    wait_for(
        kube,
        operator,
        lambda: names_of(kube, namespace, "pods", broker_pods) == ["demo-broker-0", "demo-broker-1", "demo-broker-2"],
        "broker pods",
    )
    wait_for(
        kube,
        operator,
        lambda: (
            names_of(kube, namespace, "pvc", broker_pods)
            == ["data-demo-broker-0", "data-demo-broker-1", "data-demo-broker-2"]
        ),
        "broker PVCs",
    )
    pod = get(kube, namespace, "pod", "demo-broker-1")
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "broker"
    assert pod["metadata"]["annotations"]["kopfka.io/config-hash"]
    wait_for(
        kube,
        operator,
        lambda: len(names_of(kube, namespace, "pods", "app.kubernetes.io/component=zookeeper")) == 3,
        "zookeeper pods",
    )


def test_status_conditions_and_events(kube, operator, namespace, cluster):
    def status():
        return (get(kube, namespace, "kafkacluster", "demo") or {}).get("status") or {}

    wait_for(kube, operator, lambda: status().get("observedGeneration") == 1, "status.observedGeneration")
    s = status()
    assert s["phase"] == "Pending" and s["readyBrokers"] == 0
    assert s["bootstrapServers"] == f"demo-bootstrap.{namespace}.svc.cluster.local:9092"
    assert [b["id"] for b in s["brokers"]] == [0, 1, 2]
    conditions = {c["type"]: c for c in s["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == "BrokersNotReady"
    assert conditions["Reconciled"]["status"] == "True"
    columns = kube.kubectl("get", "kc", "-n", namespace).stdout.splitlines()
    assert columns[0].split() == ["NAME", "BROKERS", "READY", "PHASE", "BOOTSTRAP", "LISTENERS", "AGE"]
    assert columns[1].split()[:4] == ["demo", "3", "0", "Pending"]
    events = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    created = {
        e["message"] for e in events if e["reason"] == "Created" and e["involvedObject"]["kind"] == "KafkaCluster"
    }
    assert "created StatefulSet demo-broker" in created and "created ConfigMap demo-config" in created


def test_scale_up_and_down(kube, operator, namespace, cluster):
    broker_pods = "kopfka.io/cluster=demo,app.kubernetes.io/component=broker"
    def status_brokers() -> int:
        return len((get(kube, namespace, "kafkacluster", "demo").get("status") or {}).get("brokers") or [])

    for brokers in (5, 3):
        kube.kubectl(
            "patch",
            "kafkacluster",
            "demo",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"brokers": brokers}}),
        )
        wait_for(
            kube,
            operator,
            lambda n=brokers: get(kube, namespace, "statefulset", "demo-broker")["spec"]["replicas"] == n,
            f"StatefulSet replicas {brokers}",
        )
        expected = [f"demo-broker-{i}" for i in range(brokers)]
        wait_for(
            kube,
            operator,
            lambda e=expected: names_of(kube, namespace, "pods", broker_pods) == e,
            f"{brokers} broker pods",
        )
    # Scaled-away brokers keep their claims (whenScaled: Retain), as their data may be needed back.
    assert "data-demo-broker-4" in names_of(kube, namespace, "pvc", broker_pods)
    # the operator writes the status after it scaled the StatefulSet, not in step with the pods going
    wait_for(kube, operator, lambda: status_brokers() == 3, "status.brokers of 3 brokers")
    status = get(kube, namespace, "kafkacluster", "demo")["status"]
    assert len(status["brokers"]) == 3


def test_deleted_service_comes_back(kube, operator, namespace, cluster):
    old_uid = get(kube, namespace, "service", "demo-bootstrap")["metadata"]["uid"]
    kube.kubectl("delete", "service", "demo-bootstrap", "-n", namespace)
    wait_for(
        kube,
        operator,
        lambda: (
            (get(kube, namespace, "service", "demo-bootstrap") or {"metadata": {"uid": old_uid}})["metadata"]["uid"]
            != old_uid
        ),
        "the bootstrap Service to be recreated",
    )


def test_edited_field_is_repaired(kube, operator, namespace, cluster):
    kube.kubectl(
        "patch",
        "statefulset",
        "demo-broker",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"replicas": 7}}),
    )
    wait_for(
        kube,
        operator,
        lambda: get(kube, namespace, "statefulset", "demo-broker")["spec"]["replicas"] == 3,
        "drift on replicas repaired",
    )


def test_config_change_updates_configmap_and_pod_template(kube, operator, namespace, cluster):
    def template_annotations() -> dict:
        return get(kube, namespace, "statefulset", "demo-broker")["spec"]["template"]["metadata"]["annotations"]

    old = template_annotations()
    kube.kubectl(
        "patch",
        "kafkacluster",
        "demo",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"config": {"log.retention.hours": "1"}}}),
    )
    wait_for(
        kube,
        operator,
        lambda: (
            "log.retention.hours=1" in get(kube, namespace, "configmap", "demo-config")["data"]["server.properties"]
        ),
        "configmap updated",
    )
    # the reconcile applies the ConfigMap, then the StatefulSet
    wait_for(
        kube,
        operator,
        lambda: template_annotations()["kopfka.io/config-hash"] != old["kopfka.io/config-hash"],
        "the pod template's config hash updated",
    )
    new = template_annotations()
    assert new["kopfka.io/config-hash"] != old["kopfka.io/config-hash"]


def test_delete_garbage_collects_owned_objects(kube, operator, namespace, cluster):
    broker_pods = "kopfka.io/cluster=demo,app.kubernetes.io/component=broker"
    wait_for(kube, operator, lambda: len(names_of(kube, namespace, "pods", broker_pods)) == 3, "broker pods")
    kube.kubectl("delete", "kafkacluster", "demo", "-n", namespace, "--wait=true", "--timeout=240s", timeout=300)

    def all_gone() -> bool:
        return all(
            get(kube, namespace, kind, name) is None for kind, ns in OWNED.items() for name in ns
        ) and not names_of(kube, namespace, "pods", "kopfka.io/cluster=demo")

    wait_for(kube, operator, all_gone, "owned objects garbage-collected", timeout=240)
    # deleteClaim: false (the default) keeps the data volumes.
    assert len(names_of(kube, namespace, "pvc", broker_pods)) == 3


def test_delete_claim_removes_volumes_with_the_cluster(kube, operator, namespace):
    apply_example(kube, namespace, storage={"size": "1Gi", "deleteClaim": True}, zookeeper={"connect": "zk:2181"})
    broker_pods = "kopfka.io/cluster=demo,app.kubernetes.io/component=broker"
    wait_for(kube, operator, lambda: len(names_of(kube, namespace, "pvc", broker_pods)) == 3, "broker PVCs")
    assert get(kube, namespace, "statefulset", "demo-zookeeper") is None  # external ZooKeeper: none managed
    kube.kubectl("delete", "kafkacluster", "demo", "-n", namespace)
    wait_for(kube, operator, lambda: not names_of(kube, namespace, "pvc", broker_pods), "PVCs deleted", timeout=240)
