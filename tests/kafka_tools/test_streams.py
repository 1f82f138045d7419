"""A Kafka Streams application (kafka-streams 3.9 from Maven Central) against kopfka: a word count with a
repartition step, at least once (java/WordCountApp.java, run from its source by the JDK's launcher).

Streams creates its repartition topic itself (with ``retention.ms=-1``) and trims what it has consumed with
DeleteRecords; on a broker without DeleteRecords it only logs that at debug level and the topic grows without
bound. So besides the counts, the test asserts that every partition of the repartition topic that received
records has its log start offset moved forward, on the leader and on every replica.
"""

from __future__ import annotations

import collections
import signal
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from tests.integration.admin import admin, create_topic
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster

from .kafka_jars import java_command

APP = Path(__file__).parent / "java" / "WordCountApp.java"
APPLICATION_ID = "kopfka-word-count"
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"]
LINES = 600


def lines() -> list[str]:
    """Deterministic lines of 1-5 words each."""
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(1 + i % 5)) for i in range(LINES)]


@pytest.fixture
def word_count(kafka_jars: Path, require: Callable[[object, str], None], bootstrap: str,
               tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """The Streams application, running until the test ends (SIGTERM: Streams closes cleanly)."""
    require("javac", "the Streams application runs from source: it needs a JDK (default-jdk-headless)")
    command = java_command(str(APP), bootstrap, APPLICATION_ID, "words", "counts", str(tmp_path / "state"),
                           heap="384m")
    log = (tmp_path / "streams.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def test_word_count_with_repartition_topic_trimmed(cluster: LocalCluster, bootstrap: str, word_count) -> None:
    create_topic(bootstrap, "words", partitions=3, replication_factor=3)
    create_topic(bootstrap, "counts", partitions=3, replication_factor=3)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i, line in enumerate(lines()):
        producer.produce("words", key=str(i).encode(), value=line.encode())
    assert producer.flush(30) == 0
    expected = collections.Counter(word for line in lines() for word in line.split())

    latest = read_counts(bootstrap, until=expected)
    assert latest == expected

    repartition = wait_for(lambda: repartition_topic(bootstrap), timeout=60, what="the repartition topic")
    client = admin(bootstrap)  # keep a reference: a collected client cancels its futures
    configs = next(iter(client.describe_configs([config_resource(repartition)]).values())).result(30)
    assert configs["retention.ms"].value == "-1"  # Streams' own setting: only DeleteRecords trims it

    written = end_offsets(bootstrap, repartition)
    assert sum(written.values()) == sum(expected.values())  # every word went through the repartition topic once
    # Streams trims each partition up to what it committed: wait until the log start reaches the end on every
    # replica (reading each broker's own log directory) and on the leader (ListOffsets earliest).
    wait_for(lambda: earliest_offsets(bootstrap, repartition) == written, timeout=120,
             what=f"{repartition} trimmed to {written}")
    wait_for(lambda: replica_log_starts(cluster, repartition) == {
        (broker, partition): offset
        for broker, partition, _ in replicas_of(bootstrap, repartition)
        for p, offset in written.items() if p == partition
    }, timeout=120, what="every replica's log start moved")


def read_counts(bootstrap: str, *, until: collections.Counter[str]) -> collections.Counter[str]:
    """The latest count of each word in `counts`, read until it equals `until` (Streams' output is a changelog)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "count-reader", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe(["counts"])
    latest: collections.Counter[str] = collections.Counter()

    def caught_up() -> bool:
        for message in consumer.consume(500, timeout=1):
            assert message.error() is None, message.error()
            latest[message.key().decode()] = struct.unpack(">q", message.value())[0]
        return latest == until

    try:
        wait_for(caught_up, timeout=180, what="the word counts")
    finally:
        consumer.close()
    return latest


def repartition_topic(bootstrap: str) -> str | None:
    names = [t for t in admin(bootstrap).list_topics(timeout=30).topics
             if t.startswith(APPLICATION_ID) and t.endswith("-repartition")]
    assert len(names) <= 1, names
    return names[0] if names else None


def config_resource(topic: str):  # type: ignore[no-untyped-def]
    from confluent_kafka.admin import ConfigResource

    return ConfigResource(ConfigResource.Type.TOPIC, topic)


def replicas_of(bootstrap: str, topic: str) -> list[tuple[int, int, int]]:
    """(broker, partition, leader) for every replica of `topic`."""
    metadata = admin(bootstrap).list_topics(topic, timeout=30).topics[topic]
    return [(broker, p.id, p.leader) for p in metadata.partitions.values() for broker in p.replicas]


def _offsets(bootstrap: str, topic: str, which: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets-reader"})
    try:
        partitions = admin(bootstrap).list_topics(topic, timeout=30).topics[topic].partitions
        offsets = {}
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            offsets[partition] = low if which == -2 else high
        return offsets
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    return _offsets(bootstrap, topic, -1)


def earliest_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    return _offsets(bootstrap, topic, -2)


def replica_log_starts(cluster: LocalCluster, topic: str) -> dict[tuple[int, int], int]:
    """(broker, partition) → log start offset in that broker's ``log-start-offset-checkpoint``, or the base
    offset of its first segment when the checkpoint does not name it (Kafka's rule on loading a log)."""
    starts = {}
    for broker_id in cluster.broker_ids:
        log_dir = cluster.broker_dir(broker_id) / "data"
        checkpoint = read_checkpoint(log_dir / "log-start-offset-checkpoint")
        for directory in log_dir.glob(f"{topic}-*"):
            partition = int(directory.name.rsplit("-", 1)[1])
            first = min((int(f.stem) for f in directory.glob("*.log")), default=0)
            starts[broker_id, partition] = max(first, checkpoint.get((topic, partition), 0))
    return starts


def read_checkpoint(path: Path) -> dict[tuple[str, int], int]:
    if not path.exists():
        return {}
    rows = path.read_text().splitlines()[2:]
    entries = {}
    for row in rows:
        topic, partition, offset = row.split()
        entries[topic, int(partition)] = int(offset)
    return entries
