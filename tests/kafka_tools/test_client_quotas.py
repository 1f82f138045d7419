"""Client quotas with kafka-configs.sh: set, describe and delete user and client-id quotas (named and default),
stored in ZooKeeper in Kafka's layout; then enforced: a producer and a consumer over their byte-rate quotas
are held to them (within 20%, once past the burst Kafka's rate measurement allows at first), see
throttle_time_ms, and go fast again when the quota is removed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer
from kazoo.client import KazooClient
from tests.integration.admin import create_topic

QUOTA = 256 * 1024
"""Bytes per second allowed to the producer and to the consumer under test."""
WARM_UP_S = 12.0
"""Kafka measures a first burst over quota.window.num - 1 windows (10 s): the rate is compared after that."""
MEASURE_S = 10.0
RECORD = 1000
FETCH_CYCLES_S = 32.0
"""How long the consumer's rate is measured: three cycles of Kafka's fetch quota (see the consumer test)."""
TOPIC_RECORDS = 16_000

QUOTA_LINE = re.compile(r"^Quota configs for (?P<entity>.+) are (?P<values>.+)$")


@pytest.fixture(scope="module")
def zk(cluster) -> Iterator[KazooClient]:
    client = KazooClient(hosts=cluster.zookeeper_connect)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


def configs(kafka_tool, bootstrap: str, *args: str) -> str:
    return kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, *args).stdout.strip()


def described(kafka_tool, bootstrap: str, *entity: str) -> dict[str, dict[str, str]]:
    """`kafka-configs --describe` of quota entities: entity text → {key: value}."""
    out = configs(kafka_tool, bootstrap, "--describe", *entity)
    found = {}
    for line in out.splitlines():
        match = QUOTA_LINE.match(line)
        assert match, line
        found[match["entity"]] = dict(kv.split("=", 1) for kv in match["values"].split(", "))
    return found


def znode(zk: KazooClient, path: str) -> dict:
    data, _ = zk.get(path)
    return json.loads(data)


def notices(zk: KazooClient) -> list[str]:
    return [json.loads(zk.get(f"/config/changes/{name}")[0])["entity_path"]
            for name in sorted(zk.get_children("/config/changes"))]


def test_set_describe_and_delete_quotas(bootstrap, kafka_tool, zk):
    assert configs(kafka_tool, bootstrap, "--alter", "--entity-type", "users", "--entity-name", "alice",
                   "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048") \
        == "Completed updating config for user alice."
    assert configs(kafka_tool, bootstrap, "--alter", "--entity-type", "clients", "--entity-default",
                   "--add-config", "consumer_byte_rate=4096") \
        == "Completed updating default config for clients in the cluster."
    assert configs(kafka_tool, bootstrap, "--alter", "--entity-type", "users", "--entity-name", "alice",
                   "--entity-type", "clients", "--entity-name", "app", "--add-config", "request_percentage=50") \
        == "Completed updating config for user alice."
    assert configs(kafka_tool, bootstrap, "--alter", "--entity-type", "users", "--entity-default",
                   "--add-config", "producer_byte_rate=100") \
        == "Completed updating default config for users in the cluster."
    assert configs(kafka_tool, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", "my app",
                   "--add-config", "producer_byte_rate=300") == "Completed updating config for client my app."

    # ZooKeeper holds Kafka's layout, with a change notice per alteration
    assert znode(zk, "/config/users/alice") == {
        "version": 1, "config": {"producer_byte_rate": "1024", "consumer_byte_rate": "2048"}}
    assert znode(zk, "/config/clients/<default>") == {"version": 1, "config": {"consumer_byte_rate": "4096"}}
    assert znode(zk, "/config/users/alice/clients/app") == {"version": 1, "config": {"request_percentage": "50.0"}}
    assert znode(zk, "/config/users/<default>") == {"version": 1, "config": {"producer_byte_rate": "100"}}
    assert znode(zk, "/config/clients/my%20app") == {"version": 1, "config": {"producer_byte_rate": "300"}}
    assert notices(zk)[-5:] == ["users/alice", "clients/<default>", "users/alice/clients/app", "users/<default>",
                                "clients/my%20app"]

    # described as Kafka 3.9's tool prints them
    assert described(kafka_tool, bootstrap, "--entity-type", "clients", "--entity-default") == {
        "the default client-id": {"consumer_byte_rate": "4096.0"}}
    assert described(kafka_tool, bootstrap, "--entity-type", "users", "--entity-default") == {
        "the default user-principal": {"producer_byte_rate": "100.0"}}
    assert described(kafka_tool, bootstrap, "--entity-type", "users", "--entity-name", "alice",
                     "--entity-type", "clients", "--entity-name", "app") == {
        "user-principal 'alice', client-id 'app'": {"request_percentage": "50.0"}}
    assert described(kafka_tool, bootstrap, "--entity-type", "clients") == {
        "the default client-id": {"consumer_byte_rate": "4096.0"},
        "client-id 'my app'": {"producer_byte_rate": "300.0"}}

    # delete one key: the others stay
    configs(kafka_tool, bootstrap, "--alter", "--entity-type", "users", "--entity-name", "alice",
            "--delete-config", "consumer_byte_rate")
    assert znode(zk, "/config/users/alice")["config"] == {"producer_byte_rate": "1024"}
    assert described(kafka_tool, bootstrap, "--entity-type", "users", "--entity-name", "alice",
                     "--entity-type", "clients", "--entity-default") == {}

    # Kafka's validation, through the tool
    bad = kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, "--alter", "--entity-type", "clients",
                     "--entity-name", "app", "--add-config", "producer_byte_rate=1.5", check=False)
    assert bad.returncode != 0
    assert "Configuration producer_byte_rate must be a LONG value" in bad.stdout + bad.stderr

    # leave no quota behind for the enforcement tests (the default ones would apply to every client)
    for entity in (("--entity-type", "users", "--entity-default"), ("--entity-type", "clients", "--entity-default")):
        configs(kafka_tool, bootstrap, "--alter", *entity, "--delete-config",
                "producer_byte_rate" if "users" in entity else "consumer_byte_rate")


class Meter:
    """Bytes over time, and the largest throttle librdkafka's statistics reported."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int]] = []
        self.max_throttle_ms = 0

    def add(self, nbytes: int) -> None:
        self.events.append((time.monotonic(), nbytes))

    def rate(self, start: float, end: float) -> float:
        return sum(n for t, n in self.events if start <= t < end) / (end - start)

    def stats(self, text: str) -> None:
        for broker in json.loads(text).get("brokers", {}).values():
            self.max_throttle_ms = max(self.max_throttle_ms, broker.get("throttle", {}).get("max", 0))


def set_client_quota(kafka_tool, bootstrap: str, client_id: str, key: str, value: int | None) -> None:
    if value is None:
        configs(kafka_tool, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client_id,
                "--delete-config", key)
    else:
        configs(kafka_tool, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client_id,
                "--add-config", f"{key}={value}")


def test_a_producer_is_held_to_its_quota(bootstrap, kafka_tool):
    create_topic(bootstrap, "quota-produce", partitions=1, replication_factor=2)
    set_client_quota(kafka_tool, bootstrap, "quota-producer", "producer_byte_rate", QUOTA)
    meter = Meter()
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "quota-producer", "acks": 1,
                         "linger.ms": 5, "batch.size": 64 * 1024, "statistics.interval.ms": 500,
                         "stats_cb": meter.stats})
    value = b"q" * RECORD

    def produce_for(seconds: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            try:
                producer.produce("quota-produce", value, on_delivery=lambda err, msg: err or meter.add(len(msg)))
            except BufferError:
                producer.poll(0.05)
            producer.poll(0)
        return start

    start = produce_for(WARM_UP_S + MEASURE_S)
    rate = meter.rate(start + WARM_UP_S, start + WARM_UP_S + MEASURE_S)
    assert rate == pytest.approx(QUOTA, rel=0.2), f"{rate:.0f} B/s against a quota of {QUOTA}"
    assert meter.max_throttle_ms > 0

    set_client_quota(kafka_tool, bootstrap, "quota-producer", "producer_byte_rate", None)
    producer.flush(60)
    start = produce_for(4)
    assert meter.rate(start + 1, start + 4) > 3 * QUOTA
    producer.flush(60)


def test_a_consumer_is_held_to_its_quota(bootstrap, kafka_tool):
    """A consumer with plenty to read. Kafka's fetch quota answers an over-quota fetch with no data and takes
    its bytes back, so the window empties while the consumer waits: after each window's worth has expired the
    consumer gets a burst of about quota.window.num - 1 windows' worth, then waits out the window again (about
    every 11 s with Kafka's defaults). So the rate is measured over whole cycles: 32 s from the first record
    hold three bursts."""
    create_topic(bootstrap, "quota-fetch", partitions=1, replication_factor=2)
    filler = Producer({"bootstrap.servers": bootstrap, "client.id": "filler", "linger.ms": 20,
                       "batch.size": 16 * 1024})
    for _ in range(TOPIC_RECORDS):  # more than the measurement takes at the quota
        while True:
            try:
                filler.produce("quota-fetch", b"c" * RECORD)
                break
            except BufferError:
                filler.poll(0.05)
    assert filler.flush(120) == 0
    set_client_quota(kafka_tool, bootstrap, "quota-consumer", "consumer_byte_rate", QUOTA)

    meter = Meter()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "quota-group", "client.id": "quota-consumer",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         # fetches well below the quota, as Kafka's documentation advises
                         "fetch.max.bytes": 64 * 1024, "max.partition.fetch.bytes": 64 * 1024,
                         "message.max.bytes": 64 * 1024,
                         "statistics.interval.ms": 500, "stats_cb": meter.stats})
    consumer.subscribe(["quota-fetch"])
    try:
        def consume_for(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for message in consumer.consume(500, timeout=0.2):
                    if message.error() is None:
                        meter.add(len(message.value()))

        while not meter.events:  # the group is joined and data flows: the quota's clock starts
            consume_for(0.5)
        start = meter.events[0][0]
        consume_for(FETCH_CYCLES_S - (time.monotonic() - start))
        rate = meter.rate(start, start + FETCH_CYCLES_S)
        assert rate == pytest.approx(QUOTA, rel=0.2), f"{rate:.0f} B/s against a quota of {QUOTA}"
        assert meter.max_throttle_ms > 0
        consumed = sum(n for _t, n in meter.events)
        assert consumed < TOPIC_RECORDS * RECORD - 3 * QUOTA * 3  # enough left to see the rate without a quota

        set_client_quota(kafka_tool, bootstrap, "quota-consumer", "consumer_byte_rate", None)
        resumed = time.monotonic()
        consume_for(4)
        assert meter.rate(resumed + 1, resumed + 4) > 3 * QUOTA or \
            sum(n for _t, n in meter.events) == TOPIC_RECORDS * RECORD  # or it finished the topic even faster
    finally:
        consumer.close()
