"""The controller on in-process brokers and a fake ZooKeeper: who controls, first leaders, leader
election from the ISR when brokers go (clean and unclean), epoch bumps, lost races, topic deletion,
preferred-leader elections, and a controller that lost its session (fenced by the controller epoch) —
each checked in the znodes it writes."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from cluster.fakes import FakeCluster, Node, append, log_bytes, state

from kafka_broker import metadata as md
from kafka_broker.cluster.topic_admin import TopicAdmin
from kafka_broker.protocol.errors import ErrorCode, KafkaError

STATE = "/brokers/topics/t/partitions/0/state"


async def test_one_broker_takes_control_and_bumps_the_controller_epoch(cluster: FakeCluster) -> None:
    await cluster.controller_pass()
    assert md.decode_controller(cluster.zk.data(md.CONTROLLER_PATH)) == 1
    assert cluster.zk.data(md.CONTROLLER_EPOCH_PATH) == b"1"
    assert cluster.controller.broker_id == 1 and cluster.controller.controller.epoch == 1
    for node in cluster.nodes.values():
        assert node.cache.controller_id == 1
    await cluster.nodes[2].controller.run_pass()  # someone holds it: broker 2 stays out
    assert not cluster.nodes[2].controller.active

    await cluster.stop_broker(1)
    await cluster.controller_pass()
    assert md.decode_controller(cluster.zk.data(md.CONTROLLER_PATH)) == 2
    assert cluster.zk.data(md.CONTROLLER_EPOCH_PATH) == b"2"  # its states will carry epoch 2


async def test_a_controller_that_lost_its_znode_steps_down(cluster: FakeCluster) -> None:
    await cluster.controller_pass()
    node = cluster.nodes[1]
    await cluster.nodes[3].store.delete_path(md.CONTROLLER_PATH)  # session trouble: the znode went ...
    await cluster.nodes[3].store.try_become_controller(3)  # ... and broker 3 won the new election
    await cluster.sync()
    await node.controller.run_pass()
    assert not node.controller.active


async def test_new_partitions_get_their_first_leader_and_isr(cluster: FakeCluster) -> None:
    await cluster.stop_broker(3)
    await cluster.create_topic("t", {0: [3, 2, 1], 1: [3]})
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(2, 0, [2, 1], controller_epoch=1)  # first *live* replica
    assert cluster.zk.data("/brokers/topics/t/partitions/1/state") is None  # no live replica: waits
    assert cluster.nodes[2].partition("t", 0).is_leader


async def led_by_1(cluster: FakeCluster, replicas: list[int], isr: list[int], config: dict[str, str] | None = None,
                   ) -> int:
    """Topic t, one partition with ``replicas``, led by broker 1 at epoch 0 with ``isr``; returns the
    state znode's version."""
    await cluster.create_topic("t", {0: replicas}, config)
    await cluster.controller_pass()
    if tuple(isr) != cluster.zk.state("t", 0).isr:
        await cluster.nodes[1].store.write_partition_state("t", 0, state(1, 0, isr), cluster.zk.version(STATE))
        await cluster.sync()
    return cluster.zk.version(STATE)


async def test_a_lost_leader_is_replaced_by_the_next_in_sync_replica(cluster: FakeCluster) -> None:
    version = await led_by_1(cluster, [1, 2, 3], [1, 2, 3])
    await cluster.stop_broker(1)
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(2, 1, [2, 3], controller_epoch=2)
    assert cluster.zk.version(STATE) == version + 1
    assert cluster.nodes[2].partition("t").is_leader
    assert cluster.nodes[3].partition("t").leader_id == 2


async def test_a_replica_out_of_sync_does_not_lead_without_unclean_election(cluster: FakeCluster) -> None:
    await led_by_1(cluster, [1, 2], [1])
    await cluster.stop_broker(1)
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(-1, 1, [1], controller_epoch=2)  # offline, ISR kept
    assert cluster.nodes[2].partition("t").leader_id == -1
    written = len(cluster.zk.written("set", STATE))
    await cluster.controller_pass()
    assert len(cluster.zk.written("set", STATE)) == written  # already offline: nothing more to write
    await cluster.add_broker(1)  # the last in-sync replica returns and takes over
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(1, 2, [1], controller_epoch=2)


async def test_unclean_election_lets_an_out_of_sync_replica_lead(cluster: FakeCluster) -> None:
    await led_by_1(cluster, [1, 2], [1], {"unclean.leader.election.enable": "true"})
    await cluster.stop_broker(1)
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(2, 1, [2], controller_epoch=2)


async def test_a_lost_follower_leaves_the_isr_with_an_epoch_bump(cluster: FakeCluster) -> None:
    await led_by_1(cluster, [1, 2, 3], [1, 2, 3])
    await cluster.stop_broker(3)
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(1, 1, [1, 2], controller_epoch=1)
    assert cluster.nodes[1].partition("t").leader_epoch == 1


async def test_a_write_that_loses_a_race_changes_nothing_and_is_redone_on_the_newer_state(
        cluster: FakeCluster) -> None:
    version = await led_by_1(cluster, [1, 2, 3], [1, 2, 3])
    await cluster.stop_broker(3)  # the controller's cache knows; it has not made its pass yet
    with cluster.zk.watches_held():
        # meanwhile the leader dropped broker 2 from the ISR; the controller has not heard of it
        await cluster.nodes[1].store.write_partition_state("t", 0, state(1, 0, [1, 3]), version)
        await cluster.nodes[1].controller.run_pass()  # writes ISR [1, 2] at the old version: loses
        assert cluster.zk.state("t", 0) == state(1, 0, [1, 3])
        assert cluster.zk.version(STATE) == version + 1
    await cluster.sync()
    await cluster.controller_pass()  # on the newer state: 3 is dead, so [1]
    assert cluster.zk.state("t", 0) == state(1, 1, [1], controller_epoch=1)


async def test_topic_deletion_removes_znodes_and_logs(cluster: FakeCluster) -> None:
    await led_by_1(cluster, [1, 2], [1, 2])
    assert cluster.nodes[2].logs.get("t", 0) is not None
    await cluster.nodes[3].store.mark_topic_for_deletion("t")
    await cluster.sync()
    await cluster.controller_pass()
    for path in ("/brokers/topics/t", STATE, "/config/topics/t", "/admin/delete_topics/t"):
        assert cluster.zk.data(path) is None, path
    for node in cluster.nodes.values():
        assert "t" not in node.cache.topics
        assert node.logs.get("t", 0) is None and node.replicas.get("t", 0) is None


def admin_of(node: Node) -> TopicAdmin:
    return TopicAdmin(node.store, node.cache, default_partitions=1, default_replication_factor=3)


async def test_a_deleted_topic_lives_again_only_once_every_live_replica_dropped_it(cluster: FakeCluster) -> None:
    """Issue 13 item 7: broker 3's watches lag, so it has not heard that t is being deleted and still holds
    (and fetches for) its replica. The topic must not be deleted, nor created again, until broker 3 dropped
    it — Kafka's controller deletes a topic's znodes only once every replica confirmed its StopReplica.
    Before, the controller deleted it at once and a new t was created while broker 3 still followed the old."""
    await led_by_1(cluster, [1, 2, 3], [1, 2, 3])
    leader = cluster.nodes[1].partition("t")
    append(leader.log, 3, epoch=0, value=b"old")
    leader.after_leader_append()
    await cluster.fetch_round(rounds=2)
    slow = cluster.nodes[3]
    with cluster.zk.watches_held(slow.zk):
        await cluster.nodes[2].store.mark_topic_for_deletion("t")
        await cluster.sync()
        await cluster.controller_pass()
        assert slow.replicas.get("t", 0) is not None  # it has not heard yet
        assert cluster.zk.data("/brokers/topics/t") is not None, "deleted while broker 3 still holds it"
        with pytest.raises(KafkaError) as refused:
            await admin_of(cluster.nodes[2]).create_topic("t", {0: [1, 2, 3]})
        assert refused.value.code == ErrorCode.TOPIC_ALREADY_EXISTS
        assert refused.value.message == "Topic 't' is marked for deletion."
    await cluster.sync()  # broker 3 hears of it, drops its replica and says so
    assert slow.replicas.get("t", 0) is None and slow.logs.get("t", 0) is None
    await cluster.controller_pass()
    for path in ("/brokers/topics/t", STATE, "/config/topics/t", "/admin/delete_topics/t"):
        assert cluster.zk.data(path) is None, path
    await admin_of(cluster.nodes[2]).create_topic("t", {0: [1, 2, 3]})
    await cluster.sync()
    await cluster.controller_pass()
    leader = cluster.nodes[1].partition("t")
    append(leader.log, 2, epoch=0, value=b"new")
    leader.after_leader_append()
    await cluster.fetch_round(rounds=3)
    for broker_id in (2, 3):
        follower = cluster.nodes[broker_id].partition("t")
        assert follower.log.log_end_offset == 2 and log_bytes(follower) == log_bytes(leader)


async def test_a_deletion_does_not_wait_for_a_replica_whose_broker_is_gone(cluster: FakeCluster) -> None:
    await led_by_1(cluster, [1, 2, 3], [1, 2, 3])
    await cluster.stop_broker(3)
    await cluster.nodes[2].store.mark_topic_for_deletion("t")
    await cluster.sync()
    await cluster.controller_pass()
    assert cluster.zk.data("/brokers/topics/t") is None


async def test_the_controller_never_deletes_a_new_life_of_a_topic_it_saw_marked(cluster: FakeCluster) -> None:
    """The controller deleted t, but its own watches have not caught up: its cache still shows t marked for
    deletion. A client creates t again meanwhile. The next pass must leave the new t alone."""
    await cluster.create_topic("t", {0: [2, 3]})
    await cluster.controller_pass()
    await cluster.nodes[2].store.mark_topic_for_deletion("t")
    await cluster.sync()
    controller = cluster.nodes[1]
    with cluster.zk.watches_held(controller.zk):
        await controller.controller.run_pass()
        assert cluster.zk.data("/brokers/topics/t") is None
        await cluster.nodes[2].store.create_topic("t", md.TopicAssignment({0: [2, 3]}, topic_id=md.new_topic_id()),
                                                  {})
        await controller.controller.run_pass()
        assert cluster.zk.data("/brokers/topics/t") is not None, "the new t was deleted"
    await cluster.sync()
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(2, 0, [2, 3], controller_epoch=1)


async def test_the_first_state_of_a_partition_is_made_from_its_own_topics_assignment(cluster: FakeCluster) -> None:
    """Broker 1 controls with a cache that still holds an earlier life of t (deleted under the previous
    controller before it was ever led, and created again with other replicas). The partition's first state
    must come from the assignment of the t that exists: before, the controller made it from the cached one,
    electing a leader and an ISR outside the new assignment."""
    await cluster.create_topic("t", {0: [2, 3]})
    controller = cluster.nodes[1]
    await controller.controller.try_elect()
    with cluster.zk.watches_held(controller.zk):
        await cluster.nodes[2].store.delete_topic("t")
        await cluster.nodes[2].store.create_topic("t", md.TopicAssignment({0: [1, 2]}, topic_id=md.new_topic_id()),
                                                  {})
        await controller.controller.run_pass()
        assert cluster.zk.data(STATE) is None or set(cluster.zk.state("t", 0).isr) <= {1, 2}
    await cluster.sync()
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(1, 0, [1, 2], controller_epoch=1)


async def test_a_deletion_request_for_a_topic_the_controller_has_not_heard_of_yet_is_kept(
        cluster: FakeCluster) -> None:
    """A topic created and marked for deletion before the controller's watch brought the topic: the request
    is for a topic that exists, and must be carried out, not dropped as one for a missing topic."""
    await cluster.controller_pass()
    controller = cluster.nodes[1]
    with cluster.zk.watches_held(controller.zk):
        await cluster.nodes[2].store.create_topic("t", md.TopicAssignment({0: [2, 3]}, topic_id=md.new_topic_id()),
                                                  {})
        await cluster.nodes[2].store.mark_topic_for_deletion("t")
        await controller.controller.run_pass()
        assert cluster.zk.data("/admin/delete_topics/t") is not None
    await cluster.sync()
    await cluster.controller_pass()
    assert cluster.zk.data("/brokers/topics/t") is None and cluster.zk.data("/admin/delete_topics/t") is None


async def test_a_topic_written_without_an_id_gets_one(cluster: FakeCluster) -> None:
    """As Kafka 2.x's kafka-topics.sh --zookeeper writes it: the controller gives it an id, as Kafka's does, and
    the replicas take it (and store it) — so a later topic of the same name is told apart from it."""
    await cluster.nodes[2].store.create_topic("t", md.TopicAssignment({0: [1, 2]}), {})
    await cluster.sync()
    await cluster.controller_pass()
    await cluster.sync()
    topic_id = md.TopicAssignment.decode(cluster.zk.data("/brokers/topics/t")).topic_id
    assert topic_id is not None
    for broker_id in (1, 2):
        part = cluster.nodes[broker_id].partition("t")
        assert part.topic_id == topic_id
        assert (part.log.directory / "partition.metadata").read_text() == f"version: 0\ntopic_id: {topic_id}\n"
    assert cluster.zk.state("t", 0) == state(1, 0, [1, 2], controller_epoch=1)


async def test_a_deletion_request_older_than_its_topic_is_not_for_it(cluster: FakeCluster) -> None:
    """A request left for a name, then a topic of that name written by a tool that did not look: the request
    is for an earlier topic, not this one (which must not be deleted); it is dropped."""
    await cluster.nodes[2].store.mark_topic_for_deletion("t")
    cluster.zk.client().create("/brokers/topics/t", md.TopicAssignment({0: [1, 2]}, md.new_topic_id()).encode())
    await cluster.sync()
    assert not cluster.nodes[1].cache.topics["t"].marked_for_deletion
    await cluster.controller_pass()
    await cluster.controller_pass()
    assert cluster.zk.data("/brokers/topics/t") is not None and cluster.zk.data("/admin/delete_topics/t") is None
    assert cluster.nodes[1].partition("t").is_leader


async def test_a_deletion_request_for_a_missing_topic_is_dropped(cluster: FakeCluster) -> None:
    await cluster.nodes[1].store.mark_topic_for_deletion("never-created")
    await cluster.controller_pass()
    assert cluster.zk.data("/admin/delete_topics/never-created") is None


async def test_preferred_leader_election_on_request(cluster: FakeCluster) -> None:
    await led_by_1(cluster, [1, 2], [1, 2])
    await cluster.nodes[1].store.write_partition_state("t", 0, state(2, 1, [1, 2]), cluster.zk.version(STATE))
    await cluster.sync()
    await cluster.nodes[3].store.write_data(md.PREFERRED_REPLICA_ELECTION_PATH,
                                            md.encode_partition_list([("t", 0), ("gone", 0)]))
    await cluster.sync()
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(1, 2, [1, 2], controller_epoch=1)
    assert cluster.zk.data(md.PREFERRED_REPLICA_ELECTION_PATH) is None
    assert cluster.nodes[1].partition("t").is_leader


async def test_automatic_rebalance_moves_leaders_home_when_due(cluster: FakeCluster) -> None:
    await led_by_1(cluster, [1, 2], [1, 2])
    await cluster.nodes[1].store.write_partition_state("t", 0, state(2, 1, [1, 2]), cluster.zk.version(STATE))
    await cluster.sync()
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0).leader == 2  # not due: stays
    cluster.controller.controller._rebalance_due = True
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0) == state(1, 2, [1, 2], controller_epoch=1)


async def test_the_controller_task_takes_control_and_reacts_to_changes(cluster: FakeCluster) -> None:
    node = cluster.nodes[2]
    task = asyncio.create_task(node.controller.run())
    try:
        node.controller.trigger()
        await cluster.create_topic("t", {0: [2, 3]})  # the watcher's notification triggers a pass
        for _ in range(5000):  # the pass's ZooKeeper calls run in worker threads: give them real time
            await asyncio.sleep(0.001)
            if cluster.zk.data(STATE) is not None:
                break
        assert md.decode_controller(cluster.zk.data(md.CONTROLLER_PATH)) == 2
        assert cluster.zk.state("t", 0) == state(2, 0, [2, 3], controller_epoch=1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_controller_whose_cache_still_lists_a_dead_broker_elects_from_zookeepers_view(
        cluster: FakeCluster) -> None:
    """The controller used to take the live brokers from its watch-fed cache: a controller that had not heard
    yet of a registration gone with its session kept the dead broker as leader (and placed new replicas on it)."""
    await cluster.create_topic("t", {0: [3, 2, 1]})
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0).leader == 3
    controller = cluster.controller
    registration = controller.cache.brokers[3]
    await cluster.stop_broker(3)
    controller.cache.brokers[3] = registration  # the broker-change notification has not arrived yet
    await controller.controller.reconcile()
    assert cluster.zk.state("t", 0).leader == 2


async def test_a_zombie_controller_is_refused_by_the_controller_epoch(cluster: FakeCluster) -> None:
    """Broker 1 controlled, was paused past its session timeout, and broker 2 was elected (epoch 2). Back, and
    before it hears of any of this, broker 1 acts on its stale view: ZooKeeper refuses every write, because
    each checks /controller_epoch's version in the same transaction — even one at a current znode version."""
    await led_by_1(cluster, [1, 2, 3], [1, 2, 3])
    zombie = cluster.nodes[1]
    assert zombie.controller.active and zombie.controller.epoch == 1
    version = cluster.zk.version(STATE)
    await cluster.stop_broker(3)  # something for a controller to act on
    with cluster.zk.watches_held():  # broker 1 hears nothing of what follows
        cluster.zk.client().delete(md.CONTROLLER_PATH)  # went with broker 1's old session
        await cluster.nodes[2].controller.try_elect()
        assert cluster.nodes[2].controller.epoch == 2
        cluster.zk.forget_writes()
        await zombie.controller.run_pass()  # broker 3 is gone: it would write ISR [1, 2]
        assert cluster.zk.written() == []
        assert not zombie.controller.active
    assert cluster.zk.state("t", 0) == state(1, 0, [1, 2, 3]) and cluster.zk.version(STATE) == version
    await cluster.controller_pass()  # the real controller does it, at its epoch
    assert cluster.zk.state("t", 0) == state(1, 1, [1, 2], controller_epoch=2)


async def test_a_controller_whose_session_expires_mid_pass_resigns_and_writes_nothing_more(
        cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2, 3], 1: [1, 3, 2]})
    await cluster.controller_pass()
    node = cluster.nodes[1]
    assert node.controller.active
    await cluster.stop_broker(3)

    def paused_past_the_session() -> None:  # between reading the live brokers and writing, as a pause would
        cluster.zk.expire(node.zk)
        elected = cluster.zk.client()
        elected.create(md.CONTROLLER_PATH, md.encode_controller(2), ephemeral=True)
        elected.set(md.CONTROLLER_EPOCH_PATH, md.encode_controller_epoch(2))
        cluster.zk.new_session(node.zk)  # kazoo is back at once, with a new session

    cluster.zk.before_next("get_children", paused_past_the_session, path=md.BROKER_IDS_PATH)
    before = {p: cluster.zk.state("t", p) for p in (0, 1)}
    cluster.zk.forget_writes()
    await node.controller.run_pass()  # broker 1 would have made broker 2 leader of both, at its epoch 1
    assert not node.controller.active
    assert {p: cluster.zk.state("t", p) for p in (0, 1)} == before
    assert cluster.zk.written("set", "/brokers/topics") == []
