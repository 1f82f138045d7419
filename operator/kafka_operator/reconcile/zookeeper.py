"""The operator's short-lived ZooKeeper sessions, for what the Kafka admin protocol of our client lacks.

confluent-kafka has no AlterPartitionReassignments call, so replica moves (replication factor changes,
draining brokers before a scale-down) are written to ``/admin/reassign_partitions`` in Kafka's ZooKeeper
layout — the way Kafka's own ZooKeeper-era tools did it — through ``kafka_broker.metadata``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

from kafka_broker import metadata


@contextlib.contextmanager
def session(connect: str, *, timeout: float = 5.0) -> Iterator[KazooClient]:
    zk = KazooClient(hosts=connect, timeout=timeout)
    zk.start(timeout=timeout)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def topic_assignments(zk: KazooClient) -> dict[str, dict[int, list[int]]]:
    try:
        topics = zk.get_children(metadata.BROKER_TOPICS_PATH)
    except NoNodeError:
        return {}
    result = {}
    for topic in topics:
        with contextlib.suppress(NoNodeError):
            data, _ = zk.get(metadata.topic_path(topic))
            result[topic] = metadata.TopicAssignment.decode(data).partitions
    return result


def registered_brokers(zk: KazooClient) -> list[int]:
    try:
        return sorted(int(b) for b in zk.get_children(metadata.BROKER_IDS_PATH))
    except NoNodeError:
        return []


def reassignment_in_progress(zk: KazooClient) -> bool:
    return zk.exists(metadata.REASSIGN_PARTITIONS_PATH) is not None


def request_reassignment(zk: KazooClient, plan: Mapping[tuple[str, int], list[int]]) -> bool:
    """Write the plan unless a reassignment is already running; True when written."""
    try:
        zk.create(metadata.REASSIGN_PARTITIONS_PATH, metadata.encode_reassignment(plan), makepath=True)
    except NodeExistsError:
        return False
    return True
