"""Controlled shutdown: a leaving broker hands leadership to the next live in-sync replica (epoch + 1)
and leaves every ISR it is in, with conditional writes retried after a lost race."""

from __future__ import annotations

import asyncio

import pytest

from kafka_broker.cluster.controlled_shutdown import hand_over_partitions

from .fakes import FakeCluster, state


@pytest.fixture
async def cluster(cluster: FakeCluster) -> FakeCluster:
    """Three brokers with topic t's partitions led by 1, 2, 1 and 3."""
    await cluster.create_topic("t", {0: [1, 2, 3], 1: [2, 1, 3], 2: [1], 3: [3, 2]})
    await cluster.controller_pass()
    return cluster


async def test_leadership_and_isr_membership_move_away(cluster: FakeCluster) -> None:
    node = cluster.nodes[1]
    still_led = await hand_over_partitions(1, node.cache, node.store, timeout_s=0)
    assert still_led == 1  # t-2 has no other replica
    assert cluster.zk.state("t", 0) == state(2, 1, [2, 3])  # next live ISR member, epoch + 1
    assert cluster.zk.state("t", 1) == state(2, 0, [2, 3])  # followed: just leaves the ISR
    assert cluster.zk.state("t", 2) == state(1, 0, [1])  # nobody to hand over to
    assert cluster.zk.state("t", 3) == state(3, 0, [3, 2])  # not a replica: untouched
    await cluster.sync()
    assert cluster.nodes[2].partition("t", 0).is_leader


async def test_only_live_in_sync_replicas_take_over(cluster: FakeCluster) -> None:
    await cluster.stop_broker(2)
    node = cluster.nodes[1]
    await hand_over_partitions(1, node.cache, node.store, timeout_s=0)
    assert cluster.zk.state("t", 0).leader == 3


async def test_a_lost_race_is_retried_on_the_newer_state(cluster: FakeCluster) -> None:
    node = cluster.nodes[1]
    version = cluster.zk.version("/brokers/topics/t/partitions/0/state")
    with cluster.zk.watches_held():
        # the controller removed broker 3 from the ISR a moment ago; broker 1 has not heard yet
        await cluster.nodes[2].store.write_partition_state("t", 0, state(1, 1, [1, 2]), version)
        handing_over = asyncio.create_task(hand_over_partitions(1, node.cache, node.store, timeout_s=5))
        while not cluster.zk.written("set", "/brokers/topics/t/partitions/1/state"):
            await asyncio.sleep(0.001)  # the first pass went through every partition (t-0's write lost)
        assert cluster.zk.state("t", 0) == state(1, 1, [1, 2])
    assert await handing_over == 1
    assert cluster.zk.state("t", 0) == state(2, 2, [2])


async def test_a_lost_race_is_read_back_without_waiting_for_the_watch(cluster: FakeCluster) -> None:
    """The hand-over used to retry with the version it had until its watch delivered the newer state: with the
    watch late (a busy event thread, a disconnection) it spun until its timeout and handed nothing over."""
    node = cluster.nodes[1]
    version = cluster.zk.version("/brokers/topics/t/partitions/0/state")
    with cluster.zk.watches_held():  # no notification arrives during the whole hand-over
        await cluster.nodes[2].store.write_partition_state("t", 0, state(1, 1, [1, 2]), version)
        still_led = await asyncio.wait_for(hand_over_partitions(1, node.cache, node.store, timeout_s=3), 10)
        assert cluster.zk.state("t", 0) == state(2, 2, [2])
        assert still_led == 1
