"""ZkStore writes Kafka's znodes in Kafka's formats, and its conditional writes report a lost race."""

from __future__ import annotations

import json

import pytest

from kafka_broker import metadata as md
from kafka_broker.cluster.zk_store import ControllerEpoch, ControllerMovedError, ZkStore

from .fakes import FakeZooKeeper, state


@pytest.fixture
def zk() -> FakeZooKeeper:
    return FakeZooKeeper()


@pytest.fixture
def store(zk: FakeZooKeeper) -> ZkStore:
    store = ZkStore(zk.client())
    store.ensure_layout_sync()
    return store


def test_layout_and_cluster_id_are_created_once(zk: FakeZooKeeper, store: ZkStore) -> None:
    first = md.decode_cluster_id(zk.data(md.CLUSTER_ID_PATH))
    assert first and ZkStore(zk.client()).ensure_layout_sync() == first
    for path in md.PERSISTENT_PATHS:
        assert zk.data(path) is not None


async def test_partition_state_writes_are_conditional_on_the_version(zk: FakeZooKeeper, store: ZkStore) -> None:
    assert await store.create_partition_state("t", 0, state(1, 0, [1, 2])) == 0
    assert await store.create_partition_state("t", 0, state(2, 0, [2])) is None  # exists already
    assert await store.write_partition_state("t", 0, state(1, 1, [1]), version=0) == 1
    assert await store.write_partition_state("t", 0, state(1, 2, [1, 2]), version=0) is None  # stale version
    assert zk.state("t", 0) == state(1, 1, [1])
    assert await store.read_partition_state("t", 0) == (state(1, 1, [1]), 1)
    assert await store.write_partition_state("gone", 0, state(1, 1, [1]), version=0) is None
    assert await store.read_partition_state("gone", 0) is None


async def test_topic_creation_writes_config_then_assignment(zk: FakeZooKeeper, store: ZkStore) -> None:
    assignment = md.TopicAssignment({0: [1, 2]}, topic_id="id-1")
    assert await store.create_topic("t", assignment, {"retention.ms": "5"})
    assert zk.written("create", "/config/topics/t") == ["/config/topics/t"]
    assert zk.written().index("/config/topics/t") < zk.written().index("/brokers/topics/t")
    assert md.decode_topic_config(zk.data("/config/topics/t")) == {"retention.ms": "5"}
    assert not await store.create_topic("t", assignment, {})
    read = await store.read_topic_assignment("t")
    assert read is not None and read[0].partitions == {0: [1, 2]} and read[1] == 0
    grown = md.TopicAssignment({0: [1, 2], 1: [2, 1]}, topic_id="id-1")
    assert await store.write_topic_assignment("t", grown, 0)
    assert not await store.write_topic_assignment("t", assignment, 0)  # lost to the write above
    assert await store.read_topic_assignment("missing") is None


async def test_config_change_is_announced(zk: FakeZooKeeper, store: ZkStore) -> None:
    await store.set_topic_config("t", {"cleanup.policy": "compact"})
    await store.set_topic_config("t", {"cleanup.policy": "delete"})
    assert md.decode_topic_config(zk.data("/config/topics/t")) == {"cleanup.policy": "delete"}
    changes = await store.read_children(md.CONFIG_CHANGES_PATH)
    assert changes == ["config_change_0000000000", "config_change_0000000001"]
    assert json.loads(zk.data(f"{md.CONFIG_CHANGES_PATH}/{changes[0]}") or b"") == {
        "version": 2, "entity_path": "topics/t"}


async def test_a_creation_that_loses_to_another_leaves_the_winners_config(zk: FakeZooKeeper, store: ZkStore) -> None:
    """Two clients create t at once (the churn test does). The one that loses must not have overwritten the
    winner's config on its way: before, it wrote its config, then found the topic taken."""
    other = ZkStore(zk.client())

    done: list[bool] = []

    def the_other_creates_first() -> None:
        if not done:
            done.append(True)
            other.zk.create("/config/topics/t", md.encode_topic_config({"retention.ms": "1"}))
            other.zk.create("/brokers/topics/t", md.TopicAssignment({0: [2]}).encode())

    for operation in ("create", "commit"):  # whichever this store writes with
        zk.before_next(operation, the_other_creates_first, path="/config/topics/t")
    assert not await store.create_topic("t", md.TopicAssignment({0: [1]}), {"retention.ms": "2"})
    assert md.decode_topic_config(zk.data("/config/topics/t")) == {"retention.ms": "1"}


async def test_a_creation_survives_a_config_left_without_its_topic_going_away(zk: FakeZooKeeper,
                                                                              store: ZkStore) -> None:
    """A config znode left without its topic (a tool, a creation given up half-way) is deleted as this creation
    writes over it: the creation still succeeds. Before, the write over it raised NoNode out of CreateTopics,
    and the broker closed the client's connection (seen in the churn test on the code before)."""
    zk.client().create("/config/topics/t", md.encode_topic_config({"retention.ms": "9"}), makepath=True)

    done: list[bool] = []

    def deleted() -> None:
        if not done:
            done.append(True)
            zk.client().delete("/config/topics/t")

    for operation in ("set", "commit"):
        zk.before_next(operation, deleted, path="/config/topics/t")
    assert await store.create_topic("t", md.TopicAssignment({0: [1]}), {"retention.ms": "2"})
    assert md.decode_topic_config(zk.data("/config/topics/t")) == {"retention.ms": "2"}
    assert zk.data("/brokers/topics/t") is not None


async def test_deletion_marks_then_removes_every_znode_of_the_topic(zk: FakeZooKeeper, store: ZkStore) -> None:
    await store.create_topic("t", md.TopicAssignment({0: [1]}), {})
    await store.create_partition_state("t", 0, state(1, 0, [1]))
    await store.mark_topic_for_deletion("t")
    await store.mark_topic_for_deletion("t")  # twice is fine
    assert await store.read_children(md.DELETE_TOPICS_PATH) == ["t"]
    await store.delete_topic("t")
    for path in ("/brokers/topics/t", "/brokers/topics/t/partitions/0/state", "/config/topics/t",
                 "/admin/delete_topics/t"):
        assert zk.data(path) is None, path


async def test_a_deletion_request_left_from_before_the_topic_is_replaced(zk: FakeZooKeeper, store: ZkStore) -> None:
    """A request older than the topic (a tool wrote the topic without looking) is not for this topic: marking
    the topic makes a new one (else the request would be merged into the stale one and dropped with it)."""
    await store.mark_topic_for_deletion("t")
    await store.acknowledge_deletion("t", 2)
    zk.client().create("/brokers/topics/t", md.TopicAssignment({0: [1]}).encode())
    await store.mark_topic_for_deletion("t")
    assert zk.nodes["/admin/delete_topics/t"].czxid > zk.nodes["/brokers/topics/t"].czxid
    assert await store.deletion_acknowledgements("t") == set()
    created = zk.nodes["/admin/delete_topics/t"].czxid
    await store.mark_topic_for_deletion("t")  # one for this topic stands
    assert zk.nodes["/admin/delete_topics/t"].czxid == created


async def test_one_controller_and_a_growing_epoch(zk: FakeZooKeeper, store: ZkStore) -> None:
    first = zk.client()
    assert await ZkStore(first).try_become_controller(1) == ControllerEpoch(epoch=1, zk_version=0)
    assert await store.try_become_controller(2) is None  # held: the epoch does not move
    assert zk.data(md.CONTROLLER_EPOCH_PATH) == b"1"
    zk.expire(first)  # /controller goes with its session
    assert await store.try_become_controller(2) == ControllerEpoch(epoch=2, zk_version=1)
    assert md.decode_controller(zk.data(md.CONTROLLER_PATH)) == 2
    assert zk.data(md.CONTROLLER_EPOCH_PATH) == b"2"


async def test_an_election_retries_when_the_epoch_moved_meanwhile(zk: FakeZooKeeper, store: ZkStore) -> None:
    await ZkStore(zk.client()).write_data(md.CONTROLLER_EPOCH_PATH, b"4")
    zk.before_next("commit", lambda: zk.client().set(md.CONTROLLER_EPOCH_PATH, b"5"))
    assert await store.try_become_controller(1) == ControllerEpoch(epoch=6, zk_version=2)
    assert md.decode_controller(zk.data(md.CONTROLLER_PATH)) == 1


async def test_controller_writes_are_refused_once_another_controller_was_elected(
        zk: FakeZooKeeper, store: ZkStore) -> None:
    """Kafka fences every controller write with a check of /controller_epoch's version in the same multi-op:
    a controller that lost its session while another was elected cannot write, even with current versions."""
    zombie_session = zk.client()
    zombie = ZkStore(zombie_session)
    fence = await zombie.try_become_controller(1)
    assert fence is not None
    await store.create_topic("t", md.TopicAssignment({0: [1, 2]}), {})
    await store.mark_topic_for_deletion("gone")
    assert await zombie.create_partition_state("t", 0, state(1, 0, [1, 2]), fence=fence) == 0
    assert await zombie.write_partition_state("t", 0, state(1, 1, [1]), 0, fence=fence) == 1
    assert await zombie.write_partition_state("t", 0, state(1, 2, [1]), 0, fence=fence) is None  # lost race
    zk.expire(zombie_session)
    zk.new_session(zombie_session)  # the paused controller comes back with a new session ...
    assert await store.try_become_controller(2) is not None  # ... after broker 2 was elected
    zk.forget_writes()
    refused = [
        zombie.write_partition_state("t", 0, state(2, 2, [2]), 1, fence=fence),  # current version: still refused
        zombie.create_partition_state("t", 1, state(2, 0, [2]), fence=fence),
        zombie.write_topic_assignment("t", md.TopicAssignment({0: [2]}), 0, fence=fence),
        zombie.delete_topic("t", fence=fence),
        zombie.delete_path(md.delete_topic_path("gone"), fence=fence),
        zombie.write_data(md.REASSIGN_PARTITIONS_PATH, b"{}", fence=fence),
    ]
    for write in refused:
        with pytest.raises(ControllerMovedError):
            await write
    assert zk.written() == []
    assert zk.state("t", 0) == state(1, 1, [1])


async def test_a_fenced_topic_deletion_removes_everything_in_one_transaction(
        zk: FakeZooKeeper, store: ZkStore) -> None:
    fence = await store.try_become_controller(1)
    assert fence is not None
    await store.create_topic("t", md.TopicAssignment({0: [1], 1: [1]}), {"retention.ms": "1"})
    for partition in (0, 1):
        assert await store.create_partition_state("t", partition, state(1, 0, [1]), fence=fence) == 0
    await store.mark_topic_for_deletion("t")
    await store.delete_topic("t", fence=fence)
    for path in ("/brokers/topics/t", "/config/topics/t", "/admin/delete_topics/t"):
        assert zk.data(path) is None, path
    assert await store.create_partition_state("t", 0, state(1, 0, [1]), fence=fence) is None  # no topic: no state
    assert zk.data("/brokers/topics/t") is None  # and no topic znode made up for it


async def test_registration_waits_out_a_stale_session_then_gives_up(zk: FakeZooKeeper, store: ZkStore) -> None:
    registration = md.BrokerRegistration(1, "h", 9092)
    await store.register_broker(registration, stale_wait_s=0)
    await store.register_broker(registration, stale_wait_s=0)  # our own session's node: fine
    assert md.BrokerRegistration.decode(1, zk.data("/brokers/ids/1") or b"").port == 9092
    with pytest.raises(RuntimeError, match="registered by another live process"):
        await ZkStore(zk.client()).register_broker(registration, stale_wait_s=0)


async def test_plain_reads_writes_and_deletes(zk: FakeZooKeeper, store: ZkStore) -> None:
    await store.write_data("/admin/x", b"1")
    await store.write_data("/admin/x", b"2")
    assert await store.read_data("/admin/x") == (b"2", 1)
    assert not await store.delete_path("/admin/x", version=0)
    assert await store.delete_path("/admin/x", version=1)
    assert not await store.delete_path("/admin/x")
    assert await store.read_data("/admin/x") is None
    assert await store.read_children("/nothing") == []
    await store.notify_isr_change([("t", 0)])
    [name] = await store.read_children(md.ISR_CHANGE_NOTIFICATION_PATH)
    assert md.decode_partition_list(zk.data(f"{md.ISR_CHANGE_NOTIFICATION_PATH}/{name}")) == [("t", 0)]
