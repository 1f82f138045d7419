"""The replica manager: local replicas follow the partition states in ZooKeeper (through the real
watcher), and as leader it keeps the ISR with conditional writes of the state znode."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kazoo.exceptions import ConnectionLoss

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.partition import Partition
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.cluster.zk_watcher import ZkWatcher
from kafka_broker.protocol.errors import ErrorCode, KafkaError
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager
from kafka_broker.storage.partition_metadata import read_topic_id

from .fakes import Clock, FakeKazooClient, FakeZooKeeper, RecordingFetchers, append, broker_config, settle, state

LAG_MS = 10_000  # replica.lag.time.max.ms in broker_config


@dataclass
class Broker1:
    """Broker 1's replica manager, its cache fed by a real watcher; ``admin`` writes as the controller does."""

    zk: FakeZooKeeper
    admin: ZkStore
    cache: MetadataCache
    replicas: ReplicaManager
    logs: LogManager
    fetchers: RecordingFetchers
    clock: Clock
    roles: list[tuple[str, int, int, int]] = field(default_factory=list)
    sessions: dict[int, FakeKazooClient] = field(default_factory=dict)
    """The ZooKeeper session of each registered broker (1 to 5)."""

    async def topic(self, name: str, assignment: dict[int, list[int]], config: dict[str, str] | None = None) -> None:
        await self.admin.create_topic(name, md.TopicAssignment(assignment), config or {})
        await self.sync()

    async def elect(self, topic: str, partition: int, new: md.PartitionState) -> None:
        """Write the partition state as the controller would, whatever its current version."""
        path = md.partition_state_path(topic, partition)
        if self.zk.data(path) is None:
            await self.admin.create_partition_state(topic, partition, new)
        else:
            await self.admin.write_partition_state(topic, partition, new, self.zk.version(path))
        await self.sync()

    async def sync(self) -> None:
        await settle()
        self.replicas.apply_pending()

    def part(self, topic: str = "t", index: int = 0) -> Partition:
        part = self.replicas.get(topic, index)
        assert part is not None
        return part


@pytest.fixture
async def b1(tmp_path: Path) -> AsyncIterator[Broker1]:
    zk = FakeZooKeeper()
    admin = ZkStore(zk.client())
    admin.ensure_layout_sync()
    config = broker_config(1, tmp_path / "logs", **{"min.insync.replicas": "2"})
    cache = MetadataCache()
    logs = LogManager(list(config.log_dirs), LogConfig.from_kafka(config.topic_defaults))
    clock = Clock()
    replicas = ReplicaManager(config, cache, logs, ZkStore(zk.client()), clock=clock)
    fetchers = RecordingFetchers()
    replicas.fetchers = fetchers
    cache.on_topic_change(replicas.metadata_changed)
    watcher = ZkWatcher(zk.client(), cache, asyncio.get_running_loop())
    watcher.start()
    broker = Broker1(zk, admin, cache, replicas, logs, fetchers, clock)
    replicas.on_role_change(lambda p: broker.roles.append((p.topic, p.index, p.leader_id, p.leader_epoch)))
    for broker_id in range(1, 6):
        session = broker.sessions[broker_id] = zk.client()
        await ZkStore(session).register_broker(md.BrokerRegistration(broker_id, "127.0.0.1", 9090 + broker_id),
                                               stale_wait_s=0)
    await settle()
    yield broker
    watcher.stop()
    logs.close_all()


# --- roles ------------------------------------------------------------------------------------------------


async def test_leader_named_by_the_state_leads_at_its_epoch(b1: Broker1) -> None:
    await b1.topic("t", {0: [1, 2]})
    assert b1.part().leader_id == -1  # hosted (log created) but no leader elected yet
    assert b1.logs.get("t", 0) is not None
    await b1.elect("t", 0, state(1, 3, [1, 2]))
    part = b1.part()
    assert part.is_leader and part.leader_epoch == 3 and part.isr == (1, 2)
    assert b1.roles == [("t", 0, 1, 3)]
    assert b1.fetchers.following() == {}
    part.check_leader(3)


async def test_follower_fetches_from_the_named_leader_and_refollows_on_a_new_epoch(b1: Broker1) -> None:
    await b1.topic("t", {0: [2, 1]})
    await b1.elect("t", 0, state(2, 0, [2, 1]))
    assert not b1.part().is_leader and b1.part().leader_id == 2
    assert b1.fetchers.following() == {("t", 0): 2}
    calls = len(b1.fetchers.calls)
    await b1.elect("t", 0, state(2, 0, [2]))  # ISR change only: keep fetching as we are
    assert len(b1.fetchers.calls) == calls and b1.part().isr == (2,)
    await b1.elect("t", 0, state(3, 1, [3]))
    assert b1.fetchers.following() == {("t", 0): 3}
    assert b1.part().leader_epoch == 1
    assert b1.roles == [("t", 0, 2, 0), ("t", 0, 3, 1)]


async def test_a_demoted_leader_fails_its_waiting_producers_and_follows(b1: Broker1) -> None:
    await b1.topic("t", {0: [1, 2]})
    await b1.elect("t", 0, state(1, 0, [1, 2]))
    part = b1.part()
    end = append(part.log, 2, epoch=0)
    waiter = asyncio.create_task(part.wait_until_replicated(end, timeout_s=5, min_insync=2))
    await asyncio.sleep(0)
    await b1.elect("t", 0, state(2, 1, [2]))
    assert await waiter == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert b1.fetchers.following() == {("t", 0): 2}
    with pytest.raises(KafkaError) as info:
        b1.replicas.leader_partition("t", 0)
    assert info.value.code == ErrorCode.NOT_LEADER_OR_FOLLOWER


async def test_lookups_answer_the_errors_clients_must_see(b1: Broker1) -> None:
    await b1.topic("t", {0: [1, 2], 1: [2, 3]})
    await b1.elect("t", 0, state(1, 4, [1, 2]))
    assert b1.replicas.leader_partition("t", 0, 4) is b1.part()
    for topic, index, epoch, code in (
        ("t", 0, 3, ErrorCode.FENCED_LEADER_EPOCH),
        ("t", 1, -1, ErrorCode.NOT_LEADER_OR_FOLLOWER),  # not hosted here
        ("u", 0, -1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    ):
        with pytest.raises(KafkaError) as info:
            b1.replicas.leader_partition(topic, index, epoch)
        assert info.value.code == code
    assert [p.index for p in b1.replicas.leaders()] == [0]


async def test_replicas_moved_away_or_deleted_lose_their_logs(b1: Broker1) -> None:
    await b1.topic("t", {0: [1, 2], 1: [1, 2]})
    await b1.elect("t", 0, state(2, 0, [2, 1]))
    read = await b1.admin.read_topic_assignment("t")
    assert read is not None
    await b1.admin.write_topic_assignment("t", md.TopicAssignment({0: [2, 3], 1: [1, 2]}), read[1])
    await b1.sync()
    assert b1.replicas.get("t", 0) is None and b1.logs.get("t", 0) is None
    assert b1.fetchers.following() == {}
    await b1.admin.delete_topic("t")
    await b1.sync()
    assert b1.replicas.partitions == {} and b1.logs.partitions() == []


async def test_a_replica_being_added_is_hosted_before_it_is_assigned(b1: Broker1) -> None:
    await b1.topic("t", {0: [2]})
    assert b1.replicas.get("t", 0) is None
    read = await b1.admin.read_topic_assignment("t")
    assert read is not None
    await b1.admin.write_topic_assignment(
        "t", md.TopicAssignment({0: [2]}, adding_replicas={0: [1]}), read[1])
    await b1.elect("t", 0, state(2, 0, [2]))
    assert b1.part().replicas == [2, 1]
    assert b1.fetchers.following() == {("t", 0): 2}


async def test_topic_config_overrides_broker_defaults(b1: Broker1) -> None:
    await b1.topic("t", {0: [1]}, {"min.insync.replicas": "1", "segment.bytes": "1048576"})
    assert b1.replicas.min_insync_replicas("t") == 1
    assert b1.replicas.min_insync_replicas("other") == 2  # the broker's default
    assert b1.part().log.config.segment_bytes == 1048576
    await b1.admin.set_topic_config("t", {"segment.bytes": "2097152"})
    await b1.sync()
    assert b1.part().log.config.segment_bytes == 2097152


async def test_stray_logs_of_topics_gone_while_down_are_deleted(b1: Broker1) -> None:
    b1.logs.get_or_create("gone", 0)
    await b1.topic("t", {0: [1]})
    b1.replicas.delete_stray_logs()
    assert b1.logs.partitions() == [("t", 0)]


async def test_a_failing_role_listener_does_not_stop_the_others(b1: Broker1) -> None:
    def broken(_part: Partition) -> None:
        raise RuntimeError("listener bug")

    b1.replicas._listeners.insert(0, broken)
    await b1.topic("t", {0: [1]})
    await b1.elect("t", 0, state(1, 0, [1]))
    assert b1.roles == [("t", 0, 1, 0)]


async def test_no_fetching_starts_while_shutting_down(b1: Broker1) -> None:
    await b1.topic("t", {0: [2, 1]})
    b1.replicas.shutting_down = True
    await b1.elect("t", 0, state(2, 0, [2, 1]))
    assert b1.part().leader_id == 2
    assert b1.fetchers.following() == {}


# --- ISR maintenance ------------------------------------------------------------------------------------------


async def lead_with_followers(b1: Broker1, records: int = 5) -> Partition:
    """Broker 1 leads t-0 at epoch 3, ISR [1, 2, 3], with ``records`` records, nobody replicated yet."""
    await b1.topic("t", {0: [1, 2, 3]})
    await b1.elect("t", 0, state(1, 3, [1, 2, 3], controller_epoch=7))
    part = b1.part()
    append(part.log, records, epoch=3)
    part.after_leader_append()
    return part


async def test_isr_shrinks_after_the_lag_time_with_a_conditional_write(b1: Broker1) -> None:
    part = await lead_with_followers(b1)
    b1.replicas.follower_fetched(part, 2, 5)
    b1.clock.advance(LAG_MS)
    await b1.replicas.shrink_isr_once()
    assert b1.zk.state("t", 0).isr == (1, 2, 3)  # not more than the lag time yet: nothing written
    b1.replicas.follower_fetched(part, 2, 5)
    b1.clock.advance(1)
    version = b1.zk.version("/brokers/topics/t/partitions/0/state")
    await b1.replicas.shrink_isr_once()
    assert b1.zk.state("t", 0) == state(1, 3, [1, 2], controller_epoch=7)  # same leader epoch, controller's epoch kept
    assert b1.zk.version("/brokers/topics/t/partitions/0/state") == version + 1
    assert part.isr == (1, 2)
    assert part.high_watermark == 5  # 3 no longer holds it back
    info = b1.cache.partition("t", 0)
    assert info is not None and info.isr == (1, 2) and info.state_version == version + 1


async def test_isr_expands_when_a_follower_catches_up(b1: Broker1) -> None:
    part = await lead_with_followers(b1)
    await b1.elect("t", 0, state(1, 3, [1, 2], controller_epoch=7))
    b1.replicas.follower_fetched(part, 2, 5)
    b1.replicas.follower_fetched(part, 3, 2)  # behind the high watermark (5): not yet
    await b1.replicas.expansions_done()
    assert b1.zk.state("t", 0).isr == (1, 2)
    b1.replicas.follower_fetched(part, 3, 5)
    b1.replicas.follower_fetched(part, 3, 5)  # a second fetch while the write is out starts no second write
    await b1.replicas.expansions_done()
    assert b1.zk.state("t", 0).isr == (1, 2, 3)
    assert b1.zk.written("set", "/brokers/topics/t/partitions/0/state") == [
        "/brokers/topics/t/partitions/0/state"] * 2  # the controller's ISR change, then ours
    assert part.isr == (1, 2, 3)


async def test_a_replica_a_reassignment_removes_does_not_enter_the_isr_again(b1: Broker1) -> None:
    part = await lead_with_followers(b1)
    await b1.elect("t", 0, state(1, 3, [1, 2], controller_epoch=7))  # the controller dropped 3 from the ISR
    info = b1.cache.partition("t", 0)
    assert info is not None
    info.removing_replicas = [3]  # as the topic znode of a reassignment in progress says
    b1.replicas.follower_fetched(part, 3, 5)
    await b1.replicas.expansions_done()
    assert b1.zk.state("t", 0).isr == (1, 2)
    b1.replicas.follower_fetched(part, 2, 5)  # the others come and go as ever
    info.removing_replicas = []
    b1.replicas.follower_fetched(part, 3, 5)
    await b1.replicas.expansions_done()
    assert b1.zk.state("t", 0).isr == (1, 2, 3)


async def test_a_lost_isr_write_makes_the_leader_take_the_newer_state(b1: Broker1) -> None:
    """The controller moved leadership while this broker's watch was slow: the ISR write fails on the
    version, and the broker must stop acting as leader on its stale state right then."""
    part = await lead_with_followers(b1)
    b1.replicas.follower_fetched(part, 2, 5)
    with b1.zk.watches_held():
        await b1.admin.write_partition_state("t", 0, state(2, 4, [2], controller_epoch=8),
                                             b1.zk.version("/brokers/topics/t/partitions/0/state"))
        b1.clock.advance(LAG_MS + 1)
        b1.replicas.follower_fetched(part, 2, 5)
        await b1.replicas.shrink_isr_once()  # wants ISR [1, 2] at epoch 3: loses to the controller's write
        assert b1.zk.state("t", 0) == state(2, 4, [2], controller_epoch=8)  # not overwritten
        assert not part.is_leader and part.leader_id == 2 and part.leader_epoch == 4
        assert b1.fetchers.following() == {("t", 0): 2}
    await b1.sync()
    assert b1.part().leader_id == 2


async def test_a_lost_isr_write_to_a_newer_isr_of_the_same_epoch_adopts_it(b1: Broker1) -> None:
    part = await lead_with_followers(b1)
    with b1.zk.watches_held():
        # a follower's controlled shutdown took it out of the ISR (same leader, same epoch)
        await b1.admin.write_partition_state("t", 0, state(1, 3, [1, 2], controller_epoch=7),
                                             b1.zk.version("/brokers/topics/t/partitions/0/state"))
        b1.replicas.follower_fetched(part, 3, 5)
        b1.clock.advance(LAG_MS + 1)
        b1.replicas.follower_fetched(part, 3, 5)
        await b1.replicas.shrink_isr_once()  # wants [1, 3]: loses, learns [1, 2]
        assert part.is_leader and part.isr == (1, 2)
        await b1.replicas.shrink_isr_once()  # 2 is still lagging: now [1] wins
        assert b1.zk.state("t", 0).isr == (1,)


async def test_zookeeper_trouble_during_an_isr_change_is_survived(b1: Broker1) -> None:
    """The shrink loop is a broker task: if an ISR write raised out of it the broker would stop."""
    part = await lead_with_followers(b1)
    b1.clock.advance(LAG_MS + 1)
    b1.zk.fail_next("set", ConnectionLoss())
    await b1.replicas.shrink_isr_once()
    assert part.isr == (1, 2, 3)
    await b1.replicas.shrink_isr_once()  # next pass
    assert b1.zk.state("t", 0).isr == (1,)


async def test_only_the_leader_at_the_current_epoch_changes_the_isr(b1: Broker1) -> None:
    part = await lead_with_followers(b1)
    info = b1.cache.partition("t", 0)
    assert info is not None
    assert not await b1.replicas.change_isr(part, (1, 2, 3))  # nothing to change
    part.leader_epoch = 2  # a partition object behind the cached state
    assert not await b1.replicas.change_isr(part, (1, 2))
    assert b1.zk.state("t", 0).isr == (1, 2, 3)


def fetched(b1: Broker1, follower: int, offset: int, topic: str = "t", epoch: int = 0) -> None:
    """A follower's fetch, as the Fetch handler takes it: the leader replica it names, then its offset."""
    try:
        part = b1.replicas.leader_partition(topic, 0, epoch)
    except KafkaError:
        return  # refused: the follower learns nothing and is not counted
    b1.replicas.follower_fetched(part, follower, offset)


async def test_a_follower_of_a_deleted_topic_never_enters_the_isr_of_its_successor(b1: Broker1) -> None:
    """Issue 13 item 7: the topic is deleted and created again with other replicas, broker 1 leading both
    lives at leader epoch 0 (each life starts there), and the new state znode at version 0 like the old one.
    The watch has brought the new life into the cache, but the replica manager has not applied it yet
    (it runs as its own task). Broker 3, a follower of the old life only, still fetches. Its fetch must
    not count: before, the old partition added it to its (old) ISR and wrote that over the new life's
    state — which matched on leader, epoch and version — and the new followers' fetches then grew the
    ISR of the 3-replica partition to 5 brokers."""
    await b1.admin.create_topic("t", md.TopicAssignment({0: [1, 2, 3]}, topic_id="old"), {})
    await b1.elect("t", 0, state(1, 0, [1, 2]))  # 3 had fallen out of the ISR
    old = b1.part()
    end = append(old.log, 4, epoch=0)
    old.after_leader_append()
    fetched(b1, 2, end)
    await b1.admin.delete_topic("t")
    await b1.admin.create_topic("t", md.TopicAssignment({0: [1, 4, 5]}, topic_id="new"), {})
    await b1.admin.create_partition_state("t", 0, state(1, 0, [1, 4, 5]))
    await settle()  # in the cache; not applied to the replicas yet
    fetched(b1, 3, end)
    await b1.replicas.expansions_done()
    assert set(b1.zk.state("t", 0).isr) <= {1, 4, 5}
    await b1.sync()
    for follower in (4, 5, 3):
        fetched(b1, follower, 0)
        await b1.replicas.expansions_done()
        await b1.sync()
    assert set(b1.zk.state("t", 0).isr) <= {1, 4, 5}
    new = b1.part()
    assert new is not old and new.log.log_end_offset == 0 and set(new.isr) <= {1, 4, 5}


async def test_each_replica_stores_its_topic_id_and_a_new_life_replaces_it(b1: Broker1) -> None:
    await b1.admin.create_topic("t", md.TopicAssignment({0: [1]}, topic_id="Gm2D0lWbRDGbVb1ibUJ7Lw"), {})
    await b1.sync()
    directory = b1.part().log.directory
    assert (directory / "partition.metadata").read_text() == "version: 0\ntopic_id: Gm2D0lWbRDGbVb1ibUJ7Lw\n"
    assert b1.part().topic_id == "Gm2D0lWbRDGbVb1ibUJ7Lw"
    await b1.admin.delete_topic("t")
    await b1.admin.create_topic("t", md.TopicAssignment({0: [1]}, topic_id="AAAAAAAAAAAAAAAAAAAAAQ"), {})
    await b1.sync()
    assert b1.part().log.directory == directory
    assert read_topic_id(directory) == "AAAAAAAAAAAAAAAAAAAAAQ"


async def test_a_topic_marked_for_deletion_is_dropped_at_once_and_acknowledged_after_its_writes(
        b1: Broker1) -> None:
    """The broker's part of a deletion (Kafka's StopReplica): its replica goes as soon as it sees the mark, and
    it acknowledges under the request only once its ISR write in flight has landed — that write goes through
    the same session first, so it can never land on a topic created again after the deletion."""
    part = await lead_with_followers(b1)
    b1.clock.advance(LAG_MS + 1)
    release = threading.Event()
    b1.zk.before_next("set", lambda: release.wait(10), path="/brokers/topics/t/partitions/0/state")
    shrink = asyncio.create_task(b1.replicas.shrink_isr_once())  # the write is out, and held there
    for _ in range(50):
        await asyncio.sleep(0.001)
    await b1.admin.mark_topic_for_deletion("t")
    await settle()
    assert b1.replicas.get("t", 0) is None and b1.logs.get("t", 0) is None and part.deleted
    assert b1.zk.data("/admin/delete_topics/t/1") is None
    release.set()
    await shrink
    await b1.replicas.deletions_acknowledged()
    assert b1.zk.data("/admin/delete_topics/t/1") == b""
    b1.replicas.apply_pending()
    assert b1.logs.partitions() == []  # not hosted again while marked


async def test_a_broker_whose_session_expired_does_not_enter_the_isr(b1: Broker1) -> None:
    """Broker 3's session expired (paused past it, say): until it registers again its fetches may come from
    what it knew before — a partition of a topic deleted and created again meanwhile. It is not added."""
    part = await lead_with_followers(b1)
    await b1.elect("t", 0, state(1, 3, [1, 2], controller_epoch=7))
    b1.zk.expire(b1.sessions[3])
    await settle()
    fetched(b1, 3, 5, epoch=3)
    await b1.replicas.expansions_done()
    assert b1.zk.state("t", 0).isr == (1, 2)
    b1.zk.new_session(b1.sessions[3])
    await ZkStore(b1.sessions[3]).register_broker(md.BrokerRegistration(3, "127.0.0.1", 9093), stale_wait_s=0)
    await settle()
    fetched(b1, 3, 5, epoch=3)
    await b1.replicas.expansions_done()
    assert b1.zk.state("t", 0).isr == (1, 2, 3) and part.isr == (1, 2, 3)


async def test_an_isr_change_starts_from_the_state_it_is_written_over(b1: Broker1) -> None:
    """Follower 2 left the ISR in a controlled shutdown (same leader, same epoch) and the watch brought that
    into the cache, but the replica manager has not applied it yet. Follower 3 catching up must be added to
    the ISR the write is conditional on ([1]), not to the partition's stale one ([1, 2]): that would put the
    departing broker 2 back."""
    part = await lead_with_followers(b1)
    await b1.elect("t", 0, state(1, 3, [1, 2], controller_epoch=7))
    fetched(b1, 2, 5, epoch=3)
    await b1.admin.write_partition_state("t", 0, state(1, 3, [1], controller_epoch=7),
                                         b1.zk.version("/brokers/topics/t/partitions/0/state"))
    await settle()  # cached, not applied
    assert part.isr == (1, 2)
    fetched(b1, 3, 5, epoch=3)
    await b1.replicas.expansions_done()
    await b1.sync()
    fetched(b1, 3, 5, epoch=3)  # the next fetch, once the state is applied
    await b1.replicas.expansions_done()
    assert b1.zk.state("t", 0).isr == (1, 3)
    assert part.isr == (1, 3)


# --- restart ----------------------------------------------------------------------------------------------------


async def test_leadership_left_from_a_previous_run_is_retaken_at_a_new_epoch(b1: Broker1) -> None:
    await b1.admin.create_topic("t", md.TopicAssignment({0: [1, 2], 1: [1, 2]}), {})
    await b1.admin.create_partition_state("t", 0, state(1, 5, [1, 2]))
    await b1.admin.create_partition_state("t", 1, state(1, 2, [1, 2]))
    await settle()
    b1.replicas.reconcile_all(starting=True)
    assert b1.part("t", 0).leader_id == -1 and b1.part("t", 1).leader_id == -1  # held, not served
    # meanwhile the controller saw the old session expire and moved t-1 to broker 2
    await b1.admin.write_partition_state("t", 1, state(2, 3, [2]), 0)
    await b1.sync()
    assert b1.part("t", 1).leader_id == 2
    await b1.replicas.reclaim_leadership()
    await b1.sync()
    assert b1.zk.state("t", 0) == state(1, 6, [1, 2])
    assert b1.part("t", 0).is_leader and b1.part("t", 0).leader_epoch == 6
    assert b1.zk.state("t", 1) == state(2, 3, [2])


async def test_a_topic_recreated_under_the_same_name_starts_with_an_empty_log(b1: Broker1) -> None:
    """Deleted and created again before this broker's watch looked: the new topic id tells it apart."""
    await b1.admin.create_topic("t", md.TopicAssignment({0: [1]}, topic_id="old"), {})
    await b1.elect("t", 0, state(1, 0, [1]))
    append(b1.part().log, 3, epoch=0)
    with b1.zk.watches_held():
        await b1.admin.delete_topic("t")
        await b1.admin.create_topic("t", md.TopicAssignment({0: [1]}, topic_id="new"), {})
        await b1.admin.create_partition_state("t", 0, state(1, 0, [1]))
    await b1.sync()
    part = b1.part()
    assert part.log.log_end_offset == 0
    assert part.is_leader and part.leader_epoch == 0


async def test_the_reconcile_task_applies_changes_as_they_arrive(b1: Broker1) -> None:
    task = asyncio.create_task(b1.replicas.run())
    try:
        await b1.admin.create_topic("t", md.TopicAssignment({0: [1]}), {})
        await b1.admin.create_partition_state("t", 0, state(1, 0, [1]))
        for _ in range(100):
            await asyncio.sleep(0)
            part = b1.replicas.get("t", 0)
            if part is not None and part.is_leader:
                break
        assert b1.part().is_leader
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- stored topic configs ---------------------------------------------------------------------------------


async def test_a_bad_stored_topic_config_is_left_out_not_fatal(b1: Broker1, caplog: pytest.LogCaptureFixture) -> None:
    """A value validation lets through nowhere now, but another tool (or an older kopfka) may have written it:
    the partition used to be never created, and on restart ``reconcile_all`` raised and the broker died on
    every start. Now the bad override is reported and the broker default applies."""
    stored = {"segment.bytes": "3000000000", "retention.ms": "1_000_000", "min.insync.replicas": "x",
              "retention.bytes": "5000"}
    await b1.topic("t", {0: [1, 2]}, stored)  # ZkStore writes what it is given, as a ZooKeeper tool would
    await b1.elect("t", 0, state(1, 0, [1, 2]))
    b1.replicas.reconcile_all(starting=True)  # a restart's first pass
    config = b1.part().log.config
    assert (config.segment_bytes, config.retention_bytes, config.retention_ms) == (1073741824, 5000, 604800000)
    assert b1.replicas.min_insync_replicas("t") == 2  # the broker's min.insync.replicas
    assert b1.cache.topics["t"].config == {"retention.bytes": "5000"}
    assert "ignoring a stored config override" in caplog.text and "segment.bytes" in caplog.text
