"""Log compaction with real brokers: many versions of 1 000 keys with tombstones, segments rolled, the
cleaner runs on every replica, and reading from the beginning gives exactly the latest value of each live key."""

from __future__ import annotations

import time

import pytest
from tests.integration.admin import create_topic, describe
from tests.integration.clients import ConfluentClient
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

KEYS = 1000
ROUNDS = 5
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": "40000",
    "segment.ms": "2000",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "1500",
}


def active_segment_age(cluster, topic: str) -> float:
    """Seconds since the youngest replica's active segment (its highest base offset) was last written, so at
    least since it was created; the log rolls it at the next append once that exceeds ``segment.ms``."""
    ages = []
    for broker in cluster.broker_ports:
        folder = cluster.data_dir / f"broker-{broker}" / "data" / f"{topic}-0"
        active = max(folder.glob("*.log"))  # segment files are named by zero-padded base offset
        ages.append(time.time() - active.stat().st_mtime)
    return min(ages)


def log_bytes(cluster, topic: str) -> dict[int, int]:
    folders = {broker: cluster.data_dir / f"broker-{broker}" / "data" / f"{topic}-0" for broker in cluster.broker_ports}
    return {broker: sum(p.stat().st_size for p in folder.glob("*.log")) for broker, folder in folders.items()}


def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes | None]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20, "batch.size": 16384})
    errors: list[str] = []
    for key, value in items:
        producer.produce(topic, key=key, value=value, partition=0,
                         on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
        producer.poll(0)
    assert producer.flush(120) == 0
    assert not errors, errors[:5]


def test_compacted_topic_keeps_exactly_the_latest_value_of_each_live_key(cluster_factory) -> None:
    cluster = cluster_factory(brokers=3, overrides={"log.cleaner.backoff.ms": "300"})
    b = cluster.bootstrap_servers
    topic = "compacted"
    create_topic(b, topic, partitions=1, replication_factor=3, config=TOPIC_CONFIG)
    wait_for(lambda: len(describe(b, topic)[0][2]) == 3, what="full ISR")
    expected: dict[bytes, bytes | None] = {}
    items: list[tuple[bytes, bytes | None]] = []
    for round_ in range(ROUNDS):
        for k in range(KEYS):
            key = b"key-%04d" % k
            if round_ == 2 and k % 10 == 0:
                value = None  # tombstone
            elif round_ == 4 and k % 3 == 0:
                continue  # not every key gets a last version
            else:
                value = b"%s=round-%d-" % (key, round_) + b"x" * 40
            items.append((key, value))
            expected[key] = value
    for k in range(0, KEYS, 20):  # and some keys end deleted
        key = b"key-%04d" % k
        items.append((key, None))
        expected[key] = None
    produce(b, topic, items)
    # what the records alone take uncompacted (the cleaner may already be at work, so the files cannot tell)
    payload = sum(len(k) + len(v or b"") for k, v in items)
    # roll the last written segment (segment.ms) with one more record, so everything above is cleanable:
    # that append rolls only once the active segment is older than segment.ms on every replica
    segment_s = int(TOPIC_CONFIG["segment.ms"]) / 1000
    wait_for(lambda: active_segment_age(cluster, topic) > segment_s + 0.5, interval=0.1,
             what=f"every replica's active segment to be older than {segment_s}s")
    produce(b, topic, [(b"zz-end", b"end")])
    expected[b"zz-end"] = b"end"
    live = {k: v for k, v in expected.items() if v is not None}

    def compacted() -> list | None:
        read = ConfluentClient().consume_to_end(b, topic, [0])
        keys = [m.key for m in read]
        if len(keys) != len(set(keys)) or any(m.value is None for m in read):
            return None  # older versions or tombstones still there
        return read

    read = wait_for(compacted, timeout=180, interval=1, what="compaction of every version and tombstone")
    assert {m.key: m.value for m in read} == live
    assert len(read) == len(live)
    offsets = [m.offset for m in read]
    assert offsets == sorted(offsets) and offsets[-1] == len(items)  # offsets kept: the last one is where it was
    wait_for(
        lambda: (lambda sizes: sizes if all(size < payload / 3 for size in sizes.values()) else None)(
            log_bytes(cluster, topic)
        ),
        what=f"every replica's .log files to shrink well below the {payload} bytes written",
    )
    for broker in cluster.broker_ports:
        assert "cleaned compacted-0" in cluster.log_path(broker).read_text()


def test_compacted_topic_refuses_a_record_without_a_key(cluster_factory) -> None:
    from confluent_kafka import KafkaError, Producer

    cluster = cluster_factory(brokers=1)
    b = cluster.bootstrap_servers
    create_topic(b, "compacted-keys", partitions=1, replication_factor=1, config={"cleanup.policy": "compact"})
    producer = Producer({"bootstrap.servers": b, "acks": "all", "linger.ms": 0, "retries": 0})
    reports: list[tuple[bytes | None, int | None]] = []

    def report(err, msg) -> None:
        reports.append((msg.key(), err.code() if err else None))

    producer.produce("compacted-keys", key=b"k", value=b"kept", partition=0, on_delivery=report)
    producer.flush(60)
    producer.produce("compacted-keys", key=None, value=b"no key", partition=0, on_delivery=report)
    producer.flush(60)
    assert reports == [(b"k", None), (None, KafkaError.INVALID_RECORD)]
    stored = ConfluentClient().consume_to_end(b, "compacted-keys", partitions=[0])
    assert [(m.offset, m.key, m.value) for m in stored] == [(0, b"k", b"kept")]
