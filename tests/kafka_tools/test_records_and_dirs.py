"""kafka-delete-records.sh, kafka-log-dirs.sh, kafka-get-offsets.sh and kafka-transactions.sh (list,
describe-producers) against three kopfka brokers.

Records deleted with Kafka's tool are gone from every replica (each replica's log start, the segments on
disk), a consumer from the beginning starts where they were deleted, and the brokers keep it across a
crash of all three (SIGKILL: no clean shutdown writes anything). kafka-log-dirs's sizes are the bytes of
the partitions' segment files on each broker's disk.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from tests.integration.admin import create_topic
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster

N = 300
"""Records per partition."""
K = 170
"""Records of partition 0 deleted: those before this offset."""
TOPIC = "trimmed"


def produce(bootstrap: str, topic: str, partitions: int, count: int, **config: object) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "batch.num.messages": 10, **config})
    for i in range(count):
        for partition in range(partitions):
            producer.produce(topic, key=b"k%d" % i, value=b"record-%d-%05d" % (partition, i), partition=partition)
        producer.poll(0)
    assert producer.flush(60) == 0


def partition_dirs(cluster: LocalCluster, topic: str, partition: int) -> dict[int, Path]:
    """Broker → its directory of ``topic``-``partition``, for every broker holding a replica."""
    found = {}
    for broker_id in cluster.broker_ids:
        directory = Path(cluster.broker_properties(broker_id)["log.dirs"]) / f"{topic}-{partition}"
        if directory.is_dir():
            found[broker_id] = directory
    return found


def segment_bases(directory: Path) -> list[int]:
    return sorted(int(p.name.split(".")[0]) for p in directory.glob("*.log"))


def bytes_on_disk(directory: Path) -> int:
    """The bytes of the partition's segments (``.log`` files), what Kafka reports as a partition's size."""
    return sum(p.stat().st_size for p in directory.glob("*.log"))


def checkpointed_start(directory: Path) -> int:
    """The replica's log start as its broker would load it: the checkpoint's, else its first segment's base."""
    checkpoint = directory.parent / "log-start-offset-checkpoint"
    topic, _, partition = directory.name.rpartition("-")
    if checkpoint.exists():
        for line in checkpoint.read_text().splitlines()[2:]:
            name, index, offset = line.split()
            if (name, index) == (topic, partition):
                return int(offset)
    return segment_bases(directory)[0]


def earliest(kafka_tool, bootstrap: str, topic: str) -> dict[int, int]:
    out = kafka_tool("kafka-get-offsets", "--bootstrap-server", bootstrap, "--topic", topic, "--time", "-2").stdout
    return {int(p): int(o) for p, o in (line.split(":")[1:] for line in out.split())}


def log_dirs(kafka_tool, bootstrap: str, topic: str) -> dict[int, dict[str, dict]]:
    """kafka-log-dirs --describe: broker → partition name → Kafka's entry (size, offsetLag, isFuture)."""
    out = kafka_tool("kafka-log-dirs", "--bootstrap-server", bootstrap, "--describe", "--topic-list", topic).stdout
    [document] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert document["version"] == 1
    described: dict[int, dict[str, dict]] = {}
    for broker in document["brokers"]:
        [log_dir] = broker["logDirs"]
        assert log_dir["error"] is None
        described[broker["broker"]] = {p["partition"]: p | {"logDir": log_dir["logDir"]} for p in log_dir["partitions"]}
    return described


def assert_sizes_match_disk(cluster: LocalCluster, described: dict[int, dict[str, dict]], partitions: int) -> None:
    for partition in range(partitions):
        for broker_id, directory in partition_dirs(cluster, TOPIC, partition).items():
            entry = described[broker_id][f"{TOPIC}-{partition}"]
            assert entry["size"] == bytes_on_disk(directory), (broker_id, partition)
            assert (entry["offsetLag"], entry["isFuture"]) == (0, False)
            assert Path(entry["logDir"]) == directory.parent.absolute()


def read_from_beginning(bootstrap: str, topic: str, partition: int, end: int) -> list[tuple[int, bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "records-and-dirs", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    read: list[tuple[int, bytes]] = []
    try:
        def done() -> bool:
            for message in consumer.consume(100, timeout=1):
                assert message.error() is None, message.error()
                read.append((message.offset(), message.value()))
            return bool(read) and read[-1][0] >= end - 1

        wait_for(done, timeout=60, what=f"{topic}-{partition} read to {end}")
    finally:
        consumer.close()
    return read


def test_delete_records_on_every_replica_and_across_a_crash(cluster, bootstrap, kafka_tool, tmp_path):
    create_topic(bootstrap, TOPIC, partitions=2, replication_factor=3, config={"segment.bytes": "2048"})
    produce(bootstrap, TOPIC, 2, N)
    wait_for(lambda: all(segment_bases(d) and bytes_on_disk(d) == bytes_on_disk(partition_dirs(cluster, TOPIC, 0)[1])
                         for d in partition_dirs(cluster, TOPIC, 0).values()), what="every replica has everything")
    before = {b: segment_bases(d) for b, d in partition_dirs(cluster, TOPIC, 0).items()}
    assert all(len(bases) > 3 for bases in before.values()), before

    offsets = tmp_path / "offsets.json"
    offsets.write_text(json.dumps({"partitions": [{"topic": TOPIC, "partition": 0, "offset": K},
                                                  {"topic": TOPIC, "partition": 1, "offset": -1}], "version": 1}))
    out = kafka_tool("kafka-delete-records", "--bootstrap-server", bootstrap, "--offset-json-file", str(offsets)).stdout
    lines = out.splitlines()
    assert lines[:2] == ["Executing records delete operation", "Records delete operation completed:"]
    assert sorted(lines[2:]) == [f"partition: {TOPIC}-0\tlow_watermark: {K}",
                                 f"partition: {TOPIC}-1\tlow_watermark: {N}"]

    assert earliest(kafka_tool, bootstrap, TOPIC) == {0: K, 1: N}
    # The low watermark is the smallest log start over the replicas: every one has moved, and deleted the
    # segments wholly below its new start.
    for broker_id, directory in partition_dirs(cluster, TOPIC, 0).items():
        assert checkpointed_start(directory) == K, broker_id
        bases = segment_bases(directory)
        assert bases[0] <= K and (len(bases) == 1 or bases[1] > K), (broker_id, bases)
        assert len(bases) < len(before[broker_id])
    for broker_id, directory in partition_dirs(cluster, TOPIC, 1).items():
        assert checkpointed_start(directory) == N, broker_id

    read = read_from_beginning(bootstrap, TOPIC, 0, N)
    assert [offset for offset, _ in read] == list(range(K, N))
    assert read[0][1] == b"record-0-%05d" % K

    assert_sizes_match_disk(cluster, log_dirs(kafka_tool, bootstrap, TOPIC), partitions=2)

    for broker_id in cluster.broker_ids:  # a crash of the whole cluster: nothing is written on the way down
        cluster.kill_broker(broker_id, signal.SIGKILL)
    for broker_id in cluster.broker_ids:
        cluster.start_broker(broker_id)
    assert wait_for(lambda: earliest(kafka_tool, bootstrap, TOPIC) == {0: K, 1: N}, what="leaders after the restart")
    for broker_id, directory in partition_dirs(cluster, TOPIC, 0).items():
        assert checkpointed_start(directory) == K, broker_id
    assert [offset for offset, _ in read_from_beginning(bootstrap, TOPIC, 0, N)] == list(range(K, N))
    assert_sizes_match_disk(cluster, log_dirs(kafka_tool, bootstrap, TOPIC), partitions=2)


def test_delete_records_errors(bootstrap, kafka_tool, tmp_path):
    create_topic(bootstrap, "compacted", partitions=1, replication_factor=2, config={"cleanup.policy": "compact"})
    create_topic(bootstrap, "short", partitions=1, replication_factor=2)
    produce(bootstrap, "short", 1, 5)
    produce(bootstrap, "compacted", 1, 5)
    offsets = tmp_path / "offsets.json"
    offsets.write_text(json.dumps({"partitions": [{"topic": "short", "partition": 0, "offset": 99},
                                                  {"topic": "compacted", "partition": 0, "offset": 1}], "version": 1}))
    out = kafka_tool("kafka-delete-records", "--bootstrap-server", bootstrap, "--offset-json-file", str(offsets)).stdout
    errors = dict(re.findall(r"^partition: (\S+)\terror: (.*)$", out, re.M))
    assert "OffsetOutOfRangeException" in errors["short-0"]
    assert "PolicyViolationException" in errors["compacted-0"]
    assert earliest(kafka_tool, bootstrap, "short") == {0: 0}


def table(out: str) -> list[dict[str, str]]:
    """Kafka's pretty-printed table (TransactionsCommand): a header row, then rows, columns padded with spaces."""
    header, *rows = [line.split() for line in out.splitlines() if line.strip()]
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_transactions_list_and_describe_producers(cluster, bootstrap, kafka_tool):
    out = kafka_tool("kafka-transactions", "--bootstrap-server", bootstrap, "list").stdout
    assert out.split() == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]  # no transaction

    create_topic(bootstrap, "idempotent", partitions=1, replication_factor=3)
    produce(bootstrap, "idempotent", 1, 7, **{"enable.idempotence": True})
    for broker_id in cluster.broker_ids:  # the leader, and any replica when asked (--broker-id)
        def described(broker_id: int = broker_id) -> list[dict[str, str]]:
            out = kafka_tool("kafka-transactions", "--bootstrap-server", bootstrap, "describe-producers",
                             "--topic", "idempotent", "--partition", "0", "--broker-id", str(broker_id)).stdout
            return table(out)

        [row] = wait_for(described, what=f"broker {broker_id} knows the producer")
        assert int(row["ProducerId"]) >= 0
        assert (row["ProducerEpoch"], row["LatestCoordinatorEpoch"], row["LastSequence"]) == ("0", "-1", "6")
        assert int(row["LastTimestamp"]) > 1_600_000_000_000
        assert row["CurrentTransactionStartOffset"] == "None"
