"""A secured kopfka cluster on kind, reached from inside and from outside Kubernetes by declared users.

KafkaCluster ``secure`` (namespace ``e2e-secure``, one broker, one ZooKeeper server) has an internal
TLS + SCRAM-SHA-512 listener, an external NodePort TLS + SCRAM-SHA-512 listener and the ACL authorizer. Two
KafkaUsers: ``alice`` may write and read ``orders`` (and use her consumer group), ``bob`` may do nothing.

- In a client pod, alice's Secret (password, JAAS line, CA) is all a client needs: it produces and consumes.
- A pod without credentials is refused at authentication; bob is refused by the ACLs.
- On the host, outside the kind cluster, a client uses the bootstrap address and CA the KafkaCluster's
  ``status.listeners`` publishes (the kind node's address and the bootstrap Service's nodePort) and alice's
  password, and produces and consumes over TLS + SCRAM.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer

from .kind_cluster import BROKER_IMAGE, ZOOKEEPER_IMAGE, KindCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

NAMESPACE = "e2e-secure"
CLUSTER = "secure"
TOPIC = "orders"
GROUP = "orders-app"
RECORDS = 200
INTERNAL = f"{CLUSTER}-bootstrap.{NAMESPACE}.svc.cluster.local:9093"
SECURED_VOLUMES = 20
"""The first local PersistentVolume index of this cluster (``local-pv-20``, ``-21``)."""
SECURED_STORAGE_CLASS = "kopfka-e2e-secured"
"""Bound statically: no StorageClass object, so the claims bind to these volumes at once."""

# Runs in a client pod or on the host: `produce N` then `consume N`, printing one JSON line each; SASL and TLS
# settings come from the environment (KAFKA_USER, KAFKA_PASSWORD, KAFKA_CA_FILE), unset means none.
CLIENT = r"""
import json, os, sys, time
from confluent_kafka import Consumer, KafkaException, Producer
bootstrap, mode, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
config = {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": os.environ["KAFKA_CA_FILE"]}
if os.environ.get("KAFKA_USER"):
    config.update({"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                   "sasl.username": os.environ["KAFKA_USER"], "sasl.password": os.environ["KAFKA_PASSWORD"]})
errors = []
config["error_cb"] = lambda err: errors.append(str(err))
if mode == "produce":
    producer = Producer({**config, "acks": "all", "message.timeout.ms": 30000})
    failures = []
    def delivered(err, msg):
        if err is not None:
            failures.append(err.name())
    for i in range(n):
        producer.produce(topic, key=f"key-{i % 8}", value=f"value-{i}", on_delivery=delivered)
        producer.poll(0)
    unsent = producer.flush(60)
    print(json.dumps({"unsent": unsent, "failures": sorted(set(failures)), "errors": errors[:3]}))
else:
    consumer = Consumer({**config, "group.id": sys.argv[5], "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values, failures, deadline = [], [], time.monotonic() + 60
    while len(values) < n and time.monotonic() < deadline and not failures:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            failures.append(msg.error().name())
            continue
        values.append(msg.value().decode())
    consumer.close()
    print(json.dumps({"values": values, "failures": sorted(set(failures)), "errors": errors[:3]}))
"""


def resources() -> list[dict]:
    cluster = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": CLUSTER, "namespace": NAMESPACE},
        "spec": {
            "brokers": 1,
            "image": BROKER_IMAGE,
            "imagePullPolicy": "Never",
            "storage": {"size": "1Gi", "storageClassName": SECURED_STORAGE_CLASS},
            "zookeeper": {
                "replicas": 1,
                "image": ZOOKEEPER_IMAGE,
                "storage": {"size": "1Gi", "storageClassName": SECURED_STORAGE_CLASS},
            },
            "listeners": [
                {"name": "tls", "port": 9093, "tls": True, "authentication": "scram-sha-512"},
                {"name": "external", "port": 9094, "type": "nodeport", "tls": True,
                 "authentication": "scram-sha-512"},
            ],
            "authorization": {"type": "simple"},
            "terminationGracePeriodSeconds": 30,
        },
    }
    topic = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaTopic",
        "metadata": {"name": TOPIC, "namespace": NAMESPACE},
        "spec": {"cluster": CLUSTER, "partitions": 3, "replicationFactor": 1},
    }
    alice = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaUser",
        "metadata": {"name": "alice", "namespace": NAMESPACE},
        "spec": {
            "cluster": CLUSTER,
            "authentication": {"type": "scram-sha-512"},
            "authorization": {
                "type": "simple",
                "acls": [
                    {"resource": {"type": "topic", "name": TOPIC}, "operations": ["Write", "Read", "Describe"]},
                    {"resource": {"type": "group", "name": GROUP, "patternType": "prefix"}, "operations": ["Read"]},
                ],
            },
        },
    }
    bob = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaUser",
        "metadata": {"name": "bob", "namespace": NAMESPACE},
        "spec": {"cluster": CLUSTER, "authentication": {"type": "scram-sha-512"}},
    }
    return [cluster, topic, alice, bob]


def _ready(body: dict) -> bool:
    conditions = {c["type"]: c["status"] for c in (body.get("status") or {}).get("conditions") or []}
    return conditions.get("Ready") == "True"


@pytest.fixture(scope="module")
def secured(kind_cluster: KindCluster, operator: str) -> dict:
    """The secured cluster Running, the topic and both users Ready; returns the KafkaCluster."""
    kind_cluster.kubectl("create", "namespace", NAMESPACE)
    # Volumes of their own class: the first cluster's tests leave a claim Pending for want of a volume (its lost
    # broker), which would take any new volume of the default class.
    kind_cluster.add_volumes(2, first=SECURED_VOLUMES, storage_class=SECURED_STORAGE_CLASS)
    started = time.monotonic()
    kind_cluster.apply(resources())
    try:
        wait_for(
            lambda: (lambda b: b if (b.get("status") or {}).get("phase") == "Running" else None)(
                kind_cluster.get("kafkacluster", CLUSTER, "-n", NAMESPACE)
            ),
            timeout=600,
            what=f"KafkaCluster {CLUSTER} Running",
            interval=3,
        )
        for kind, name in (("kafkatopic", TOPIC), ("kafkauser", "alice"), ("kafkauser", "bob")):
            wait_for(
                lambda k=kind, n=name: _ready(kind_cluster.get(k, n, "-n", NAMESPACE)),
                timeout=300,
                what=f"{kind} {name} Ready",
                interval=2,
            )
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"{exc}\n{kind_cluster.diagnostics(NAMESPACE)}") from None
    print(f"secured cluster, topic and users ready in {time.monotonic() - started:.0f} s")
    return kind_cluster.get("kafkacluster", CLUSTER, "-n", NAMESPACE)


def secret(kind: KindCluster, name: str) -> dict[str, str]:
    data = kind.get("secret", name, "-n", NAMESPACE)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def client_pod(kind: KindCluster, *args: str, user: str | None) -> dict:
    """The client script in a pod: the cluster CA from the public CA Secret, the user's from its own Secret."""
    name = f"client-{uuid.uuid4().hex[:8]}"
    env = [{"name": "KAFKA_CA_FILE", "value": "/etc/kafka-ca/ca.crt"}]
    if user:
        env += [
            {"name": "KAFKA_USER", "valueFrom": {"secretKeyRef": {"name": user, "key": "username"}}},
            {"name": "KAFKA_PASSWORD", "valueFrom": {"secretKeyRef": {"name": user, "key": "password"}}},
        ]
    kind.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "client",
                        "image": BROKER_IMAGE,
                        "imagePullPolicy": "Never",
                        "command": ["python3", "-c", CLIENT, INTERNAL, *args],
                        "env": env,
                        "volumeMounts": [{"name": "ca", "mountPath": "/etc/kafka-ca", "readOnly": True}],
                    }
                ],
                "volumes": [{"name": "ca", "secret": {"secretName": f"{CLUSTER}-cluster-ca-cert"}}],
            },
        }
    )
    try:
        phase = wait_for(
            lambda: (lambda p: p if p in ("Succeeded", "Failed") else None)(
                (kind.get("pod", name, "-n", NAMESPACE).get("status") or {}).get("phase")
            ),
            timeout=300,
            what=f"client pod {name} to finish",
        )
        logs = kind.kubectl("logs", "-n", NAMESPACE, name).stdout
        assert phase == "Succeeded", f"client pod {name} {phase}:\n{logs}"
        # librdkafka logs to stderr, which the pod's log interleaves with the result line (even after it)
        return json.loads(next(line for line in reversed(logs.splitlines()) if line.startswith("{")))
    finally:
        kind.kubectl("delete", "pod", "-n", NAMESPACE, name, "--wait=false", check=False)


def test_objects_users_and_status(kind_cluster: KindCluster, secured: dict):
    status = secured["status"]
    listeners = {entry["name"]: entry for entry in status["listeners"]}
    assert listeners["tls"]["bootstrapServers"] == INTERNAL
    assert listeners["external"]["securityProtocol"] == "SASL_SSL"
    assert listeners["external"]["bootstrapServers"]
    alice = secret(kind_cluster, "alice")
    assert alice["username"] == "alice" and len(alice["password"]) >= 24
    assert f'username="alice" password="{alice["password"]}"' in alice["sasl.jaas.config"]
    assert alice["ca.crt"] == secret(kind_cluster, f"{CLUSTER}-cluster-ca-cert")["ca.crt"]
    assert alice["bootstrap.external"] == listeners["external"]["bootstrapServers"]
    policies = kind_cluster.get("networkpolicy", "-n", NAMESPACE)["items"]
    assert len(policies) == 2
    broker = kind_cluster.get("pod", f"{CLUSTER}-broker-0", "-n", NAMESPACE)
    context = broker["spec"]["containers"][0]["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["capabilities"] == {"drop": ["ALL"]}


def test_alice_produces_and_consumes_in_a_pod(kind_cluster: KindCluster, secured: dict):
    produced = client_pod(kind_cluster, "produce", TOPIC, str(RECORDS), user="alice")
    assert produced["unsent"] == 0 and produced["failures"] == [], produced
    consumed = client_pod(kind_cluster, "consume", TOPIC, str(RECORDS), f"{GROUP}-pod", user="alice")
    assert consumed["failures"] == [], consumed
    assert sorted(consumed["values"]) == sorted(f"value-{i}" for i in range(RECORDS))


def test_a_pod_without_credentials_and_a_user_without_acls_are_refused(kind_cluster: KindCluster, secured: dict):
    # TLS without SASL on a SASL_SSL listener: the broker closes the connection at the first request that is not
    # part of a SASL exchange (as Kafka does), so the record is never delivered.
    anonymous = client_pod(kind_cluster, "produce", TOPIC, "1", user=None)
    assert anonymous["unsent"] == 1 or anonymous["failures"] == ["_MSG_TIMED_OUT"], anonymous
    assert anonymous["errors"], anonymous
    bob = client_pod(kind_cluster, "produce", TOPIC, "1", user="bob")
    assert bob["failures"] == ["TOPIC_AUTHORIZATION_FAILED"], bob


def test_alice_from_outside_kubernetes_through_the_nodeport_listener(
    kind_cluster: KindCluster, secured: dict, tmp_path: Path
):
    """On the host: only what status.listeners and alice's Secret publish."""
    status = kind_cluster.get("kafkacluster", CLUSTER, "-n", NAMESPACE)["status"]
    external = next(e for e in status["listeners"] if e["name"] == "external")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(external["certificates"][0])
    alice = secret(kind_cluster, "alice")
    config = {
        "bootstrap.servers": external["bootstrapServers"],
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": alice["password"],
        "ssl.ca.location": str(ca_file),
    }
    producer = Producer({**config, "acks": "all", "message.timeout.ms": 60000})
    failures: list[str] = []
    for i in range(RECORDS):
        producer.produce(TOPIC, key=f"outside-{i % 8}", value=f"outside-{i}",
                         on_delivery=lambda err, msg: failures.append(err.name()) if err else None)
        producer.poll(0)
    assert producer.flush(120) == 0
    assert failures == []
    consumer = Consumer({**config, "group.id": f"{GROUP}-host", "auto.offset.reset": "earliest"})
    consumer.subscribe([TOPIC])
    values: list[str] = []
    deadline = time.monotonic() + 120
    try:
        while len(values) < 2 * RECORDS and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            values.append(msg.value().decode())
    finally:
        consumer.close()
    assert sorted(v for v in values if v.startswith("outside-")) == sorted(f"outside-{i}" for i in range(RECORDS))
    assert len(values) == 2 * RECORDS  # the pod's records too, over the same partitions
