"""Reassignment, one controller pass at a time: start (adding/removing recorded), wait for the new
replicas to join the ISR, move leadership into the targets, finish (ISR and replicas = targets,
plan entry removed), with real replication between the steps."""

from __future__ import annotations

from cluster.fakes import FakeCluster, append, state

from kafka_broker import metadata as md

TOPIC = "/brokers/topics/t"


async def plan(cluster: FakeCluster, moves: dict[tuple[str, int], list[int]]) -> None:
    await cluster.nodes[1].store.write_data(md.REASSIGN_PARTITIONS_PATH, md.encode_reassignment(moves))
    await cluster.sync()


def assignment(cluster: FakeCluster) -> md.TopicAssignment:
    return md.TopicAssignment.decode(cluster.zk.data(TOPIC) or b"")


async def test_moving_a_partition_off_its_leader(cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2]})
    await cluster.controller_pass()
    leader = cluster.nodes[1].partition("t")
    append(leader.log, 5, epoch=0)
    leader.after_leader_append()
    await cluster.fetch_round(rounds=2)

    await plan(cluster, {("t", 0): [2, 3]})
    await cluster.controller_pass()  # start
    moving = assignment(cluster)
    assert (moving.partitions, moving.adding_replicas, moving.removing_replicas) == ({0: [2, 3, 1]}, {0: [3]}, {0: [1]})
    assert cluster.nodes[3].partition("t").leader_id == 1  # the new replica follows

    state_writes = len(cluster.zk.written("set", "/brokers/topics/t/partitions/0/state"))
    await cluster.controller_pass()  # wait: 3 is not in the ISR yet
    assert len(cluster.zk.written("set", "/brokers/topics/t/partitions/0/state")) == state_writes

    await cluster.fetch_round(rounds=2)  # 3 catches up and the leader adds it to the ISR
    assert cluster.zk.state("t", 0).isr == (1, 2, 3)
    await cluster.controller_pass()  # lead: 1 is leaving, so 2 leads
    assert cluster.zk.state("t", 0) == state(2, 1, [1, 2, 3], controller_epoch=1)

    await cluster.controller_pass()  # finish
    assert cluster.zk.state("t", 0) == state(2, 2, [2, 3], controller_epoch=1)
    done = assignment(cluster)
    assert (done.partitions, done.adding_replicas, done.removing_replicas) == ({0: [2, 3]}, {}, {})
    assert cluster.zk.data(md.REASSIGN_PARTITIONS_PATH) is None
    assert cluster.nodes[1].logs.get("t", 0) is None  # broker 1 dropped its replica
    await cluster.fetch_round()
    for broker_id in (2, 3):
        part = cluster.nodes[broker_id].partition("t")
        assert part.log.log_end_offset == 5 and part.high_watermark == 5


async def test_a_leader_that_stays_keeps_leading(cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2]})
    await cluster.controller_pass()
    await plan(cluster, {("t", 0): [1, 3]})
    await cluster.controller_pass()
    await cluster.fetch_round(rounds=2)
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(1, 1, [1, 3], controller_epoch=1)  # only the ISR shrank
    assert assignment(cluster).partitions == {0: [1, 3]}


async def test_finished_missing_or_empty_entries_leave_the_plan(cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2], 1: [2, 3]})
    await cluster.controller_pass()
    await plan(cluster, {("t", 0): [1, 2], ("gone", 0): [1], ("t", 1): [3, 1]})
    await cluster.controller_pass()
    assert md.decode_reassignment(cluster.zk.data(md.REASSIGN_PARTITIONS_PATH)) == {("t", 1): [3, 1]}
    assert assignment(cluster).partitions == {0: [1, 2], 1: [3, 1, 2]}
