"""kopfka on a real Kubernetes node: the operator's objects, topics, real clients in pods, and healing.

The tests run in file order against one KafkaCluster (``demo``, 3 brokers, managed ZooKeeper) and build on
each other's records: the healing tests read back what the produce test wrote. Clients run inside the
cluster, in pods of the broker image (which has confluent-kafka and the ``kopfka`` tools), and reach the
brokers through the bootstrap Service and the brokers' advertised headless-Service names.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from .kind_cluster import BROKER_IMAGE, BROKERS, CLUSTER, GRACE_SECONDS, NAMESPACE, ZOOKEEPERS, KindCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

BOOTSTRAP = f"{CLUSTER}-bootstrap.{NAMESPACE}.svc.cluster.local:9092"
TOPIC = "orders"
RECORDS = 600
KEYS = 24

# Runs in a client pod: `produce TOPIC N` writes N keyed records (acks=all, idempotent) and prints the
# partition of each key; `consume TOPIC N` reads from the beginning until N records and prints them;
# `brokers` prints the registered brokers' ids and advertised hosts; `srvr HOST...` prints each ZooKeeper
# server's mode (ZooKeeper's `srvr` four-letter command).
CLIENT = r"""
import json, socket, sys, time
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
bootstrap, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if mode == "produce":
    topic, n, keys = args[0], int(args[1]), int(args[2])
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    failures, partitions = [], {}
    def delivered(err, msg):
        if err is not None:
            failures.append(str(err))
        else:
            partitions.setdefault(msg.key().decode(), set()).add(msg.partition())
    for i in range(n):
        producer.produce(topic, key=f"key-{i % keys}", value=f"value-{i}", on_delivery=delivered)
        producer.poll(0)
    unsent = producer.flush(120)
    print(json.dumps({"unsent": unsent, "failures": failures[:5],
                      "partitions": {k: sorted(v) for k, v in partitions.items()}}))
elif mode == "consume":
    topic, n = args[0], int(args[1])
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"e2e-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    records, deadline = [], time.monotonic() + 120
    while len(records) < n and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            print(json.dumps({"error": str(msg.error())}), file=sys.stderr)
            continue
        records.append([msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode()])
    extra = consumer.consume(num_messages=100, timeout=3)  # nothing beyond N may be there
    consumer.close()
    print(json.dumps({"records": records, "extra": len([m for m in extra if not m.error()])}))
elif mode == "brokers":
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
    print(json.dumps({str(b.id): b.host for b in metadata.brokers.values()}))
elif mode == "srvr":
    modes = {}
    for host in args:
        with socket.create_connection((host, 2181), timeout=10) as s:
            s.sendall(b"srvr")
            reply = b"".join(iter(lambda: s.recv(4096), b"")).decode()
        found = [line.split(":", 1)[1].strip() for line in reply.splitlines() if line.startswith("Mode:")]
        modes[host] = found[0] if found else reply
    print(json.dumps(modes))
"""


def client(kind: KindCluster, *command: str, timeout: float = 300) -> str:
    """Runs ``command`` in a fresh pod of the broker image in the test namespace; returns its stdout."""
    name = f"client-{uuid.uuid4().hex[:8]}"
    kind.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"kopfka.io/e2e-client": "true"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "client", "image": BROKER_IMAGE, "imagePullPolicy": "Never", "command": list(command)}
                ],
            },
        }
    )
    try:
        phase = wait_for(
            lambda: _finished(kind.get("pod", name, "-n", NAMESPACE)),
            timeout=timeout,
            what=f"client pod {name} to finish",
        )
        logs = kind.kubectl("logs", "-n", NAMESPACE, name).stdout
        assert phase == "Succeeded", f"client pod {name} {phase}:\n{logs}"
        return logs
    finally:
        kind.kubectl("delete", "pod", "-n", NAMESPACE, name, "--wait=false", check=False)


def _finished(pod: dict) -> str | None:
    phase = (pod.get("status") or {}).get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def python_client(kind: KindCluster, *args: str) -> dict:
    out = client(kind, "python3", "-c", CLIENT, BOOTSTRAP, *args)
    return json.loads(out.strip().splitlines()[-1])


_PARTITION_LINE = re.compile(
    r"Partition: (?P<partition>\d+)\s+Leader: (?P<leader>-?\d+)\s+Replicas: (?P<replicas>[\d,]*)\s+Isr: (?P<isr>[\d,]*)"
)


def describe(kind: KindCluster, topic: str) -> dict[int, dict[str, object]]:
    """``kopfka topics --describe`` in a client pod, parsed: partition → leader, replicas, isr."""
    out = client(kind, "kopfka", "topics", "--bootstrap-server", BOOTSTRAP, "--describe", "--topic", topic)
    partitions = {}
    for match in _PARTITION_LINE.finditer(out):
        partitions[int(match["partition"])] = {
            "leader": int(match["leader"]),
            "replicas": [int(b) for b in match["replicas"].split(",") if b],
            "isr": [int(b) for b in match["isr"].split(",") if b],
        }
    return partitions


def fully_replicated(partitions: dict[int, dict[str, object]], *, count: int, rf: int, brokers: set[int]) -> bool:
    return len(partitions) == count and all(
        len(p["replicas"]) == rf
        and sorted(p["isr"]) == sorted(p["replicas"])
        and set(p["replicas"]) <= brokers
        and p["leader"] in p["isr"]
        for p in partitions.values()
    )


def kafka_topic(name: str, *, partitions: int, rf: int, topic_name: str | None = None) -> dict:
    return {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "cluster": CLUSTER,
            "topicName": topic_name or name,
            "partitions": partitions,
            "replicationFactor": rf,
        },
    }


def topic_status(kind: KindCluster, name: str) -> dict:
    return kind.get("kafkatopic", name, "-n", NAMESPACE).get("status") or {}


def ready_condition(status: dict) -> dict:
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})


def expected_records() -> list[tuple[str, str]]:
    return sorted((f"key-{i % KEYS}", f"value-{i}") for i in range(RECORDS))


def consume_all(kind: KindCluster) -> dict:
    return python_client(kind, "consume", TOPIC, str(RECORDS))


# --- the cluster ---------------------------------------------------------------------------------


def test_kafkacluster_is_running_with_its_objects(kind_cluster: KindCluster, kafka_cluster: dict):
    # The operator counts ready pods itself; the StatefulSet, endpoint-slice and disruption controllers
    # each see the same readiness through their own informers, a moment later.
    def ready_endpoints() -> list[dict]:
        service = f"kubernetes.io/service-name={CLUSTER}-bootstrap"
        slices = kind_cluster.get("endpointslices", "-n", NAMESPACE, "-l", service)
        return [
            e for s in slices["items"] for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")
        ]

    wait_for(
        lambda: (
            kind_cluster.get("statefulset", f"{CLUSTER}-broker", "-n", NAMESPACE)["status"].get("readyReplicas")
            == BROKERS
            and kind_cluster.get("statefulset", f"{CLUSTER}-zookeeper", "-n", NAMESPACE)["status"].get("readyReplicas")
            == ZOOKEEPERS
            and len(ready_endpoints()) == BROKERS
            and kind_cluster.get("pdb", f"{CLUSTER}-broker", "-n", NAMESPACE)["status"].get("currentHealthy") == BROKERS
        ),
        timeout=300,
        what="the StatefulSets, the bootstrap endpoints and the PodDisruptionBudget to see every pod ready",
    )
    body = kind_cluster.get("kafkacluster", CLUSTER, "-n", NAMESPACE)
    status = body["status"]
    assert status["phase"] == "Running"
    assert status["readyBrokers"] == BROKERS
    assert status["bootstrapServers"] == BOOTSTRAP
    assert ready_condition(status)["status"] == "True"
    assert [b["id"] for b in status["brokers"]] == list(range(BROKERS))
    assert all(b["ready"] for b in status["brokers"])
    uid = body["metadata"]["uid"]

    def owned(obj: dict) -> bool:
        return any(ref["uid"] == uid and ref.get("controller") for ref in obj["metadata"].get("ownerReferences", []))

    brokers = kind_cluster.get("statefulset", f"{CLUSTER}-broker", "-n", NAMESPACE)
    assert owned(brokers)
    assert brokers["spec"]["replicas"] == BROKERS and brokers["status"]["readyReplicas"] == BROKERS
    assert brokers["spec"]["serviceName"] == f"{CLUSTER}-brokers"
    assert brokers["spec"]["updateStrategy"]["type"] == "OnDelete"
    assert brokers["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    zookeeper = kind_cluster.get("statefulset", f"{CLUSTER}-zookeeper", "-n", NAMESPACE)
    assert owned(zookeeper) and zookeeper["status"]["readyReplicas"] == ZOOKEEPERS
    # One ensemble, not three standalone servers: a leader and its followers.
    servers = [
        f"{CLUSTER}-zookeeper-{i}.{CLUSTER}-zookeeper-nodes.{NAMESPACE}.svc.cluster.local" for i in range(ZOOKEEPERS)
    ]
    modes = python_client(kind_cluster, "srvr", *servers)
    assert sorted(modes.values()) == ["follower"] * (ZOOKEEPERS - 1) + ["leader"], modes

    headless = kind_cluster.get("service", f"{CLUSTER}-brokers", "-n", NAMESPACE)
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    bootstrap = kind_cluster.get("service", f"{CLUSTER}-bootstrap", "-n", NAMESPACE)
    assert bootstrap["spec"]["clusterIP"] not in ("", "None")
    assert [p["port"] for p in bootstrap["spec"]["ports"]] == [9092]
    assert len(ready_endpoints()) == BROKERS
    for name in (f"{CLUSTER}-zookeeper", f"{CLUSTER}-zookeeper-nodes"):
        assert owned(kind_cluster.get("service", name, "-n", NAMESPACE))

    pdb = kind_cluster.get("pdb", f"{CLUSTER}-broker", "-n", NAMESPACE)
    assert pdb["spec"]["maxUnavailable"] == 1 and owned(pdb)
    assert pdb["status"]["currentHealthy"] == BROKERS

    config = kind_cluster.get("configmap", f"{CLUSTER}-config", "-n", NAMESPACE)
    properties = config["data"]["server.properties"]
    assert f"zookeeper.connect={CLUSTER}-zookeeper.{NAMESPACE}.svc.cluster.local:2181" in properties
    assert "min.insync.replicas=2" in properties

    claims = kind_cluster.get("pvc", "-n", NAMESPACE)["items"]
    broker_claims = {c["metadata"]["name"]: c for c in claims if c["metadata"]["name"].startswith("data-demo-broker-")}
    assert sorted(broker_claims) == [f"data-{CLUSTER}-broker-{i}" for i in range(BROKERS)]
    assert all(c["status"]["phase"] == "Bound" for c in broker_claims.values())

    # Every broker registered under its ordinal, advertising its stable headless-Service name.
    hosts = python_client(kind_cluster, "brokers")
    assert hosts == {
        str(i): f"{CLUSTER}-broker-{i}.{CLUSTER}-brokers.{NAMESPACE}.svc.cluster.local" for i in range(BROKERS)
    }


# --- topics and records --------------------------------------------------------------------------


def test_topic_ready_and_records_round_trip(kind_cluster: KindCluster, kafka_cluster: dict):
    kind_cluster.apply(kafka_topic(TOPIC, partitions=6, rf=3))
    status = wait_for(
        lambda: (s := topic_status(kind_cluster, TOPIC)).get("phase") == "Ready" and s,
        timeout=180,
        what=f"KafkaTopic {TOPIC} Ready",
    )
    assert status["partitions"] == 6 and status["replicationFactor"] == 3
    assert ready_condition(status)["status"] == "True"

    # Ready is what the operator saw through one broker; the describe may ask another, which learns of the
    # topic through its own ZooKeeper watches
    partitions = wait_for(
        lambda: (d := describe(kind_cluster, TOPIC)) and fully_replicated(d, count=6, rf=3, brokers=set(range(BROKERS)))
        and d,
        timeout=240,
        what=f"every broker to know {TOPIC} fully replicated",
        interval=3,
    )
    assert fully_replicated(partitions, count=6, rf=3, brokers=set(range(BROKERS))), partitions
    assert {p["leader"] for p in partitions.values()} == set(range(BROKERS)), "leaders spread over the brokers"

    produced = python_client(kind_cluster, "produce", TOPIC, str(RECORDS), str(KEYS))
    assert produced["unsent"] == 0 and produced["failures"] == [], produced
    assert all(len(p) == 1 for p in produced["partitions"].values()), "a key always goes to one partition"

    consumed = consume_all(kind_cluster)
    records = consumed["records"]
    assert len(records) == RECORDS and consumed["extra"] == 0
    assert sorted((key, value) for _, _, key, value in records) == expected_records()
    assert len({(p, o) for p, o, _, _ in records}) == RECORDS, "no record read twice"
    for partition, _, key, _ in records:
        assert produced["partitions"][key] == [partition]
    # Per partition, offsets are dense from 0 and values of one key keep their order.
    by_partition: dict[int, list[int]] = {}
    for partition, offset, _, _ in records:
        by_partition.setdefault(partition, []).append(offset)
    assert all(sorted(o) == list(range(len(o))) for o in by_partition.values())
    for key in {k for _, _, k, _ in records}:
        order = [int(v.split("-")[1]) for p, o, k, v in sorted(records, key=lambda r: (r[0], r[1])) if k == key]
        assert order == sorted(order)


def test_replication_factor_above_brokers_is_refused(kind_cluster: KindCluster, kafka_cluster: dict):
    kind_cluster.apply(kafka_topic("too-wide", partitions=3, rf=4))
    status = wait_for(
        lambda: (s := topic_status(kind_cluster, "too-wide")).get("phase") == "Refused" and s,
        timeout=120,
        what="KafkaTopic too-wide Refused",
    )
    condition = ready_condition(status)
    assert condition["status"] == "False" and condition["reason"] == "ReplicationFactorExceedsBrokers"
    events = kind_cluster.get("events", "-n", NAMESPACE, "--field-selector", "involvedObject.name=too-wide")
    assert any(e["reason"] == "ReplicationFactorExceedsBrokers" for e in events["items"])
    listed = client(kind_cluster, "kopfka", "topics", "--bootstrap-server", BOOTSTRAP, "--list").split()
    assert TOPIC in listed and "too-wide" not in listed


# --- healing -------------------------------------------------------------------------------------


def _pod(kind: KindCluster, name: str) -> dict:
    return kind.get("pod", name, "-n", NAMESPACE)


def _pod_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions", []))


def test_deleted_broker_pod_returns_with_its_id_and_rejoins_the_isr(kind_cluster: KindCluster, kafka_cluster: dict):
    victim = 1
    pod_name = f"{CLUSTER}-broker-{victim}"
    old_uid = _pod(kind_cluster, pod_name)["metadata"]["uid"]
    deleted = time.monotonic()
    kind_cluster.kubectl("delete", "pod", "-n", NAMESPACE, pod_name, "--wait=false")
    wait_for(
        lambda: (p := _pod(kind_cluster, pod_name))["metadata"]["uid"] != old_uid and _pod_ready(p),
        timeout=300,
        what=f"a new {pod_name} to be ready",
        interval=3,
    )
    partitions = wait_for(
        lambda: (
            (d := describe(kind_cluster, TOPIC))
            and fully_replicated(d, count=6, rf=3, brokers=set(range(BROKERS)))
            and d
        ),
        timeout=240,
        what=f"broker {victim} back in every ISR of {TOPIC}",
        interval=3,
    )
    assert sum(victim in p["replicas"] for p in partitions.values()) == 6  # RF 3 on 3 brokers: all of them
    print(f"broker pod {pod_name} deleted → back in the ISR in {time.monotonic() - deleted:.0f} s")
    hosts = python_client(kind_cluster, "brokers")
    assert hosts[str(victim)] == f"{pod_name}.{CLUSTER}-brokers.{NAMESPACE}.svc.cluster.local"

    consumed = consume_all(kind_cluster)
    assert sorted((k, v) for _, _, k, v in consumed["records"]) == expected_records()
    assert consumed["extra"] == 0


def _claim(kind: KindCluster, name: str) -> dict:
    return kind.get("pvc", name, "-n", NAMESPACE)


def _lose_broker_data(kind: KindCluster, ordinal: int) -> str:
    """Deletes broker ``ordinal``'s PersistentVolumeClaim and then its pod (the claim is in use until the pod
    goes): the StatefulSet makes a new pod and a new, empty claim. Returns the old claim's volume."""
    claim = f"data-{CLUSTER}-broker-{ordinal}"
    old_volume = _claim(kind, claim)["spec"]["volumeName"]
    kind.kubectl("delete", "pvc", "-n", NAMESPACE, claim, "--wait=false")
    kind.kubectl("delete", "pod", "-n", NAMESPACE, f"{CLUSTER}-broker-{ordinal}", "--wait=false")
    return old_volume


def test_broker_with_its_data_lost_comes_back_empty_and_refills(kind_cluster: KindCluster, kafka_cluster: dict):
    """The claim of broker 2 is deleted with its pod: the broker restarts on a new, empty volume (the node's
    spare one), under the same id, and its followers fetch every partition again from the leaders."""
    victim = 2
    claim = f"data-{CLUSTER}-broker-{victim}"
    old_volume = _lose_broker_data(kind_cluster, victim)
    new_volume = wait_for(
        lambda: (
            (c := _claim(kind_cluster, claim))["status"].get("phase") == "Bound"
            and c["spec"]["volumeName"] != old_volume
            and c["spec"]["volumeName"]
        ),
        timeout=180,
        what=f"a new claim {claim} bound to another volume",
    )
    wait_for(
        lambda: _pod_ready(_pod(kind_cluster, f"{CLUSTER}-broker-{victim}")),
        timeout=300,
        what=f"{CLUSTER}-broker-{victim} ready on its new volume",
        interval=3,
    )
    wait_for(
        lambda: fully_replicated(describe(kind_cluster, TOPIC), count=6, rf=3, brokers=set(range(BROKERS))),
        timeout=240,
        what=f"broker {victim} back in every ISR of {TOPIC}",
        interval=3,
    )
    # The new volume really holds the re-fetched partitions (and the old one is left as it was, Released).
    listing = kind_cluster.node_exec("ls", f"/var/local-pv/{new_volume}/data").stdout.split()
    assert {f"{TOPIC}-{p}" for p in range(6)} <= set(listing), listing
    # the PersistentVolume controller releases the volume of a deleted claim on its own time
    wait_for(
        lambda: kind_cluster.get("pv", old_volume)["status"]["phase"] == "Released",
        timeout=180,
        what=f"volume {old_volume} Released",
    )
    assert kind_cluster.get("pv", old_volume)["status"]["phase"] == "Released"

    consumed = consume_all(kind_cluster)
    assert sorted((k, v) for _, _, k, v in consumed["records"]) == expected_records()


def test_broker_lost_beyond_the_grace_period_has_its_replicas_moved(kind_cluster: KindCluster, kafka_cluster: dict):
    """Four brokers; broker 3 loses its claim and has no volume to come back on (its pod stays Pending).
    After ``gracePeriodSeconds`` the operator reassigns its replicas to brokers 0-2, so every partition of
    every topic has its three replicas in sync again, and the records are all there."""
    kind_cluster.add_volumes(1, first=ZOOKEEPERS + BROKERS + 1)
    kind_cluster.kubectl(
        "patch", "kafkacluster", CLUSTER, "-n", NAMESPACE, "--type=merge", "-p", json.dumps({"spec": {"brokers": 4}})
    )
    wait_for(
        lambda: (
            (s := kind_cluster.get("kafkacluster", CLUSTER, "-n", NAMESPACE)["status"])["readyBrokers"] == 4
            and s["phase"] == "Running"
        ),
        timeout=300,
        what="4 brokers Running",
        interval=3,
    )
    healing = "healing"
    kind_cluster.apply(kafka_topic(healing, partitions=8, rf=3))
    wait_for(
        lambda: topic_status(kind_cluster, healing).get("phase") == "Ready",
        timeout=180,
        what=f"KafkaTopic {healing} Ready",
    )
    before = wait_for(  # as above: every broker learns of the new topic on its own
        lambda: (d := describe(kind_cluster, healing)) and fully_replicated(d, count=8, rf=3, brokers={0, 1, 2, 3})
        and d,
        timeout=240,
        what=f"every broker to know {healing} fully replicated",
        interval=3,
    )
    assert fully_replicated(before, count=8, rf=3, brokers={0, 1, 2, 3})
    on_lost = sorted(p for p, d in before.items() if 3 in d["replicas"])
    assert on_lost, "broker 3 holds replicas of the new topic"
    produced = python_client(kind_cluster, "produce", healing, "200", "8")
    assert produced["unsent"] == 0 and produced["failures"] == []

    lost_at = time.monotonic()
    _lose_broker_data(kind_cluster, 3)
    wait_for(
        lambda: _claim(kind_cluster, f"data-{CLUSTER}-broker-3")["status"].get("phase") == "Pending",
        timeout=120,
        what="broker 3's new claim Pending (no volume left)",
    )
    status = wait_for(
        lambda: (s := kind_cluster.get("kafkacluster", CLUSTER, "-n", NAMESPACE)["status"]).get("lostBrokers") and s,
        timeout=120,
        what="status.lostBrokers to name broker 3",
    )
    assert [b["id"] for b in status["lostBrokers"]] == [3]
    after = wait_for(
        lambda: (d := describe(kind_cluster, healing)) and fully_replicated(d, count=8, rf=3, brokers={0, 1, 2}) and d,
        timeout=300,
        what=f"every partition of {healing} back to 3 in-sync replicas on brokers 0-2",
        interval=5,
    )
    elapsed = time.monotonic() - lost_at
    assert elapsed >= GRACE_SECONDS, f"replicas moved after {elapsed:.0f}s, before the {GRACE_SECONDS}s grace period"
    print(f"broker 3 lost → its replicas moved, all in sync, after {elapsed:.0f} s")
    for partition in on_lost:
        assert 3 not in after[partition]["replicas"]
    assert fully_replicated(describe(kind_cluster, TOPIC), count=6, rf=3, brokers={0, 1, 2})
    events = kind_cluster.get("events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={CLUSTER}")
    assert any(e["reason"] == "BrokerLost" for e in events["items"])

    consumed = python_client(kind_cluster, "consume", healing, "200")
    assert sorted(v for _, _, _, v in consumed["records"]) == sorted(f"value-{i}" for i in range(200))
