"""Topic churn: the same few topics deleted and created again, over and over, by clients racing each other.

Several clients each delete and re-create the same topics (replication factor 3) as fast as the brokers
answer, each request sent to a broker picked at random (so the broker that answers a creation may not yet
have heard of the deletion that preceded it, and the other brokers hear of both in their own time), while
the witness writes acks=all to a stable topic throughout. After every round, with the topics created
again, and every wait on a condition:

* every partition's ISR is a subset of its assignment, in ZooKeeper and in every broker's Metadata — and
  a monitor reading ZooKeeper all along never saw otherwise ("a replica outside the assignment must never
  enter the ISR");
* a broker outside a partition's assignment has no log directory for it, and every assigned replica's log
  is empty (the new topic starts empty) and, where the broker stores one, carries the new topic id;
* records written to the new topic (acks=all) are read back alone: nothing of an earlier life of the topic
  shows up, on the leader or on any replica's disk.

At the end the witness has lost nothing and the strict decoder reads every stored batch of every broker.

``KOPFKA_CHURN_ROUNDS`` sets the number of rounds (10 by default, about 45 s with the cluster's start on a
2-core machine; a longer soak finds rarer interleavings). On the code before issue 13 item 7 was fixed,
about half of the runs of 10 to 25 rounds failed: an ISR outside the assignment ([4, 5, 1], then
[1, 3, 4, 5] for replicas [3, 4, 5]; or the first state of a re-created topic's partition made from the
old assignment), a deletion request that reached a broker before its topic and was never carried out, a
CreateTopics that failed with NoNode and closed the client's connection. Each race behind those, and the
rarer ones of the same family (a broker restarted on a log of the old topic, a follower of the old topic
counted by the new leader), is reproduced deterministically by a unit test on the fake ZooKeeper.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from tests.brokers import BrokersAlive
from tests.hostile.strict_decoder import check_cluster, read_partition
from tests.hostile.witness import Witness
from tests.integration.admin import addresses, broker_view, create_topic, wait_for_topic
from tests.integration.wire import WireClient
from tests.waiting import wait_for

from kafka_broker import metadata as md
from kafka_broker.local import LocalCluster
from kafka_broker.protocol import ApiKey, ErrorCode

pytestmark = pytest.mark.hostile

BROKERS = 5
TOPICS = ("churn-a", "churn-b", "churn-c")
PARTITIONS = 2
REPLICATION = 3
CLIENTS = 6
ROUNDS = int(os.environ.get("KOPFKA_CHURN_ROUNDS", "10"))
RECORDS = 10
"""Records written to each partition of each topic after a round (so the next round deletes a topic with data)."""
OVERRIDES = {
    "auto.create.topics.enable": "false",
    "replica.fetch.wait.max.ms": "100",
    "replica.lag.time.max.ms": "4000",
    "auto.leader.rebalance.enable": "false",
    "min.insync.replicas": "2",
}
PARTITION_METADATA = "partition.metadata"
"""Kafka's file of a partition's topic id, in the partition's log directory (KIP-516)."""
ADMIN_TIMEOUT_MS = 5_000
"""How long a churn client lets the broker wait for a deletion or the leaders of a creation."""


@pytest.fixture
def zk_client() -> Iterator[list[KazooClient]]:
    clients: list[KazooClient] = []
    yield clients
    for client in clients:
        client.stop()
        client.close()


def open_zk(connect: str, clients: list[KazooClient]) -> KazooClient:
    client = KazooClient(hosts=connect)
    client.start(timeout=60)
    clients.append(client)
    return client


# --- ZooKeeper's view -------------------------------------------------------------------------------------


def read_topic(zk: KazooClient, topic: str) -> tuple[md.TopicAssignment, int] | None:
    """The topic's assignment and its znode's creation zxid (which tells one life of the name from another)."""
    try:
        data, stat = zk.get(md.topic_path(topic))
    except NoNodeError:
        return None
    return md.TopicAssignment.decode(data), stat.czxid


def read_state(zk: KazooClient, topic: str, partition: int) -> tuple[md.PartitionState, int] | None:
    try:
        data, stat = zk.get(md.partition_state_path(topic, partition))
    except NoNodeError:
        return None
    return md.PartitionState.decode(data), stat.czxid


class IsrMonitor:
    """Reads every churn topic's assignment and partition states from ZooKeeper all along, and notes each
    time an ISR names a broker outside the assignment of the same life of the topic."""

    def __init__(self, zk: KazooClient) -> None:
        self.zk = zk
        self.violations: list[str] = []
        self.looks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="isr-monitor", daemon=True)

    def __enter__(self) -> IsrMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            for topic in TOPICS:
                with contextlib.suppress(Exception):  # a znode going away mid-look: look again
                    self._look(topic)
            self.looks += 1
            self._stop.wait(0.02)

    def _look(self, topic: str) -> None:
        before = read_topic(self.zk, topic)
        if before is None:
            return
        assignment, czxid = before
        for partition, replicas in assignment.partitions.items():
            read = read_state(self.zk, topic, partition)
            if read is None or read[1] < czxid:
                continue  # no state yet, or the state of an earlier life
            state = read[0]
            after = read_topic(self.zk, topic)
            if after is None or after[1] != czxid:
                return  # deleted meanwhile: the state may belong to the next life
            current = set(after[0].partitions.get(partition, replicas)) | set(
                after[0].adding_replicas.get(partition, ()))
            if not set(state.isr) <= current:
                self.violations.append(f"{topic}-{partition} (topic czxid {czxid}): ISR {list(state.isr)} "
                                       f"outside the assignment {sorted(current)}")


# --- the churn clients --------------------------------------------------------------------------------------


class ChurnClient(threading.Thread):
    """Deletes and re-creates every churn topic once per round, in its own order, through random brokers."""

    def __init__(self, index: int, cluster: LocalCluster, start: threading.Barrier) -> None:
        super().__init__(name=f"churn-{index}", daemon=True)
        self.rng = random.Random(index)
        self.addresses = addresses(cluster.bootstrap_servers)
        self.start_barrier = start
        self.errors: list[str] = []
        self.counts = {"deleted": 0, "created": 0, "exists": 0, "unknown": 0, "timed_out": 0}

    def run(self) -> None:
        try:
            self.start_barrier.wait(120)
            topics = list(TOPICS)
            self.rng.shuffle(topics)
            for topic in topics:
                self.delete_once(topic)
                self.create_once(topic)
        except Exception as exc:  # reported by the test, not lost in a thread
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _request(self, api_key: int, version: int, body: dict[str, object]) -> dict[str, object]:
        client = WireClient.to(self.rng.choice(self.addresses))
        try:
            return client.request(api_key, version, body)
        finally:
            client.close()

    def delete_once(self, topic: str) -> None:
        response = self._request(ApiKey.DELETE_TOPICS, 4, {"topic_names": [topic], "timeout_ms": ADMIN_TIMEOUT_MS})
        code = response["responses"][0]["error_code"]
        self._count(topic, "delete", code)

    def create_once(self, topic: str) -> None:
        response = self._request(ApiKey.CREATE_TOPICS, 5, {
            "topics": [{"name": topic, "num_partitions": PARTITIONS, "replication_factor": REPLICATION,
                        "assignments": [], "configs": []}],
            "timeout_ms": ADMIN_TIMEOUT_MS, "validate_only": False})
        result = response["topics"][0]
        self._count(topic, "create", result["error_code"], result["error_message"])

    def _count(self, topic: str, what: str, code: int, message: str | None = None) -> None:
        if code == ErrorCode.NONE:
            self.counts["deleted" if what == "delete" else "created"] += 1
        elif code == ErrorCode.TOPIC_ALREADY_EXISTS:
            self.counts["exists"] += 1
        elif code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
            self.counts["unknown"] += 1
        elif code == ErrorCode.REQUEST_TIMED_OUT:
            self.counts["timed_out"] += 1
        else:
            self.errors.append(f"{what} {topic}: error {code} {message or ''}")


def holds(problem: str | None) -> bool:
    """For ``wait_for``: a check's problem is raised (the wait reports the last one), its absence is True."""
    if problem is not None:
        raise AssertionError(problem)
    return True


def ensure_topic(cluster: LocalCluster, zk: KazooClient, topic: str) -> bool:
    """The topic exists and is not being deleted; creates it if a round left it deleted."""
    if zk.exists(md.delete_topic_path(topic)) is not None:
        return False  # a deletion still under way: wait for it
    if zk.exists(md.topic_path(topic)) is not None:
        return True
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        client.request(ApiKey.CREATE_TOPICS, 5, {
            "topics": [{"name": topic, "num_partitions": PARTITIONS, "replication_factor": REPLICATION,
                        "assignments": [], "configs": []}],
            "timeout_ms": ADMIN_TIMEOUT_MS, "validate_only": False})
    finally:
        client.close()
    return False  # look again


# --- what each broker holds ------------------------------------------------------------------------------


def partition_dir(cluster: LocalCluster, broker_id: int, topic: str, partition: int) -> Path:
    return cluster.broker_dir(broker_id) / "data" / f"{topic}-{partition}"


def stored_topic_id(directory: Path) -> str | None:
    """The topic id in a partition directory's ``partition.metadata`` (None: the broker keeps none)."""
    path = directory / PARTITION_METADATA
    if not path.exists():
        return None
    fields = dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
    return fields.get("topic_id")


def replicas_in_place(cluster: LocalCluster, zk: KazooClient, topic: str) -> str | None:
    """None when every broker holds exactly the new life of ``topic``: an empty log directory on each
    assigned replica (with the new topic id, if it keeps one), none elsewhere; else what is wrong."""
    read = read_topic(zk, topic)
    if read is None:
        return f"{topic} does not exist"
    assignment, _czxid = read
    for partition, replicas in assignment.partitions.items():
        for broker_id in cluster.broker_ids:
            directory = partition_dir(cluster, broker_id, topic, partition)
            if broker_id not in replicas:
                if directory.exists():
                    return f"broker {broker_id} outside the assignment {replicas} has {directory.name}"
                continue
            if not directory.is_dir():
                return f"broker {broker_id} has no {directory.name} yet"
            batches = read_partition(directory)
            if batches:
                return (f"broker {broker_id}'s {directory.name} of the new topic is not empty: offsets "
                        f"{batches[0].base_offset}..{batches[-1].last_offset}")
            segments = sorted(p.name for p in directory.iterdir() if p.name.endswith(".log"))
            if segments not in ([], ["00000000000000000000.log"]):
                return f"broker {broker_id}'s {directory.name} starts at {segments}"
            topic_id = stored_topic_id(directory)
            if topic_id is not None and topic_id != assignment.topic_id:
                return (f"broker {broker_id}'s {directory.name} carries topic id {topic_id}, "
                        f"the topic's is {assignment.topic_id}")
    return None


def isr_within_assignment(cluster: LocalCluster, zk: KazooClient, topic: str) -> str | None:
    """None when each partition's ISR is within its assignment, in ZooKeeper and in every broker's Metadata."""
    read = read_topic(zk, topic)
    if read is None:
        return f"{topic} does not exist"
    assignment, _ = read
    for partition, replicas in assignment.partitions.items():
        state = read_state(zk, topic, partition)
        if state is None:
            return f"{topic}-{partition} has no state yet"
        if not set(state[0].isr) <= set(replicas):
            return f"ZooKeeper: {topic}-{partition} ISR {list(state[0].isr)} outside {replicas}"
    for address in addresses(cluster.bootstrap_servers):
        seen = broker_view(address, topic)
        if seen is None:
            return f"{address} does not know {topic}"
        for partition, (_leader, replicas, isr) in seen[0].items():
            if not set(isr) <= set(replicas):
                return f"{address}: {topic}-{partition} ISR {isr} outside {replicas}"
    return None


# --- writing and reading back -------------------------------------------------------------------------------


def produce_round(bootstrap: str, round_no: int) -> dict[tuple[str, int], list[bytes]]:
    """``RECORDS`` records to every partition of every churn topic, acks=all; what was acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "message.timeout.ms": 60_000, "retry.backoff.ms": 100, "linger.ms": 5})
    acked: dict[tuple[str, int], list[bytes]] = {}
    failed: list[str] = []

    def report(err: object, msg: object) -> None:
        if err is not None:
            failed.append(str(err))
        else:
            acked.setdefault((msg.topic(), msg.partition()), []).append(msg.value())

    for topic in TOPICS:
        for partition in range(PARTITIONS):
            for i in range(RECORDS):
                producer.produce(topic, value=f"{topic}/{partition}/round-{round_no}/{i}".encode(),
                                 partition=partition, on_delivery=report)
    assert producer.flush(120) == 0, "records still in flight after two minutes"
    assert not failed, f"writes to the new topics failed: {failed[:5]}"
    return acked


def read_back(bootstrap: str, topic: str, partition: int) -> list[bytes]:
    """Every record of the partition, from offset 0 to the high watermark."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "churn-check", "enable.auto.commit": False})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=60)
        assert low == 0, f"{topic}-{partition} starts at {low}"
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        values: list[bytes] = []
        deadline = time.monotonic() + 60
        while len(values) < high:
            assert time.monotonic() < deadline, f"read {len(values)} of {high} records of {topic}-{partition}"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            values.append(msg.value())
        return values
    finally:
        consumer.close()


def replicas_hold_only(cluster: LocalCluster, zk: KazooClient, acked: dict[tuple[str, int], list[bytes]]) -> str | None:
    """None when every assigned replica's log holds exactly the acknowledged records of this round."""
    for topic in TOPICS:
        read = read_topic(zk, topic)
        assert read is not None
        for partition, replicas in read[0].partitions.items():
            for broker_id in replicas:
                stored = [r.value for b in read_partition(partition_dir(cluster, broker_id, topic, partition))
                          for r in b.records]
                if stored != acked[(topic, partition)]:
                    return f"broker {broker_id}'s {topic}-{partition} holds {stored[:3]}... ({len(stored)} records)"
    return None


# --- the test --------------------------------------------------------------------------------------------------


def test_deleted_topics_never_leak_into_their_successors(cluster_factory, zk_client) -> None:
    started = time.monotonic()
    cluster = cluster_factory(brokers=BROKERS, overrides=OVERRIDES)
    b = cluster.bootstrap_servers
    alive = [BrokersAlive(cluster)]
    zk = open_zk(cluster.zookeeper_connect, zk_client)
    create_topic(b, "stable", partitions=2, replication_factor=3)
    for topic in TOPICS:
        create_topic(b, topic, partitions=PARTITIONS, replication_factor=REPLICATION)
    totals: dict[str, int] = {}
    timings: list[float] = []
    with Witness(b, "stable", partitions=[0, 1]) as witness, IsrMonitor(zk) as monitor:
        witness.wait_acknowledged(50)
        produce_round(b, 0)
        for round_no in range(1, ROUNDS + 1):
            began = time.monotonic()
            barrier = threading.Barrier(CLIENTS)
            clients = [ChurnClient(round_no * 100 + i, cluster, barrier) for i in range(CLIENTS)]
            for client in clients:
                client.start()
            for client in clients:
                client.join(180)
                assert not client.is_alive(), f"{client.name} still running after 3 minutes"
            errors = [e for c in clients for e in c.errors]
            assert not errors, f"round {round_no}: churn requests failed: {errors[:5]}"
            for client in clients:
                for key, count in client.counts.items():
                    totals[key] = totals.get(key, 0) + count
            for topic in TOPICS:
                wait_for(lambda t=topic: ensure_topic(cluster, zk, t), timeout=120, alive=alive,
                         what=f"{topic} to exist again")
                wait_for_topic(b, topic, partitions=PARTITIONS)
                wait_for(lambda t=topic: holds(isr_within_assignment(cluster, zk, t)), timeout=60,
                         alive=alive, what=f"{topic}'s ISR within its assignment everywhere")
                wait_for(lambda t=topic: holds(replicas_in_place(cluster, zk, t)), timeout=60,
                         alive=alive, what=f"{topic}'s new life alone on its replicas")
            assert not monitor.violations, f"round {round_no}: {monitor.violations[:5]}"
            acked = produce_round(b, round_no)
            for topic in TOPICS:
                for partition in range(PARTITIONS):
                    assert read_back(b, topic, partition) == acked[(topic, partition)], (
                        f"round {round_no}: {topic}-{partition} holds records of another life")
            wait_for(lambda: holds(replicas_hold_only(cluster, zk, acked)), timeout=60, alive=alive,  # noqa: B023
                     what=f"round {round_no}: every replica holding exactly the new records")
            timings.append(round(time.monotonic() - began, 1))
            witness.wait_acknowledged(20)
    assert not monitor.violations, monitor.violations[:5]
    report = witness.verify()
    BrokersAlive(cluster).check_alive()
    check_cluster(cluster)
    print(f"churn: {ROUNDS} rounds of {CLIENTS} clients on {BROKERS} brokers, seconds per round {timings}; "
          f"requests {totals}; ISR monitor looked {monitor.looks} times; witness {report}; "
          f"total {time.monotonic() - started:.0f} s")
