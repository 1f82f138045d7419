"""Replication end to end, in process: brokers on one fake ZooKeeper, each with the real watcher,
replica manager, fetchers and controller; followers fetch through the leader's real handlers.
Time moves only when the test moves the clock."""

from __future__ import annotations

import asyncio

from kafka_broker.protocol.errors import ErrorCode

from .fakes import FakeCluster, append, log_bytes, state

LAG_MS = 10_000


async def test_a_new_topic_is_led_replicated_and_committed(cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2, 3]})
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(1, 0, [1, 2, 3], controller_epoch=1)
    leader = cluster.nodes[1].partition("t")
    assert leader.is_leader
    assert [cluster.nodes[b].partition("t").leader_id for b in (2, 3)] == [1, 1]

    end = append(leader.log, 4, epoch=0)
    leader.after_leader_append()
    acked = asyncio.create_task(leader.wait_until_replicated(end, timeout_s=5, min_insync=2))
    await cluster.fetch_round()  # followers get the records
    assert not acked.done()
    await cluster.fetch_round()  # ... and the leader learns they have them
    assert await acked == ErrorCode.NONE
    assert leader.high_watermark == 4
    await cluster.fetch_round()
    for broker_id in (2, 3):
        follower = cluster.nodes[broker_id].partition("t")
        assert follower.log.log_end_offset == 4 and follower.high_watermark == 4


async def test_a_stuck_follower_leaves_the_isr_and_comes_back(cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2, 3]})
    await cluster.controller_pass()
    leader = cluster.nodes[1].partition("t")
    append(leader.log, 2, epoch=0)
    leader.after_leader_append()
    await cluster.fetch_round(rounds=2)
    stuck = cluster.nodes[3].fetchers.fetchers[1]
    stuck.partitions.clear()  # broker 3 stops fetching (a long GC pause, a full disk ...)
    end = append(leader.log, 2, epoch=0)
    leader.after_leader_append()
    await cluster.fetch_round()
    acked = asyncio.create_task(leader.wait_until_replicated(end, timeout_s=5, min_insync=2))
    await asyncio.sleep(0)
    cluster.clock.advance(LAG_MS + 1)
    await cluster.fetch_round()  # broker 2 keeps fetching, so it stays caught up
    await cluster.nodes[1].replicas.shrink_isr_once()
    await cluster.sync()
    assert cluster.zk.state("t", 0) == state(1, 0, [1, 2], controller_epoch=1)
    assert await acked == ErrorCode.NONE  # the shrunk ISR [1, 2] has it and holds min.insync.replicas
    assert cluster.nodes[3].partition("t").isr == (1, 2)  # every broker's cache followed the znode

    cluster.nodes[3].fetchers.follow(cluster.nodes[3].partition("t"))  # broker 3 is back
    await cluster.fetch_round(rounds=2)
    assert cluster.zk.state("t", 0).isr == (1, 2, 3)
    assert leader.isr == (1, 2, 3)


async def test_a_broker_down_while_its_topic_was_deleted_and_created_again_takes_none_of_the_old_log(
    cluster: FakeCluster,
) -> None:
    """Broker 3 was down while topic t was deleted and created again, with the same replicas. Started again it
    finds its log of the old t on disk: it must start the new t empty. Before, it took the old log up as the
    new partition's (same name, same leader epoch 0), truncated it only to where the new leader's epoch 0
    ended and kept the old records before that point, among the new ones."""
    await cluster.create_topic("t", {0: [1, 2, 3]})
    await cluster.controller_pass()
    leader = cluster.nodes[1].partition("t")
    for _ in range(3):
        append(leader.log, 1, epoch=0, value=b"old")
    leader.after_leader_append()
    await cluster.fetch_round(rounds=2)
    assert cluster.nodes[3].partition("t").log.log_end_offset == 3
    down = await cluster.stop_broker(3)
    down.logs.close_all()
    await cluster.nodes[2].store.mark_topic_for_deletion("t")
    await cluster.sync()
    await cluster.controller_pass()
    assert cluster.zk.data("/brokers/topics/t") is None
    await cluster.create_topic("t", {0: [1, 2, 3]})
    await cluster.controller_pass()
    leader = cluster.nodes[1].partition("t")
    append(leader.log, 2, epoch=0, value=b"new")
    leader.after_leader_append()
    await cluster.add_broker(3)
    await cluster.fetch_round(rounds=3)
    for broker_id in (2, 3):
        follower = cluster.nodes[broker_id].partition("t")
        assert log_bytes(follower) == log_bytes(leader), f"broker {broker_id}"
    assert cluster.zk.state("t", 0).isr == (1, 2, 3)
