"""Consumer groups against real kopfka brokers with real clients: confluent-kafka (librdkafka),
kafka-python and aiokafka members sharing a 6-partition topic, a member leaving, exactly-once
consumption with commits after processing, committed offsets surviving kill -9 of the coordinator,
cooperative-sticky rebalancing, static membership, and `kopfka groups`.

Each group member runs in its own thread with its own consumer, polls, records what it got, and
commits synchronously after processing each batch, before it polls again.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState
from tests.integration.admin import create_topic, describe
from tests.integration.clients import ConfluentClient, Outgoing
from tests.waiting import wait_for

from kafka_broker.coordinator.group_coordinator import partition_for

pytestmark = pytest.mark.integration

OFFSETS_PARTITIONS = 6
SESSION_TIMEOUT_MS = 6000
LONG_SESSION_TIMEOUT_MS = 30_000
"""For tests that tell a member's LeaveGroup or a static member's quick return apart from its session
expiring: long enough that a slow, loaded machine never lets the session run out first."""
GROUP_OVERRIDES = {
    "offsets.topic.num.partitions": str(OFFSETS_PARTITIONS),
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
}
FAST_FAILOVER = {
    "zookeeper.session.timeout.ms": "6000",
    "replica.lag.time.max.ms": "10000",
    "replica.fetch.wait.max.ms": "100",
    "kopfka.controlled.shutdown.timeout.ms": "15000",
}


# --- group members, one thread each ------------------------------------------------------------------


class Member(threading.Thread):
    """A consumer in a group: consumes, commits after processing, reports its assignment."""

    client = "?"

    def __init__(
        self, bootstrap: str, topic: str, group: str, *, session_timeout_ms: int = SESSION_TIMEOUT_MS, **options: Any
    ) -> None:
        super().__init__(daemon=True, name=f"{self.client}-{group}")
        self.bootstrap, self.topic, self.group, self.options = bootstrap, topic, group, options
        self.session_timeout_ms = session_timeout_ms
        self.consumed: list[tuple[int, int, bytes]] = []
        self.assigned: frozenset[int] = frozenset()
        self.assign_events: list[frozenset[int]] = []
        self.revoke_events: list[frozenset[int]] = []
        self.errors: list[str] = []
        self.stop_event = threading.Event()
        self.closed = threading.Event()
        self.member_id: str | None = None

    def stop(self, timeout: float = 120) -> None:
        self.stop_event.set()
        assert self.closed.wait(timeout), f"{self.name} did not close"

    def run(self) -> None:
        try:
            self.consume()
        except Exception as exc:  # reported by the test through .errors
            self.errors.append(repr(exc))
        finally:
            self.closed.set()

    def consume(self) -> None:
        raise NotImplementedError


class ConfluentMember(Member):
    client = "confluent-kafka"

    def consume(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": 500,
            "topic.metadata.refresh.interval.ms": 2000,
            "log_level": 3,
            **self.options,
        })

        def on_assign(_consumer, partitions) -> None:
            self.assign_events.append(frozenset(tp.partition for tp in partitions))

        def on_revoke(_consumer, partitions) -> None:
            self.revoke_events.append(frozenset(tp.partition for tp in partitions))

        consumer.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke)
        try:
            while not self.stop_event.is_set():
                msg = consumer.poll(0.2)
                self.assigned = frozenset(tp.partition for tp in consumer.assignment())
                self.member_id = consumer.memberid()
                if msg is None:
                    continue
                if msg.error() is not None:
                    self.errors.append(str(msg.error()))
                    continue
                self.consumed.append((msg.partition(), msg.offset(), msg.value()))
                self.commit(consumer, msg)
        finally:
            consumer.close()

    def commit(self, consumer: Any, msg: Any) -> None:
        """Commit after processing; REBALANCE_IN_PROGRESS (the coordinator refuses commits between the
        JoinGroup and SyncGroup answers, as Kafka does) is retried until the new generation is in place:
        with cooperative rebalancing the member keeps consuming meanwhile."""
        from confluent_kafka import KafkaError, KafkaException

        deadline = time.monotonic() + 60  # an upper bound on the rebalance, generous for a loaded machine
        while True:
            try:
                consumer.commit(message=msg, asynchronous=False)
                return
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.REBALANCE_IN_PROGRESS or time.monotonic() > deadline:
                    self.errors.append(f"commit: {exc}")
                    return
                time.sleep(0.05)


class KafkaPythonMember(Member):
    """kafka-python 3.0.12 can lose a finished join of the group leader when ``poll`` times out while the
    JoinGroup/SyncGroup round trip is in flight (the next poll no longer sees a rejoin as needed and never
    collects the result): a poll timeout longer than a rebalance avoids that client-side race."""

    client = "kafka-python"
    POLL_MS = 3000

    def consume(self) -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", session_timeout_ms=self.session_timeout_ms, heartbeat_interval_ms=500,
            metadata_max_age_ms=2000, **self.options,
        )
        try:
            while not self.stop_event.is_set():
                batches = consumer.poll(timeout_ms=self.POLL_MS)
                self.assigned = frozenset(tp.partition for tp in consumer.assignment())
                got = False
                for records in batches.values():
                    for r in records:
                        self.consumed.append((r.partition, r.offset, r.value))
                        got = True
                if got:
                    consumer.commit()
        finally:
            consumer.close(autocommit=False)


class AioKafkaMember(Member):
    client = "aiokafka"

    def consume(self) -> None:
        asyncio.run(self._consume())

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", session_timeout_ms=self.session_timeout_ms, heartbeat_interval_ms=500,
            metadata_max_age_ms=2000, **self.options,
        )
        await consumer.start()
        try:
            while not self.stop_event.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                self.assigned = frozenset(tp.partition for tp in consumer.assignment())
                got = False
                for records in batches.values():
                    for r in records:
                        self.consumed.append((r.partition, r.offset, r.value))
                        got = True
                if got:
                    await consumer.commit()
        finally:
            await consumer.stop()


MEMBER_CLASSES = [ConfluentMember, KafkaPythonMember, AioKafkaMember]


# --- helpers ------------------------------------------------------------------------------------------


def produce_numbered(bootstrap: str, topic: str, start: int, count: int, partitions: int = 6) -> None:
    ConfluentClient().produce(
        bootstrap, topic,
        [Outgoing(i % partitions, str(i).encode(), f"m-{i}".encode()) for i in range(start, start + count)],
        "none",
    )


def values(members: list[Member]) -> Counter[bytes]:
    return Counter(v for m in members for _p, _o, v in m.consumed)


def wait_consumed(members: list[Member], expected: int, timeout: float = 120) -> None:
    wait_for(lambda: sum(len(m.consumed) for m in members) >= expected, timeout=timeout,
             what=f"{expected} messages consumed (errors: {[m.errors for m in members]})")


def wait_assignment(members: list[Member], partitions: int = 6, timeout: float = 120) -> None:
    """Every partition owned by exactly one of ``members``, each member owning at least one."""

    def balanced() -> bool:
        owned = [p for m in members for p in m.assigned]
        return sorted(owned) == list(range(partitions)) and all(m.assigned for m in members)

    wait_for(balanced, timeout=timeout,
             what=f"balanced assignment (have {[sorted(m.assigned) for m in members]})")


def assert_exactly_once(members: list[Member], total: int) -> None:
    seen = values(members)
    duplicates = {v: n for v, n in seen.items() if n > 1}
    assert not duplicates, f"consumed more than once: {sorted(duplicates)[:20]} (errors: {[m.errors for m in members]})"
    assert set(seen) == {f"m-{i}".encode() for i in range(total)}


def kopfka(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "kafka_broker.cli.main", *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def committed(bootstrap: str, group: str, topic: str, partitions: int = 6) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "log_level": 3})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=60)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def wait_all_committed(bootstrap: str, group: str, topic: str, total: int, partitions: int = 6) -> None:
    """Until the group has committed every one of `total` records (spread evenly over `partitions`): the
    members have processed and committed all they will, so a record consumed twice would be there now."""
    expected = dict.fromkeys(range(partitions), total // partitions)
    wait_for(lambda: committed(bootstrap, group, topic, partitions) == expected,
             what=f"group {group} to commit offset {total // partitions} on every partition")


def wait_group_state(bootstrap: str, group: str, state: Any, members: int) -> None:
    wait_for(
        lambda: (d := describe_group(bootstrap, group)).state == state and len(d.members) == members,
        what=f"group {group} {state} with {members} member(s)",
    )


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    return module_cluster_factory(brokers=3, overrides=GROUP_OVERRIDES)


# --- tests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("member_class", MEMBER_CLASSES, ids=lambda c: c.client)
def test_three_members_share_partitions_and_consume_once(cluster, member_class: type[Member]) -> None:
    bootstrap = cluster.bootstrap_servers
    topic, group = f"groups-{member_class.client}", f"group-{member_class.client}"
    create_topic(bootstrap, topic, partitions=6, replication_factor=2)
    produce_numbered(bootstrap, topic, 0, 300)
    # The partitions must move because the member left, not because its session expired: a session long
    # enough that it cannot run out while a loaded machine rebalances.
    session = LONG_SESSION_TIMEOUT_MS / 1000
    members = [member_class(bootstrap, topic, group, session_timeout_ms=LONG_SESSION_TIMEOUT_MS) for _ in range(3)]
    for m in members:
        m.start()
    try:
        wait_assignment(members)
        wait_consumed(members, 300)
        leaving, staying = members[0], members[1:]
        moved = sorted(leaving.assigned)
        # Timed from the leaving member's close (its LeaveGroup): a member sees the stop only when its
        # poll returns, which for kafka-python's long poll (POLL_MS) can take seconds by itself.
        leaving.stop()
        started = time.monotonic()
        wait_assignment(staying, timeout=session)
        took = time.monotonic() - started
        assert took < session, f"partitions {moved} moved after {took:.1f}s"
        produce_numbered(bootstrap, topic, 300, 300)
        wait_consumed(members, 600)
        wait_all_committed(bootstrap, group, topic, 600)  # anything consumed twice would show up by now
        assert_exactly_once(members, 600)
    finally:
        for m in members:
            if m.is_alive():
                m.stop()
    assert not [e for m in members for e in m.errors if "commit" in e], [m.errors for m in members]


def test_cooperative_sticky_moves_only_what_it_must(cluster) -> None:
    bootstrap = cluster.bootstrap_servers
    topic, group = "groups-cooperative", "group-cooperative"
    create_topic(bootstrap, topic, partitions=6, replication_factor=2)
    produce_numbered(bootstrap, topic, 0, 300)
    options = {"partition.assignment.strategy": "cooperative-sticky"}
    # as above: the leaving member's partitions move on its LeaveGroup, well before its session could expire
    session = LONG_SESSION_TIMEOUT_MS / 1000
    members = [
        ConfluentMember(bootstrap, topic, group, session_timeout_ms=LONG_SESSION_TIMEOUT_MS, **options)
        for _ in range(3)
    ]
    try:
        members[0].start()
        wait_assignment(members[:1])
        members[1].start()
        wait_assignment(members[:2])
        members[2].start()
        wait_assignment(members)
        wait_consumed(members, 300)
        first = members[0]
        # incremental rebalancing: the first member never gave up all its partitions at once
        assert first.revoke_events and all(len(r) < 6 for r in first.revoke_events), first.revoke_events
        assert all(len(m.assigned) == 2 for m in members)
        kept = {m: m.assigned for m in members[:2]}
        members[2].stop()
        wait_assignment(members[:2], timeout=session)
        for m, before in kept.items():
            assert before <= m.assigned, "a staying member lost a partition it owned"
        produce_numbered(bootstrap, topic, 300, 300)
        wait_consumed(members, 600)
        wait_all_committed(bootstrap, group, topic, 600)
        assert_exactly_once(members, 600)
    finally:
        for m in members:
            if m.is_alive():
                m.stop()


def test_static_member_restarts_without_rebalance(cluster) -> None:
    bootstrap = cluster.bootstrap_servers
    topic, group = "groups-static", "group-static"
    create_topic(bootstrap, topic, partitions=6, replication_factor=2)
    produce_numbered(bootstrap, topic, 0, 120)
    # A static member's restart must beat its session timeout, which a loaded machine must not decide.
    session = LONG_SESSION_TIMEOUT_MS / 1000
    one = ConfluentMember(bootstrap, topic, group, session_timeout_ms=LONG_SESSION_TIMEOUT_MS,
                          **{"group.instance.id": "static-1"})
    two = ConfluentMember(bootstrap, topic, group, session_timeout_ms=LONG_SESSION_TIMEOUT_MS,
                          **{"group.instance.id": "static-2"})
    members = [one, two]
    try:
        for m in members:
            m.start()
        wait_assignment(members)
        wait_consumed(members, 120)
        wait_group_state(bootstrap, group, ConsumerGroupState.STABLE, 2)  # no rebalance under way
        assigns_before, owned = len(one.assign_events), two.assigned
        description = describe_group(bootstrap, group)
        assert sorted(m.group_instance_id for m in description.members) == ["static-1", "static-2"]
        # a static member closes without leaving the group and comes back within its session timeout
        two.stop()
        again = ConfluentMember(bootstrap, topic, group, session_timeout_ms=LONG_SESSION_TIMEOUT_MS,
                                **{"group.instance.id": "static-2"})
        members.append(again)
        again.start()
        wait_for(lambda: again.assigned, what="the restarted static member's assignment")
        assert again.assigned == owned
        assert again.member_id != two.member_id
        produce_numbered(bootstrap, topic, 120, 120)
        wait_consumed(members, 240)
        wait_all_committed(bootstrap, group, topic, 240)
        # Had the return caused a rebalance, the other member would have rejoined before consuming (and
        # committing) its share of the records sent since: its assignment callbacks have run by now.
        assert len(one.assign_events) == assigns_before, "the other member went through a rebalance"
        assert_exactly_once(members, 240)
        # gone for good: after the session timeout its partitions move to the remaining member
        started = time.monotonic()
        again.stop()
        wait_assignment([one], timeout=session + 120)
        assert time.monotonic() - started >= session - 1.5
    finally:
        for m in members:
            if m.is_alive():
                m.stop()


def describe_group(bootstrap: str, group: str):
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    return admin.describe_consumer_groups([group], request_timeout=60)[group].result(90)


def test_kopfka_groups_list_and_describe(cluster) -> None:
    bootstrap = cluster.bootstrap_servers
    topic, group = "groups-cli", "group-cli"
    create_topic(bootstrap, topic, partitions=3, replication_factor=2)
    produce_numbered(bootstrap, topic, 0, 30, partitions=3)
    member = ConfluentMember(bootstrap, topic, group)
    member.start()
    try:
        wait_assignment([member], partitions=3)
        wait_consumed([member], 30)
        wait_for(lambda: committed(bootstrap, group, topic, 3) == {0: 10, 1: 10, 2: 10}, what="commits")
        assert group in kopfka("groups", "--bootstrap-server", bootstrap, "--list").split()
        lines = kopfka("groups", "--bootstrap-server", bootstrap, "--describe", "--group", group).splitlines()
        assert lines[0] == ""
        assert lines[1].split() == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                                    "CONSUMER-ID", "HOST", "CLIENT-ID"]
        rows = [line.split() for line in lines[2:]]
        assert [r[:6] for r in rows] == [[group, topic, str(p), "10", "10", "0"] for p in range(3)]
        assert {r[6] for r in rows} == {member.member_id}
        assert {r[7] for r in rows} == {"/127.0.0.1"} and {r[8] for r in rows} == {"rdkafka"}
    finally:
        member.stop()
    wait_group_state(bootstrap, group, ConsumerGroupState.EMPTY, 0)  # the coordinator has handled its LeaveGroup
    produce_numbered(bootstrap, topic, 30, 5, partitions=1)  # 5 more on partition 0, nobody consuming
    proc = subprocess.run([sys.executable, "-m", "kafka_broker.cli.main", "groups", "--bootstrap-server", bootstrap,
                           "--describe", "--group", group], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"Consumer group '{group}' has no active members." in proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[2:]]
    assert rows == [[group, topic, "0", "10", "15", "5", "-", "-", "-"],
                    [group, topic, "1", "10", "10", "0", "-", "-", "-"],
                    [group, topic, "2", "10", "10", "0", "-", "-", "-"]]
    missing = subprocess.run([sys.executable, "-m", "kafka_broker.cli.main", "groups", "--bootstrap-server",
                              bootstrap, "--describe", "--group", "no-such-group"], capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 1 and "Consumer group 'no-such-group' does not exist." in missing.stderr
    # DeleteGroups through the AdminClient: the Empty group and its offsets go
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    admin.delete_consumer_groups([group], request_timeout=60)[group].result(90)
    assert group not in kopfka("groups", "--bootstrap-server", bootstrap, "--list").split()
    assert committed(bootstrap, group, topic, 3) == dict.fromkeys(range(3), -1001)  # OFFSET_INVALID


def test_committed_offsets_survive_kill_of_the_coordinator(cluster_factory) -> None:
    cluster = cluster_factory(brokers=3, overrides={**GROUP_OVERRIDES, **FAST_FAILOVER,
                                                    "offsets.topic.replication.factor": "3"})
    bootstrap = cluster.bootstrap_servers
    topic, group = "groups-failover", "group-failover"
    create_topic(bootstrap, topic, partitions=6, replication_factor=3)
    produce_numbered(bootstrap, topic, 0, 300)
    first = ConfluentMember(bootstrap, topic, group)
    first.start()
    try:
        wait_consumed([first], 300)
        wait_for(lambda: committed(bootstrap, group, topic) == dict.fromkeys(range(6), 50),
                 what="all 300 committed")
    finally:
        first.stop()
    produce_numbered(bootstrap, topic, 300, 300)
    offsets_partition = partition_for(group, OFFSETS_PARTITIONS)
    # The offsets partition must be fully replicated before its leader dies (an ISR can lag for a moment
    # on a loaded machine): wait for that, then check it.
    leader, replicas, isr = wait_for(
        lambda: (p := describe(bootstrap, "__consumer_offsets")[offsets_partition]) and len(p[2]) == 3 and p,
        what="the group's __consumer_offsets partition fully in sync",
    )
    assert len(replicas) == 3 and len(isr) == 3, (replicas, isr)
    cluster.kill_broker(leader, signal.SIGKILL)
    survivors = ",".join(f"127.0.0.1:{port}" for b, port in cluster.broker_ports.items() if b != leader)
    wait_for(lambda: describe(survivors, "__consumer_offsets")[offsets_partition][0] not in (leader, -1),
             what="a new leader for the group's __consumer_offsets partition")
    assert committed(survivors, group, topic) == dict.fromkeys(range(6), 50)
    second = ConfluentMember(survivors, topic, group)
    second.start()
    try:
        wait_consumed([second], 300, timeout=180)
        wait_all_committed(survivors, group, topic, 600)  # anything consumed twice would show up by now
    finally:
        second.stop()
    got = values([second])
    assert set(got) == {f"m-{i}".encode() for i in range(300, 600)}, "the group did not resume where it committed"
    assert all(n == 1 for n in got.values())
    assert min(o for _p, o, _v in second.consumed) == 50
