"""kafka-topics.sh against kopfka: create (with a config), list, describe, add partitions, delete.

What the tool prints is checked against what kopfka itself answers to another client (confluent-kafka).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.integration.admin import admin, create_topic, describe
from tests.waiting import wait_for


@dataclass
class Described:
    """One topic in `kafka-topics --describe` output."""

    partition_count: int
    replication_factor: int
    configs: dict[str, str]
    partitions: dict[int, tuple[int, list[int], list[int]]]
    """partition → (leader, replicas, isr), in the same shape as the tests' `describe`."""


def parse_describe(output: str) -> dict[str, Described]:
    """Kafka 3.9's format: a summary line per topic, then one indented line per partition, each a
    tab-separated list of `Key: value`."""
    topics: dict[str, Described] = {}
    for line in output.splitlines():
        if not line.strip():
            continue
        fields = {key: value.strip() for key, _, value in (part.partition(":") for part in line.strip().split("\t"))}
        if "Partition" in fields:
            replicas = [int(b) for b in fields["Replicas"].split(",")]
            isr = [int(b) for b in fields["Isr"].split(",") if b]
            entry = (int(fields["Leader"]), replicas, isr)
            topics[fields["Topic"]].partitions[int(fields["Partition"])] = entry
        else:
            configs = dict(c.split("=", 1) for c in fields["Configs"].split(",") if c)
            topics[fields["Topic"]] = Described(int(fields["PartitionCount"]), int(fields["ReplicationFactor"]),
                                                configs, {})
    return topics


def kopfka_topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    from confluent_kafka.admin import ConfigResource

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    client = admin(bootstrap)  # keep a reference: a collected client cancels its futures
    entries = client.describe_configs([resource])[resource].result(30)
    return {name: entry.value for name, entry in entries.items()}


def test_create_with_a_config(bootstrap, kafka_tool):
    created = kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", "created",
                         "--partitions", "3", "--replication-factor", "2", "--config", "retention.ms=3600000")
    assert created.stdout.strip() == "Created topic created."

    described = parse_describe(kafka_tool("kafka-topics", "--bootstrap-server", bootstrap,
                                          "--describe", "--topic", "created").stdout)
    topic = described["created"]
    assert (topic.partition_count, topic.replication_factor) == (3, 2)
    assert topic.configs == {"retention.ms": "3600000"}
    assert sorted(topic.partitions) == [0, 1, 2]
    for leader, replicas, isr in topic.partitions.values():
        assert len(set(replicas)) == 2 and leader in replicas and sorted(isr) == sorted(replicas)
    assert sorted(leader for leader, _, _ in topic.partitions.values()) == [1, 2, 3]  # one partition per broker
    assert topic.partitions == describe(bootstrap, "created")  # what kopfka tells another client
    assert kopfka_topic_config(bootstrap, "created")["retention.ms"] == "3600000"


def test_list_shows_the_topics_kopfka_has(bootstrap, kafka_tool):
    for name in ("listed-a", "listed-b"):
        create_topic(bootstrap, name, partitions=1, replication_factor=1)
    listed = kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--list", "--exclude-internal").stdout
    kopfka = {t for t in admin(bootstrap).list_topics(timeout=15).topics if not t.startswith("__")}
    assert {"listed-a", "listed-b"} <= set(listed.split())
    assert sorted(listed.split()) == sorted(kopfka)


def test_alter_adds_partitions(bootstrap, kafka_tool):
    create_topic(bootstrap, "grown", partitions=2, replication_factor=2)
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--alter", "--topic", "grown", "--partitions", "5")

    wait_for(lambda: len(describe(bootstrap, "grown")) == 5, what="five partitions in kopfka's metadata")
    described = parse_describe(kafka_tool("kafka-topics", "--bootstrap-server", bootstrap,
                                          "--describe", "--topic", "grown").stdout)["grown"]
    assert (described.partition_count, described.replication_factor) == (5, 2)
    assert sorted(described.partitions) == [0, 1, 2, 3, 4]
    for leader, replicas, _ in described.partitions.values():
        assert len(set(replicas)) == 2 and leader in replicas


def test_delete(bootstrap, kafka_tool):
    create_topic(bootstrap, "deleted", partitions=2, replication_factor=2)
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--delete", "--topic", "deleted")

    wait_for(lambda: "deleted" not in admin(bootstrap).list_topics(timeout=15).topics,
             what="the topic gone from kopfka's metadata")
    listed = kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--list").stdout.split()
    assert "deleted" not in listed
    missing = kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--describe", "--topic", "deleted",
                         check=False)
    assert missing.returncode != 0
    assert "does not exist" in missing.stderr and "deleted" in missing.stderr  # Topic 'Optional[deleted]' …
