"""kafka-console-producer → kafka-console-consumer through kopfka, and kafka-consumer-groups on the group
the consumer leaves behind (its committed offsets and lag)."""

from __future__ import annotations

from collections import defaultdict

from confluent_kafka import Producer
from tests.integration.admin import create_topic


def test_console_round_trip(bootstrap, kafka_tool):
    create_topic(bootstrap, "console", partitions=3, replication_factor=2)
    sent = [("k1", "first"), ("k2", "a value with spaces"), ("k1", "ünïcödé ✓"), ("k3", "{\"json\": [1, 2]}"),
            ("k2", "last of k2"), ("k1", "")]
    kafka_tool("kafka-console-producer", "--bootstrap-server", bootstrap, "--topic", "console",
               "--producer-property", "acks=all", "--property", "parse.key=true", "--property", "key.separator=|",
               input="".join(f"{k}|{v}\n" for k, v in sent))

    consumed = kafka_tool(
        "kafka-console-consumer", "--bootstrap-server", bootstrap, "--topic", "console", "--from-beginning",
        "--max-messages", str(len(sent)), "--timeout-ms", "30000",
        "--property", "print.key=true", "--property", "print.partition=true", "--property", "print.offset=true",
        "--property", "key.separator=|",
    )
    assert f"Processed a total of {len(sent)} messages" in consumed.stderr
    per_partition: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for line in consumed.stdout.splitlines():
        partition, offset, key, value = line.split("|", 3)  # Partition:1|Offset:0|k1|first
        offset_number = int(offset.removeprefix("Offset:"))
        per_partition[int(partition.removeprefix("Partition:"))].append((offset_number, key, value))
    # Every record once, with its exact key and value; a key's records in one partition, in the order sent;
    # each partition's offsets 0, 1, 2, …
    assert sorted(r[1:] for rs in per_partition.values() for r in rs) == sorted(sent)
    for records in per_partition.values():
        assert [offset for offset, _, _ in records] == list(range(len(records)))
        for key in {k for _, k, _ in records}:
            assert [v for _, k, v in records if k == key] == [v for k, v in sent if k == key]
    partitions_of = {key: {p for p, rs in per_partition.items() for _, k, _ in rs if k == key} for key, _ in sent}
    assert all(len(ps) == 1 for ps in partitions_of.values())


def test_consumer_groups_list_and_describe_offsets_and_lag(bootstrap, kafka_tool):
    create_topic(bootstrap, "grouped", partitions=2, replication_factor=2)
    produce(bootstrap, "grouped", {0: 4, 1: 2})
    kafka_tool("kafka-console-consumer", "--bootstrap-server", bootstrap, "--topic", "grouped", "--group", "readers",
               "--from-beginning", "--max-messages", "6", "--timeout-ms", "30000")
    produce(bootstrap, "grouped", {0: 1, 1: 2})  # after the group committed: lag 1 and 2

    listed = kafka_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--list").stdout.split()
    assert "readers" in listed

    described = kafka_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group",
                           "readers")
    rows = [line.split() for line in described.stdout.splitlines() if line.startswith("readers ")]
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    assert sorted(row[:6] for row in rows) == [
        ["readers", "grouped", "0", "4", "5", "1"],
        ["readers", "grouped", "1", "2", "4", "2"],
    ]
    assert all(row[6:] == ["-", "-", "-"] for row in rows)  # the console consumer has left
    assert "Consumer group 'readers' has no active members." in described.stderr


def produce(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    """`counts[p]` records into partition p, acknowledged by every in-sync replica."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(topic, value=f"{partition}-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0
