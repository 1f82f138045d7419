"""KafkaTopic rules that need no broker: admission webhook and status refusals, against a real API server."""

from __future__ import annotations

import json

import pytest
import yaml
from tests.waiting import wait_for

from .local_cluster import LocalKubernetes

pytestmark = pytest.mark.k8s


def apply(kube: LocalKubernetes, namespace: str, doc: dict, *, check: bool = True):
    return kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc), check=check)


def cluster(brokers: int) -> dict:
    """Brokers nobody runs: the operator cannot reach them, which these tests do not need."""
    return {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": "demo"},
        "spec": {"brokers": brokers, "zookeeper": {"connect": "127.0.0.1:1"}, "bootstrapOverride": "127.0.0.1:1"},
    }


def topic(rf: int, *, partitions: int = 3, cluster_name: str = "demo") -> dict:
    return {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaTopic",
        "metadata": {"name": "orders"},
        "spec": {"cluster": cluster_name, "partitions": partitions, "replicationFactor": rf},
    }


def topic_status(kube: LocalKubernetes, namespace: str) -> dict:
    result = kube.kubectl("get", "kafkatopic", "orders", "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout).get("status") or {} if result.returncode == 0 else {}


def ready_reason(status: dict) -> str | None:
    return next((c["reason"] for c in status.get("conditions") or [] if c["type"] == "Ready"), None)


def test_rf_above_brokers_is_rejected_at_admission(kube, operator, namespace):
    apply(kube, namespace, cluster(3))
    result = apply(kube, namespace, topic(4), check=False)
    assert result.returncode != 0
    assert "ReplicationFactorExceedsBrokers" in result.stderr
    assert "replicationFactor 4 exceeds the 3 broker(s)" in result.stderr
    assert kube.kubectl("get", "kafkatopic", "-n", namespace, "-o", "name").stdout.strip() == ""
    assert apply(kube, namespace, topic(3)).returncode == 0  # at the limit is fine
    raised = kube.kubectl(
        "patch",
        "kafkatopic",
        "orders",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"replicationFactor":5}}',
        check=False,
    )
    assert raised.returncode != 0 and "ReplicationFactorExceedsBrokers" in raised.stderr


def test_rf_above_brokers_is_refused_in_status_with_a_warning(kube, operator, namespace):
    apply(kube, namespace, cluster(3))
    apply(kube, namespace, topic(3))
    # The cluster shrinks under the topic (the webhook checks topics, not clusters): the reconcile refuses.
    kube.kubectl("patch", "kafkacluster", "demo", "-n", namespace, "--type=merge", "-p", '{"spec":{"brokers":2}}')
    wait_for(
        lambda: topic_status(kube, namespace).get("phase") == "Refused",
        timeout=180,
        what="phase Refused",
        alive=[operator],
        interval=0.5,
    )
    status = topic_status(kube, namespace)
    assert ready_reason(status) == "ReplicationFactorExceedsBrokers"
    (ready,) = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready["status"] == "False" and "exceeds the 2 broker(s)" in ready["message"]
    events = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    warnings = [e for e in events if e["involvedObject"]["kind"] == "KafkaTopic" and e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["ReplicationFactorExceedsBrokers"]
    row = kube.kubectl("get", "kt", "-n", namespace).stdout.splitlines()
    assert row[0].split() == ["NAME", "CLUSTER", "PARTITIONS", "RF", "PHASE", "AGE"]
    assert row[1].split()[:5] == ["orders", "demo", "3", "3", "Refused"]


def test_unknown_cluster_is_reported(kube, operator, namespace):
    apply(kube, namespace, topic(1, cluster_name="missing"))
    wait_for(
        lambda: ready_reason(topic_status(kube, namespace)) == "ClusterNotFound",
        timeout=180,
        what="reason ClusterNotFound",
        alive=[operator],
        interval=0.5,
    )
    # the finalizer lets go
    kube.kubectl("delete", "kafkatopic", "orders", "-n", namespace, "--timeout=240s", timeout=300)


def test_unreachable_brokers_are_reported_and_retried(kube, operator, namespace):
    apply(kube, namespace, cluster(3))
    apply(kube, namespace, topic(2))
    wait_for(
        lambda: ready_reason(topic_status(kube, namespace)) == "KafkaError",
        timeout=180,
        what="reason KafkaError",
        alive=[operator],
        interval=0.5,
    )
    assert topic_status(kube, namespace)["phase"] == "Error"
