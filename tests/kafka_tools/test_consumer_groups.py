"""kafka-consumer-groups.sh beyond --list/--describe: resetting a group's offsets (every scenario, dry run
and execute, down to the log start left by deleted records), the refusal while the group has an active
member, deleting groups and their offsets, and describing members and state — each checked against the
group's committed offsets afterwards; and the Java AdminClient asking for a group's authorized operations.

The topic's records carry timestamps from two eras: a few minutes of 2024-03-01 (the first records of each
partition) and the time of the test (the rest), so --to-datetime and --by-duration land on known offsets.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from tests.integration.admin import create_topic, describe
from tests.waiting import wait_for

from kafka_broker.coordinator.group_coordinator import partition_for
from kafka_broker.local import LocalCluster

from .kafka_jars import java_command

TOPIC = "ledger"
OTHER = "sideline"
OLD = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
"""Records before the test's time: one a minute from 2024-03-01T00:00:00Z."""
SIZES = {0: (5, 10), 1: (3, 6)}
"""partition → (records from 2024, all records): offsets [0, old) are old, [old, end) recent."""
DESCRIBE_OPERATIONS = Path(__file__).parent / "java" / "DescribeGroupOperations.java"
NO_OFFSET = -1001
"""confluent-kafka's OFFSET_INVALID: nothing committed."""

Groups = Callable[..., Any]


@pytest.fixture(scope="module")
def ledger(bootstrap: str) -> str:
    create_topic(bootstrap, TOPIC, partitions=2, replication_factor=2)
    create_topic(bootstrap, OTHER, partitions=1, replication_factor=2)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    now = int(time.time() * 1000)
    for partition, (old, end) in SIZES.items():
        for i in range(end):
            timestamp = OLD + i * 60_000 if i < old else now
            producer.produce(TOPIC, value=b"%d-%d" % (partition, i), partition=partition, timestamp=timestamp)
    producer.produce(OTHER, value=b"x", partition=0)
    producer.produce(OTHER, value=b"y", partition=0)
    assert producer.flush(30) == 0
    return TOPIC


@pytest.fixture
def groups(bootstrap: str, kafka_tool: Callable[..., Any]) -> Groups:
    """`groups(*args)`: kafka-consumer-groups --bootstrap-server … args; returns the finished process."""

    def run(*args: str, check: bool = True) -> Any:
        return kafka_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, *args, check=check)

    return run


def committed(bootstrap: str, group: str, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The group's committed offsets (NO_OFFSET where none), read by a consumer that never joins."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(t, p) for t, p in partitions], timeout=30)
        return {(tp.topic, tp.partition): tp.offset for tp in found}
    finally:
        consumer.close()


def ledger_offsets(bootstrap: str, group: str) -> tuple[int, int]:
    found = committed(bootstrap, group, [(TOPIC, 0), (TOPIC, 1)])
    return found[(TOPIC, 0)], found[(TOPIC, 1)]


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit as a consumer outside any generation (a group with no members), as a simple consumer does."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def reset_table(stdout: str) -> dict[tuple[str, int], int]:
    """The GROUP TOPIC PARTITION NEW-OFFSET table --reset-offsets prints: (topic, partition) → offset.

    Kafka 3.9's tool prints the rows without line breaks between them (its format lacks the newline), so the
    table is read as the words after the header, four a row."""
    if "NEW-OFFSET" not in stdout:
        return {}
    words = stdout[stdout.index("NEW-OFFSET") + len("NEW-OFFSET"):].split()
    assert len(words) % 4 == 0, stdout
    rows = [words[i : i + 4] for i in range(0, len(words), 4)]
    table = {(topic, int(partition)): int(offset) for _, topic, partition, offset in rows}
    assert len(table) == len(rows), stdout
    return table


def deletion_statuses(stdout: str, topic: str) -> list[tuple[str, int, str]]:
    """--delete-offsets' TOPIC PARTITION STATUS table for `topic`: its rows run together as --reset-offsets'
    do, and a long status fills its column, so a row is found by where the next one starts."""
    table = stdout[stdout.index("STATUS") + len("STATUS"):]
    cells = re.split(rf"(?:^|(?<=\S))\s*{re.escape(topic)}\s+(\d+)\s+", table)[1:]
    return [(topic, int(cells[i]), cells[i + 1].strip()) for i in range(0, len(cells), 2)]


def test_reset_offsets_of_an_inactive_group(bootstrap: str, ledger: str, groups: Groups) -> None:
    group = "rewinders"
    commit(bootstrap, group, {(TOPIC, 0): 7, (TOPIC, 1): 4})
    assert ledger_offsets(bootstrap, group) == (7, 4)
    reset = ("--reset-offsets", "--group", group)

    # A dry run (the default, and --dry-run) prints the plan and leaves the committed offsets alone.
    plan = groups(*reset, "--all-topics", "--to-earliest")
    assert "GROUP" in plan.stdout and "NEW-OFFSET" in plan.stdout
    assert reset_table(plan.stdout) == {(TOPIC, 0): 0, (TOPIC, 1): 0}
    plan = groups(*reset, "--topic", TOPIC, "--to-latest", "--dry-run")
    assert reset_table(plan.stdout) == {(TOPIC, 0): 10, (TOPIC, 1): 6}
    assert ledger_offsets(bootstrap, group) == (7, 4)

    # --execute commits what it prints.
    steps: list[tuple[tuple[str, ...], dict[tuple[str, int], int], tuple[int, int]]] = [
        (("--topic", TOPIC, "--to-earliest"), {(TOPIC, 0): 0, (TOPIC, 1): 0}, (0, 0)),
        (("--topic", f"{TOPIC}:1", "--to-offset", "4"), {(TOPIC, 1): 4}, (0, 4)),
        # p1: 4 + 3 is past the end (6), so the tool takes the end
        (("--all-topics", "--shift-by", "3"), {(TOPIC, 0): 3, (TOPIC, 1): 6}, (3, 6)),
        (("--topic", f"{TOPIC}:0,1", "--shift-by", "-5"), {(TOPIC, 0): 0, (TOPIC, 1): 1}, (0, 1)),
        # the first record at or after 00:01:30 is the one of 00:02 (offset 2) in both partitions
        (("--all-topics", "--to-datetime", "2024-03-01T00:01:30.000"), {(TOPIC, 0): 2, (TOPIC, 1): 2}, (2, 2)),
        (("--all-topics", "--to-datetime", "2024-03-01T01:01:30.000+01:00"), {(TOPIC, 0): 2, (TOPIC, 1): 2}, (2, 2)),
        # the last hour: the records of the test's time
        (("--all-topics", "--by-duration", "PT1H"), {(TOPIC, 0): 5, (TOPIC, 1): 3}, (5, 3)),
        (("--all-topics", "--to-latest"), {(TOPIC, 0): 10, (TOPIC, 1): 6}, (10, 6)),
        (("--topic", f"{TOPIC}:0", "--to-offset", "1"), {(TOPIC, 0): 1}, (1, 6)),
    ]
    for scope_and_scenario, printed, after in steps:
        done = groups(*reset, *scope_and_scenario, "--execute")
        assert reset_table(done.stdout) == printed, scope_and_scenario
        assert ledger_offsets(bootstrap, group) == after, scope_and_scenario

    # No record at or after a time in the future: the tool warns and takes the end.
    plan = groups(*reset, "--topic", f"{TOPIC}:0", "--to-datetime", "2100-01-01T00:00:00.000")
    assert f"Warn: Partition 0 from topic {TOPIC} is empty. Falling back to latest known offset." in plan.stdout
    assert reset_table(plan.stdout) == {(TOPIC, 0): 10}

    described = groups("--describe", "--group", group)
    rows = sorted(line.split()[:6] for line in described.stdout.splitlines() if line.startswith(f"{group} "))
    assert rows == [[group, TOPIC, "0", "1", "10", "9"], [group, TOPIC, "1", "6", "6", "0"]]


@pytest.fixture
def live_consumer(bootstrap: str, ledger: str) -> Iterator[Consumer]:
    """A member of group "live", subscribed to the ledger, with both partitions assigned."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "live", "client.id": "live-client",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "partition.assignment.strategy": "range", "session.timeout.ms": 30_000})
    consumer.subscribe([TOPIC])

    def assigned() -> bool:
        consumer.poll(0.2)
        return len(consumer.assignment()) == 2

    wait_for(assigned, timeout=60, what="the consumer's assignment")
    consumer.commit(offsets=[TopicPartition(TOPIC, 0, 4), TopicPartition(TOPIC, 1, 2)], asynchronous=False)
    try:
        yield consumer
    finally:
        consumer.close()


def coordinator_of(bootstrap: str, group: str) -> int:
    """The broker leading the group's __consumer_offsets partition."""
    offsets_topic = describe(bootstrap, "__consumer_offsets")
    return offsets_topic[partition_for(group, len(offsets_topic))][0]


def test_active_group_members_state_and_refusals(
    cluster: LocalCluster, bootstrap: str, groups: Groups, live_consumer: Consumer
) -> None:
    group = "live"
    # Offsets of a group with an active member are not reset: Kafka's tool refuses and changes nothing.
    refused = groups("--reset-offsets", "--group", group, "--all-topics", "--to-earliest", "--execute")
    assert (f"Error: Assignments can only be reset if the group '{group}' is inactive, but the current state "
            "is Stable.") in refused.stdout
    assert reset_table(refused.stdout) == {}
    assert ledger_offsets(bootstrap, group) == (4, 2)

    members = groups("--describe", "--members", "--verbose", "--group", group)
    lines = members.stdout.strip().splitlines()
    assert lines[0].split() == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]
    (row,) = [line.split() for line in lines[1:]]
    assert row[0] == group and row[1].startswith("live-client-") and row[2].startswith("/")
    assert row[3:] == ["live-client", "2", "(0,1)"]  # Kafka 3.9 leaves out the topic
    plain = groups("--describe", "--members", "--group", group).stdout.strip().splitlines()
    assert plain[1].split() == row[:5]

    state = groups("--describe", "--state", "--group", group).stdout.strip().splitlines()
    assert state[0].split() == ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]
    coordinator = coordinator_of(bootstrap, group)
    address = f"{cluster.host}:{cluster.broker_ports[coordinator]}"
    assert state[1].split() == [group, address, f"({coordinator})", "range", "Stable", "1"]

    # A group with members is not deleted, nor are offsets of topics its members subscribe to.
    not_deleted = groups("--delete", "--group", group)
    assert "Error: Deletion of some consumer groups failed:" in not_deleted.stdout
    assert (f"* Group '{group}' could not be deleted due to: java.util.concurrent.ExecutionException: "
            "org.apache.kafka.common.errors.GroupNotEmptyException: "
            "The group is not empty.") in not_deleted.stdout
    kept = groups("--delete-offsets", "--group", group, "--topic", TOPIC)
    assert "Error: Encounter some partition level error, see the follow-up details:" in kept.stdout
    subscribed = ("Error: :org.apache.kafka.common.errors.GroupSubscribedToTopicException: Deleting offsets of a topic "
                  "is forbidden while the consumer group is actively subscribed to it.")
    assert deletion_statuses(kept.stdout, TOPIC) == [(TOPIC, 0, subscribed), (TOPIC, 1, subscribed)]
    assert ledger_offsets(bootstrap, group) == (4, 2)

    # Once the member leaves the group is Empty and can go, offsets and all.
    live_consumer.close()
    empty = groups("--describe", "--state", "--group", group)
    assert f"Consumer group '{group}' has no active members." in empty.stderr
    assert empty.stdout.strip().splitlines()[1].split()[-2:] == ["Empty", "0"]
    deleted = groups("--delete", "--group", group)
    assert f"Deletion of requested consumer groups ('{group}') was successful." in deleted.stdout
    assert group not in groups("--list").stdout.split()
    assert ledger_offsets(bootstrap, group) == (NO_OFFSET, NO_OFFSET)


def test_delete_offsets_and_unknown_groups(bootstrap: str, ledger: str, groups: Groups) -> None:
    group = "forgetful"
    commit(bootstrap, group, {(TOPIC, 0): 3, (TOPIC, 1): 1, (OTHER, 0): 2})
    done = groups("--delete-offsets", "--group", group, "--topic", TOPIC)
    assert f"Request succeed for deleting offsets with topic {TOPIC} group {group}" in done.stdout
    assert deletion_statuses(done.stdout, TOPIC) == [(TOPIC, 0, "Successful"), (TOPIC, 1, "Successful")]
    assert committed(bootstrap, group, [(TOPIC, 0), (TOPIC, 1), (OTHER, 0)]) == {
        (TOPIC, 0): NO_OFFSET, (TOPIC, 1): NO_OFFSET, (OTHER, 0): 2}

    missing = groups("--delete-offsets", "--group", "nobody", "--topic", TOPIC)
    assert "Error: 'nobody' does not exist." in missing.stdout
    missing = groups("--describe", "--state", "--group", "nobody")
    assert "Error: Consumer group 'nobody' does not exist." in missing.stdout
    missing = groups("--delete", "--group", "nobody")
    assert ("* Group 'nobody' could not be deleted due to: java.util.concurrent.ExecutionException: "
            "org.apache.kafka.common.errors.GroupIdNotFoundException: "
            "The group id does not exist.") in missing.stdout


def test_reset_offsets_respects_the_log_start_after_deleted_records(bootstrap: str, groups: Groups) -> None:
    """The earliest offset is the log start offset once records were deleted (DeleteRecords), and a reset
    below it is raised to it."""
    topic, group = "trimmed-ledger", "latecomers"
    create_topic(bootstrap, topic, partitions=1, replication_factor=3)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(10):
        producer.produce(topic, value=b"%d" % i, partition=0)
    assert producer.flush(30) == 0
    client = AdminClient({"bootstrap.servers": bootstrap})
    (trimmed,) = client.delete_records([TopicPartition(topic, 0, 4)], request_timeout=30).values()
    assert trimmed.result(30).low_watermark == 4
    commit(bootstrap, group, {(topic, 0): 7})

    earliest = groups("--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
    assert reset_table(earliest.stdout) == {(topic, 0): 4}
    below = groups("--reset-offsets", "--group", group, "--topic", topic, "--shift-by", "-3", "--execute")
    assert reset_table(below.stdout) == {(topic, 0): 4}
    assert (f"New offset (1) is lower than earliest offset for topic partition {topic}-0. Value will be set to 4"
            in below.stderr)
    assert committed(bootstrap, group, [(topic, 0)]) == {(topic, 0): 4}


def test_admin_client_describes_the_authorized_operations_of_groups(
    bootstrap: str, ledger: str, kafka_jars: Path, require: Callable[[object, str], None]
) -> None:
    """Admin.describeConsumerGroups(includeAuthorizedOperations): without an authorizer Kafka allows every
    operation a group has, for existing and unknown (Dead) groups alike (java/DescribeGroupOperations.java)."""
    require("javac", "the AdminClient program runs from source: it needs a JDK (default-jdk-headless)")
    commit(bootstrap, "operated", {(TOPIC, 0): 1})
    done = subprocess.run(java_command(str(DESCRIBE_OPERATIONS), bootstrap, "operated", "nobody"),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["operated Empty DELETE,DESCRIBE,READ", "nobody Dead DELETE,DESCRIBE,READ"]
