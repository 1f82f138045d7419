"""Replication, leader election and controller failover with real broker processes: the seed's
fault-tolerance scenario, no acknowledged loss under repeated kill -9, rolling restarts with
SIGTERM, reassignment under load and divergent-tail truncation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict

import pytest
from kazoo.client import KazooClient
from tests.integration.admin import (
    View,
    agreed_view,
    create_topic,
    create_topic_with_assignment,
    describe,
    wait_for,
    wait_for_live_brokers,
)
from tests.integration.clients import ConfluentClient, Outgoing

from kafka_broker import metadata as md

pytestmark = pytest.mark.integration

FAST_FAILOVER = {
    "zookeeper.session.timeout.ms": "6000",
    "replica.lag.time.max.ms": "10000",
    "replica.fetch.wait.max.ms": "100",
    "kopfka.controlled.shutdown.timeout.ms": "15000",
}


def kopfka(*args: str, check: bool = True) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "kafka_broker.cli.main", *args], capture_output=True, text=True, timeout=120
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc.stdout


def partition_line(bootstrap: str, topic: str, partition: int = 0) -> str:
    """The describe line of one partition, or "" while the tool cannot answer (e.g. no controller yet)."""
    out = kopfka("topics", "--bootstrap-server", bootstrap, "--describe", "--topic", topic, check=False)
    for line in out.splitlines():
        if line.strip().startswith(f"Topic: {topic}") and f"Partition: {partition}\t" in line:
            return line.strip()
    return ""


def zk(cluster) -> KazooClient:
    client = KazooClient(hosts=cluster.zookeeper_connect)
    client.start(timeout=60)
    return client


def zookeeper_view(cluster, topic: str) -> View:
    """partition → (leader, replicas, isr) as ZooKeeper holds it: what every broker's metadata follows."""
    client = zk(cluster)
    try:
        assignment = md.TopicAssignment.decode(client.get(md.topic_path(topic))[0])
        view = {}
        for partition, replicas in assignment.partitions.items():
            state = md.PartitionState.decode(client.get(md.partition_state_path(topic, partition))[0])
            view[partition] = (state.leader, replicas, list(state.isr))
        return view
    finally:
        client.stop()
        client.close()


def wait_for_metadata_to_follow_zookeeper(cluster, bootstrap: str, topic: str) -> View:
    """Until every broker in `bootstrap` shows `topic` as ZooKeeper holds it; returns that view."""
    return wait_for(
        lambda: (v := agreed_view(bootstrap, topic)) and v == zookeeper_view(cluster, topic) and v,
        what=f"every broker's metadata of {topic} to follow ZooKeeper",
    )


def survivors_of(cluster, *gone: int) -> str:
    """The bootstrap list of every broker but `gone`."""
    return ",".join(f"127.0.0.1:{p}" for i, p in cluster.broker_ports.items() if i not in gone)


def wait_for_failover(bootstrap: str, topic: str, victim: int) -> None:
    """Until the brokers in `bootstrap` name a live leader other than `victim` for every partition of `topic`
    (a killed broker is noticed when its ZooKeeper session expires, then the controller re-elects)."""
    wait_for(
        lambda: all(leader not in (victim, md.NO_LEADER) for leader, _r, _i in describe(bootstrap, topic).values()),
        what=f"every partition of {topic} led by a broker other than {victim}",
    )


class NumberedProducer(threading.Thread):
    """Writes numbered records with acks=all until stopped; remembers what was acknowledged."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import Producer

        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "linger.ms": 2,
                # Without idempotence librdkafka may reorder a retried batch behind later ones when the
                # partition's leader moves to another connection; idempotence keeps order across failover.
                "enable.idempotence": True,
                "message.send.max.retries": 1_000_000,
                "retry.backoff.ms": 100,
                "message.timeout.ms": 120_000,
                "topic.metadata.refresh.interval.ms": 1000,
            }
        )
        self.topic, self.partitions = topic, partitions
        self.acked: dict[int, list[int]] = defaultdict(list)
        self.delivered = 0  # acknowledged records so far (one counter: `acked` is a dict other threads read)
        self.failed: list[str] = []
        self.stop_event = threading.Event()
        self.sent = 0

    def _report(self, err, msg) -> None:
        if err is not None:
            self.failed.append(str(err))
        else:
            self.acked[msg.partition()].append(int(msg.value().decode().split("-")[1]))
            self.delivered += 1

    def run(self) -> None:
        seq = 0
        while not self.stop_event.is_set():
            partition = seq % self.partitions
            try:
                self.producer.produce(
                    self.topic, value=f"{partition}-{seq}".encode(), partition=partition, on_delivery=self._report
                )
                seq += 1
            except BufferError:
                pass
            self.producer.poll(0.005 if seq % 20 == 0 else 0)
        self.sent = seq
        self.producer.flush(120)

    def wait_delivered(self, more: int, *, timeout: float = 120) -> None:
        """Until `more` records beyond those acknowledged so far are acknowledged: the stream is flowing."""
        target = self.delivered + more
        wait_for(lambda: self.delivered >= target, timeout=timeout,
                 what=f"{target} acknowledged records (have {self.delivered}, failed {self.failed[:3]})")

    def finish(self) -> None:
        self.stop_event.set()
        self.join(180)


def check_nothing_acknowledged_was_lost(bootstrap: str, topic: str, acked: dict[int, list[int]]) -> None:
    partitions = sorted(acked)
    read = ConfluentClient().consume_to_end(bootstrap, topic, partitions)
    by_partition: dict[int, list[int]] = defaultdict(list)
    for m in read:
        by_partition[m.partition].append(int(m.value.decode().split("-")[1]))
    for partition in partitions:
        in_log = by_partition[partition]
        missing = set(acked[partition]) - set(in_log)
        assert not missing, (
            f"partition {partition} lost {len(missing)} acknowledged records, e.g. {sorted(missing)[:5]}"
        )
        first_seen = list(dict.fromkeys(in_log))
        assert first_seen == sorted(first_seen), f"partition {partition} is out of order"


def test_seed_fault_tolerance_scenario(cluster_factory) -> None:
    cluster = cluster_factory(brokers=3, overrides=FAST_FAILOVER)
    b = cluster.bootstrap_servers
    assert "Created topic test." in kopfka(
        "topics",
        "--bootstrap-server",
        b,
        "--create",
        "--topic",
        "test",
        "--partitions",
        "1",
        "--replication-factor",
        "2",
    )
    line = wait_for(
        lambda: (lambda s: s if "Isr:" in s and len(s.split("Isr:")[1].split(",")) == 2 else None)(
            partition_line(b, "test")
        ),
        what="both replicas in sync",
    )
    fields = dict(f.split(": ", 1) for f in line.split("\t") if ": " in f)
    leader, replicas = int(fields["Leader"]), [int(r) for r in fields["Replicas"].split(",")]
    assert leader == replicas[0] and sorted(int(r) for r in fields["Isr"].split(",")) == sorted(replicas)
    follower = replicas[1]
    sent = [Outgoing(0, f"k{i}".encode(), f"message {i}".encode()) for i in range(200)]
    ConfluentClient().produce(b, "test", sent, "lz4")  # acks=all

    cluster.kill_broker(leader, signal.SIGKILL)
    survivors = survivors_of(cluster, leader)
    line = wait_for(
        lambda: (lambda s: s if f"Leader: {follower}\t" in s else None)(partition_line(survivors, "test")),
        what="the follower to take over",
    )
    assert line.endswith(f"Isr: {follower}"), line
    read = ConfluentClient().consume(survivors, "test", [0], len(sent))
    assert [m.value for m in read] == [m.value for m in sent]

    cluster.start_broker(leader)
    wait_for(
        lambda: sorted(describe(b, "test")[0][2]) == sorted(replicas),
        what="the old leader to rejoin the ISR",
    )
    # the next describe may ask a broker whose metadata lags behind the one that just answered
    assert wait_for_metadata_to_follow_zookeeper(cluster, b, "test")[0][0] == follower


def test_controller_failover_bumps_the_epoch(cluster_factory) -> None:
    cluster = cluster_factory(brokers=3, overrides=FAST_FAILOVER)
    client = zk(cluster)
    try:
        # Brokers count as started once registered; the election of the first controller, and its bump of
        # /controller_epoch (written after /controller), come after that.
        def controller_and_epoch() -> tuple[int, int] | None:
            current = md.decode_controller(client.get(md.CONTROLLER_PATH)[0])
            epoch = md.decode_controller_epoch(client.get(md.CONTROLLER_EPOCH_PATH)[0])
            return (current, epoch) if current != md.NO_LEADER and epoch > 0 else None

        controller, epoch = wait_for(controller_and_epoch, what="the first controller and its epoch")
        cluster.kill_broker(controller, signal.SIGKILL)

        def new_controller() -> int | None:
            current = md.decode_controller(client.get(md.CONTROLLER_PATH)[0])
            return current if current not in (controller, md.NO_LEADER) else None

        successor = wait_for(new_controller, what="a new controller")
        # the successor creates /controller first and bumps /controller_epoch right after
        new_epoch = wait_for(
            lambda: (e := md.decode_controller_epoch(client.get(md.CONTROLLER_EPOCH_PATH)[0])) != epoch and e,
            what="the successor's controller epoch",
        )
        assert new_epoch > epoch
        # the new controller does its job: a topic created now gets leaders. The survivors learn through
        # their own watches that the old controller's registration went with its session; until then a
        # topic could be placed on it. create_topic then waits until both survivors name a live leader
        # for every partition (CreateTopics only waits for the broker that answered it).
        survivors = survivors_of(cluster, controller)
        wait_for_live_brokers(survivors, set(cluster.broker_ports) - {controller})
        view = create_topic(survivors, "after-failover", partitions=4, replication_factor=2)
        assert all(leader in cluster.broker_ports and leader != controller for leader, _r, _i in view.values())
        assert successor != controller
    finally:
        client.stop()


def test_no_acknowledged_loss_under_repeated_kill9(cluster_factory) -> None:
    cluster = cluster_factory(brokers=3, overrides={**FAST_FAILOVER, "min.insync.replicas": "2"})
    b = cluster.bootstrap_servers
    create_topic(b, "numbers", partitions=6, replication_factor=3)
    producer = NumberedProducer(b, "numbers", 6)
    producer.start()
    try:
        for victim in (1, 2, 3, 1):
            producer.wait_delivered(150)  # mid-stream: records are being acknowledged
            cluster.kill_broker(victim, signal.SIGKILL)
            survivors = survivors_of(cluster, victim)
            wait_for_failover(survivors, "numbers", victim)
            producer.wait_delivered(50)  # ... and still are, by the new leaders
            cluster.start_broker(victim)
            wait_for(
                lambda: all(len(isr) == 3 for _l, _r, isr in describe(b, "numbers").values()),
                what="full ISR after restart",
            )
    finally:
        producer.finish()
    assert not producer.failed, producer.failed[:5]
    assert sum(len(v) for v in producer.acked.values()) > 500
    check_nothing_acknowledged_was_lost(b, "numbers", producer.acked)


def test_rolling_restart_with_sigterm_fails_no_delivery(cluster_factory) -> None:
    cluster = cluster_factory(brokers=3, overrides={**FAST_FAILOVER, "min.insync.replicas": "2"})
    b = cluster.bootstrap_servers
    create_topic(b, "rolling", partitions=6, replication_factor=3)
    producer = NumberedProducer(b, "rolling", 6)
    producer.start()
    try:
        for broker_id in sorted(cluster.broker_ports):
            producer.wait_delivered(100)  # mid-stream: records are being acknowledged
            cluster.restart_broker(broker_id)  # SIGTERM: controlled shutdown, then start again
            wait_for(
                lambda: all(len(isr) == 3 for _l, _r, isr in describe(b, "rolling").values()),
                what="full ISR after restart",
            )
    finally:
        producer.finish()
    assert not producer.failed, producer.failed[:5]
    check_nothing_acknowledged_was_lost(b, "rolling", producer.acked)
    for broker_id in cluster.broker_ports:
        log = cluster.log_path(broker_id).read_text()
        assert "controlled shutdown done" in log


def test_reassignment_under_load(cluster_factory, tmp_path) -> None:
    cluster = cluster_factory(brokers=3, overrides=FAST_FAILOVER)
    b = cluster.bootstrap_servers
    create_topic_with_assignment(b, "moving", [[1, 2]])
    producer = NumberedProducer(b, "moving", 1)
    producer.start()
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "moving", "partition": 0, "replicas": [2, 3]}]}))
    try:
        producer.wait_delivered(100)  # under load: records are being acknowledged
        out = kopfka("reassign", "--zookeeper", cluster.zookeeper_connect, "--execute", str(plan))
        assert "Successfully started" in out
        wait_for(
            lambda: (
                "is complete" in kopfka("reassign", "--zookeeper", cluster.zookeeper_connect, "--verify", str(plan))
            ),
            what="reassignment to finish",
        )
        producer.wait_delivered(50)  # and are still acknowledged after the move
    finally:
        producer.finish()
    # --verify reads ZooKeeper; each broker's metadata follows through its own watches
    leader, replicas, isr = wait_for_metadata_to_follow_zookeeper(cluster, b, "moving")[0]
    assert replicas == [2, 3] and sorted(isr) == [2, 3] and leader in (2, 3)
    assert not producer.failed
    check_nothing_acknowledged_was_lost(b, "moving", producer.acked)
    wait_for(
        lambda: not (cluster.data_dir / "broker-1" / "data" / "moving-0").exists(),
        what="broker 1 to drop its replica",
    )


def wait_out_fetches_in_flight(address: str, topic: str, partition: int, log_end: int, *, wait_ms: int) -> None:
    """Return once every Fetch the broker at `address` received before this call has been answered.

    A fetch at the end of the log waits for data up to its max wait; our own such fetch, sent now and
    waiting `wait_ms` (longer than any follower's `replica.fetch.wait.max.ms`), can only come back empty
    after the earlier fetches' shorter waits ran out and they were answered (empty) as well.
    """
    from tests.integration.wire import WireClient

    from kafka_broker.protocol import ApiKey

    client = WireClient.to(address)
    try:
        response = client.request(ApiKey.FETCH, 11, {
            "replica_id": -1, "max_wait_ms": wait_ms, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
            "topics": [{"topic": topic, "partitions": [{
                "partition": partition, "current_leader_epoch": -1, "fetch_offset": log_end, "last_fetched_epoch": -1,
                "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}],
        })
    finally:
        client.close()
    (answer,) = response["responses"][0]["partitions"]
    assert answer["error_code"] == 0 and not answer["records"], answer  # it waited: nothing was appended


def test_divergent_tail_is_truncated(cluster_factory) -> None:
    cluster = cluster_factory(brokers=3, overrides={**FAST_FAILOVER, "replica.lag.time.max.ms": "30000"})
    b = cluster.bootstrap_servers
    from confluent_kafka import Producer

    create_topic_with_assignment(b, "diverge", [[1, 2]])
    ConfluentClient().produce(b, "diverge", [Outgoing(0, b"k", f"committed-{i}".encode()) for i in range(10)], "none")
    wait_for(lambda: sorted(describe(b, "diverge")[0][2]) == [1, 2], what="ISR {1,2}")
    follower_pid = int((cluster.data_dir / "broker-2.pid").read_text())
    os.kill(follower_pid, signal.SIGSTOP)
    try:
        # any fetch the follower had in flight is answered (empty) within replica.fetch.wait.max.ms and
        # waits unread in its socket; once that has happened, nothing appended can reach it
        leader_address = f"127.0.0.1:{cluster.broker_ports[1]}"
        wait_out_fetches_in_flight(leader_address, "diverge", 0, 10, wait_ms=1000)
        leader_only = Producer({"bootstrap.servers": leader_address, "acks": "1"})
        for i in range(5):
            leader_only.produce("diverge", value=f"unreplicated-{i}".encode(), partition=0)
        assert leader_only.flush(60) == 0
        cluster.kill_broker(1, signal.SIGKILL)
    finally:
        os.kill(follower_pid, signal.SIGCONT)
    survivors = survivors_of(cluster, 1)
    wait_for(lambda: describe(survivors, "diverge")[0][0] == 2, what="broker 2 to lead")
    ConfluentClient().produce(
        survivors, "diverge", [Outgoing(0, b"k", f"new-leader-{i}".encode()) for i in range(3)], "none"
    )
    cluster.start_broker(1)
    wait_for(lambda: sorted(describe(b, "diverge")[0][2]) == [1, 2], what="broker 1 back in sync")
    values = [m.value.decode() for m in ConfluentClient().consume(b, "diverge", [0], 13)]
    assert values == [f"committed-{i}" for i in range(10)] + [f"new-leader-{i}" for i in range(3)]
    logs = [cluster.data_dir / f"broker-{i}" / "data" / "diverge-0" / "00000000000000000000.log" for i in (1, 2)]
    wait_for(lambda: logs[0].read_bytes() == logs[1].read_bytes(), what="identical logs")
    assert b"unreplicated" not in logs[0].read_bytes()


def test_quick_restart_retakes_leadership_at_a_new_epoch(cluster_factory) -> None:
    """A broker restarted before its old ZooKeeper session expired must not lead on the old epoch."""
    from tests.integration.wire import WireClient

    from kafka_broker.protocol import ApiKey

    cluster = cluster_factory(brokers=1, overrides=FAST_FAILOVER)
    b = cluster.bootstrap_servers
    create_topic(b, "bounce", partitions=1, replication_factor=1)
    ConfluentClient().produce(b, "bounce", [Outgoing(0, b"k", b"before")], "none")

    def leader_epoch() -> tuple[int, int]:
        client = WireClient.to(b)
        try:
            response = client.request(ApiKey.METADATA, 12, {"topics": [{"name": "bounce"}],
                                                            "allow_auto_topic_creation": False,
                                                            "include_topic_authorized_operations": False})
        finally:
            client.close()
        partition = response["topics"][0]["partitions"][0]
        return partition["leader_id"], partition["leader_epoch"]

    assert leader_epoch() == (1, 0)
    cluster.kill_broker(1, signal.SIGKILL)
    cluster.start_broker(1)  # waits until the new incarnation is registered
    assert wait_for(lambda: leader_epoch()[1] >= 1, what="a new leader epoch")
    assert leader_epoch()[0] == 1
    ConfluentClient().produce(b, "bounce", [Outgoing(0, b"k", b"after")], "none")
    assert [m.value for m in ConfluentClient().consume(b, "bounce", [0], 2)] == [b"before", b"after"]
    assert "re-took leadership of bounce-0 at epoch 1" in cluster.log_path(1).read_text()
