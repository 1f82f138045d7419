"""kafka-reassign-partitions.sh (--generate, --execute, --verify, --cancel) and kafka-leader-election.sh
(preferred and unclean) against three kopfka brokers: the tools' outputs, and the cluster afterwards —
replicas, leaders and ISR in ZooKeeper and in every broker's Metadata, and the moved replicas' log
directories (only on the new brokers, holding the leader's bytes).

--execute runs without --throttle (the tool then sends no config change); --verify and --cancel clear
the reassignment throttles when done, as Kafka's tool does unless told --preserve-throttles:
IncrementalAlterConfigs DELETE of
`leader.replication.throttled.rate`, `follower.replication.throttled.rate` and
`replica.alter.log.dirs.io.max.bytes.per.second` on every broker, and of
`leader.replication.throttled.replicas` / `follower.replication.throttled.replicas` on the plan's topics.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from kazoo.client import KazooClient
from tests.integration.admin import addresses, broker_view, create_topic_with_assignment
from tests.waiting import wait_for

from kafka_broker import metadata as md
from kafka_broker.local import LocalCluster

RECORDS = 200


@pytest.fixture(scope="module")
def zk(cluster: LocalCluster) -> Iterator[KazooClient]:
    client = KazooClient(hosts=cluster.zookeeper_connect)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


def zk_replicas(zk: KazooClient, topic: str) -> md.TopicAssignment:
    return md.TopicAssignment.decode(zk.get(md.topic_path(topic))[0])


def zk_state(zk: KazooClient, topic: str, partition: int) -> md.PartitionState:
    return md.PartitionState.decode(zk.get(md.partition_state_path(topic, partition))[0])


def controller(zk: KazooClient) -> int:
    return md.decode_controller(zk.get(md.CONTROLLER_PATH)[0])


def produce(bootstrap: str, topic: str, partitions: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for partition in range(partitions):
        for i in range(RECORDS):
            producer.produce(topic, value=b"record-%d-%d" % (partition, i), partition=partition)
    assert producer.flush(60) == 0


def log_dir(cluster: LocalCluster, broker_id: int, topic: str, partition: int) -> Path:
    return Path(cluster.broker_properties(broker_id)["log.dirs"]) / f"{topic}-{partition}"


def segment_bytes(cluster: LocalCluster, broker_id: int, topic: str, partition: int) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(log_dir(cluster, broker_id, topic, partition).glob("*.log")))


def plan_json(path: Path, moves: dict[tuple[str, int], list[int]]) -> str:
    path.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r} for (t, p), r in moves.items()]}))
    return str(path)


def printed_plan(out: str, heading: str) -> dict[tuple[str, int], list[int]]:
    """The JSON plan printed on the line after ``heading``."""
    lines = out.splitlines()
    start = lines.index(heading) + 1
    text = next(line for line in lines[start:] if line.strip())
    return {(e["topic"], e["partition"]): e["replicas"] for e in json.loads(text)["partitions"]}


def every_broker_sees(cluster: LocalCluster, topic: str, expected: dict[int, tuple[int, list[int], set[int]]],
                      brokers: list[str] | None = None) -> bool:
    for address in brokers or addresses(cluster.bootstrap_servers):
        seen = broker_view(address, topic)
        if seen is None:
            return False
        view = {p: (leader, replicas, set(isr)) for p, (leader, replicas, isr) in seen[0].items()}
        if view != expected:
            return False
    return True


def test_generate_proposes_only_the_given_live_brokers(cluster, bootstrap, kafka_tool, zk, tmp_path):
    create_topic_with_assignment(bootstrap, "gen", [[1, 2], [2, 3], [3, 1]])
    topics = tmp_path / "topics.json"
    topics.write_text(json.dumps({"version": 1, "topics": [{"topic": "gen"}]}))
    out = kafka_tool("kafka-reassign-partitions", "--bootstrap-server", bootstrap, "--topics-to-move-json-file",
                     str(topics), "--broker-list", "2,3", "--generate").stdout
    current = printed_plan(out, "Current partition replica assignment")
    assert current == {("gen", p): r for p, r in zk_replicas(zk, "gen").partitions.items()}
    proposed = printed_plan(out, "Proposed partition reassignment configuration")
    assert sorted(proposed) == [("gen", 0), ("gen", 1), ("gen", 2)]
    for replicas in proposed.values():
        assert sorted(replicas) == [2, 3]


def test_execute_and_verify_move_replicas_and_their_data(cluster, bootstrap, kafka_tool, zk, tmp_path):
    create_topic_with_assignment(bootstrap, "moves", [[1, 2], [2, 3]])
    produce(bootstrap, "moves", 2)
    plan = plan_json(tmp_path / "plan.json", {("moves", 0): [2, 3], ("moves", 1): [3, 1]})
    out = kafka_tool("kafka-reassign-partitions", "--bootstrap-server", bootstrap, "--reassignment-json-file", plan,
                     "--execute").stdout
    assert printed_plan(out, "Current partition replica assignment") == {("moves", 0): [1, 2], ("moves", 1): [2, 3]}
    assert "Successfully started partition reassignments for moves-0,moves-1" in out

    def verified() -> str | None:
        result = kafka_tool("kafka-reassign-partitions", "--bootstrap-server", bootstrap,
                            "--reassignment-json-file", plan, "--verify")
        return result.stdout if "still in progress" not in result.stdout else None

    out = wait_for(verified, timeout=120, what="the reassignment to complete")
    assert "Reassignment of partition moves-0 is completed." in out
    assert "Reassignment of partition moves-1 is completed." in out

    topic = zk_replicas(zk, "moves")
    assert (topic.partitions, topic.adding_replicas, topic.removing_replicas) == ({0: [2, 3], 1: [3, 1]}, {}, {})
    assert not zk.exists(md.REASSIGN_PARTITIONS_PATH)
    for partition, replicas in topic.partitions.items():
        state = zk_state(zk, "moves", partition)
        assert state.leader in replicas and set(state.isr) == set(replicas)
    wait_for(lambda: every_broker_sees(cluster, "moves", {
        p: (zk_state(zk, "moves", p).leader, r, set(r)) for p, r in topic.partitions.items()}),
        timeout=60, what="every broker's Metadata to show the new replicas")

    def moved_off() -> bool:
        return not log_dir(cluster, 1, "moves", 0).exists() and not log_dir(cluster, 2, "moves", 1).exists()

    wait_for(moved_off, timeout=60, what="the old replicas' logs to be deleted")
    for partition, replicas in topic.partitions.items():
        copies = [segment_bytes(cluster, b, "moves", partition) for b in replicas]
        assert copies[0] and all(c == copies[0] for c in copies)  # the leader's batches, byte for byte
        assert b"record-%d-%d" % (partition, RECORDS - 1) in copies[0]


def test_cancel_reverts_a_reassignment_held_in_progress(cluster, bootstrap, kafka_tool, zk, tmp_path):
    boss = controller(zk)
    stuck = next(b for b in (1, 2, 3) if b != boss)  # not the controller, which must keep working
    keep = [b for b in (1, 2, 3) if b != stuck]
    create_topic_with_assignment(bootstrap, "held", [keep])
    produce(bootstrap, "held", 1)
    plan = plan_json(tmp_path / "plan.json", {("held", 0): [keep[0], stuck]})
    live = [f"{cluster.host}:{cluster.broker_ports[b]}" for b in keep]
    command_config = tmp_path / "admin.properties"
    command_config.write_text("request.timeout.ms=5000\n")
    tool = ("kafka-reassign-partitions", "--bootstrap-server", ",".join(live), "--command-config",
            str(command_config), "--reassignment-json-file", plan)

    cluster.kill_broker(stuck, signal.SIGSTOP)  # still registered, but it cannot catch up
    try:
        out = kafka_tool(*tool, "--execute").stdout
        assert "Successfully started partition reassignment for held-0" in out
        assert "Reassignment of partition held-0 is still in progress." in kafka_tool(*tool, "--verify").stdout
        moving = zk_replicas(zk, "held")
        assert moving.adding_replicas == {0: [stuck]} and moving.removing_replicas == {0: [keep[1]]}

        # Clearing throttles sends each broker its own config change: the paused one would never answer.
        out = kafka_tool(*tool, "--cancel", "--preserve-throttles").stdout
        assert "Successfully cancelled partition reassignment for: held-0" in out
        reverted = zk_replicas(zk, "held")
        assert (reverted.partitions, reverted.adding_replicas, reverted.removing_replicas) == ({0: keep}, {}, {})
        assert stuck not in zk_state(zk, "held", 0).isr
        verify = kafka_tool(*tool, "--verify", "--preserve-throttles", check=False).stdout
        assert (f"There is no active reassignment of partition held-0, but replica set is {keep[0]},{keep[1]} "
                f"rather than {keep[0]},{stuck}.") in verify
    finally:
        cluster.kill_broker(stuck, signal.SIGCONT)
    wait_for(lambda: every_broker_sees(cluster, "held", {0: (zk_state(zk, "held", 0).leader, keep, set(keep))}),
             timeout=120, what="every broker to show the original replicas")
    assert not log_dir(cluster, stuck, "held", 0).exists()
    assert segment_bytes(cluster, keep[0], "held", 0) == segment_bytes(cluster, keep[1], "held", 0)


def leaders(zk: KazooClient, topic: str) -> dict[int, int]:
    return {p: zk_state(zk, topic, p).leader for p in zk_replicas(zk, topic).partitions}


def test_preferred_election_moves_leaders_home(cluster, bootstrap, kafka_tool, zk):
    assignment = [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
    create_topic_with_assignment(bootstrap, "elect", assignment)
    cluster.stop_broker(1)
    wait_for(lambda: leaders(zk, "elect")[0] != 1, timeout=60, what="partition 0 to lose its leader 1")
    cluster.start_broker(1)
    wait_for(lambda: all(1 in zk_state(zk, "elect", p).isr for p in range(3)), timeout=120,
             what="broker 1 back in every ISR")
    assert leaders(zk, "elect")[0] != 1

    out = kafka_tool("kafka-leader-election", "--bootstrap-server", bootstrap, "--election-type", "preferred",
                     "--all-topic-partitions").stdout
    assert re.search(r"Successfully completed leader election \(PREFERRED\) for partitions .*\belect-0\b", out), out
    assert leaders(zk, "elect") == {p: r[0] for p, r in enumerate(assignment)}
    wait_for(lambda: every_broker_sees(cluster, "elect", {p: (r[0], r, set(r)) for p, r in enumerate(assignment)}),
             timeout=60, what="every broker's Metadata to show the preferred leaders")

    out = kafka_tool("kafka-leader-election", "--bootstrap-server", bootstrap, "--election-type", "preferred",
                     "--topic", "elect", "--partition", "0").stdout
    assert "Valid replica already elected for partitions elect-0" in out


def test_unclean_election_brings_back_a_partition_with_no_in_sync_leader(cluster, bootstrap, kafka_tool, zk):
    create_topic_with_assignment(bootstrap, "unclean", [[2, 3]])
    produce(bootstrap, "unclean", 1)
    cluster.stop_broker(3)  # 3 leaves the ISR
    wait_for(lambda: zk_state(zk, "unclean", 0).isr == (2,), timeout=60, what="the ISR to shrink to 2")
    cluster.stop_broker(2)  # the last in-sync replica goes: offline
    wait_for(lambda: zk_state(zk, "unclean", 0).leader == -1, timeout=60, what="the partition to go offline")
    cluster.start_broker(3)  # alive, but not in sync: without unclean election it stays offline
    live = f"{cluster.host}:{cluster.broker_ports[1]}"
    try:
        out = kafka_tool("kafka-leader-election", "--bootstrap-server", live, "--election-type", "unclean",
                         "--topic", "unclean", "--partition", "0").stdout
        assert "Successfully completed leader election (UNCLEAN) for partitions unclean-0" in out
        state = zk_state(zk, "unclean", 0)
        assert (state.leader, state.isr) == (3, (3,))
        out = kafka_tool("kafka-leader-election", "--bootstrap-server", live, "--election-type", "unclean",
                         "--topic", "unclean", "--partition", "0").stdout
        assert "Valid replica already elected for partitions unclean-0" in out
    finally:
        cluster.start_broker(2)
    wait_for(lambda: set(zk_state(zk, "unclean", 0).isr) == {2, 3}, timeout=120, what="broker 2 back in sync")
