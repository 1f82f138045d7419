"""A broker whose ZooKeeper session expires (paused past the session timeout, cut off) fences itself at once
— its partitions stop leading, its acks=all waiters fail, no ISR change is written — and, once kazoo has a
new session, registers again, reads its partitions' states and takes up its roles: following the leader
elected meanwhile (truncating the tail it wrote alone) or retaking, at a new epoch, what it still leads."""

from __future__ import annotations

import asyncio

import pytest
from kazoo.exceptions import ConnectionLoss, SessionExpiredError

from kafka_broker import metadata as md
from kafka_broker.cluster.partition import Partition
from kafka_broker.cluster.zk_store import BrokerIdTakenError
from kafka_broker.protocol.errors import ErrorCode, KafkaError

from .fakes import FakeCluster, append, settle, state

LAG_MS = 10_000  # replica.lag.time.max.ms in broker_config
STATE = md.partition_state_path("t", 0)


@pytest.fixture
async def cluster(cluster: FakeCluster) -> FakeCluster:
    """Broker 3 is the controller; topic t's one partition is led by broker 1, with 4 committed records."""
    await cluster.nodes[3].controller.run_pass()
    await cluster.create_topic("t", {0: [1, 2, 3]})
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(1, 0, [1, 2, 3])
    leader = cluster.nodes[1].partition("t")
    append(leader.log, 4, epoch=0)
    leader.after_leader_append()
    await cluster.fetch_round(rounds=2)
    assert leader.high_watermark == 4
    return cluster


def refuses_produce(part: Partition, broker: int, cluster: FakeCluster) -> bool:
    with pytest.raises(KafkaError) as error:
        cluster.nodes[broker].replicas.leader_partition(part.topic, part.index)
    return error.value.code == ErrorCode.NOT_LEADER_OR_FOLLOWER and not part.is_leader


async def test_a_leader_whose_session_expired_during_an_isr_write_steps_down_and_rejoins_as_a_follower(
        cluster: FakeCluster) -> None:
    leader = cluster.nodes[1].partition("t")
    end = append(leader.log, 3, epoch=0, value=b"unacknowledged")  # taken in just before the pause
    leader.after_leader_append()
    acked = asyncio.create_task(leader.wait_until_replicated(end, timeout_s=5, min_insync=2))
    await asyncio.sleep(0)
    cluster.clock.advance(LAG_MS + 1)  # it resumes: its followers seem to have lagged for the whole pause

    def session_expired() -> None:  # ZooKeeper expired the session during the pause; the ISR write finds out
        cluster.zk.expire(cluster.nodes[1].zk)
        raise SessionExpiredError()

    cluster.zk.before_next("set", session_expired, path=STATE)
    await cluster.nodes[1].replicas.shrink_isr_once()  # does not raise
    await cluster.sync()
    assert await acked == ErrorCode.NOT_LEADER_OR_FOLLOWER  # never acknowledged without the ISR
    assert refuses_produce(leader, 1, cluster)
    assert cluster.zk.state("t", 0) == state(1, 0, [1, 2, 3])  # the shrink to [1] never happened
    assert cluster.nodes[1].registration_owner is None

    await cluster.controller_pass()  # the controller saw broker 1 go and elected broker 2
    assert cluster.zk.state("t", 0) == state(2, 1, [2, 3])
    cluster.zk.forget_writes()
    await cluster.nodes[1].replicas.shrink_isr_once()  # still fenced: writes nothing
    assert cluster.zk.written("set") == []

    node = await cluster.resume(1)
    assert node.registration_owner == node.zk.session_id
    assert (leader.leader_id, leader.leader_epoch) == (2, 1)
    await cluster.fetch_round(rounds=3)  # truncate the tail broker 2 never had, catch up, rejoin the ISR
    assert leader.log.log_end_offset == cluster.nodes[2].partition("t").log.log_end_offset == 4
    assert cluster.zk.state("t", 0) == state(2, 1, [1, 2, 3])


async def test_a_leader_back_before_the_controller_noticed_retakes_leadership_at_a_new_epoch(
        cluster: FakeCluster) -> None:
    leader = cluster.nodes[1].partition("t")
    await cluster.expire(1)
    assert refuses_produce(leader, 1, cluster)
    node = await cluster.resume(1)  # the controller has not made a pass meanwhile
    assert cluster.zk.state("t", 0) == state(1, 1, [1, 2, 3])  # same ISR, epoch + 1
    assert leader.is_leader and leader.leader_epoch == 1
    assert node.replicas.leader_partition("t", 0, 1) is leader
    await cluster.controller_pass()  # broker 1 is registered again: nothing to change
    assert cluster.zk.state("t", 0) == state(1, 1, [1, 2, 3])
    end = append(leader.log, 2, epoch=1)
    leader.after_leader_append()
    await cluster.fetch_round(rounds=2)
    assert leader.high_watermark == end


async def test_a_rejoin_that_fails_is_retried(cluster: FakeCluster) -> None:
    """The old re-registration ran once, as a task nobody watched: a ZooKeeper error left the broker
    unregistered for good."""
    await cluster.expire(1)
    cluster.zk.fail_next("create", ConnectionLoss(), path=md.broker_path(1))
    cluster.zk.fail_next("set", ConnectionLoss(), path=STATE)  # and then retaking t-0
    node = await cluster.resume(1)
    assert node.registration_owner == node.zk.session_id
    assert node.partition("t").is_leader


async def test_a_session_lost_again_while_rejoining_starts_over(cluster: FakeCluster) -> None:
    node = cluster.nodes[1]
    await cluster.expire(1)

    def lost_again() -> None:  # registered with the new session, which expires too before t-0 is retaken
        cluster.zk.expire(node.zk)
        raise SessionExpiredError()

    cluster.zk.before_next("set", lost_again, path=STATE)
    cluster.zk.new_session(node.zk)
    for _ in range(1000):
        await asyncio.sleep(0.001)
        if node.zk.closed and node.session.lost and node.session._rejoining is None:
            break
    assert node.registration_owner is None and not node.session.registered
    assert not node.partition("t").is_leader
    await cluster.resume(1)
    assert node.registration_owner == node.zk.session_id
    assert node.partition("t").is_leader and cluster.zk.state("t", 0) == state(1, 1, [1, 2, 3])


async def test_another_live_process_with_the_broker_id_stops_the_broker(cluster: FakeCluster) -> None:
    node = cluster.nodes[1]
    await cluster.expire(1)
    cluster.zk.client().create(md.broker_path(1), b"{}", ephemeral=True)  # a second broker 1 started meanwhile
    cluster.zk.new_session(node.zk)
    for _ in range(1000):
        await asyncio.sleep(0.001)
        if node.fatal:
            break
    assert [type(e) for e in node.fatal] == [BrokerIdTakenError]
    assert node.session.lost and not node.partition("t").is_leader


async def test_a_short_disconnection_changes_nothing(cluster: FakeCluster) -> None:
    """SUSPENDED then CONNECTED with the same session: Kafka's brokers, too, work on through it."""
    node = cluster.nodes[1]
    node.session.on_state("SUSPENDED")
    node.session.on_state("CONNECTED")
    await settle()
    assert node.partition("t").is_leader and not node.session.lost and node.session.registered
