"""Brokers that lose their ZooKeeper session come back on their own.

A broker paused (SIGSTOP) for longer than ``zookeeper.session.timeout.ms`` finds, when it resumes, that
its session and its registration are gone and that the controller has moved its leaderships (or, if it
was the controller, the controllership) elsewhere. It must fence itself, register again with a new
session, reconcile its replicas (truncating a tail the new leader never had) and rejoin the ISR — while
an acks=all producer keeps writing, none of whose acknowledged records may be lost. A ZooKeeper outage
must end with every broker reconnected within seconds, not after kazoo's default backoff (which grows to
tens of seconds between attempts).

Each pause lasts until ZooKeeper has expired the paused broker's session and the cluster has moved on
(that is the scenario); every other wait is on a condition.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
from tests.brokers import BrokersAlive
from tests.hostile.strict_decoder import Batch, check_cluster, read_partition
from tests.hostile.witness import Witness
from tests.integration.admin import addresses, broker_view, create_topic_with_assignment, live_brokers
from tests.waiting import wait_for

from kafka_broker import metadata as md
from kafka_broker.local import LocalCluster, ZooKeeperProcess
from kafka_broker.local.zookeeper import ZOOKEEPER_JAR

pytestmark = pytest.mark.hostile

SESSION_TIMEOUT_MS = 6000
SHORT_SESSION = {
    "zookeeper.session.timeout.ms": str(SESSION_TIMEOUT_MS),
    # shorter than a pause: a resumed leader finds its followers lagging and tries to shrink its ISR at once
    "replica.lag.time.max.ms": "4000",
    "replica.fetch.wait.max.ms": "100",
    "kopfka.controlled.shutdown.timeout.ms": "15000",
    "auto.leader.rebalance.enable": "false",
}
TOPIC = "paused"
ROUNDS = ("leader", "controller", "leader", "controller")

OUTAGE_S = 20.0
"""How long ZooKeeper stays down: kazoo's default backoff is then ~13 s between attempts and growing."""
RECONNECT_BOUND_S = 4.0
"""Every broker must be back at work this soon after ZooKeeper answers again (measured: about 0.5 s; with
kazoo's default backoff, simulated, all three brokers make it in time about once in a hundred runs)."""


def open_client(connect: str) -> KazooClient:
    """The test's own ZooKeeper client, reconnecting at least every half second."""
    retry = KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5)
    client = KazooClient(hosts=connect, connection_retry=retry, command_retry=retry.copy())
    client.start(timeout=60)
    return client


@pytest.fixture
def zk_of() -> Iterator[Callable[[str], KazooClient]]:
    """``zk_of(connect)``: a started client, stopped after the test."""
    clients: list[KazooClient] = []

    def open_one(connect: str) -> KazooClient:
        clients.append(open_client(connect))
        return clients[-1]

    yield open_one
    for client in clients:
        client.stop()
        client.close()


def state_of(client: KazooClient, topic: str, partition: int = 0) -> md.PartitionState:
    return md.PartitionState.decode(client.get(md.partition_state_path(topic, partition))[0])


def registration_owner(client: KazooClient, broker_id: int) -> int | None:
    """The session that owns ``/brokers/ids/<id>``, or None while the broker is not registered."""
    stat = client.exists(md.broker_path(broker_id))
    return stat.ephemeralOwner if stat else None


def controller_of(client: KazooClient) -> int:
    try:
        return md.decode_controller(client.get(md.CONTROLLER_PATH)[0])
    except Exception:
        return md.NO_LEADER


def stored(cluster: LocalCluster, broker_id: int, topic: str, partition: int = 0) -> list[tuple[object, ...]]:
    """The partition's log as one broker stored it, decoded by the independent strict decoder: per batch its
    offsets, leader epoch, producer fields and records."""
    folder = cluster.broker_dir(broker_id) / "data" / f"{topic}-{partition}"
    return [_batch_fields(batch) for batch in read_partition(folder)]


def _batch_fields(batch: Batch) -> tuple[object, ...]:
    return (batch.base_offset, batch.last_offset, batch.partition_leader_epoch, batch.attributes,
            batch.producer_id, batch.producer_epoch, batch.base_sequence, batch.records)


def pause_past_the_session(cluster: LocalCluster, zk: KazooClient, victim: int, role: str) -> None:
    """SIGSTOP ``victim`` until ZooKeeper has expired its session and another broker took over its ``role``
    ("leader" of the topic's partition, or "controller")."""

    def moved_on() -> bool:
        holder = state_of(zk, TOPIC).leader if role == "leader" else controller_of(zk)
        return holder not in (victim, md.NO_LEADER)

    cluster.kill_broker(victim, signal.SIGSTOP)
    try:
        wait_for(lambda: registration_owner(zk, victim) is None, timeout=60,
                 what=f"ZooKeeper to expire paused broker {victim}'s session")
        wait_for(moved_on, timeout=60, what=f"a {role} other than paused broker {victim}")
    finally:
        cluster.kill_broker(victim, signal.SIGCONT)


def wait_rejoined(cluster: LocalCluster, zk: KazooClient, victim: int, old_session: int | None) -> None:
    """Until the resumed ``victim`` is registered with a new session, known alive to every broker and back in
    the ISR; every broker must stay up meanwhile."""
    alive = [BrokersAlive(cluster)]
    wait_for(lambda: registration_owner(zk, victim) not in (None, old_session), timeout=60, alive=alive,
             what=f"broker {victim} to register again")
    wait_for(lambda: all(live_brokers(a) == set(cluster.broker_ids) for a in addresses(cluster.bootstrap_servers)),
             timeout=60, alive=alive, what=f"every broker to know broker {victim} alive again")
    wait_for(lambda: victim in state_of(zk, TOPIC).isr, timeout=60, alive=alive,
             what=f"broker {victim} back in the ISR")


def test_brokers_paused_past_their_session_rejoin(cluster_factory, zk_of) -> None:
    """The leader, then the controller, paused past the session timeout, several rounds, under acks=all
    load: each resumed broker stays up, registers again, rejoins the ISR; nothing acknowledged is lost and
    the replicas' logs end up identical (the paused leader's unacknowledged tail is gone)."""
    cluster = cluster_factory(brokers=3, overrides=SHORT_SESSION)
    b = cluster.bootstrap_servers
    create_topic_with_assignment(b, TOPIC, [[1, 2, 3]])
    zk = zk_of(cluster.zookeeper_connect)
    zk.set(md.topic_config_path(TOPIC), md.encode_topic_config({"min.insync.replicas": "2"}))
    rejoined: list[tuple[str, int, float]] = []
    with Witness(b, TOPIC, partitions=[0]) as witness:
        for role in ROUNDS:
            witness.wait_acknowledged(100)
            wait_for(lambda: len(state_of(zk, TOPIC).isr) == 3, timeout=60, alive=[BrokersAlive(cluster)],
                     what="a full ISR before the pause")
            victim = state_of(zk, TOPIC).leader if role == "leader" else controller_of(zk)
            assert victim in cluster.broker_ids, f"no {role} to pause"
            old_session = registration_owner(zk, victim)
            pause_past_the_session(cluster, zk, victim, role)
            resumed = time.monotonic()
            wait_rejoined(cluster, zk, victim, old_session)
            rejoined.append((role, victim, round(time.monotonic() - resumed, 2)))
            witness.wait_acknowledged(100)  # and the stream still flows
    print(f"back in the ISR after resuming (role, broker, s): {rejoined}")
    report = witness.verify()  # no acknowledged record lost, moved or doubled
    print(f"witness: {report}")
    BrokersAlive(cluster).check_alive()
    # every replica ends up with the leader's log, batch for batch: no divergent tail survived anywhere
    wait_for(lambda: stored(cluster, 1, TOPIC) == stored(cluster, 2, TOPIC) == stored(cluster, 3, TOPIC),
             timeout=60, alive=[BrokersAlive(cluster)], what="the same log on every replica")
    check_cluster(cluster)  # and every stored batch of every partition decodes


def test_brokers_reconnect_promptly_after_a_zookeeper_outage(tmp_path: Path, require, zk_of) -> None:
    """ZooKeeper stopped for a while and started again (on its own data): every broker is back at work —
    it sees a topic created after the outage and the controller elects its leader — within seconds."""
    require("java", "a Java runtime is needed for ZooKeeper (apt-get install default-jre-headless)")
    require(ZOOKEEPER_JAR, "ZooKeeper is needed (apt-get install zookeeper)")
    zookeeper = ZooKeeperProcess(data_dir=tmp_path / "zookeeper", startup_timeout=180)
    zookeeper.start()
    cluster = LocalCluster(brokers=3, data_dir=tmp_path / "cluster", zookeeper_connect=f"{zookeeper.connect}/outage",
                           overrides=SHORT_SESSION, start_timeout=180, stop_timeout=120)
    try:
        cluster.start()
        b = cluster.bootstrap_servers
        alive = [BrokersAlive(cluster)]
        create_topic_with_assignment(b, "before", [[1, 2, 3]])
        zk = zk_of(cluster.zookeeper_connect)
        sessions = {i: registration_owner(zk, i) for i in cluster.broker_ids}
        zookeeper.stop()
        time.sleep(OUTAGE_S)  # the outage itself
        zookeeper.start()
        back = time.monotonic()
        zk.create(md.topic_path("after"), md.TopicAssignment({0: [1, 2, 3]}, topic_id=md.new_topic_id()).encode(),
                  makepath=True)
        delays: dict[str, float] = {}

        def every_broker_sees_it() -> bool:
            for address in addresses(b):
                seen = None if address in delays else broker_view(address, "after")
                if seen is not None and seen[0][0][0] in seen[1] and len(seen[1]) == 3:
                    delays[address] = round(time.monotonic() - back, 2)
            return len(delays) == len(cluster.broker_ids)

        wait_for(every_broker_sees_it, timeout=120, interval=0.05, alive=alive,
                 what="every broker to see topic 'after' led by a live broker")
        kept = {i: registration_owner(zk, i) == sessions[i] for i in cluster.broker_ids}
        print(f"back at work after ZooKeeper answered again (s): {delays}; sessions kept: {kept}")
        slowest = max(delays.values())
        assert slowest <= RECONNECT_BOUND_S, f"a broker took {slowest:.1f} s to come back: {delays}"
        BrokersAlive(cluster).check_alive()
    finally:
        cluster.stop()
        zookeeper.stop()
