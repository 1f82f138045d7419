"""The group coordinator's state machine over a real __consumer_offsets log (one local leader replica):
the join/sync protocol, MEMBER_ID_REQUIRED, rebalances on leave and session expiry, static members,
offset commits and their generation checks, reloading from the log, deletion, and losing leadership."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo, TopicInfo
from kafka_broker.cluster.partition import Partition, now_ms
from kafka_broker.config import GroupSettings
from kafka_broker.coordinator.group import CommittedOffset, GroupState
from kafka_broker.coordinator.group_coordinator import OFFSETS_TOPIC, GroupCoordinator
from kafka_broker.protocol.errors import ErrorCode
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig

PROTOCOLS = [("range", b"\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x00")]


class FakeReplicas:
    """The part of the replica manager the coordinator uses."""

    def __init__(self, part: Partition) -> None:
        self.part = part
        self.listeners: list = []

    def get(self, topic: str, index: int) -> Partition | None:
        return self.part if (topic, index) == (OFFSETS_TOPIC, 0) else None

    def leaders(self) -> Iterator[Partition]:
        return iter([self.part] if self.part.is_leader else [])

    def on_role_change(self, listener) -> None:
        self.listeners.append(listener)

    def min_insync_replicas(self, topic: str) -> int:
        return 1


def make_partition(directory: Path) -> Partition:
    log = PartitionLog(directory / f"{OFFSETS_TOPIC}-0", config=LogConfig())
    part = Partition(OFFSETS_TOPIC, 0, log, broker_id=1)
    part.become_leader(leader_epoch=0, isr=(1,), replicas=[1])
    return part


async def start_coordinator(part: Partition) -> GroupCoordinator:
    cache = MetadataCache()
    cache.topics["t"] = TopicInfo("t", None, {p: PartitionInfo("t", p, [1]) for p in range(4)})
    settings = GroupSettings(offsets_topic_num_partitions=1, group_initial_rebalance_delay_ms=0,
                             group_min_session_timeout_ms=10)
    coordinator = GroupCoordinator(broker_id=1, settings=settings, cache=cache, replicas=FakeReplicas(part),
                                   admin=None)  # type: ignore[arg-type]
    coordinator.start()
    for _ in range(100):
        if 0 in coordinator.owned:
            break
        await asyncio.sleep(0.01)
    assert 0 in coordinator.owned
    return coordinator


@pytest.fixture
def part(tmp_path: Path) -> Partition:
    return make_partition(tmp_path)


def join(coordinator: GroupCoordinator, member_id: str = "", *, instance: str | None = None,
         protocols=PROTOCOLS, session_ms: int = 10_000, version4: bool = True):
    return coordinator.join_group(
        group_id="g", member_id=member_id, group_instance_id=instance, client_id="client", client_host="/h",
        session_timeout_ms=session_ms, rebalance_timeout_ms=5_000, protocol_type="consumer", protocols=protocols,
        require_known_member_id=version4)


def sync(coordinator: GroupCoordinator, member_id: str, generation: int, assignments=None, instance=None):
    return coordinator.sync_group(group_id="g", generation_id=generation, member_id=member_id,
                                  group_instance_id=instance, protocol_type="consumer", protocol_name="range",
                                  assignments=assignments or {})


async def form_group(coordinator: GroupCoordinator, count: int) -> list[str]:
    """``count`` members join together and sync; returns their member ids (leader first)."""
    first = [await join(coordinator) for _ in range(count)]
    assert {r.error for r in first} == {ErrorCode.MEMBER_ID_REQUIRED}
    results = await asyncio.gather(*(join(coordinator, r.member_id) for r in first))
    assert {r.error for r in results} == {ErrorCode.NONE}
    leader = next(r for r in results if r.members)
    assert len(leader.members) == count and all(r.leader == leader.member_id for r in results)
    assert all(not r.members for r in results if r is not leader)
    generation = leader.generation_id
    followers = [asyncio.create_task(sync(coordinator, r.member_id, generation)) for r in results if r is not leader]
    assignments = {r.member_id: r.member_id.encode() for r in results}
    leader_sync = await sync(coordinator, leader.member_id, generation, assignments)
    assert leader_sync.error == ErrorCode.NONE and leader_sync.assignment == leader.member_id.encode()
    for task in followers:
        got = await task
        assert got.error == ErrorCode.NONE and got.assignment in assignments.values()
    assert coordinator.groups["g"].state == GroupState.STABLE
    return [leader.member_id] + [r.member_id for r in results if r is not leader]


async def test_join_sync_heartbeat(part: Partition) -> None:
    coordinator = await start_coordinator(part)
    members = await form_group(coordinator, 3)
    group = coordinator.groups["g"]
    assert group.generation_id == 1 and group.protocol_name == "range"
    for member_id in members:
        assert coordinator.heartbeat(group_id="g", generation_id=1, member_id=member_id,
                                     group_instance_id=None) == ErrorCode.NONE
    assert coordinator.heartbeat(group_id="g", generation_id=0, member_id=members[0],
                                 group_instance_id=None) == ErrorCode.ILLEGAL_GENERATION
    assert coordinator.heartbeat(group_id="g", generation_id=1, member_id="nobody",
                                 group_instance_id=None) == ErrorCode.UNKNOWN_MEMBER_ID
    described = coordinator.describe_group("g")
    assert described["group_state"] == "Stable" and len(described["members"]) == 3
    assert part.log.log_end_offset == 1  # the group metadata of generation 1
    # a v3 client joins without the MEMBER_ID_REQUIRED round trip: rebalance
    task = asyncio.create_task(join(coordinator, version4=False))
    await asyncio.sleep(0)
    assert coordinator.heartbeat(group_id="g", generation_id=1, member_id=members[1],
                                 group_instance_id=None) == ErrorCode.REBALANCE_IN_PROGRESS
    rejoins = [asyncio.create_task(join(coordinator, m)) for m in members]
    results = await asyncio.gather(task, *rejoins)
    assert {r.generation_id for r in results} == {2} and {r.error for r in results} == {ErrorCode.NONE}


async def test_leave_and_session_expiry_trigger_rebalances(part: Partition) -> None:
    coordinator = await start_coordinator(part)
    a, b, c = await form_group(coordinator, 3)
    top, errors = coordinator.leave_group(group_id="g", members=[(c, None)])
    assert (top, errors) == (ErrorCode.NONE, [ErrorCode.NONE])
    group = coordinator.groups["g"]
    assert group.state == GroupState.PREPARING_REBALANCE
    results = await asyncio.gather(join(coordinator, a), join(coordinator, b))
    assert {r.generation_id for r in results} == {2}
    await asyncio.gather(sync(coordinator, b, 2), sync(coordinator, a, 2, {a: b"a", b: b"b"}))
    # b stops heartbeating: after its session timeout the timer removes it and a rebalance starts
    coordinator.heartbeat(group_id="g", generation_id=2, member_id=a, group_instance_id=None)
    group.members[a].deadline_ms = now_ms() + 60_000
    coordinator._tick(group, now_ms() + 20_000)
    assert b not in group.members and group.state == GroupState.PREPARING_REBALANCE
    result = await join(coordinator, a)
    assert result.generation_id == 3 and [m[0] for m in result.members] == [a]
    # the last member leaves: the group is Empty and stored so
    await sync(coordinator, a, 3, {a: b""})
    coordinator.leave_group(group_id="g", members=[(a, None)])
    assert group.state == GroupState.EMPTY and group.generation_id == 4


async def test_offsets_are_checked_stored_and_reloaded(part: Partition, tmp_path: Path) -> None:
    coordinator = await start_coordinator(part)
    a, b = await form_group(coordinator, 2)

    async def commit(member_id: str, generation: int, offset: int, partition: int = 0) -> int:
        found = await coordinator.commit_offsets(group_id="g", generation_id=generation, member_id=member_id,
                                                 group_instance_id=None,
                                                 offsets={("t", partition): CommittedOffset(offset, 3, "meta")})
        return found[("t", partition)]

    assert await commit(a, 1, 10) == ErrorCode.NONE
    assert await commit(b, 1, 20, partition=1) == ErrorCode.NONE
    assert await commit(a, 0, 11) == ErrorCode.ILLEGAL_GENERATION
    assert await commit("stranger", 1, 11) == ErrorCode.UNKNOWN_MEMBER_ID
    assert await commit("", -1, 11) == ErrorCode.UNKNOWN_MEMBER_ID  # simple commits only to Empty groups
    missing = await coordinator.commit_offsets(group_id="g", generation_id=1, member_id=a, group_instance_id=None,
                                               offsets={("nope", 0): CommittedOffset(1)})
    assert missing == {("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    fetched = coordinator.fetch_offsets("g", [("t", 0), ("t", 1), ("t", 2)])
    assert fetched[("t", 0)].offset == 10 and fetched[("t", 0)].metadata == "meta"
    assert fetched[("t", 1)].offset == 20 and fetched[("t", 2)] is None
    # a simple consumer (no group management) commits to its own, new group
    simple = await coordinator.commit_offsets(group_id="solo", generation_id=-1, member_id="",
                                              group_instance_id=None, offsets={("t", 3): CommittedOffset(7)})
    assert simple == {("t", 3): ErrorCode.NONE}

    # another broker takes over the same log: it finds the offsets and the Stable group
    part.become_follower(leader_id=2, leader_epoch=1, isr=(1, 2), replicas=[1, 2])
    for listener in coordinator.replicas.listeners:
        listener(part)
    assert coordinator.heartbeat(group_id="g", generation_id=1, member_id=a,
                                 group_instance_id=None) == ErrorCode.NOT_COORDINATOR
    part.become_leader(leader_epoch=2, isr=(1,), replicas=[1])
    fresh = await start_coordinator(part)
    assert fresh.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 10
    assert fresh.fetch_offsets("solo", None) == {("t", 3): CommittedOffset(7, -1, "", fresh.groups["solo"]
                                                                            .offsets[("t", 3)].commit_timestamp)}
    group = fresh.groups["g"]
    assert group.state == GroupState.STABLE and group.generation_id == 1 and set(group.members) == {a, b}
    assert group.members[b].assignment == b.encode()
    assert fresh.heartbeat(group_id="g", generation_id=1, member_id=b, group_instance_id=None) == ErrorCode.NONE


async def test_delete_group_writes_tombstones(part: Partition) -> None:
    coordinator = await start_coordinator(part)
    await coordinator.commit_offsets(group_id="g", generation_id=-1, member_id="", group_instance_id=None,
                                     offsets={("t", 0): CommittedOffset(5)})
    assert await coordinator.delete_group("g") == ErrorCode.NONE
    assert await coordinator.delete_group("g") == ErrorCode.GROUP_ID_NOT_FOUND
    part.become_leader(leader_epoch=1, isr=(1,), replicas=[1])
    fresh = await start_coordinator(part)
    assert "g" not in fresh.groups


async def test_static_member_rejoins_without_rebalance(part: Partition) -> None:
    coordinator = await start_coordinator(part)
    alone = await join(coordinator, instance="i-1")
    assert alone.error == ErrorCode.NONE  # static members skip MEMBER_ID_REQUIRED
    await sync(coordinator, alone.member_id, 1, {alone.member_id: b"all"}, instance="i-1")
    second = asyncio.create_task(join(coordinator, instance="i-2"))
    await asyncio.sleep(0)
    leader = await join(coordinator, alone.member_id, instance="i-1")
    other = await second
    assert leader.generation_id == other.generation_id == 2 and len(leader.members) == 2
    await asyncio.gather(sync(coordinator, other.member_id, 2, instance="i-2"),
                         sync(coordinator, leader.member_id, 2,
                              {leader.member_id: b"L", other.member_id: b"O"}, instance="i-1"))
    # the follower restarts: a new member id, the same generation and assignment, no rebalance
    again = await join(coordinator, instance="i-2")
    assert again.error == ErrorCode.NONE and again.generation_id == 2 and again.member_id != other.member_id
    group = coordinator.groups["g"]
    assert group.state == GroupState.STABLE
    got = await sync(coordinator, again.member_id, 2, instance="i-2")
    assert got.assignment == b"O"
    # the old incarnation is fenced
    assert coordinator.heartbeat(group_id="g", generation_id=2, member_id=other.member_id,
                                 group_instance_id="i-2") == ErrorCode.FENCED_INSTANCE_ID
    # a static member leaves by instance id
    assert coordinator.leave_group(group_id="g", members=[("", "i-2")]) == (ErrorCode.NONE, [ErrorCode.NONE])
    assert group.state == GroupState.PREPARING_REBALANCE


async def test_protocol_selection_and_inconsistent_protocols(part: Partition) -> None:
    coordinator = await start_coordinator(part)
    both = [("cooperative-sticky", b"c"), ("range", b"r")]
    first = await join(coordinator, protocols=both, version4=False)
    assert first.protocol_name == "cooperative-sticky" and first.members == [(first.member_id, None, b"c")]
    assert (await join(coordinator, protocols=[("roundrobin", b"x")], version4=False)).error == \
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    # a member that only speaks range moves the group to range
    task = asyncio.create_task(join(coordinator, protocols=[("range", b"r2")], version4=False))
    await asyncio.sleep(0)
    rejoin = await join(coordinator, first.member_id, protocols=both)
    await task
    assert rejoin.protocol_name == "range"


async def test_offsets_expire_after_the_retention(part: Partition) -> None:
    coordinator = await start_coordinator(part)
    retention = coordinator.settings.offsets_retention_minutes * 60_000
    a, b = await form_group(coordinator, 2)  # subscribed to topic "t"
    for group_id, generation, member in (("g", 1, a), ("solo", -1, "")):
        await coordinator.commit_offsets(group_id=group_id, generation_id=generation, member_id=member,
                                         group_instance_id=None,
                                         offsets={("t", 0): CommittedOffset(1), ("u", 0): CommittedOffset(2)})
    coordinator.cache.topics["u"] = TopicInfo("u", None, {0: PartitionInfo("u", 0, [1])})
    await coordinator.commit_offsets(group_id="g", generation_id=1, member_id=a, group_instance_id=None,
                                     offsets={("u", 0): CommittedOffset(2)})
    later = now_ms() + retention + 1
    await coordinator.expire_offsets(later)
    # the active group keeps offsets of the topic it subscribes to; the simple group loses everything
    assert set(coordinator.groups["g"].offsets) == {("t", 0)}
    assert "solo" not in coordinator.groups
    # once the consumer group has been Empty for the retention period, it goes too
    coordinator.leave_group(group_id="g", members=[(a, None), (b, None)])
    group = coordinator.groups["g"]
    assert group.state == GroupState.EMPTY
    await coordinator.expire_offsets(group.state_timestamp + retention - 1)
    assert "g" in coordinator.groups
    await coordinator.expire_offsets(group.state_timestamp + retention)
    assert "g" not in coordinator.groups
    part.become_leader(leader_epoch=1, isr=(1,), replicas=[1])
    assert not (await start_coordinator(part)).groups


async def test_offset_delete_refuses_subscribed_topics(part: Partition) -> None:
    coordinator = await start_coordinator(part)
    coordinator.cache.topics["u"] = TopicInfo("u", None, {0: PartitionInfo("u", 0, [1])})
    a, _b = await form_group(coordinator, 2)  # subscribed to "t"
    await coordinator.commit_offsets(group_id="g", generation_id=1, member_id=a, group_instance_id=None,
                                     offsets={("t", 0): CommittedOffset(1), ("u", 0): CommittedOffset(2)})
    code, errors = await coordinator.delete_offsets("g", [("t", 0), ("u", 0)])
    assert code == ErrorCode.NONE
    assert errors == {("t", 0): ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ("u", 0): ErrorCode.NONE}
    assert set(coordinator.groups["g"].offsets) == {("t", 0)}
    assert (await coordinator.delete_offsets("nobody", [("t", 0)]))[0] == ErrorCode.GROUP_ID_NOT_FOUND
    assert await coordinator.delete_group("g") == ErrorCode.NON_EMPTY_GROUP
