"""kafka-configs.sh on brokers: the cluster default and one broker's dynamic configs, as Kafka 3.9's tool sets
and shows them; ZooKeeper in Kafka's layout; a change applied by the brokers without a restart."""

from __future__ import annotations

import json
import re
import time

from confluent_kafka import KafkaError, Producer
from kazoo.client import KazooClient
from tests.integration.admin import create_topic, create_topic_with_assignment

from kafka_broker.local import LocalCluster

ENTRY = re.compile(r"^  (?P<name>[A-Za-z0-9.]+)=(?P<value>\S*) sensitive=(?:true|false) synonyms=\{(?P<syn>.*)\}$")


def configs(kafka_tool, bootstrap: str, *args: str, check: bool = True):
    return kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, *args, check=check)


def describe_broker(kafka_tool, bootstrap: str, *entity: str, every: bool = False) -> tuple[str, dict[str, tuple]]:
    """The heading, and name → (value, synonyms text) of `kafka-configs --describe --entity-type brokers`."""
    out = configs(kafka_tool, bootstrap, "--describe", "--entity-type", "brokers", *entity,
                  *(["--all"] if every else [])).stdout.splitlines()
    entries = {}
    for line in out[1:]:
        match = ENTRY.match(line)
        assert match, line
        entries[match["name"]] = (match["value"], match["syn"])
    return out[0], entries


def produce_all(bootstrap: str, topic: str) -> KafkaError | None:
    """One record with acks=all, no retries: the delivery error (None when written)."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": 0, "message.timeout.ms": 10000,
                         "enable.idempotence": False})
    errors: list[KafkaError | None] = []
    producer.produce(topic, b"v", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1
    return errors[0]


def test_dynamic_broker_configs(cluster: LocalCluster, bootstrap: str, kafka_tool) -> None:
    default = configs(kafka_tool, bootstrap, "--alter", "--entity-type", "brokers", "--entity-default",
                      "--add-config", "log.retention.ms=3600000,follower.replication.throttled.rate=1048576")
    assert default.stdout.strip() == "Completed updating default config for brokers in the cluster."
    one = configs(kafka_tool, bootstrap, "--alter", "--entity-type", "brokers", "--entity-name", "1",
                  "--add-config", "min.insync.replicas=3,log.retention.ms=1800000")
    assert one.stdout.strip() == "Completed updating config for broker 1."

    heading, entries = describe_broker(kafka_tool, bootstrap, "--entity-default")
    assert heading == "Default configs for brokers in the cluster are:"
    assert entries == {
        "follower.replication.throttled.rate": (
            "1048576", "DYNAMIC_DEFAULT_BROKER_CONFIG:follower.replication.throttled.rate=1048576"),
        "log.retention.ms": ("3600000", "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000"),
    }
    heading, entries = describe_broker(kafka_tool, bootstrap, "--entity-name", "1")
    assert heading == "Dynamic configs for broker 1 are:"
    assert entries["log.retention.ms"] == ("1800000", "DYNAMIC_BROKER_CONFIG:log.retention.ms=1800000, "
                                           "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000, "
                                           "DEFAULT_CONFIG:log.retention.hours=168")
    assert set(entries) == {"log.retention.ms", "min.insync.replicas"}
    heading, every = describe_broker(kafka_tool, bootstrap, "--entity-name", "2", every=True)
    assert heading == "All configs for broker 2 are:"
    assert every["log.retention.ms"] == ("3600000", "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000, "
                                         "DEFAULT_CONFIG:log.retention.hours=168")
    assert every["min.insync.replicas"] == ("1", "DEFAULT_CONFIG:min.insync.replicas=1")
    assert every["log.retention.hours"] == ("168", "DEFAULT_CONFIG:log.retention.hours=168")
    assert every["log.retention.minutes"] == ("null", "")
    assert every["inter.broker.protocol.version"][0] == "3.9-IV0"
    assert every["log.cleaner.backoff.ms"] == ("15000", "DEFAULT_CONFIG:log.cleaner.backoff.ms=15000")
    assert every["broker.id"][1].startswith("STATIC_BROKER_CONFIG:broker.id=2")

    zk = KazooClient(hosts=cluster.zookeeper_connect)
    zk.start(timeout=15)
    try:
        assert json.loads(zk.get("/config/brokers/<default>")[0]) == {"version": 1, "config": {
            "log.retention.ms": "3600000", "follower.replication.throttled.rate": "1048576"}}
        assert json.loads(zk.get("/config/brokers/1")[0]) == {"version": 1, "config": {
            "min.insync.replicas": "3", "log.retention.ms": "1800000"}}
        notices = [json.loads(zk.get(f"/config/changes/{c}")[0]) for c in zk.get_children("/config/changes")]
        assert {"version": 2, "entity_path": "brokers/<default>"} in notices
        assert {"version": 2, "entity_path": "brokers/1"} in notices
    finally:
        zk.stop()
        zk.close()

    # a topic without its own retention.ms takes the cluster default (described by any broker but 1)
    create_topic(bootstrap, "dyn-default", partitions=1, replication_factor=1)
    topic = kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, "--describe", "--all", "--entity-type",
                       "topics", "--entity-name", "dyn-default").stdout
    retention = next(line for line in topic.splitlines() if line.startswith("  retention.ms="))
    assert retention in (  # broker 1's own log.retention.ms, or the cluster default on the others
        "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000, "
        "DEFAULT_CONFIG:log.retention.hours=168}",
        "  retention.ms=1800000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.retention.ms=1800000, "
        "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000, DEFAULT_CONFIG:log.retention.hours=168}")

    # broker 1 leads a partition replicated on 1 and 2: its min.insync.replicas=3 refuses acks=all
    create_topic_with_assignment(bootstrap, "dyn-isr", [[1, 2]])
    error = produce_all(bootstrap, "dyn-isr")
    assert error is not None and error.code() == KafkaError.NOT_ENOUGH_REPLICAS
    configs(kafka_tool, bootstrap, "--alter", "--entity-type", "brokers", "--entity-name", "1",
            "--delete-config", "min.insync.replicas")
    deadline = time.monotonic() + 30
    while (error := produce_all(bootstrap, "dyn-isr")) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert error is None
    heading, entries = describe_broker(kafka_tool, bootstrap, "--entity-name", "1")
    assert set(entries) == {"log.retention.ms"}


def test_static_keys_are_refused_with_kafkas_error(bootstrap: str, kafka_tool) -> None:
    refused = configs(kafka_tool, bootstrap, "--alter", "--entity-type", "brokers", "--entity-name", "1",
                      "--add-config", "broker.id=5", check=False)
    assert refused.returncode != 0
    assert "InvalidRequestException: Cannot update these configs dynamically: Set(broker.id)" in refused.stdout + \
        refused.stderr
    refused = configs(kafka_tool, bootstrap, "--alter", "--entity-type", "brokers", "--entity-default",
                      "--add-config", "listeners=PLAINTEXT://:1", check=False)
    assert ("Cannot update these configs at default cluster level, broker id must be specified: Set(listeners)"
            in refused.stdout + refused.stderr)
    refused = configs(kafka_tool, bootstrap, "--alter", "--entity-type", "brokers", "--entity-name", "2",
                      "--add-config", "min.insync.replicas=0", check=False)
    assert ("Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"
            in refused.stdout + refused.stderr)
