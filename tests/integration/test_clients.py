"""Every real client against a 3-broker kopfka cluster: keyed messages with every codec, read back
exactly (contents, keys, partitions, offsets, order), offsets by timestamp, and everything still
there after all brokers restart."""

from __future__ import annotations

import itertools

import pytest
from tests.integration.admin import create_topic
from tests.integration.clients import ALL_CLIENTS, CODECS, Client, ConfluentClient, Outgoing
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

PARTITIONS = 3
PER_PARTITION = 12
BASE_TS = 1_700_000_000_000

WRITTEN: dict[str, list[Outgoing]] = {}
"""Topic → what was produced to it, re-read after the restart."""


def outgoing(tag: str, *, timestamps: bool) -> list[Outgoing]:
    out = []
    for i in range(PARTITIONS * PER_PARTITION):
        partition = i % PARTITIONS
        ts = BASE_TS + i * 1000 if timestamps else None
        out.append(Outgoing(partition, f"key-{i}".encode(), f"{tag}-value-{i}-{'x' * (i % 7)}".encode(), ts))
    return out


def check(read, sent: list[Outgoing], *, timestamps: bool) -> None:
    assert len(read) == len(sent), f"read {len(read)} of {len(sent)}"
    for partition in range(PARTITIONS):
        expected = [m for m in sent if m.partition == partition]
        got = [m for m in read if m.partition == partition]
        assert [m.offset for m in got] == list(range(len(expected)))
        assert [(m.key, m.value) for m in got] == [(m.key, m.value) for m in expected]
        if timestamps:
            assert [m.timestamp for m in got] == [m.timestamp for m in expected]


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    return module_cluster_factory(brokers=3)


@pytest.mark.parametrize(
    ("client", "codec"), list(itertools.product(ALL_CLIENTS, CODECS)), ids=lambda v: v if isinstance(v, str) else v.name
)
def test_round_trip(cluster, client: Client, codec: str) -> None:
    topic = f"rt-{client.name}-{codec}"
    create_topic(cluster.bootstrap_servers, topic, partitions=PARTITIONS, replication_factor=1)
    timestamps = client.name != "kcat"
    sent = outgoing(f"{client.name}-{codec}", timestamps=timestamps)
    client.produce(cluster.bootstrap_servers, topic, sent, codec)
    read = client.consume(cluster.bootstrap_servers, topic, list(range(PARTITIONS)), len(sent))
    check(read, sent, timestamps=timestamps)
    WRITTEN[topic] = sent


@pytest.mark.parametrize("client", ALL_CLIENTS, ids=lambda c: c.name)
def test_offsets_by_timestamp(cluster, client: Client) -> None:
    topic = f"ts-{client.name}"
    create_topic(cluster.bootstrap_servers, topic, partitions=PARTITIONS, replication_factor=1)
    sent = outgoing(topic, timestamps=True)
    producer = client if client.name != "kcat" else ALL_CLIENTS[1]
    producer.produce(cluster.bootstrap_servers, topic, sent, "lz4")
    # message i sits in partition i % 3 at offset i // 3 with timestamp BASE_TS + i*1000
    for i in (0, 4, 17, 35):
        partition, offset = i % PARTITIONS, i // PARTITIONS
        ts = BASE_TS + i * 1000
        assert client.offset_for_time(cluster.bootstrap_servers, topic, partition, ts) == offset
        assert client.offset_for_time(cluster.bootstrap_servers, topic, partition, ts - 500) == offset
    # after the last timestamp of a partition there is nothing
    last = BASE_TS + (PARTITIONS * PER_PARTITION) * 1000
    assert client.offset_for_time(cluster.bootstrap_servers, topic, 0, last) == -1


@pytest.mark.parametrize("client", ALL_CLIENTS, ids=lambda c: c.name)
def test_everything_survives_a_restart_of_all_brokers(cluster, client: Client, restarted) -> None:
    assert WRITTEN, "the round-trip tests wrote nothing"
    for topic, sent in sorted(WRITTEN.items()):
        read = client.consume(cluster.bootstrap_servers, topic, list(range(PARTITIONS)), len(sent))
        check(read, sent, timestamps=not topic.startswith("rt-kcat"))


@pytest.fixture(scope="module")
def restarted(cluster):
    for broker_id in sorted(cluster.broker_ports):
        cluster.restart_broker(broker_id)
    # A restarted broker counts as started once registered; it leads its partitions again a moment later
    # (each partition has a single replica here, so it is offline until then).
    for topic, sent in sorted(WRITTEN.items()):
        written = {p: sum(1 for m in sent if m.partition == p) for p in range(PARTITIONS)}
        wait_for(
            lambda t=topic, w=written: ConfluentClient().high_watermarks(cluster.bootstrap_servers, t, list(w)) == w,
            what=f"every partition of {topic} served again with all its records",
        )
    return True
