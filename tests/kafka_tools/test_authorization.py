"""Kafka's ACL authorizer enforced on every API, against three kopfka brokers: clients authenticate as PLAIN users
on a SASL_PLAINTEXT listener and are refused until Kafka's own ``kafka-acls`` (run as the ``User:ANONYMOUS``
super user on the PLAINTEXT listener, which the brokers also use between them) grants them what they need.

Checked with confluent-kafka (librdkafka): alice's producer is refused with TOPIC_AUTHORIZATION_FAILED; after
``kafka-acls --producer`` she produces to partitions led by each of the three brokers (each learns the new ACLs
from ZooKeeper's change notices), idempotently too (WRITE on a topic stands for IDEMPOTENT_WRITE, KIP-679); bob,
granted nothing, is still refused. A consumer group read needs READ on the group (refused with
GROUP_AUTHORIZATION_FAILED without it) and READ on the topic (TOPIC_AUTHORIZATION_FAILED), then reads every
record and commits its offsets.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from tests.brokers import BrokersAlive, ClusterFactory
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster
from kafka_broker.local.processes import free_port

from .conftest import KafkaTool

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}
PLAIN_JAAS = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
              + " ".join(f'user_{user}="{password}"' for user, password in PASSWORDS.items()) + ";")
TOPIC = "orders"
PROPAGATION_TIMEOUT = 30.0
"""Upper bound for an ACL change to reach every broker (a ZooKeeper watch: well under a second when idle)."""


@dataclass
class Secured:
    cluster: LocalCluster
    ports: dict[str, dict[int, int]]
    """Listener (PLAINTEXT, SASL_PLAINTEXT) → broker id → port."""

    def bootstrap(self, listener: str) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports[listener].values())

    def client(self, user: str, **config: Any) -> dict[str, Any]:
        """confluent-kafka's configuration for ``user`` on the SASL_PLAINTEXT listener."""
        return {"bootstrap.servers": self.bootstrap("SASL_PLAINTEXT"), "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": PASSWORDS[user], **config}


@pytest.fixture(scope="module")
def secured(module_cluster_factory: ClusterFactory, kafka_tool: KafkaTool) -> Secured:
    ports = {name: {i: free_port("127.0.0.1") for i in (1, 2, 3)} for name in ("PLAINTEXT", "SASL_PLAINTEXT")}
    per_broker = {}
    for i in (1, 2, 3):
        listeners = ",".join(f"{name}://127.0.0.1:{ports[name][i]}" for name in ports)
        per_broker[i] = {"listeners": listeners, "advertised.listeners": listeners}
    overrides = {
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": "User:ANONYMOUS",  # the brokers (PLAINTEXT between them) and the tools
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
        "group.initial.rebalance.delay.ms": "0",
    }
    cluster = module_cluster_factory(brokers=3, overrides=overrides, per_broker_overrides=per_broker)
    secured = Secured(cluster, ports)
    # one partition led by each broker, so a producer writing to all three is authorized by all three
    kafka_tool("kafka-topics", "--bootstrap-server", secured.bootstrap("PLAINTEXT"), "--create", "--topic", TOPIC,
               "--replica-assignment", "1:2:3,2:3:1,3:1:2")
    return secured


def acls(kafka_tool: KafkaTool, secured: Secured, *args: str) -> None:
    """``kafka-acls --add`` through one broker's PLAINTEXT listener, as the super user."""
    kafka_tool("kafka-acls", "--bootstrap-server", f"127.0.0.1:{secured.ports['PLAINTEXT'][1]}", "--add", *args)


def produce(secured: Secured, user: str, values: list[bytes], *, idempotent: bool = False,
            timeout: float = 10) -> list[int | None]:
    """Send ``values[i]`` to partition ``i % 3``; each one's error code (None: delivered)."""
    producer = Producer(secured.client(user, **{"enable.idempotence": idempotent, "acks": "all",
                                                "message.timeout.ms": int(timeout * 1000)}))
    outcome: dict[int, int | None] = {}

    def report(index: int) -> Callable[[KafkaError | None, Any], None]:
        def delivered(err: KafkaError | None, _msg: Any) -> None:
            outcome[index] = None if err is None else err.code()
        return delivered

    for index, value in enumerate(values):
        producer.produce(TOPIC, value=value, partition=index % 3, on_delivery=report(index))
    assert producer.flush(timeout + 10) == 0, "a send was never reported"
    return [outcome[index] for index in range(len(values))]


def consume(secured: Secured, user: str, group: str, wanted: set[bytes], *, timeout: float = 60) -> set[bytes] | int:
    """What ``user`` reads in ``group`` from the beginning of the topic, until it has read every value of ``wanted``
    (then its offsets are committed), or the first error code the consumer reports."""
    consumer = Consumer(secured.client(user, **{"group.id": group, "auto.offset.reset": "earliest",
                                                "enable.auto.commit": False}))
    consumer.subscribe([TOPIC])
    values: set[bytes] = set()
    deadline = time.monotonic() + timeout
    try:
        while not wanted <= values:
            assert time.monotonic() < deadline, f"{user} read {sorted(values)} in {group}, not {sorted(wanted)}"
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                return int(message.error().code())
            values.add(message.value())
        consumer.commit(asynchronous=False)
        return values
    finally:
        consumer.close()


def test_producing_needs_write_granted_with_kafka_acls(secured: Secured, kafka_tool: KafkaTool) -> None:
    refused = produce(secured, "alice", [b"early"], timeout=5)
    assert refused == [KafkaError.TOPIC_AUTHORIZATION_FAILED]

    acls(kafka_tool, secured, "--allow-principal", "User:alice", "--producer", "--topic", TOPIC)

    def everywhere() -> bool:  # every broker leads one partition: each must have the ACLs from ZooKeeper
        return produce(secured, "alice", [b"a-0", b"a-1", b"a-2"], timeout=5) == [None, None, None]

    wait_for(everywhere, timeout=PROPAGATION_TIMEOUT, interval=0.1, what="alice produces through every broker",
             alive=[BrokersAlive(secured.cluster)])
    assert produce(secured, "alice", [b"i-0", b"i-1", b"i-2"], idempotent=True) == [None, None, None]
    assert produce(secured, "bob", [b"bob"], timeout=5) == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_a_group_read_needs_read_on_the_group_and_on_the_topic(secured: Secured, kafka_tool: KafkaTool) -> None:
    acls(kafka_tool, secured, "--allow-principal", "User:alice", "--producer", "--topic", TOPIC)
    sent = {b"r-0", b"r-1", b"r-2"}
    wait_for(lambda: produce(secured, "alice", sorted(sent), timeout=5) == [None, None, None],
             timeout=PROPAGATION_TIMEOUT, what="alice produces", alive=[BrokersAlive(secured.cluster)])
    group = f"readers-{uuid.uuid4().hex[:8]}"
    assert consume(secured, "alice", group, sent) == KafkaError.GROUP_AUTHORIZATION_FAILED

    acls(kafka_tool, secured, "--allow-principal", "User:alice", "--operation", "Read", "--group", group)
    wait_for(lambda: consume(secured, "alice", group, sent) == KafkaError.TOPIC_AUTHORIZATION_FAILED,
             timeout=PROPAGATION_TIMEOUT, what="the group allowed, the topic not yet")

    acls(kafka_tool, secured, "--allow-principal", "User:alice", "--operation", "Read", "--topic", TOPIC)

    def read() -> bool:
        result = consume(secured, "alice", group, sent)
        return isinstance(result, set) and sent <= result

    wait_for(read, timeout=PROPAGATION_TIMEOUT, what="alice reads the topic in her group")
    assert consume(secured, "bob", group, sent) == KafkaError.GROUP_AUTHORIZATION_FAILED
