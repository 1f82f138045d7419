"""The consumer group APIs against a running group coordinator on a local ``__consumer_offsets``:
FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ListGroups, DescribeGroups,
DeleteGroups, OffsetCommit, OffsetFetch and OffsetDelete, at every version each handler serves.

Requests go over the wire codec (:meth:`Broker.send`), so the handlers see what the broker's decoder
gives them; every answer is shape-checked and round-tripped at its version. The expected error
codes are those of Kafka's group coordinator (``GroupCoordinator.scala``) and ``KafkaApis``.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pytest

from kafka_broker.coordinator.group import GroupState
from kafka_broker.coordinator.group_coordinator import OFFSETS_TOPIC, partition_for
from kafka_broker.handlers import (
    delete_groups,
    describe_groups,
    find_coordinator,
    heartbeat,
    join_group,
    leave_group,
    list_groups,
    offset_commit,
    offset_delete,
    offset_fetch,
    sync_group,
)
from kafka_broker.protocol import ErrorCode

from .harness import Broker


def versions(handler: ModuleType, first: int = 0) -> list[int]:
    low, high = handler.VERSIONS
    return list(range(max(low, first), high + 1))


def subscription(*topics: str) -> bytes:
    """A consumer protocol Subscription v0: int16 version, the topics, null user data."""
    out = struct.pack(">hi", 0, len(topics))
    for topic in topics:
        out += struct.pack(">h", len(topic)) + topic.encode()
    return out + struct.pack(">i", -1)


SUBSCRIBED = subscription("t")
RANGE = [("range", SUBSCRIBED)]
HERE, THEIRS, UNKNOWN = "here", "theirs", "unknown"
"""Groups on partitions 0 (led here) and 1 (led by broker 2) of a two-partition ``__consumer_offsets``;
``unknown`` is on partition 0 too, but never used."""


# --- requests, as a client builds them (fields of other versions are left out by the encoder) ----------

def join(member_id: str = "", *, group: str = "g", instance: str | None = None,
         protocols: Iterable[tuple[str, bytes]] = RANGE, protocol_type: str = "consumer",
         session_ms: int = 10_000) -> dict[str, Any]:
    return {"group_id": group, "session_timeout_ms": session_ms, "rebalance_timeout_ms": 5_000,
            "member_id": member_id, "group_instance_id": instance, "protocol_type": protocol_type,
            "protocols": [{"name": n, "metadata": m} for n, m in protocols], "reason": None}


def sync(member_id: str, generation: int, assignments: dict[str, bytes] | None = None, *, group: str = "g",
         instance: str | None = None, protocol_name: str = "range") -> dict[str, Any]:
    return {"group_id": group, "generation_id": generation, "member_id": member_id, "group_instance_id": instance,
            "protocol_type": "consumer", "protocol_name": protocol_name,
            "assignments": [{"member_id": m, "assignment": a} for m, a in (assignments or {}).items()]}


def beat(member_id: str, generation: int, *, group: str = "g", instance: str | None = None) -> dict[str, Any]:
    return {"group_id": group, "generation_id": generation, "member_id": member_id, "group_instance_id": instance}


def leave(*members: tuple[str, str | None], group: str = "g") -> dict[str, Any]:
    """v0-2 name the first member; v3+ all of them."""
    return {"group_id": group, "member_id": members[0][0],
            "members": [{"member_id": m, "group_instance_id": i, "reason": "test"} for m, i in members]}


def commit(offsets: dict[tuple[str, int], tuple[int, int, str | None]], *, group: str = "g", generation: int = -1,
           member_id: str = "", instance: str | None = None) -> dict[str, Any]:
    """``offsets``: (topic, partition) → (offset, leader epoch, metadata)."""
    topics: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), (offset, epoch, metadata) in offsets.items():
        topics.setdefault(topic, []).append({"partition_index": partition, "committed_offset": offset,
                                             "committed_leader_epoch": epoch, "committed_metadata": metadata})
    return {"group_id": group, "generation_id_or_member_epoch": generation, "member_id": member_id,
            "group_instance_id": instance, "retention_time_ms": -1,
            "topics": [{"name": t, "partitions": p} for t, p in topics.items()]}


def fetch(*groups: tuple[str, dict[str, list[int]] | None]) -> dict[str, Any]:
    """v1-7 ask for the first group, v8 for all; ``None`` partitions: everything committed (v2+)."""

    def topics(wanted: dict[str, list[int]] | None) -> list[dict[str, Any]] | None:
        return None if wanted is None else [{"name": t, "partition_indexes": p} for t, p in wanted.items()]

    return {"group_id": groups[0][0], "topics": topics(groups[0][1]), "require_stable": True,
            "groups": [{"group_id": g, "topics": topics(w)} for g, w in groups]}


def commit_errors(response: dict[str, Any]) -> dict[tuple[str, int], int]:
    return {(t["name"], p["partition_index"]): p["error_code"] for t in response["topics"] for p in t["partitions"]}


def fetched(decoded: dict[str, Any], version: int) -> dict[str, tuple[int, dict[tuple[str, int], tuple]]]:
    """An OffsetFetch answer as a client decodes it, at any version: group ("*" before v8) → (group error,
    (topic, partition) → (offset, leader epoch, metadata, error))."""
    answered = decoded["groups"] if version >= 8 else [{**decoded, "group_id": "*"}]
    out = {}
    for group in answered:
        partitions = {(t["name"], p["partition_index"]): (p["committed_offset"], p["committed_leader_epoch"],
                                                          p["metadata"], p["error_code"])
                      for t in group["topics"] for p in t["partitions"]}
        out[group["group_id"]] = (group["error_code"], partitions)
    return out


async def fetch_offsets(broker: Broker, version: int,
                        *groups: tuple[str, dict[str, list[int]] | None]) -> dict[str, tuple[int, dict]]:
    await broker.send(offset_fetch, version, fetch(*groups))
    return fetched(broker.last_decoded, version)


def project(value: Any, like: Any) -> Any:
    """``value`` with only the keys ``like`` has (recursively): decoded answers carry every declared field."""
    if isinstance(like, dict):
        return {k: project(value[k], v) for k, v in like.items()}
    if isinstance(like, list) and isinstance(value, list) and len(like) == len(value):
        return [project(v, w) for v, w in zip(value, like, strict=True)]
    return value


# --- steps of a group's life ---------------------------------------------------------------------------------

async def join_new(broker: Broker, version: int, count: int, *, group: str = "g") -> list[dict[str, Any]]:
    """``count`` new members join together; their JoinGroup answers, the leader's first.

    From v4 each first gets its member id with MEMBER_ID_REQUIRED (KIP-394) and joins again with it.
    """
    assert version >= 4 or count == 1, "before v4 members join one at a time, each join a rebalance"
    ids = [""] * count
    if version >= 4:
        for i in range(count):
            required = await broker.send(join_group, version, join(group=group))
            assert required is not None and required["error_code"] == ErrorCode.MEMBER_ID_REQUIRED
            assert required["member_id"].startswith("unit-test-") and required["generation_id"] == -1
            assert required["leader"] == "" and required["members"] == []
            ids[i] = required["member_id"]
    answers = await asyncio.gather(*(broker.send(join_group, version, join(m, group=group)) for m in ids))
    assert all(a is not None and a["error_code"] == ErrorCode.NONE for a in answers), answers
    return sorted(answers, key=lambda a: a["member_id"] != a["leader"])


async def sync_all(broker: Broker, version: int, joined: list[dict[str, Any]], *,
                   group: str = "g") -> list[dict[str, Any]]:
    """Followers send SyncGroup and wait; the leader hands in the assignment (each member: its own id)."""
    leader, *followers = joined
    generation = leader["generation_id"]
    waiting = [asyncio.create_task(broker.send(sync_group, version, sync(f["member_id"], generation, group=group)))
               for f in followers]
    await asyncio.sleep(0)
    assignments = {j["member_id"]: j["member_id"].encode() for j in joined}
    own = await broker.send(sync_group, version, sync(leader["member_id"], generation, assignments, group=group))
    return [own, *[await w for w in waiting]]


async def form(broker: Broker, count: int = 2, *, group: str = "g") -> tuple[list[str], int]:
    """A Stable group of ``count`` members (newest versions); (member ids leader first, generation)."""
    joined = await join_new(broker, 9, count, group=group)
    await sync_all(broker, 5, joined, group=group)
    assert broker.services.groups.groups[group].state == GroupState.STABLE
    return [j["member_id"] for j in joined], joined[0]["generation_id"]


@pytest.fixture
async def coordinated(groups: Broker) -> Broker:
    """Broker 1 coordinating every group (``__consumer_offsets`` has one partition); topics t (2) and u (1)."""
    groups.add_topic("t", {0: [1, 2], 1: [2, 1]})
    groups.add_topic("u", {0: [3]})
    return groups


@pytest.fixture
async def split(broker: Broker) -> Broker:
    """``__consumer_offsets`` has two partitions: 0 led here (group ``here``), 1 by broker 2 (``theirs``)."""
    assert partition_for(HERE, 2) == partition_for(UNKNOWN, 2) == 0 and partition_for(THEIRS, 2) == 1
    broker.add_topic("t", {0: [1]})
    await broker.start_groups({0: [1], 1: [2]})
    yield broker
    await broker.stop_groups()


def coordinator_of(broker: Broker) -> Any:
    assert broker.services.groups is not None
    return broker.services.groups


# --- the whole life of a group ---------------------------------------------------------------------------------

PROFILES = {
    # API → version: the newest versions, and the oldest that have MEMBER_ID_REQUIRED and batched LeaveGroup
    "newest": {"find": 4, "join": 9, "sync": 5, "beat": 4, "commit": 8, "fetch": 8, "list": 4, "describe": 2,
               "leave": 5, "delete": 2},
    "kip-394": {"find": 2, "join": 4, "sync": 3, "beat": 3, "commit": 5, "fetch": 5, "list": 3, "describe": 1,
                "leave": 3, "delete": 1},
}


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_group_from_first_join_to_deletion(coordinated: Broker, profile: str) -> None:
    v = PROFILES[profile]
    broker = coordinated
    found = await broker.send(find_coordinator, v["find"], {"key": "g", "key_type": 0, "coordinator_keys": ["g"]})
    node = found["coordinators"][0] if v["find"] >= 4 else found
    assert (node["error_code"], node["node_id"], node["host"], node["port"]) == (ErrorCode.NONE, 1, "127.0.0.1", 9092)

    # two consumers join: MEMBER_ID_REQUIRED, then generation 1; only the leader learns the members
    joined = await join_new(broker, v["join"], 2)
    leader, follower = joined
    a, b = leader["member_id"], follower["member_id"]
    assert {j["generation_id"] for j in joined} == {1} and {j["leader"] for j in joined} == {a}
    assert {j["protocol_name"] for j in joined} == {"range"}
    assert sorted((m["member_id"], m["metadata"]) for m in leader["members"]) == sorted([(a, SUBSCRIBED),
                                                                                       (b, SUBSCRIBED)])
    assert follower["members"] == []
    synced = await sync_all(broker, v["sync"], joined)
    assert [(s["error_code"], s["assignment"]) for s in synced] == [(ErrorCode.NONE, a.encode()),
                                                                   (ErrorCode.NONE, b.encode())]
    if v["sync"] >= 5:
        assert {(s["protocol_type"], s["protocol_name"]) for s in synced} == {("consumer", "range")}
    for member in (a, b):
        assert (await broker.send(heartbeat, v["beat"], beat(member, 1)))["error_code"] == ErrorCode.NONE

    described = (await broker.send(describe_groups, v["describe"], {"groups": ["g"]}))["groups"]
    assert [(d["error_code"], d["group_state"], d["protocol_type"], d["protocol_data"]) for d in described] == [
        (ErrorCode.NONE, "Stable", "consumer", "range")]
    assert sorted((m["member_id"], m["client_id"], m["client_host"], m["member_metadata"], m["member_assignment"])
                  for m in described[0]["members"]) == sorted(
        (m, "unit-test", "/127.0.0.1", SUBSCRIBED, m.encode()) for m in (a, b))
    listed = await broker.send(list_groups, v["list"], {"states_filter": []})
    assert listed["error_code"] == ErrorCode.NONE
    assert [(g["group_id"], g["protocol_type"]) for g in listed["groups"]] == [("g", "consumer")]
    if v["list"] >= 4:
        assert listed["groups"][0]["group_state"] == "Stable"

    # the members commit and fetch their positions
    committed = await broker.send(offset_commit, v["commit"], commit({("t", 0): (10, 3, "m")}, generation=1,
                                                                      member_id=a))
    assert commit_errors(committed) == {("t", 0): ErrorCode.NONE}
    committed = await broker.send(offset_commit, v["commit"], commit({("t", 1): (20, 4, None)}, generation=1,
                                                                      member_id=b))
    assert commit_errors(committed) == {("t", 1): ErrorCode.NONE}
    (error, partitions), = (await fetch_offsets(broker, v["fetch"], ("g", {"t": [0, 1]}))).values()

    def epoch(e: int) -> int:  # committed from v6, answered from v5
        return e if v["commit"] >= 6 and v["fetch"] >= 5 else -1

    assert error == ErrorCode.NONE
    assert partitions == {("t", 0): (10, epoch(3), "m", ErrorCode.NONE), ("t", 1): (20, epoch(4), "", ErrorCode.NONE)}

    # the leader rejoins (as it does when its metadata changes): a rebalance, which the follower learns of by
    # its heartbeat; it may still commit in PreparingRebalance, and rejoins
    rejoining = asyncio.create_task(broker.send(join_group, v["join"], join(a)))
    await asyncio.sleep(0)
    assert (await broker.send(heartbeat, v["beat"], beat(b, 1)))["error_code"] == ErrorCode.REBALANCE_IN_PROGRESS
    late = await broker.send(offset_commit, v["commit"], commit({("t", 1): (21, 4, "")}, generation=1, member_id=b))
    assert commit_errors(late) == {("t", 1): ErrorCode.NONE}
    rejoined = sorted([await broker.send(join_group, v["join"], join(b)), await rejoining],
                      key=lambda r: r["member_id"] != a)
    assert [(r["error_code"], r["generation_id"], r["leader"]) for r in rejoined] == [(ErrorCode.NONE, 2, a)] * 2
    # between JoinGroup and SyncGroup (CompletingRebalance) heartbeats are fine, commits are not
    assert (await broker.send(heartbeat, v["beat"], beat(b, 2)))["error_code"] == ErrorCode.NONE
    early = await broker.send(offset_commit, v["commit"], commit({("t", 1): (22, 4, "")}, generation=2, member_id=b))
    assert commit_errors(early) == {("t", 1): ErrorCode.REBALANCE_IN_PROGRESS}
    await sync_all(broker, v["sync"], rejoined)

    # a group with members cannot be deleted; the members leave (one batch from v3) and it is Empty
    deleted = await broker.send(delete_groups, v["delete"], {"groups_names": ["g"]})
    assert deleted["results"] == [{"group_id": "g", "error_code": ErrorCode.NON_EMPTY_GROUP}]
    left = await broker.send(leave_group, v["leave"], leave((a, None), (b, None)))
    assert left["error_code"] == ErrorCode.NONE
    assert [(m["member_id"], m["error_code"]) for m in left["members"]] == [(a, ErrorCode.NONE),
                                                                           (b, ErrorCode.NONE)]
    group = coordinator_of(broker).groups["g"]
    assert group.state == GroupState.EMPTY and group.generation_id == 3
    assert (await broker.send(heartbeat, v["beat"], beat(a, 3)))["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID

    # an Empty group's offsets can be deleted, then the group itself
    dropped = await broker.send(offset_delete, 0, {"group_id": "g", "topics": [{"name": "t", "partitions": [
        {"partition_index": 0}]}]})
    assert dropped["error_code"] == ErrorCode.NONE
    assert commit_errors(dropped) == {("t", 0): ErrorCode.NONE}
    (_, partitions), = (await fetch_offsets(broker, v["fetch"], ("g", {"t": [0, 1]}))).values()
    assert [p[0] for p in partitions.values()] == [-1, 21]
    deleted = await broker.send(delete_groups, v["delete"], {"groups_names": ["g"]})
    assert deleted["results"] == [{"group_id": "g", "error_code": ErrorCode.NONE}]
    deleted = await broker.send(delete_groups, v["delete"], {"groups_names": ["g"]})
    assert deleted["results"] == [{"group_id": "g", "error_code": ErrorCode.GROUP_ID_NOT_FOUND}]
    assert (await broker.send(list_groups, v["list"], {"states_filter": []}))["groups"] == []
    (_, partitions), = (await fetch_offsets(broker, v["fetch"], ("g", {"t": [1]}))).values()
    assert partitions == {("t", 1): (-1, -1, "", ErrorCode.NONE)}


# --- FindCoordinator ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", versions(find_coordinator))
async def test_find_coordinator_answers_the_leader_of_the_groups_partition(split: Broker, version: int) -> None:
    if version >= 4:
        response = await split.send(find_coordinator, version, {"key_type": 0, "coordinator_keys": [HERE, THEIRS]})
        assert [(c["key"], c["error_code"], c["node_id"], c["host"], c["port"])
                for c in response["coordinators"]] == [(HERE, ErrorCode.NONE, 1, "127.0.0.1", 9092),
                                                       (THEIRS, ErrorCode.NONE, 2, "127.0.0.1", 9093)]
        return
    for key, node, port in ((HERE, 1, 9092), (THEIRS, 2, 9093)):
        response = await split.send(find_coordinator, version, {"key": key, "key_type": 0})
        assert (response["error_code"], response["node_id"], response["host"], response["port"]) == (
            ErrorCode.NONE, node, "127.0.0.1", port)
        if version >= 1:
            assert split.last_decoded["error_message"] is None


@pytest.mark.parametrize("version", versions(find_coordinator, first=1))
async def test_find_coordinator_for_a_transactional_id_is_not_available(split: Broker, version: int) -> None:
    """Transactions are not supported: a transaction coordinator is never found (key type 1, v1+)."""
    request = {"key": "tx", "key_type": 1, "coordinator_keys": ["tx", "ty"]}
    response = await split.send(find_coordinator, version, request)
    answers = response["coordinators"] if version >= 4 else [response]
    assert [(c["error_code"], c["node_id"], c["host"], c["port"]) for c in answers] == [
        (ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1)] * len(answers)
    assert all(c["error_message"] == "COORDINATOR_NOT_AVAILABLE" for c in answers)


async def test_the_first_find_coordinator_creates_the_offsets_topic(broker: Broker) -> None:
    """Kafka creates ``__consumer_offsets`` on the first lookup and answers COORDINATOR_NOT_AVAILABLE until
    its partitions have leaders; here the leaders are elected at once, so the second lookup finds one."""
    await broker.start_groups(create_topic=False, loaded=False)
    first = await broker.send(find_coordinator, 3, {"key": "g", "key_type": 0})
    assert (first["error_code"], first["node_id"]) == (ErrorCode.COORDINATOR_NOT_AVAILABLE, -1)
    created = broker.store.assignments[OFFSETS_TOPIC]
    assert len(created.partitions) == 1 and len(created.partitions[0]) == 3  # RF min(3, live brokers)
    assert broker.store.configs[OFFSETS_TOPIC]["cleanup.policy"] == "compact"
    second = await broker.send(find_coordinator, 3, {"key": "g", "key_type": 0})
    leader = created.partitions[0][0]
    assert (second["error_code"], second["node_id"], second["port"]) == (
        ErrorCode.NONE, leader, 9091 + leader)
    await broker.groups_loaded()
    await broker.stop_groups()


async def test_find_coordinator_of_the_empty_group_id(coordinated: Broker) -> None:
    response = await coordinated.send(find_coordinator, 3, {"key": "", "key_type": 0})
    assert (response["error_code"], response["node_id"]) == (ErrorCode.NONE, 1)


# --- without a coordinator ------------------------------------------------------------------------------------------

NOT_AVAILABLE = ErrorCode.COORDINATOR_NOT_AVAILABLE


@pytest.mark.parametrize(("handler", "version", "request_", "expected"), [
    (find_coordinator, 0, {"key": "g"}, {"error_code": NOT_AVAILABLE, "node_id": -1, "host": "", "port": -1}),
    (find_coordinator, 4, {"coordinator_keys": ["g"]},
     {"coordinators": [{"key": "g", "node_id": -1, "host": "", "port": -1, "error_code": NOT_AVAILABLE,
                        "error_message": "COORDINATOR_NOT_AVAILABLE"}]}),
    (join_group, 0, join("m-1"), {"error_code": NOT_AVAILABLE, "member_id": "m-1", "generation_id": -1,
                                  "leader": "", "members": [], "protocol_name": ""}),
    (join_group, 9, join(), {"error_code": NOT_AVAILABLE, "member_id": "", "protocol_name": None}),
    (sync_group, 0, sync("m-1", 1), {"error_code": NOT_AVAILABLE, "assignment": b""}),
    (sync_group, 5, sync("m-1", 1), {"error_code": NOT_AVAILABLE, "assignment": b"", "protocol_type": None,
                                     "protocol_name": None}),
    (heartbeat, 4, beat("m-1", 1), {"error_code": NOT_AVAILABLE}),
    (leave_group, 0, leave(("m-1", None)), {"error_code": NOT_AVAILABLE}),
    (leave_group, 5, leave(("m-1", None)), {"error_code": NOT_AVAILABLE}),
    (list_groups, 4, {"states_filter": []}, {"error_code": NOT_AVAILABLE, "groups": []}),
    (describe_groups, 0, {"groups": ["g"]},
     {"groups": [{"error_code": NOT_AVAILABLE, "group_id": "g", "group_state": "", "protocol_type": "",
                  "protocol_data": "", "members": []}]}),
    (delete_groups, 2, {"groups_names": ["g", "h"]},
     {"results": [{"group_id": "g", "error_code": NOT_AVAILABLE}, {"group_id": "h", "error_code": NOT_AVAILABLE}]}),
    (offset_commit, 8, commit({("t", 0): (1, -1, "")}),
     {"topics": [{"name": "t", "partitions": [{"partition_index": 0, "error_code": NOT_AVAILABLE}]}]}),
    (offset_fetch, 1, fetch(("g", {"t": [0]})),
     {"topics": [{"name": "t", "partitions": [{"partition_index": 0, "committed_offset": -1, "metadata": "",
                                               "error_code": NOT_AVAILABLE}]}]}),
    (offset_fetch, 7, fetch(("g", None)), {"error_code": NOT_AVAILABLE, "topics": []}),
    (offset_fetch, 8, fetch(("g", None), ("h", None)),
     {"groups": [{"group_id": "g", "topics": [], "error_code": NOT_AVAILABLE},
                 {"group_id": "h", "topics": [], "error_code": NOT_AVAILABLE}]}),
    (offset_delete, 0, {"group_id": "g", "topics": [{"name": "t", "partitions": [{"partition_index": 0}]}]},
     {"error_code": NOT_AVAILABLE, "topics": []}),
], ids=lambda p: p.__name__.rsplit(".", 1)[-1] if isinstance(p, ModuleType) else None)
async def test_without_a_group_coordinator_the_group_apis_answer_coordinator_not_available(
        broker: Broker, handler: ModuleType, version: int, request_: dict[str, Any], expected: dict[str, Any]) -> None:
    """Until the broker has started its group coordinator (``services.groups`` is None)."""
    await broker.send(handler, version, request_)
    assert project(broker.last_decoded, expected) == expected


# --- JoinGroup ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", versions(join_group))
async def test_join_group_alone_at_every_version(coordinated: Broker, version: int) -> None:
    (joined,) = await join_new(coordinated, version, 1)
    member = joined["member_id"]
    assert member.startswith("unit-test-")
    assert (joined["generation_id"], joined["leader"], joined["protocol_name"]) == (1, member, "range")
    assert joined["members"] == [{"member_id": member, "group_instance_id": None, "metadata": SUBSCRIBED}]
    decoded = coordinated.last_decoded
    assert decoded["protocol_type"] == ("consumer" if version >= 7 else None)  # not on the wire before v7
    assert decoded["skip_assignment"] is False
    group = coordinator_of(coordinated).groups["g"]
    assert group.state == GroupState.COMPLETING_REBALANCE and list(group.members) == [member]
    # v0 has no rebalance timeout: the session timeout serves as one
    assert group.members[member].rebalance_timeout_ms == (10_000 if version == 0 else 5_000)
    (synced,) = await sync_all(coordinated, 5, [joined])
    assert synced["assignment"] == member.encode()


@pytest.mark.parametrize("version", versions(join_group))
async def test_join_group_refusals(split: Broker, version: int) -> None:
    async def joined(request: dict[str, Any]) -> tuple[int, str]:
        response = await split.send(join_group, version, request)
        assert response["generation_id"] == -1 and response["members"] == []
        assert split.last_decoded["protocol_name"] == (None if version >= 7 else "")
        return response["error_code"], response["member_id"]

    assert await joined(join(group="")) == (ErrorCode.INVALID_GROUP_ID, "")
    assert await joined(join(group=THEIRS)) == (ErrorCode.NOT_COORDINATOR, "")
    assert await joined(join("ghost", group=HERE)) == (ErrorCode.UNKNOWN_MEMBER_ID, "ghost")  # no such group
    assert await joined(join(group=HERE, session_ms=10)) == (ErrorCode.INVALID_SESSION_TIMEOUT, "")
    assert await joined(join(group=HERE, protocols=[])) == (ErrorCode.INCONSISTENT_GROUP_PROTOCOL, "")
    (member,) = await join_new(split, version, 1, group=HERE)
    assert await joined(join(group=HERE, protocols=[("roundrobin", b"")])) == (
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL, "")
    assert await joined(join(group=HERE, protocol_type="connect")) == (ErrorCode.INCONSISTENT_GROUP_PROTOCOL, "")
    assert await joined(join("ghost", group=HERE)) == (ErrorCode.UNKNOWN_MEMBER_ID, "ghost")  # no such member
    await sync_all(split, 5, [member], group=HERE)


@pytest.mark.parametrize("version", [0, 3])
async def test_before_v4_a_new_member_joins_at_once_and_starts_a_rebalance(coordinated: Broker, version: int) -> None:
    """Without MEMBER_ID_REQUIRED the first member forms generation 1 alone; the next one's JoinGroup waits
    until the first has rejoined, and generation 2 has both."""
    (first,) = await join_new(coordinated, version, 1)
    a = first["member_id"]
    await sync_all(coordinated, 3, [first])
    second = asyncio.create_task(coordinated.send(join_group, version, join()))
    await asyncio.sleep(0)
    assert not second.done()
    assert (await coordinated.send(heartbeat, 3, beat(a, 1)))["error_code"] == ErrorCode.REBALANCE_IN_PROGRESS
    rejoined = await coordinated.send(join_group, version, join(a))
    b = (await second)["member_id"]
    assert (rejoined["generation_id"], rejoined["leader"]) == (2, a)
    assert sorted(m["member_id"] for m in rejoined["members"]) == sorted([a, b])
    await coordinated.send(leave_group, 3, leave((a, None), (b, None)))


@pytest.mark.parametrize("version", versions(join_group, first=5))
async def test_static_members_rejoin_without_a_rebalance_and_fence_their_old_id(coordinated: Broker,
                                                                                version: int) -> None:
    """A member with a group.instance.id (v5+) gets its id at once; restarted, it takes its old place."""
    first = await coordinated.send(join_group, version, join(instance="i-1"))
    a = first["member_id"]
    assert first["error_code"] == ErrorCode.NONE and a.startswith("i-1-")
    assert first["members"] == [{"member_id": a, "group_instance_id": "i-1", "metadata": SUBSCRIBED}]
    got = await coordinated.send(sync_group, 5, sync(a, 1, {a: b"mine"}, instance="i-1"))
    assert got["assignment"] == b"mine"
    again = await coordinated.send(join_group, version, join(instance="i-1"))
    b = again["member_id"]
    assert again["error_code"] == ErrorCode.NONE and b != a and again["generation_id"] == 1
    assert coordinator_of(coordinated).groups["g"].state == GroupState.STABLE
    got = await coordinated.send(sync_group, 5, sync(b, 1, instance="i-1"))
    assert got["assignment"] == b"mine"
    fenced = await coordinated.send(heartbeat, 4, beat(a, 1, instance="i-1"))
    assert fenced["error_code"] == ErrorCode.FENCED_INSTANCE_ID
    assert (await coordinated.send(join_group, version, join(a, instance="i-1")))["error_code"] == \
        ErrorCode.FENCED_INSTANCE_ID
    # an administrator removes the static member by its instance id alone (LeaveGroup v3+)
    left = await coordinated.send(leave_group, 4, leave(("", "i-1")))
    assert left["members"] == [{"member_id": "", "group_instance_id": "i-1", "error_code": ErrorCode.NONE}]
    assert coordinator_of(coordinated).groups["g"].state == GroupState.EMPTY


async def test_join_group_while_the_coordinator_loads(broker: Broker) -> None:
    await broker.start_groups(loaded=False)
    response = await broker.send(join_group, 9, join())
    assert response["error_code"] == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    listed = await broker.send(list_groups, 4, {"states_filter": []})
    assert listed["error_code"] == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    await broker.groups_loaded()
    assert (await broker.send(list_groups, 4, {"states_filter": []}))["error_code"] == ErrorCode.NONE
    await broker.stop_groups()


# --- SyncGroup ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", versions(sync_group))
async def test_sync_group_hands_each_member_its_assignment(coordinated: Broker, version: int) -> None:
    joined = await join_new(coordinated, 9, 2)
    a, b = (j["member_id"] for j in joined)
    # a follower's early SyncGroup waits for the leader's
    waiting = asyncio.create_task(coordinated.send(sync_group, version, sync(b, 1)))
    await asyncio.sleep(0)
    assert not waiting.done()
    assert (await coordinated.send(heartbeat, 4, beat(b, 1)))["error_code"] == ErrorCode.NONE
    own = await coordinated.send(sync_group, version, sync(a, 1, {a: b"\x00A", b: b"\x00B"}))
    theirs = await waiting
    assert (own["error_code"], own["assignment"]) == (ErrorCode.NONE, b"\x00A")
    assert (theirs["error_code"], theirs["assignment"]) == (ErrorCode.NONE, b"\x00B")
    if version >= 5:
        assert (theirs["protocol_type"], theirs["protocol_name"]) == ("consumer", "range")
    # once Stable, SyncGroup answers the assignment again
    again = await coordinated.send(sync_group, version, sync(b, 1))
    assert (again["error_code"], again["assignment"]) == (ErrorCode.NONE, b"\x00B")
    assert coordinator_of(coordinated).groups["g"].state == GroupState.STABLE


@pytest.mark.parametrize("version", versions(sync_group))
async def test_sync_group_refusals(split: Broker, version: int) -> None:
    async def synced(request: dict[str, Any]) -> int:
        response = await split.send(sync_group, version, request)
        assert response["assignment"] == b""
        return response["error_code"]

    assert await synced(sync("m", 1, group=THEIRS)) == ErrorCode.NOT_COORDINATOR
    assert await synced(sync("m", 1, group=HERE)) == ErrorCode.UNKNOWN_MEMBER_ID  # no such group
    (a, b), generation = await form(split, group=HERE)
    assert await synced(sync("stranger", generation, group=HERE)) == ErrorCode.UNKNOWN_MEMBER_ID
    assert await synced(sync(b, generation + 1, group=HERE)) == ErrorCode.ILLEGAL_GENERATION
    if version >= 5:  # the protocol named in the request must be the group's
        assert await synced(sync(b, generation, group=HERE, protocol_name="roundrobin")) == \
            ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    rejoining = asyncio.create_task(split.send(join_group, 9, join(a, group=HERE)))
    await asyncio.sleep(0)
    assert await synced(sync(b, generation, group=HERE)) == ErrorCode.REBALANCE_IN_PROGRESS
    await split.send(leave_group, 5, leave((b, None), group=HERE))
    assert (await rejoining)["error_code"] == ErrorCode.NONE


async def test_a_new_join_answers_waiting_sync_requests_rebalance_in_progress(coordinated: Broker) -> None:
    joined = await join_new(coordinated, 9, 2)
    a, b = (j["member_id"] for j in joined)
    waiting = asyncio.create_task(coordinated.send(sync_group, 5, sync(b, 1)))
    await asyncio.sleep(0)
    newcomer = await coordinated.send(join_group, 9, join())
    assert newcomer["error_code"] == ErrorCode.MEMBER_ID_REQUIRED
    rejoin = asyncio.create_task(coordinated.send(join_group, 9, join(newcomer["member_id"])))
    await asyncio.sleep(0)
    got = await waiting
    assert (got["error_code"], got["assignment"]) == (ErrorCode.REBALANCE_IN_PROGRESS, b"")
    await coordinated.send(leave_group, 5, leave((a, None), (b, None)))
    assert (await rejoin)["generation_id"] == 2


# --- Heartbeat ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", versions(heartbeat))
async def test_heartbeat_answers_by_generation_membership_and_state(split: Broker, version: int) -> None:
    async def beaten(member: str, generation: int, group: str = HERE) -> int:
        return (await split.send(heartbeat, version, beat(member, generation, group=group)))["error_code"]

    assert await beaten("m", 1, THEIRS) == ErrorCode.NOT_COORDINATOR
    assert await beaten("m", 1) == ErrorCode.UNKNOWN_MEMBER_ID  # no such group
    (a, b), generation = await form(split, group=HERE)
    assert await beaten(a, generation) == ErrorCode.NONE
    assert await beaten(b, generation) == ErrorCode.NONE
    assert await beaten(b, generation - 1) == ErrorCode.ILLEGAL_GENERATION
    assert await beaten("stranger", generation) == ErrorCode.UNKNOWN_MEMBER_ID
    rejoining = asyncio.create_task(split.send(join_group, 9, join(a, group=HERE)))
    await asyncio.sleep(0)
    assert await beaten(b, generation) == ErrorCode.REBALANCE_IN_PROGRESS
    await split.send(leave_group, 5, leave((b, None), group=HERE))
    assert (await rejoining)["generation_id"] == generation + 1
    assert await beaten(a, generation + 1) == ErrorCode.NONE  # CompletingRebalance: fine
    await split.send(leave_group, 5, leave((a, None), group=HERE))
    assert await beaten(a, generation + 2) == ErrorCode.UNKNOWN_MEMBER_ID  # Empty


# --- LeaveGroup -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", versions(leave_group))
async def test_leave_group_removes_members_and_rebalances(coordinated: Broker, version: int) -> None:
    (a, b, c), generation = await form(coordinated, 3)
    left = await coordinated.send(leave_group, version, leave((c, None), ("stranger", None)))
    if version >= 3:  # a batch: an error per member, none at the top
        assert left["error_code"] == ErrorCode.NONE
        assert [(m["member_id"], m["group_instance_id"], m["error_code"]) for m in left["members"]] == [
            (c, None, ErrorCode.NONE), ("stranger", None, ErrorCode.UNKNOWN_MEMBER_ID)]
    else:  # one member, its error at the top
        assert left["error_code"] == ErrorCode.NONE
        assert "members" not in coordinated.last_decoded or coordinated.last_decoded["members"] == []
        stranger = await coordinated.send(leave_group, version, leave(("stranger", None)))
        assert stranger["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID
    group = coordinator_of(coordinated).groups["g"]
    assert c not in group.members and group.state == GroupState.PREPARING_REBALANCE
    assert (await coordinated.send(heartbeat, 4, beat(a, generation)))["error_code"] == \
        ErrorCode.REBALANCE_IN_PROGRESS
    rejoined = await asyncio.gather(*(coordinated.send(join_group, 9, join(m)) for m in (a, b)))
    assert {r["generation_id"] for r in rejoined} == {generation + 1}
    await asyncio.gather(*(coordinated.send(leave_group, version, leave((m, None))) for m in (a, b)))
    assert group.state == GroupState.EMPTY


@pytest.mark.parametrize("version", versions(leave_group))
async def test_leave_group_of_unknown_groups(split: Broker, version: int) -> None:
    response = await split.send(leave_group, version, leave(("m", None), group=THEIRS))
    assert response["error_code"] == ErrorCode.NOT_COORDINATOR
    response = await split.send(leave_group, version, leave(("m", None), group=HERE))
    if version >= 3:  # Kafka: no error at the top, UNKNOWN_MEMBER_ID for each member
        assert response["error_code"] == ErrorCode.NONE
        assert [m["error_code"] for m in response["members"]] == [ErrorCode.UNKNOWN_MEMBER_ID]
    else:
        assert response["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID


async def test_a_member_id_handed_out_with_member_id_required_may_leave(coordinated: Broker) -> None:
    """The pending member id is forgotten, so the join phase does not wait for it."""
    (a,), generation = await form(coordinated, 1)
    required = await coordinated.send(join_group, 9, join())
    pending = required["member_id"]
    left = await coordinated.send(leave_group, 5, leave((pending, None)))
    assert left["members"][0]["error_code"] == ErrorCode.NONE
    assert pending not in coordinator_of(coordinated).groups["g"].pending_members
    rejoined = await coordinated.send(join_group, 9, join(a))  # the leader rejoins alone: done at once
    assert (rejoined["error_code"], rejoined["generation_id"]) == (ErrorCode.NONE, generation + 1)


# --- ListGroups and DescribeGroups ----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", versions(list_groups))
async def test_list_groups_with_their_protocol_type_and_state(coordinated: Broker, version: int) -> None:
    await form(coordinated, 1, group="consumers")
    simple = await coordinated.send(offset_commit, 8, commit({("t", 0): (5, -1, "")}, group="simple"))
    assert commit_errors(simple) == {("t", 0): ErrorCode.NONE}
    listed = await coordinated.send(list_groups, version, {"states_filter": []})
    assert listed["error_code"] == ErrorCode.NONE
    assert sorted((g["group_id"], g["protocol_type"]) for g in listed["groups"]) == [
        ("consumers", "consumer"), ("simple", "")]
    if version >= 4:
        assert sorted((g["group_id"], g["group_state"]) for g in listed["groups"]) == [
            ("consumers", "Stable"), ("simple", "Empty")]
        stable = await coordinated.send(list_groups, version, {"states_filter": ["Stable"]})
        assert [g["group_id"] for g in stable["groups"]] == ["consumers"]
        none = await coordinated.send(list_groups, version, {"states_filter": ["Dead", "PreparingRebalance"]})
        assert none["groups"] == []


NO_AUTHORIZED_OPERATIONS = -(2**31)


@pytest.mark.parametrize("version", versions(describe_groups))
async def test_describe_groups_in_every_state(split: Broker, version: int) -> None:
    """Members' metadata and assignments only once Stable; an unknown group is Dead without an error."""
    await form(split, 1, group=HERE)
    (member,) = coordinator_of(split).groups[HERE].members
    await split.send(describe_groups, version, {"groups": [HERE, UNKNOWN, THEIRS],
                                                "include_authorized_operations": False})
    expected = [
        {"error_code": ErrorCode.NONE, "group_id": HERE, "group_state": "Stable", "protocol_type": "consumer",
         "protocol_data": "range", "members": [
             {"member_id": member, "group_instance_id": None, "client_id": "unit-test", "client_host": "/127.0.0.1",
              "member_metadata": SUBSCRIBED, "member_assignment": member.encode()}]},
        {"error_code": ErrorCode.NONE, "group_id": UNKNOWN, "group_state": "Dead", "protocol_type": "",
         "protocol_data": "", "members": []},
        {"error_code": ErrorCode.NOT_COORDINATOR, "group_id": THEIRS, "group_state": "", "protocol_type": "",
         "protocol_data": "", "members": []},
    ]
    if version >= 3:
        for group in expected:
            group["authorized_operations"] = NO_AUTHORIZED_OPERATIONS
    described = split.last_decoded["groups"]
    assert project(described, expected) == expected
    # the member changes its metadata: a rebalance, no protocol yet, members without metadata or assignment
    rejoined = await split.send(join_group, 9, join(member, group=HERE, protocols=[("range", b"x")]))
    assert (rejoined["error_code"], rejoined["generation_id"]) == (ErrorCode.NONE, 2)
    await split.send(describe_groups, version, {"groups": [HERE]})
    (rebalancing,) = split.last_decoded["groups"]
    assert (rebalancing["group_state"], rebalancing["protocol_type"], rebalancing["protocol_data"]) == (
        "CompletingRebalance", "consumer", "")
    assert [(m["member_id"], m["member_metadata"], m["member_assignment"]) for m in rebalancing["members"]] == [
        (member, b"", b"")]


@pytest.mark.parametrize("version", versions(describe_groups, first=3))
async def test_describe_groups_answers_the_authorized_operations_when_asked(split: Broker, version: int) -> None:
    """Without an authorizer every operation of a group is allowed, as in Kafka: READ (3), DELETE (6) and
    DESCRIBE (8) as a bit field, 328 — for groups described without an error (a Dead one too), and only
    when asked."""
    await form(split, 1, group=HERE)
    asked = {"groups": [HERE, UNKNOWN, THEIRS], "include_authorized_operations": True}
    described = (await split.send(describe_groups, version, asked))["groups"]
    assert [(d["group_id"], d["error_code"], d["authorized_operations"]) for d in described] == [
        (HERE, ErrorCode.NONE, 328), (UNKNOWN, ErrorCode.NONE, 328),
        (THEIRS, ErrorCode.NOT_COORDINATOR, NO_AUTHORIZED_OPERATIONS)]
    not_asked = (await split.send(describe_groups, version, {**asked, "include_authorized_operations": False}))
    assert [d["authorized_operations"] for d in not_asked["groups"]] == [NO_AUTHORIZED_OPERATIONS] * 3


# --- DeleteGroups ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", versions(delete_groups))
async def test_delete_groups_answers_each_group(split: Broker, version: int) -> None:
    await form(split, 1, group=HERE)
    committed = await split.send(offset_commit, 8, commit({("t", 0): (7, -1, "")}, group="d"))
    assert commit_errors(committed) == {("t", 0): ErrorCode.NONE}
    assert partition_for("d", 2) == 0
    log = split.partition(OFFSETS_TOPIC, 0).log
    before = log.log_end_offset
    deleted = await split.send(delete_groups, version, {"groups_names": [HERE, UNKNOWN, THEIRS, "d"]})
    assert deleted["results"] == [
        {"group_id": HERE, "error_code": ErrorCode.NON_EMPTY_GROUP},
        {"group_id": UNKNOWN, "error_code": ErrorCode.GROUP_ID_NOT_FOUND},
        {"group_id": THEIRS, "error_code": ErrorCode.NOT_COORDINATOR},
        {"group_id": "d", "error_code": ErrorCode.NONE},
    ]
    assert log.log_end_offset == before + 2  # tombstones: the offset and the group
    assert "d" not in coordinator_of(split).groups
    assert await fetch_offsets(split, 8, ("d", None)) == {"d": (ErrorCode.NONE, {})}


# --- OffsetCommit ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", versions(offset_commit))
async def test_offset_commit_by_members_and_by_simple_consumers(coordinated: Broker, version: int) -> None:
    (a, b), generation = await form(coordinated)
    committed = await coordinated.send(offset_commit, version, commit(
        {("t", 0): (100, 5, "by a"), ("t", 1): (200, 6, None), ("nope", 0): (1, -1, ""), ("t", 9): (1, -1, "")},
        generation=generation, member_id=a))
    assert commit_errors(committed) == {("t", 0): ErrorCode.NONE, ("t", 1): ErrorCode.NONE,
                                        ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                        ("t", 9): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    too_large = await coordinated.send(offset_commit, version, commit({("t", 0): (101, -1, "x" * 4097)},
                                                                      generation=generation, member_id=b))
    assert commit_errors(too_large) == {("t", 0): ErrorCode.OFFSET_METADATA_TOO_LARGE}
    stored = coordinator_of(coordinated).groups["g"].offsets
    # the leader epoch exists from v6; null metadata is stored as ""
    assert (stored[("t", 0)].offset, stored[("t", 0)].leader_epoch, stored[("t", 0)].metadata) == (
        100, 5 if version >= 6 else -1, "by a")
    assert (stored[("t", 1)].offset, stored[("t", 1)].metadata) == (200, "")

    # a consumer that assigns itself partitions commits with generation -1 to a group of its own
    simple = await coordinated.send(offset_commit, version, commit({("u", 0): (3, -1, "s")}, group="simple"))
    assert commit_errors(simple) == {("u", 0): ErrorCode.NONE}
    assert coordinator_of(coordinated).groups["simple"].offsets[("u", 0)].offset == 3


@pytest.mark.parametrize("version", versions(offset_commit))
async def test_offset_commit_refusals(split: Broker, version: int) -> None:
    async def committed(**kwargs: Any) -> int:
        response = await split.send(offset_commit, version, commit({("t", 0): (1, -1, "")}, **kwargs))
        (code,) = commit_errors(response).values()
        return code

    assert await committed(group=THEIRS) == ErrorCode.NOT_COORDINATOR
    assert await committed(group=HERE, generation=1, member_id="m") == ErrorCode.ILLEGAL_GENERATION  # no such group
    (a, _b), generation = await form(split, group=HERE)
    assert await committed(group=HERE, generation=generation - 1, member_id=a) == ErrorCode.ILLEGAL_GENERATION
    assert await committed(group=HERE, generation=generation, member_id="stranger") == ErrorCode.UNKNOWN_MEMBER_ID
    # only the members may commit to a group with members
    assert await committed(group=HERE) == ErrorCode.UNKNOWN_MEMBER_ID


async def test_offset_commit_checks_the_member_before_the_rebalance(coordinated: Broker) -> None:
    (a, b), generation = await form(coordinated)
    rejoined = await asyncio.gather(*(coordinated.send(join_group, 9, join(m)) for m in (a, b)))
    assert coordinator_of(coordinated).groups["g"].state == GroupState.COMPLETING_REBALANCE
    stale = await coordinated.send(offset_commit, 8, commit({("t", 0): (1, -1, "")}, generation=generation,
                                                             member_id=a))
    stranger = await coordinated.send(offset_commit, 8, commit({("t", 0): (1, -1, "")}, generation=generation + 1,
                                                                member_id="stranger"))
    await sync_all(coordinated, 5, sorted(rejoined, key=lambda r: r["member_id"] != r["leader"]))
    assert commit_errors(stale) == {("t", 0): ErrorCode.ILLEGAL_GENERATION}
    assert commit_errors(stranger) == {("t", 0): ErrorCode.UNKNOWN_MEMBER_ID}


async def test_offset_commit_to_the_empty_group_id(coordinated: Broker) -> None:
    response = await coordinated.send(offset_commit, 8, commit({("t", 0): (1, -1, "")}, group=""))
    assert commit_errors(response) == {("t", 0): ErrorCode.NONE}


# --- OffsetFetch ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", versions(offset_fetch))
async def test_offset_fetch_answers_committed_positions(split: Broker, version: int) -> None:
    committed = await split.send(offset_commit, 8, commit({("t", 0): (42, 7, "meta")}, group=HERE))
    assert commit_errors(committed) == {("t", 0): ErrorCode.NONE}
    epoch = 7 if version >= 5 else -1  # the leader epoch is answered from v5
    groups = await fetch_offsets(split, version, (HERE, {"t": [0, 1]}), (UNKNOWN, {"t": [0]}))
    mine = groups[HERE] if version >= 8 else groups["*"]
    assert mine == (ErrorCode.NONE, {("t", 0): (42, epoch, "meta", ErrorCode.NONE),
                                     ("t", 1): (-1, -1, "", ErrorCode.NONE)})
    if version >= 8:  # several groups in one request
        assert groups[UNKNOWN] == (ErrorCode.NONE, {("t", 0): (-1, -1, "", ErrorCode.NONE)})
    if version >= 2:  # no topics: everything the group has committed
        groups = await fetch_offsets(split, version, (HERE, None), (UNKNOWN, None))
        assert groups[HERE if version >= 8 else "*"] == (ErrorCode.NONE, {("t", 0): (42, epoch, "meta",
                                                                                      ErrorCode.NONE)})
        if version >= 8:
            assert groups[UNKNOWN] == (ErrorCode.NONE, {})


@pytest.mark.parametrize("version", versions(offset_fetch))
async def test_offset_fetch_of_a_group_coordinated_elsewhere(split: Broker, version: int) -> None:
    """v1 answers the error on each partition, v2-7 at the top, v8 on the group."""
    groups = await fetch_offsets(split, version, (THEIRS, {"t": [0]}), (HERE, {"t": [0]}))
    if version == 1:
        assert groups["*"] == (ErrorCode.NONE, {("t", 0): (-1, -1, "", ErrorCode.NOT_COORDINATOR)})
    elif version < 8:
        assert groups["*"][0] == ErrorCode.NOT_COORDINATOR
    else:
        assert groups[THEIRS][0] == ErrorCode.NOT_COORDINATOR
        assert groups[HERE] == (ErrorCode.NONE, {("t", 0): (-1, -1, "", ErrorCode.NONE)})


@pytest.mark.parametrize("version", [2, 7, 8])
async def test_offset_fetch_group_errors_carry_no_partitions(split: Broker, version: int) -> None:
    (group,) = (await fetch_offsets(split, version, (THEIRS, {"t": [0]}))).values()
    assert group == (ErrorCode.NOT_COORDINATOR, {})


# --- OffsetDelete ---------------------------------------------------------------------------------------------------

def delete_offsets(group: str, *partitions: tuple[str, int]) -> dict[str, Any]:
    topics: dict[str, list[dict[str, int]]] = {}
    for topic, partition in partitions:
        topics.setdefault(topic, []).append({"partition_index": partition})
    return {"group_id": group, "topics": [{"name": t, "partitions": p} for t, p in topics.items()]}


async def test_offset_delete_spares_the_topics_a_consumer_group_subscribes_to(coordinated: Broker) -> None:
    (a, _b), generation = await form(coordinated)  # subscribed to t
    await coordinated.send(offset_commit, 8, commit({("t", 0): (1, -1, ""), ("u", 0): (2, -1, "")},
                                                     generation=generation, member_id=a))
    response = await coordinated.send(offset_delete, 0, delete_offsets("g", ("t", 0), ("u", 0)))
    assert response["error_code"] == ErrorCode.NONE
    assert commit_errors(response) == {("t", 0): ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC,
                                       ("u", 0): ErrorCode.NONE}
    assert set(coordinator_of(coordinated).groups["g"].offsets) == {("t", 0)}


async def test_offset_delete_of_a_simple_group_and_its_refusals(split: Broker) -> None:
    await split.send(offset_commit, 8, commit({("t", 0): (1, -1, "")}, group=HERE))
    response = await split.send(offset_delete, 0, delete_offsets(HERE, ("t", 0)))
    assert (response["error_code"], commit_errors(response)) == (ErrorCode.NONE,
                                                                 {("t", 0): ErrorCode.NONE})
    assert await fetch_offsets(split, 8, (HERE, None)) == {HERE: (ErrorCode.NONE, {})}
    for group, code in ((UNKNOWN, ErrorCode.GROUP_ID_NOT_FOUND), (THEIRS, ErrorCode.NOT_COORDINATOR)):
        response = await split.send(offset_delete, 0, delete_offsets(group, ("t", 0)))
        assert (response["error_code"], response["topics"]) == (code, [])


async def test_offset_delete_of_a_group_that_is_not_a_consumer_group(coordinated: Broker) -> None:
    """A group with members whose subscriptions kopfka cannot read (not the consumer protocol): NON_EMPTY_GROUP."""
    joined = await coordinated.send(join_group, 3, join(protocol_type="connect", protocols=[("v1", b"\x01")]))
    member = joined["member_id"]
    await coordinated.send(sync_group, 5, {**sync(member, 1, {member: b""}), "protocol_type": "connect",
                                           "protocol_name": "v1"})
    response = await coordinated.send(offset_delete, 0, delete_offsets("g", ("t", 0)))
    assert (response["error_code"], response["topics"]) == (ErrorCode.NON_EMPTY_GROUP, [])


async def test_offset_delete_of_an_unknown_partition(coordinated: Broker) -> None:
    await coordinated.send(offset_commit, 8, commit({("t", 0): (1, -1, "")}, group="simple"))
    response = await coordinated.send(offset_delete, 0, delete_offsets("simple", ("nope", 0), ("t", 9)))
    assert commit_errors(response) == {("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                       ("t", 9): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}


# --- what Kafka answers that kopfka does not --------------------------------------------------------------------------

@pytest.mark.parametrize(("handler", "version", "request_"), [
    (sync_group, 5, sync("m", 1, group="")),
    (heartbeat, 4, beat("m", 1, group="")),
    (leave_group, 5, leave(("m", None), group="")),
    (offset_delete, 0, delete_offsets("", ("t", 0))),
], ids=["sync_group", "heartbeat", "leave_group", "offset_delete"])
async def test_the_empty_group_id_is_invalid(coordinated: Broker, handler: ModuleType, version: int,
                                             request_: dict[str, Any]) -> None:
    response = await coordinated.send(handler, version, request_)
    assert response["error_code"] == ErrorCode.INVALID_GROUP_ID


@pytest.mark.parametrize(("handler", "request_", "expected"), [
    (sync_group, sync("m", 1), ErrorCode.REBALANCE_IN_PROGRESS),
    (heartbeat, beat("m", 1), ErrorCode.NONE),
], ids=["sync_group", "heartbeat"])
async def test_while_loading(broker: Broker, handler: ModuleType, request_: dict[str, Any],
                             expected: ErrorCode) -> None:
    await broker.start_groups(loaded=False)
    try:
        response = await broker.send(handler, 3, request_)
        assert response["error_code"] == expected
    finally:
        await broker.groups_loaded()
        await broker.stop_groups()
