"""kafka-producer-perf-test.sh and kafka-consumer-perf-test.sh against three kopfka brokers.

The producer test's summary line counts what it sent, and the topic's end offsets add up to exactly that
(acks=all, so idempotent: every record once, on every in-sync replica), uncompressed and then
zstd-compressed by the producer; the consumer test then reads exactly those records, in
a group that commits where it stopped, so the group's committed offsets are the end offsets again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from tests.integration.admin import create_topic

TOPIC = "perf"
PARTITIONS = 3
RECORDS = 20_000
COMPRESSED = 5_000
"""Records of a second run, zstd-compressed by the producer."""
RECORD_SIZE = 200


def end_offsets(bootstrap: str, topic: str, partitions: int, group: str = "perf-observer") -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(partitions)}
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def produce(kafka_tool: Callable[..., Any], bootstrap: str, records: int, *props: str) -> int:
    """Run kafka-producer-perf-test; the number of records its summary line says were sent."""
    produced = kafka_tool(
        "kafka-producer-perf-test", "--topic", TOPIC, "--num-records", str(records), "--record-size", str(RECORD_SIZE),
        "--throughput", "-1", "--producer-props", "acks=all", f"bootstrap.servers={bootstrap}", *props, timeout=120,
    )
    # The last line sums the run up: "20000 records sent, 5123.4 records/sec (0.98 MB/sec), 1.2 ms avg latency, …"
    summary = produced.stdout.strip().splitlines()[-1]
    match = re.match(r"(\d+) records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, "
                     r"[\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99.9th\.$", summary)
    assert match is not None, produced.stdout
    return int(match.group(1))


def test_producer_then_consumer_perf_test(bootstrap: str, kafka_tool: Callable[..., Any]) -> None:
    create_topic(bootstrap, TOPIC, partitions=PARTITIONS, replication_factor=2)

    assert produce(kafka_tool, bootstrap, RECORDS) == RECORDS
    ends = end_offsets(bootstrap, TOPIC, PARTITIONS)
    assert sum(ends.values()) == RECORDS
    assert all(end > 0 for end in ends.values())  # the default partitioner spread them
    assert produce(kafka_tool, bootstrap, COMPRESSED, "compression.type=zstd") == COMPRESSED
    ends = end_offsets(bootstrap, TOPIC, PARTITIONS)
    assert sum(ends.values()) == RECORDS + COMPRESSED

    consumed = kafka_tool(
        "kafka-consumer-perf-test", "--bootstrap-server", bootstrap, "--topic", TOPIC, "--group", "perf-readers",
        "--messages", str(RECORDS + COMPRESSED), "--timeout", "60000", timeout=120,
    )
    header, row = consumed.stdout.strip().splitlines()[-2:]
    columns = [c.strip() for c in header.split(",")]
    assert columns[:6] == ["start.time", "end.time", "data.consumed.in.MB", "MB.sec", "data.consumed.in.nMsg",
                           "nMsg.sec"]
    values = dict(zip(columns, (v.strip() for v in row.split(",")), strict=True))
    assert int(values["data.consumed.in.nMsg"]) == RECORDS + COMPRESSED
    assert float(values["data.consumed.in.MB"]) == round((RECORDS + COMPRESSED) * RECORD_SIZE / 1024 / 1024, 4)
    assert "WARNING" not in consumed.stdout
    # The perf consumer commits its position as it closes: the end of every partition.
    assert committed(bootstrap, "perf-readers", TOPIC, PARTITIONS) == ends
