"""KafkaTopic end to end against real brokers: real ZooKeeper and kopfka broker processes on loopback.

The KafkaCluster's ``spec.bootstrapOverride`` points the operator's admin client at those processes, and
``spec.zookeeper.connect`` at their ZooKeeper (used for replica reassignment), since they are not pods
behind the cluster's Services. The StatefulSet and friends are still created; their pods never run here.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
import yaml
from confluent_kafka.admin import AdminClient, ConfigResource
from tests.integration.admin import wait_for_config, wait_for_topic
from tests.waiting import wait_for

from .local_cluster import LocalKubernetes

pytestmark = [pytest.mark.k8s, pytest.mark.integration]


def _zookeeper_connect(cluster) -> str:
    for attr in ("zookeeper_connect", "zk_connect", "zookeeper"):
        value = getattr(cluster, attr, None)
        if isinstance(value, str):
            return value
        if value is not None and isinstance(getattr(value, "connect", None), str):
            return value.connect
    raise AttributeError(f"no ZooKeeper connect string on {cluster!r}")


@pytest.fixture(scope="module")
def brokers(request: pytest.FixtureRequest):
    """Three real brokers, from ``module_cluster_factory`` (tests/brokers.py)."""
    try:
        factory = request.getfixturevalue("module_cluster_factory")
    except pytest.FixtureLookupError:
        message = "module_cluster_factory (tests/integration) is not available"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return factory(brokers=3)


@pytest.fixture(scope="module")
def kafka_cluster(kube: LocalKubernetes, operator, brokers):
    namespace = f"b-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", namespace)
    doc = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": "real"},
        "spec": {
            "brokers": 3,
            "zookeeper": {"connect": _zookeeper_connect(brokers)},
            "bootstrapOverride": brokers.bootstrap_servers,
        },
    }
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    yield namespace
    kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def topic_doc(name: str, **spec) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kopfka.io/v1alpha1",
            "kind": "KafkaTopic",
            "metadata": {"name": name},
            "spec": {"cluster": "real", "topicName": name, **spec},
        }
    )


def in_kafka(bootstrap: str, topic: str) -> tuple[dict[int, list[int]], dict[str, str]] | None:
    """The topic as whichever broker the client asks sees it. Each broker learns of a change through its own
    ZooKeeper watches: to compare with the next answer, first wait until every broker agrees
    (``wait_for_topic``, ``wait_for_config``)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(timeout=30).topics.get(topic)  # naming the topic could auto-create it
    if meta is None or meta.error is not None:
        return None
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=30)[resource].result(60)
    return {p: list(m.replicas) for p, m in meta.partitions.items()}, {k: e.value for k, e in entries.items()}


def status(kube: LocalKubernetes, namespace: str, name: str) -> dict:
    out = kube.kubectl("get", "kafkatopic", name, "-n", namespace, "-o", "json", check=False)
    return (json.loads(out.stdout).get("status") or {}) if out.returncode == 0 else {}


def patch(kube: LocalKubernetes, namespace: str, name: str, spec: dict, *, check: bool = True):
    return kube.kubectl(
        "patch", "kafkatopic", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}), check=check
    )


def test_topic_lifecycle(kube, operator, brokers, kafka_cluster):
    ns, bootstrap, name = kafka_cluster, brokers.bootstrap_servers, "orders"

    def wait(check, what):
        wait_for(check, timeout=180, interval=0.5, what=what, alive=[operator])

    kube.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=topic_doc(name, partitions=3, replicationFactor=2, config={"retention.ms": "86400000"}),
    )
    wait(lambda: status(kube, ns, name).get("phase") == "Ready", "topic Ready")
    wait_for_topic(bootstrap, name)  # the operator's CreateTopics waited for one broker; the others follow
    partitions, config = in_kafka(bootstrap, name)
    assert sorted(partitions) == [0, 1, 2]
    assert all(len(set(r)) == 2 for r in partitions.values())
    assert config["retention.ms"] == "86400000"
    assert status(kube, ns, name)["replicationFactor"] == 2

    patch(kube, ns, name, {"partitions": 6})
    wait(lambda: len(in_kafka(bootstrap, name)[0]) == 6, "6 partitions in Kafka")
    wait(lambda: status(kube, ns, name).get("partitions") == 6, "status.partitions 6")

    patch(kube, ns, name, {"config": {"retention.ms": "3600000", "segment.bytes": "1048576"}})
    wait(lambda: in_kafka(bootstrap, name)[1]["retention.ms"] == "3600000", "retention.ms changed")
    wait_for_config(bootstrap, name, {"retention.ms": "3600000"})  # on every broker, not only the one asked
    assert in_kafka(bootstrap, name)[1]["segment.bytes"] == "1048576"

    rejected = patch(kube, ns, name, {"replicationFactor": 4}, check=False)
    assert rejected.returncode != 0 and "ReplicationFactorExceedsBrokers" in rejected.stderr

    patch(kube, ns, name, {"partitions": 2})
    wait(lambda: status(kube, ns, name).get("phase") == "Refused", "shrink refused")
    reason = next(c["reason"] for c in status(kube, ns, name)["conditions"] if c["type"] == "Ready")
    assert reason == "PartitionsCannotShrink"
    wait_for_topic(bootstrap, name)  # every broker has learned of the growth to 6 by now
    assert len(in_kafka(bootstrap, name)[0]) == 6

    kube.kubectl("delete", "kafkatopic", name, "-n", ns, "--timeout=240s", timeout=300)
    wait(lambda: in_kafka(bootstrap, name) is None, "topic deleted in Kafka")


def test_replication_factor_change_reassigns(kube, operator, brokers, kafka_cluster):
    ns, bootstrap, name = kafka_cluster, brokers.bootstrap_servers, "rf-change"
    kube.kubectl("apply", "-n", ns, "-f", "-", input=topic_doc(name, partitions=3, replicationFactor=1))
    wait_for(
        lambda: status(kube, ns, name).get("phase") == "Ready", timeout=180, what="topic Ready", alive=[operator]
    )
    patch(kube, ns, name, {"replicationFactor": 3})
    wait_for(
        lambda: all(len(set(r)) == 3 for r in in_kafka(bootstrap, name)[0].values()),
        timeout=300,
        what="every partition on 3 replicas",
        alive=[operator],
    )
    wait_for(
        lambda: status(kube, ns, name).get("replicationFactor") == 3, timeout=180, what="status RF 3", alive=[operator]
    )


@pytest.fixture(scope="module")
def fragile_brokers(request: pytest.FixtureRequest, brokers):
    """Another three brokers, one of which the test kills; a short ZooKeeper session so it is noticed soon."""
    factory = request.getfixturevalue("module_cluster_factory")
    return factory(brokers=3, overrides={"zookeeper.session.timeout.ms": "4000"})


def test_lost_broker_replicas_move_after_the_grace_period(kube, operator, fragile_brokers):
    namespace = f"l-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", namespace)
    bootstrap = fragile_brokers.bootstrap_servers
    doc = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": "real"},
        "spec": {
            "brokers": 3,
            "zookeeper": {"connect": _zookeeper_connect(fragile_brokers)},
            "bootstrapOverride": bootstrap,
            "rebalance": {"onNodeLoss": True, "gracePeriodSeconds": 5},
        },
    }
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=topic_doc("spread", partitions=6, replicationFactor=2))
    wait_for(
        lambda: status(kube, namespace, "spread").get("phase") == "Ready",
        timeout=180,
        what="topic Ready",
        alive=[operator],
    )
    wait_for_topic(bootstrap, "spread")  # known to every broker, whichever the next request asks
    partitions, _ = in_kafka(bootstrap, "spread")
    victim = max(b for replicas in partitions.values() for b in replicas)
    fragile_brokers.kill_broker(victim)

    def healed() -> bool:
        current = in_kafka(bootstrap, "spread")
        return current is not None and all(victim not in r and len(set(r)) == 2 for r in current[0].values())

    wait_for(healed, timeout=300, interval=1, what=f"every replica moved off lost broker {victim}", alive=[operator])
    cluster = json.loads(kube.kubectl("get", "kafkacluster", "real", "-n", namespace, "-o", "json").stdout)
    assert [b["id"] for b in cluster["status"]["lostBrokers"]] in ([victim], [])
    events = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    assert any(e["reason"] == "BrokerLost" and e["type"] == "Warning" for e in events)
    kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
