"""Topic administration for the tests, through a real client (confluent-kafka's AdminClient)."""

from __future__ import annotations

import time

from confluent_kafka.admin import AdminClient, NewTopic


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic_with_assignment(bootstrap: str, name: str, assignment: list[list[int]]) -> None:
    client = admin(bootstrap)
    topic = NewTopic(name, num_partitions=len(assignment), replica_assignment=assignment)
    client.create_topics([topic], operation_timeout=30)[name].result(60)


def create_topic(
    bootstrap: str, name: str, *, partitions: int = 3, replication_factor: int = 1, config: dict[str, str] | None = None
) -> None:
    client = admin(bootstrap)  # keep a reference: a collected client cancels its futures
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=config or {})],
        operation_timeout=30,
        request_timeout=40,
    )
    futures[name].result(60)


def describe(bootstrap: str, name: str) -> dict[int, tuple[int, list[int], list[int]]]:
    """partition → (leader, replicas, isr), from Metadata."""
    md = admin(bootstrap).list_topics(name, timeout=15)
    topic = md.topics[name]
    assert topic.error is None, topic.error
    return {p.id: (p.leader, list(p.replicas), list(p.isrs)) for p in topic.partitions.values()}


def wait_for(condition, *, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message} (last: {last!r})")
