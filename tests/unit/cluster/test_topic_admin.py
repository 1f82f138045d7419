import random
from collections import Counter
from collections.abc import Callable

import pytest

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache, TopicInfo
from kafka_broker.cluster.topic_admin import TopicAdmin, assign_replicas, rack_alternated, validate_topic_name
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.protocol.errors import ErrorCode, KafkaError

from .fakes import FakeZooKeeper


def test_assignment_spreads_leaders_and_replicas_evenly():
    assignment = assign_replicas([1, 2, 3], 6, 2, rng=random.Random(7))
    assert sorted(assignment) == list(range(6))
    for replicas in assignment.values():
        assert len(replicas) == 2 and len(set(replicas)) == 2
    leaders = Counter(r[0] for r in assignment.values())
    assert set(leaders.values()) == {2}
    holders = Counter(b for r in assignment.values() for b in r)
    assert set(holders.values()) == {4}


def test_added_partitions_continue_the_pattern():
    assignment = assign_replicas([1, 2, 3], 3, 3, first_partition=3, rng=random.Random(1))
    assert sorted(assignment) == [3, 4, 5]
    assert all(sorted(r) == [1, 2, 3] for r in assignment.values())


def test_replication_factor_above_broker_count_is_refused():
    with pytest.raises(KafkaError) as info:
        assign_replicas([1, 2, 3], 1, 4)
    assert info.value.code == ErrorCode.INVALID_REPLICATION_FACTOR
    assert "larger than available brokers: 3" in str(info.value)


def test_rack_alternation_puts_replicas_on_different_racks():
    racks = {1: "a", 2: "a", 3: "b", 4: "b"}
    assert rack_alternated([1, 2, 3, 4], racks) == [1, 3, 2, 4]
    for replicas in assign_replicas([1, 2, 3, 4], 8, 2, racks=racks, rng=random.Random(3)).values():
        assert racks[replicas[0]] != racks[replicas[1]]


@pytest.mark.parametrize("name", ["", ".", "..", "a" * 250, "bad name", "bad/name"])
def test_illegal_topic_names(name):
    with pytest.raises(KafkaError) as info:
        validate_topic_name(name)
    assert info.value.code == ErrorCode.INVALID_TOPIC_EXCEPTION


def test_legal_topic_name():
    validate_topic_name("orders.v1_eu-west")


# --- TopicAdmin on a fake ZooKeeper ------------------------------------------------------------------------


@pytest.fixture
async def admin() -> TopicAdmin:
    zk = FakeZooKeeper()
    store = ZkStore(zk.client())
    store.ensure_layout_sync()
    cache = MetadataCache()
    for broker in (1, 2, 3):
        cache.brokers[broker] = md.BrokerRegistration(broker, "h", 9090 + broker)
    return TopicAdmin(store, cache, default_partitions=2, default_replication_factor=2)


def code_of(exc: pytest.ExceptionInfo[KafkaError]) -> int:
    return exc.value.code


async def test_plan_uses_defaults_or_the_given_assignment(admin: TopicAdmin) -> None:
    planned = admin.plan_topic("t")
    assert sorted(planned) == [0, 1] and all(len(r) == 2 for r in planned.values())
    assert admin.plan_topic("t", assignment={0: [3, 1], 1: [1, 2]}) == {0: [3, 1], 1: [1, 2]}


@pytest.mark.parametrize(("options", "code"), [
    ({"partitions": 0}, ErrorCode.INVALID_PARTITIONS),
    ({"replication_factor": 0}, ErrorCode.INVALID_REPLICATION_FACTOR),
    ({"replication_factor": 4}, ErrorCode.INVALID_REPLICATION_FACTOR),
    ({"config": {"cleanup.policy": "sometimes"}}, ErrorCode.INVALID_CONFIG),
    ({"assignment": {0: [1]}, "replication_factor": 1}, ErrorCode.INVALID_REQUEST),
    ({"assignment": {1: [1]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    ({"assignment": {0: [1, 1]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    ({"assignment": {0: [1, 9]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    ({"assignment": {0: [1, 2], 1: [3]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
])
async def test_plan_refuses_what_kafka_refuses(admin: TopicAdmin, options: dict, code: int) -> None:
    with pytest.raises(KafkaError) as info:
        admin.plan_topic("t", **options)
    assert code_of(info) == code


async def test_plan_needs_live_brokers_and_a_new_name(admin: TopicAdmin) -> None:
    await admin.create_topic("t", {0: [1]})
    admin.cache.topics["t"] = TopicInfo("t", None)
    with pytest.raises(KafkaError) as info:
        admin.plan_topic("t")
    assert code_of(info) == ErrorCode.TOPIC_ALREADY_EXISTS
    admin.cache.brokers.clear()
    with pytest.raises(KafkaError) as info:
        admin.plan_topic("u")
    assert code_of(info) == ErrorCode.BROKER_NOT_AVAILABLE


async def test_create_grow_configure_and_delete(admin: TopicAdmin) -> None:
    await admin.create_topic("t", {0: [1, 2]}, {"retention.ms": "5"})
    with pytest.raises(KafkaError) as info:
        await admin.create_topic("t", {0: [1, 2]})
    assert code_of(info) == ErrorCode.TOPIC_ALREADY_EXISTS
    admin.cache.topics["t"] = TopicInfo("t", None)

    await admin.add_partitions("t", 3, validate_only=True)
    await admin.add_partitions("t", 2, [[3, 1]])
    await admin.add_partitions("t", 4)
    read = await admin.store.read_topic_assignment("t")
    assert read is not None
    assert read[0].partitions[1] == [3, 1] and sorted(read[0].partitions) == [0, 1, 2, 3]
    assert all(len(r) == 2 for r in read[0].partitions.values())
    for total, assignment, code in ((4, None, ErrorCode.INVALID_PARTITIONS),
                                    (3, None, ErrorCode.INVALID_PARTITIONS),
                                    (6, [[1, 2]], ErrorCode.INVALID_REPLICA_ASSIGNMENT)):
        with pytest.raises(KafkaError) as info:
            await admin.add_partitions("t", total, assignment)
        assert code_of(info) == code
    with pytest.raises(KafkaError) as info:
        await admin.add_partitions("missing", 2)
    assert code_of(info) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION

    def setting(name: str, value: str) -> Callable[[dict[str, str]], dict[str, str]]:
        return lambda current: {**current, name: value}

    assert await admin.alter_topic_config("t", setting("retention.ms", "7"), defaults={}) == {"retention.ms": "7"}
    assert (await admin.store.read_topic_config("t"))[0] == {"retention.ms": "7"}
    with pytest.raises(KafkaError) as info:
        await admin.alter_topic_config("t", setting("retention.ms", "soon"), defaults={})
    assert code_of(info) == ErrorCode.INVALID_CONFIG
    # A change made meanwhile through another broker (this one's cache never saw it) is kept, not overwritten:
    # the first conditional write loses, and the change is applied again to what is stored now.
    other = admin.store.zk.server.client()  # another broker's session
    admin.store.zk.server.before_next("set", lambda: other.set(
        "/config/topics/t", md.encode_topic_config({"retention.ms": "7", "cleanup.policy": "compact"})),
        path="/config/topics/t")
    assert await admin.alter_topic_config("t", setting("segment.bytes", "1048576"), defaults={}) == {
        "retention.ms": "7", "cleanup.policy": "compact", "segment.bytes": "1048576"}
    assert (await admin.store.read_topic_config("t"))[0]["cleanup.policy"] == "compact"

    await admin.delete_topic("t")
    assert await admin.store.read_children(md.DELETE_TOPICS_PATH) == ["t"]
    with pytest.raises(KafkaError) as info:
        await admin.delete_topic("missing")
    assert code_of(info) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


async def test_growing_a_topic_changed_meanwhile_asks_for_a_retry(admin: TopicAdmin) -> None:
    await admin.create_topic("t", {0: [1, 2]})
    admin.cache.topics["t"] = TopicInfo("t", None)
    real_write = admin.store.write_topic_assignment

    async def lose(topic: str, assignment: md.TopicAssignment, version: int) -> bool:
        await real_write(topic, md.TopicAssignment({0: [2, 1]}), version)  # someone else got there first
        return await real_write(topic, assignment, version)

    admin.store.write_topic_assignment = lose
    with pytest.raises(KafkaError) as info:
        await admin.add_partitions("t", 2)
    assert code_of(info) == ErrorCode.REASSIGNMENT_IN_PROGRESS


async def test_a_name_with_a_deletion_request_is_not_created(admin: TopicAdmin) -> None:
    """A deletion request left for a name (a tool marked it; the controller has not acted) must not meet a new
    topic of that name: the controller would delete the new topic. Kafka refuses the creation."""
    await admin.store.mark_topic_for_deletion("t")
    with pytest.raises(KafkaError) as info:
        await admin.create_topic("t", {0: [1]})
    assert (code_of(info), info.value.message) == (ErrorCode.TOPIC_ALREADY_EXISTS, "Topic 't' is marked for deletion.")
    assert await admin.store.read_topic_assignment("t") is None
