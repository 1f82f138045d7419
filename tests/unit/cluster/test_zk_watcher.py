"""ZkWatcher turns znode changes into metadata-cache updates, on the event loop, and tells the listeners."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.cluster.zk_watcher import ZkWatcher

from .fakes import FakeKazooClient, FakeZooKeeper, settle, state


@dataclass
class Watched:
    zk: FakeZooKeeper
    admin: FakeKazooClient
    """Another session, writing as controllers, brokers and admin tools do."""
    store: ZkStore
    cache: MetadataCache
    watcher: ZkWatcher
    topic_events: list[tuple[str, int | None]] = field(default_factory=list)
    broker_events: int = 0


@pytest.fixture
async def w() -> AsyncIterator[Watched]:
    zk = FakeZooKeeper()
    admin = zk.client()
    store = ZkStore(admin)
    store.ensure_layout_sync()
    cache = MetadataCache()
    watcher = ZkWatcher(zk.client(), cache, asyncio.get_running_loop())
    watched = Watched(zk, admin, store, cache, watcher)
    cache.on_topic_change(lambda t, p: watched.topic_events.append((t, p)))

    def broker_changed() -> None:
        watched.broker_events += 1

    cache.on_broker_change(broker_changed)
    watcher.start()
    await settle()
    yield watched
    watcher.stop()


async def test_broker_registrations_come_and_go(w: Watched) -> None:
    session = w.zk.client()
    await ZkStore(session).register_broker(md.BrokerRegistration(2, "h2", 9092, rack="r1"), stale_wait_s=0)
    await settle()
    assert w.cache.brokers[2].host == "h2" and w.cache.brokers[2].rack == "r1"
    assert w.cache.live_broker_ids() == [2]
    events = w.broker_events
    w.zk.expire(session)
    await settle()
    assert w.cache.brokers == {}
    assert w.broker_events > events


async def test_a_new_topic_and_its_partition_states(w: Watched) -> None:
    await w.store.create_topic("t", md.TopicAssignment({0: [1, 2], 1: [2, 1]}, topic_id="tid"), {"retention.ms": "5"})
    await settle()
    info = w.cache.topics["t"]
    assert info.topic_id == "tid" and info.config == {"retention.ms": "5"}
    assert {p: i.replicas for p, i in info.partitions.items()} == {0: [1, 2], 1: [2, 1]}
    assert info.partitions[0].state is None  # no leader elected yet
    assert ("t", None) in w.topic_events and ("t", 0) in w.topic_events

    await w.store.create_partition_state("t", 0, state(1, 0, [1, 2]))
    await settle()
    assert (info.partitions[0].state, info.partitions[0].state_version) == (state(1, 0, [1, 2]), 0)
    w.topic_events.clear()
    await w.store.write_partition_state("t", 0, state(2, 1, [2]), version=0)
    await settle()
    assert (info.partitions[0].leader, info.partitions[0].leader_epoch, info.partitions[0].isr) == (2, 1, (2,))
    assert info.partitions[0].state_version == 1
    assert w.topic_events == [("t", 0)]


async def test_a_notification_older_than_a_local_write_is_ignored(w: Watched) -> None:
    """A writer puts its successful write into the cache at once; the watch's older news must not undo it."""
    await w.store.create_topic("t", md.TopicAssignment({0: [1]}), {})
    await w.store.create_partition_state("t", 0, state(1, 0, [1]))
    await settle()
    part = w.cache.partition("t", 0)
    assert part is not None
    # Our write of version 2 landed in the cache while the watch thread was still handing over its read
    # of version 1 (two threads queueing onto the loop): that read arrives last and must change nothing.
    czxid = w.zk.nodes["/brokers/topics/t/partitions/0/state"].czxid
    part.state, part.state_version = state(1, 2, [1]), 2
    w.watcher._apply_state("t", 0, state(1, 1, [1]), 1, czxid)
    assert (part.state, part.state_version) == (state(1, 2, [1]), 2)


async def test_reassignment_bookkeeping_and_config_changes(w: Watched) -> None:
    await w.store.create_topic("t", md.TopicAssignment({0: [1]}), {})
    await settle()
    read = await w.store.read_topic_assignment("t")
    assert read is not None
    moving = md.TopicAssignment({0: [2, 1]}, adding_replicas={0: [2]}, removing_replicas={0: [1]})
    await w.store.write_topic_assignment("t", moving, read[1])
    await w.store.set_topic_config("t", {"retention.ms": "1"})
    await settle()
    part = w.cache.partition("t", 0)
    assert part is not None
    assert (part.replicas, part.adding_replicas, part.removing_replicas) == ([2, 1], [2], [1])
    assert w.cache.topics["t"].config == {"retention.ms": "1"}


async def test_deletion_marks_then_drops_the_topic(w: Watched) -> None:
    await w.store.create_topic("t", md.TopicAssignment({0: [1]}), {})
    await w.store.create_partition_state("t", 0, state(1, 0, [1]))
    await settle()
    await w.store.mark_topic_for_deletion("t")
    await settle()
    assert w.cache.topics["t"].marked_for_deletion
    w.topic_events.clear()
    await w.store.delete_topic("t")
    await settle()
    assert "t" not in w.cache.topics
    assert ("t", None) in w.topic_events
    # the name can be used again: the new topic is watched from scratch
    await w.store.create_topic("t", md.TopicAssignment({0: [3]}), {})
    await w.store.create_partition_state("t", 0, state(3, 0, [3]))
    await settle()
    part = w.cache.partition("t", 0)
    assert part is not None and part.replicas == [3] and part.state == state(3, 0, [3])
    assert not w.cache.topics["t"].marked_for_deletion


async def test_controller_cluster_id_and_admin_requests(w: Watched) -> None:
    assert w.cache.cluster_id == md.decode_cluster_id(w.zk.data(md.CLUSTER_ID_PATH))
    assert w.cache.controller_id == md.NO_LEADER
    await w.store.try_become_controller(3)
    await w.store.write_data(md.REASSIGN_PARTITIONS_PATH, md.encode_reassignment({("t", 0): [2, 3]}))
    await w.store.write_data(md.PREFERRED_REPLICA_ELECTION_PATH, md.encode_partition_list([("t", 1)]))
    await settle()
    assert w.cache.controller_id == 3
    assert w.cache.reassignments == {("t", 0): [2, 3]}
    assert w.cache.preferred_elections == [("t", 1)]
    await w.store.write_data(md.REASSIGN_PARTITIONS_PATH, b"{not json")
    await w.store.delete_path(md.PREFERRED_REPLICA_ELECTION_PATH)
    await w.store.delete_path(md.CONTROLLER_PATH)
    await settle()
    assert w.cache.reassignments == {}  # malformed: ignored, with a warning
    assert w.cache.preferred_elections == []
    assert w.cache.controller_id == md.NO_LEADER


async def test_a_stopped_watcher_changes_nothing(w: Watched) -> None:
    w.watcher.stop()
    await w.store.create_topic("t", md.TopicAssignment({0: [1]}), {})
    await w.store.try_become_controller(1)
    await settle()
    assert "t" not in w.cache.topics
    assert w.cache.controller_id == md.NO_LEADER


async def test_a_topic_deleted_and_created_again_between_two_looks_is_a_new_topic(w: Watched) -> None:
    """Watches are one-shot and read what is there when they run: if a topic is deleted and created again
    before the watch thread gets round to it, the watcher never sees it missing. The new topic's states,
    whose versions start again at 0, must still be taken, and listeners must hear the old topic went."""
    await w.store.create_topic("t", md.TopicAssignment({0: [1]}, topic_id="old"), {})
    await w.store.create_partition_state("t", 0, state(1, 0, [1]))
    for version in range(3):
        await w.store.write_partition_state("t", 0, state(1, version + 1, [1]), version)
    await settle()
    part = w.cache.partition("t", 0)
    assert part is not None and part.state_version == 3
    with w.zk.watches_held():
        await w.store.delete_topic("t")
        await w.store.create_topic("t", md.TopicAssignment({0: [2]}, topic_id="new"), {})
        await w.store.create_partition_state("t", 0, state(2, 0, [2]))
        w.topic_events.clear()
    await settle()
    part = w.cache.partition("t", 0)
    assert w.cache.topics["t"].topic_id == "new"
    assert part is not None and part.replicas == [2]
    assert (part.state, part.state_version) == (state(2, 0, [2]), 0)
    await w.store.write_partition_state("t", 0, state(2, 1, [2]), 0)
    await settle()
    assert (part.state, part.state_version) == (state(2, 1, [2]), 1)


async def test_a_state_of_the_deleted_topic_arriving_late_is_not_taken(w: Watched) -> None:
    await w.store.create_topic("t", md.TopicAssignment({0: [1]}, topic_id="old"), {})
    await w.store.create_partition_state("t", 0, state(1, 0, [1]))
    await settle()
    old_czxid = w.zk.nodes["/brokers/topics/t/partitions/0/state"].czxid
    await w.store.delete_topic("t")
    await w.store.create_topic("t", md.TopicAssignment({0: [2]}, topic_id="new"), {})
    await settle()
    w.watcher._apply_state("t", 0, state(1, 5, [1]), 5, old_czxid)  # queued before the deletion, run after
    part = w.cache.partition("t", 0)
    assert part is not None and part.state is None


async def test_a_topic_whose_deletion_request_was_seen_first_is_marked(w: Watched) -> None:
    """t is deleted (with its request); before this broker's watch reads the list of requests again, t is
    created again and marked for deletion again. So the broker learns of the new request before it learns
    of the new t: t must come in marked. Before, it came in unmarked and, the list of requests not changing
    again, stayed so — the controller never deleted it (seen in the churn test on the code before)."""
    await w.store.create_topic("t", md.TopicAssignment({0: [1]}, topic_id="old"), {})
    await w.store.mark_topic_for_deletion("t")
    await settle()

    def created_and_marked_again() -> None:  # another session, right then
        w.admin.create(md.topic_path("t"), md.TopicAssignment({0: [2]}, topic_id="new").encode())
        w.admin.create(md.delete_topic_path("t"), b"")

    w.zk.before_next("get_children", created_and_marked_again, path=md.DELETE_TOPICS_PATH)
    await w.store.delete_topic("t")
    await settle()
    assert w.cache.topics["t"].topic_id == "new"
    assert w.cache.topics["t"].marked_for_deletion


async def test_the_deletion_request_of_a_deleted_topic_never_marks_the_next_one(w: Watched) -> None:
    """t was deleted together with its deletion request, and created again at once. This broker's watch reads
    the new t before it learns the request is gone: the new t is not marked, not even for a moment (brokers
    drop the replicas of a marked topic at once, and the controller would delete it)."""
    await w.store.create_topic("t", md.TopicAssignment({0: [1]}, topic_id="old"), {})
    await w.store.mark_topic_for_deletion("t")
    await settle()
    assert w.cache.topics["t"].marked_for_deletion
    marks: list[bool] = []
    w.cache.on_topic_change(lambda t, _p: marks.append(t in w.cache.topics and w.cache.topics[t].topic_id == "new"
                                                       and w.cache.topics[t].marked_for_deletion))
    with w.zk.watches_held():
        await w.store.delete_topic("t")  # the topic first, then its request, as the controller deletes them
        await w.store.create_topic("t", md.TopicAssignment({0: [2]}, topic_id="new"), {})
    await settle()
    assert w.cache.topics["t"].topic_id == "new" and not w.cache.topics["t"].marked_for_deletion
    assert marks and not any(marks)
